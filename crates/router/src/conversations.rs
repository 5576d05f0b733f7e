//! Recent Responses-API conversations, so `previous_response_id` works when the upstream is
//! not a Responses provider (which would have kept the conversation itself). Requests with
//! `store: false` keep nothing.
//!
//! Each conversation belongs to the credential that created it: it is stored under a hash of
//! that credential (never the credential) and the response id, so another credential asking
//! for the same id finds nothing — the same "not found" as an id that never existed. The store
//! is bounded in time and in bytes (the oldest conversations go first), not in entries: a few
//! huge inputs cannot hold the process's memory.

use std::collections::{HashMap, VecDeque};
use std::mem::size_of;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use switchboard_protocol::ir::{Image, Message, Part, Role};

/// Who created a conversation: a hash of the credential the client presented.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Owner([u8; 32]);

impl Owner {
    pub fn of(credential: &[u8]) -> Owner {
        let mut h = Sha256::new();
        h.update(b"switchboard conversation owner\0");
        h.update(credential);
        Owner(h.finalize().into())
    }
}

impl std::fmt::Debug for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Owner(…)")
    }
}

/// A stored conversation: everything up to and including the response with this id.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub system: Vec<String>,
    pub messages: Vec<Message>,
}

impl Conversation {
    /// The memory it holds, approximately: every string and vector as allocated (capacity
    /// plus the allocator's own header) and the fixed size of the values around them.
    fn bytes(&self) -> usize {
        let strings: usize = self.system.iter().map(string_bytes).sum();
        let messages: usize = self.messages.iter().map(|m| parts_bytes(&m.content)).sum();
        size_of::<Conversation>()
            + vec_bytes(&self.system)
            + strings
            + vec_bytes(&self.messages)
            + messages
    }
}

/// What the allocator adds to every allocation (glibc: an 8-byte header, 16-byte rounding).
const ALLOCATION_OVERHEAD: usize = 16;

/// The heap block of a string (its fixed part is counted where it is held).
fn string_bytes(s: &String) -> usize {
    match s.capacity() {
        0 => 0,
        n => n + ALLOCATION_OVERHEAD,
    }
}

/// The heap block of a vector's elements.
fn vec_bytes<T>(v: &Vec<T>) -> usize {
    match v.capacity() * size_of::<T>() {
        0 => 0,
        n => n + ALLOCATION_OVERHEAD,
    }
}

fn parts_bytes(parts: &Vec<Part>) -> usize {
    vec_bytes(parts)
        + parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => string_bytes(t),
                Part::Image(Image::Url(u)) => string_bytes(u),
                Part::Image(Image::Base64 { media_type, data }) => {
                    string_bytes(media_type) + string_bytes(data)
                }
                Part::ToolCall(c) => {
                    string_bytes(&c.id) + string_bytes(&c.name) + string_bytes(&c.arguments)
                }
                Part::ToolResult(r) => {
                    string_bytes(&r.call_id)
                        + r.name.as_ref().map_or(0, string_bytes)
                        + parts_bytes(&r.content)
                }
                Part::Reasoning(r) => {
                    string_bytes(&r.text)
                        + r.signature.as_ref().map_or(0, |s| string_bytes(&s.value))
                }
            })
            .sum::<usize>()
}

/// What one stored conversation costs besides its own [`Conversation::bytes`] and its
/// strings: its slot in the map (up to half of a hash table's slots are empty right after it
/// grows) and its key again in the eviction order (a deque, up to half empty likewise).
const ENTRY_OVERHEAD: usize =
    2 * (size_of::<Key>() + size_of::<Entry>() + 1) + 2 * size_of::<Key>();

#[derive(Debug)]
struct Entry {
    conversation: Conversation,
    /// The Responses object the client was sent, for `GET /v1/responses/{id}`.
    response: String,
    bytes: usize,
    expires_ms: i64,
}

type Key = (Owner, String);

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<Key, Entry>,
    /// Insertion order, for evicting the oldest when over budget.
    order: VecDeque<Key>,
    /// The sum of the stored entries' `bytes`.
    bytes: usize,
}

impl Inner {
    fn evict_oldest(&mut self) -> bool {
        let Some(key) = self.order.pop_front() else {
            return false;
        };
        if let Some(e) = self.map.remove(&key) {
            self.bytes -= e.bytes;
        }
        true
    }

    /// Every entry lives equally long, so insertion order is expiry order.
    fn drop_expired(&mut self, now_ms: i64) {
        while let Some(key) = self.order.front() {
            if self.map.get(key).is_some_and(|e| e.expires_ms > now_ms) {
                break;
            }
            self.evict_oldest();
        }
    }

    fn shrink_to(&mut self, budget: usize) {
        while self.bytes > budget && self.evict_oldest() {}
    }
}

