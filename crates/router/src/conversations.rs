//! Recent Responses-API conversations, so `previous_response_id` works when the upstream is
//! not a Responses provider (which would have kept the conversation itself). Bounded in size
//! and time; requests with `store: false` keep nothing.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;
use switchboard_protocol::ir::{Message, Role};

/// A stored conversation: everything up to and including the response with this id.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub system: Vec<String>,
    pub messages: Vec<Message>,
}

#[derive(Debug)]
struct Entry {
    conversation: Conversation,
    expires_ms: i64,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<String, Entry>,
    /// Insertion order, for evicting the oldest when full.
    order: VecDeque<String>,
}

#[derive(Debug)]
pub struct ResponseStore {
    inner: Mutex<Inner>,
    capacity: usize,
    ttl_ms: i64,
}

impl ResponseStore {
    pub fn new(capacity: usize, ttl_ms: i64) -> Self {
        ResponseStore {
            inner: Mutex::new(Inner::default()),
            capacity,
            ttl_ms,
        }
    }

    pub fn get(&self, id: &str, now_ms: i64) -> Option<Conversation> {
        let inner = self.inner.lock();
        inner
            .map
            .get(id)
            .filter(|e| e.expires_ms > now_ms)
            .map(|e| e.conversation.clone())
    }

    /// Stores the conversation `input` + the assistant's `output` under `id`.
    pub fn put(
        &self,
        id: String,
        mut conversation: Conversation,
        output: Vec<switchboard_protocol::ir::Part>,
        now_ms: i64,
    ) {
        if !output.is_empty() {
            conversation.messages.push(Message {
                role: Role::Assistant,
                content: output,
            });
        }
        let mut inner = self.inner.lock();
        while inner.map.len() >= self.capacity {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            inner.map.remove(&old);
        }
        inner.order.push_back(id.clone());
        inner.map.insert(
            id,
            Entry {
                conversation,
                expires_ms: now_ms.saturating_add(self.ttl_ms),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use switchboard_protocol::ir::Part;

    use super::*;

    fn conv(text: &str) -> Conversation {
        Conversation {
            system: vec![],
            messages: vec![Message {
                role: Role::User,
                content: vec![Part::Text(text.into())],
            }],
        }
    }

    #[test]
    fn keeps_recent_conversations_within_bounds() {
        let s = ResponseStore::new(2, 1000);
        s.put("a".into(), conv("1"), vec![Part::Text("answer".into())], 0);
        let got = s.get("a", 10).unwrap();
        assert_eq!(got.messages.len(), 2);
        assert_eq!(got.messages[1].role, Role::Assistant);
        assert!(s.get("a", 1000).is_none(), "expired");
        s.put("b".into(), conv("2"), vec![], 0);
        s.put("c".into(), conv("3"), vec![], 0);
        assert!(s.get("a", 10).is_none(), "oldest evicted");
        assert!(s.get("b", 10).is_some() && s.get("c", 10).is_some());
    }
}