#[derive(Debug)]
pub struct ResponseStore {
    inner: Mutex<Inner>,
    budget: AtomicUsize,
    ttl_ms: i64,
}

impl ResponseStore {
    /// A store holding at most `budget` bytes of conversations, each for `ttl_ms`.
    pub fn new(budget: usize, ttl_ms: i64) -> Self {
        ResponseStore {
            inner: Mutex::new(Inner::default()),
            budget: AtomicUsize::new(budget),
            ttl_ms,
        }
    }

    /// Changes the byte budget; conversations over it are evicted at once, oldest first.
    pub fn set_budget(&self, budget: usize) {
        self.budget.store(budget, Ordering::Relaxed);
        self.inner.lock().shrink_to(budget);
    }

    /// The bytes the stored conversations hold (as accounted against the budget).
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    /// The conversation `owner` stored under `id`; `None` when it never existed, expired, was
    /// evicted, or belongs to someone else.
    pub fn get(&self, owner: &Owner, id: &str, now_ms: i64) -> Option<Conversation> {
        let inner = self.inner.lock();
        inner
            .map
            .get(&(*owner, id.to_owned()))
            .filter(|e| e.expires_ms > now_ms)
            .map(|e| e.conversation.clone())
    }

    /// The Responses object `owner` was sent under `id` (`GET /v1/responses/{id}`); `None` as
    /// for [`ResponseStore::get`].
    pub fn response(&self, owner: &Owner, id: &str, now_ms: i64) -> Option<String> {
        let inner = self.inner.lock();
        inner
            .map
            .get(&(*owner, id.to_owned()))
            .filter(|e| e.expires_ms > now_ms)
            .map(|e| e.response.clone())
    }

    /// Forgets `owner`'s conversation `id`; whether there was one (another owner's is never
    /// touched).
    pub fn delete(&self, owner: &Owner, id: &str, now_ms: i64) -> bool {
        let key = (*owner, id.to_owned());
        let mut inner = self.inner.lock();
        inner.drop_expired(now_ms);
        let Some(old) = inner.map.remove(&key) else {
            return false;
        };
        inner.bytes -= old.bytes;
        inner.order.retain(|k| *k != key);
        true
    }

    /// Stores the conversation `input` + the assistant's `output` under `owner` and `id`,
    /// with the Responses object sent to the client (`response`). A conversation larger
    /// than the whole budget is not kept.
    pub fn put(
        &self,
        owner: Owner,
        id: String,
        mut conversation: Conversation,
        output: Vec<Part>,
        response: String,
        now_ms: i64,
    ) {
        if !output.is_empty() {
            conversation.messages.push(Message {
                role: Role::Assistant,
                content: output,
            });
        }
        // The id is held twice: in the map's key and in the eviction order.
        let bytes =
            conversation.bytes() + 2 * string_bytes(&id) + string_bytes(&response) + ENTRY_OVERHEAD;
        let budget = self.budget.load(Ordering::Relaxed);
        let key = (owner, id);
        let mut inner = self.inner.lock();
        inner.drop_expired(now_ms);
        if let Some(old) = inner.map.remove(&key) {
            inner.bytes -= old.bytes;
            inner.order.retain(|k| *k != key);
        }
        if bytes > budget {
            tracing::debug!(
                bytes,
                budget,
                "conversation larger than the store; not kept"
            );
            return;
        }
        inner.shrink_to(budget - bytes);
        inner.bytes += bytes;
        inner.order.push_back(key.clone());
        inner.map.insert(
            key,
            Entry {
                conversation,
                response,
                bytes,
                expires_ms: now_ms.saturating_add(self.ttl_ms),
            },
        );
    }
}

#[cfg(test)]
mod tests {
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

    fn alice() -> Owner {
        Owner::of(b"sk-alice")
    }

    #[test]
    fn keeps_recent_conversations_until_they_expire() {
        let s = ResponseStore::new(1 << 20, 1000);
        s.put(
            alice(),
            "a".into(),
            conv("1"),
            vec![Part::Text("answer".into())],
            "{}".into(),
            0,
        );
        let got = s.get(&alice(), "a", 10).unwrap();
        assert_eq!(got.messages.len(), 2);
        assert_eq!(got.messages[1].role, Role::Assistant);
        assert_eq!(s.response(&alice(), "a", 10).as_deref(), Some("{}"));
        assert!(s.get(&alice(), "a", 1000).is_none(), "expired");
        assert!(s.response(&alice(), "a", 1000).is_none(), "expired");
        // Expired conversations give their bytes back at the next store.
        s.put(alice(), "b".into(), conv("2"), vec![], String::new(), 1000);
        assert!(s.get(&alice(), "b", 1001).is_some());
        assert_eq!(
            s.bytes(),
            conv("2").bytes() + 2 * string_bytes(&"b".to_owned()) + ENTRY_OVERHEAD
        );
    }

    #[test]
    fn small_conversations_are_charged_what_holding_them_costs() {
        // A chat turn of a few words costs the store far more than its text: the map's slot,
        // the key held twice, the allocator's header on every block. Charged only the text,
        // a 1 MiB budget would hold tens of thousands of them in several times that memory.
        let budget = 1 << 20;
        let s = ResponseStore::new(budget, 1000);
        let id = |i: usize| format!("resp_{i:032}");
        let n = 20_000;
        for i in 0..n {
            s.put(
                alice(),
                id(i),
                conv("hi"),
                vec![Part::Text("hello there".into())],
                r#"{"id":"resp_x","output":[]}"#.into(),
                0,
            );
        }
        let kept = (0..n)
            .filter(|&i| s.get(&alice(), &id(i), 1).is_some())
            .count();
        // Per conversation at least: the key in the map and in the order, the entry, and
        // six blocks (two ids, the response, the messages, two texts with their parts).
        let floor = 2 * size_of::<Key>() + size_of::<Entry>() + 6 * ALLOCATION_OVERHEAD + 2 * 37;
        assert!(kept > 0, "the newest are kept");
        assert!(
            kept <= budget / floor,
            "{kept} conversations kept in a {budget}-byte budget"
        );
        assert!(s.get(&alice(), &id(n - 1), 1).is_some(), "the newest stay");
        assert!(s.bytes() <= budget);
    }

    #[test]
    fn another_credential_finds_nothing_under_the_same_id() {
        let s = ResponseStore::new(1 << 20, 1000);
        let bob = Owner::of(b"sk-bob");
        s.put(
            alice(),
            "resp_1".into(),
            conv("alice's secret"),
            vec![],
            String::new(),
            0,
        );
        assert!(s.get(&bob, "resp_1", 10).is_none());
        // Bob storing under the same id does not touch Alice's conversation.
        assert!(
            !s.delete(&bob, "resp_1", 1),
            "another owner's id is not theirs to delete"
        );
        s.put(
            bob,
            "resp_1".into(),
            conv("bob's"),
            vec![],
            String::new(),
            0,
        );
        let a = s.get(&alice(), "resp_1", 10).unwrap();
        assert_eq!(
            a.messages[0].content,
            vec![Part::Text("alice's secret".into())]
        );
        let b = s.get(&bob, "resp_1", 10).unwrap();
        assert_eq!(b.messages[0].content, vec![Part::Text("bob's".into())]);
    }

    #[test]
    fn the_budget_is_bytes_and_the_oldest_go_first() {
        const MIB: usize = 1024 * 1024;
        let budget = 64 * MIB;
        let s = ResponseStore::new(budget, 1000);
        let big = "x".repeat(20 * MIB);
        for i in 0..10 {
            s.put(
                alice(),
                format!("r{i}"),
                conv(&big),
                vec![],
                String::new(),
                0,
            );
            assert!(s.bytes() <= budget, "over budget after {i}: {}", s.bytes());
        }
        assert!(s.bytes() >= 60 * MIB, "three 20 MiB conversations fit");
        assert!(s.get(&alice(), "r9", 1).is_some(), "the newest is kept");
        assert!(s.get(&alice(), "r6", 1).is_none(), "the oldest are evicted");
        // Small ones still share the same budget: the count is not what bounds the store.
        for i in 0..5_000 {
            s.put(
                alice(),
                format!("s{i}"),
                conv("hi"),
                vec![],
                String::new(),
                0,
            );
        }
        assert!(s.get(&alice(), "s0", 1).is_some());
        assert!(s.bytes() <= budget);
        // Larger than the whole budget: not kept, and nothing else is evicted for it.
        let before = s.bytes();
        s.put(
            alice(),
            "huge".into(),
            conv(&"y".repeat(65 * MIB)),
            vec![],
            String::new(),
            0,
        );
        assert!(s.get(&alice(), "huge", 1).is_none());
        assert_eq!(s.bytes(), before);
        // A smaller budget evicts at once.
        s.set_budget(MIB);
        assert!(s.bytes() <= MIB);
        assert!(s.get(&alice(), "r9", 1).is_none());
        assert!(s.get(&alice(), "s4999", 1).is_some());
    }

    #[test]
    fn owners_are_hashes_not_credentials() {
        let o = Owner::of(b"sk-secret-credential");
        assert_ne!(&o.0[..], b"sk-secret-credential");
        assert_eq!(o, Owner::of(b"sk-secret-credential"));
        assert_ne!(o, Owner::of(b"sk-secret-credentiaL"));
        assert!(!format!("{o:?}").contains("secret"));
    }
}
