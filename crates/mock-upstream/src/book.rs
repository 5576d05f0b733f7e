//! What the server remembers: received requests, per-key and per-model counters, programmatic
//! faults, and the in-flight and connection gauges.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::Value;

use crate::{Dialect, Fault};

/// One request as the mock received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: Method,
    /// The path as sent, still percent-encoded.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// Every header the client sent.
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The key from `Authorization: Bearer`, `x-api-key`, `x-goog-api-key` or `?key=`, in that
    /// order of preference, including any directive suffix.
    pub key: Option<String>,
    /// The model as presented (body field, or the Gemini path), including any directives.
    pub model: Option<String>,
    /// The dialect of the endpoint, for generation requests.
    pub dialect: Option<Dialect>,
}

impl RecordedRequest {
    /// A header as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Faults set from code, looked up by the presented key and model (both matched exactly,
/// directives included).
#[derive(Default)]
struct FaultTable {
    once_key: HashMap<String, VecDeque<Fault>>,
    once_model: HashMap<String, VecDeque<Fault>>,
    always_key: HashMap<String, Fault>,
    always_model: HashMap<String, Fault>,
}

impl FaultTable {
    /// One-shot faults before persistent ones, key before model.
    fn take(&mut self, key: Option<&str>, model: Option<&str>) -> Option<Fault> {
        fn pop(q: &mut HashMap<String, VecDeque<Fault>>, k: Option<&str>) -> Option<Fault> {
            q.get_mut(k?)?.pop_front()
        }
        fn get(m: &HashMap<String, Fault>, k: Option<&str>) -> Option<Fault> {
            m.get(k?).cloned()
        }
        pop(&mut self.once_key, key)
            .or_else(|| pop(&mut self.once_model, model))
            .or_else(|| get(&self.always_key, key))
            .or_else(|| get(&self.always_model, model))
    }
}

#[derive(Default)]
struct Ledger {
    requests: Vec<RecordedRequest>,
    total: usize,
    per_key: HashMap<String, usize>,
    per_model: HashMap<String, usize>,
    faults: FaultTable,
}

/// Counts without allocating a key that is already there.
fn bump(counts: &mut HashMap<String, usize>, name: &str) {
    match counts.get_mut(name) {
        Some(n) => *n += 1,
        None => {
            counts.insert(name.to_owned(), 1);
        }
    }
}

/// Which fault table a programmatic fault goes into.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    Key,
    Model,
}

/// Shared between the server and its handle. One short lock per request covers recording,
/// counting and fault lookup; it is never held across an await.
pub(crate) struct Book {
    record: bool,
    ledger: Mutex<Ledger>,
    in_flight: AtomicUsize,
    /// The most requests ever in flight at once (since the last reset).
    peak_in_flight: AtomicUsize,
    connections: AtomicUsize,
    /// Connections accepted (since the last reset).
    accepted: AtomicUsize,
}

impl Book {
    pub fn new(record: bool) -> Book {
        Book {
            record,
            ledger: Mutex::default(),
            in_flight: AtomicUsize::new(0),
            peak_in_flight: AtomicUsize::new(0),
            connections: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
        }
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A panicking test thread must not hide what the server saw from the other tests.
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a request (and records it, if recording is on), then takes the programmatic
    /// fault that applies to it. The record is built only when it will be kept, so the
    /// benchmark path copies no headers.
    pub fn admit(
        &self,
        key: Option<&str>,
        model: Option<&str>,
        record: impl FnOnce() -> RecordedRequest,
    ) -> Option<Fault> {
        let request = self.record.then(record);
        let mut l = self.ledger();
        l.total += 1;
        if let Some(k) = key {
            bump(&mut l.per_key, k);
        }
        if let Some(m) = model {
            bump(&mut l.per_model, m);
        }
        let fault = l.faults.take(key, model);
        l.requests.extend(request);
        fault
    }

    pub fn push_fault(&self, target: Target, name: &str, fault: Fault) {
        let mut l = self.ledger();
        let q = match target {
            Target::Key => &mut l.faults.once_key,
            Target::Model => &mut l.faults.once_model,
        };
        q.entry(name.to_owned()).or_default().push_back(fault);
    }

    pub fn set_fault(&self, target: Target, name: &str, fault: Option<Fault>) {
        let mut l = self.ledger();
        let m = match target {
            Target::Key => &mut l.faults.always_key,
            Target::Model => &mut l.faults.always_model,
        };
        match fault {
            Some(f) => m.insert(name.to_owned(), f),
            None => m.remove(name),
        };
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.ledger().requests.clone()
    }

    pub fn total(&self) -> usize {
        self.ledger().total
    }

    pub fn count(&self, target: Target, name: &str) -> usize {
        let l = self.ledger();
        let m = match target {
            Target::Key => &l.per_key,
            Target::Model => &l.per_model,
        };
        m.get(name).copied().unwrap_or(0)
    }

    pub fn reset(&self) {
        *self.ledger() = Ledger::default();
        self.peak_in_flight
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
        self.accepted.store(0, Ordering::SeqCst);
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    pub fn peak_in_flight(&self) -> usize {
        self.peak_in_flight.load(Ordering::SeqCst)
    }

    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Counts a request from arrival until its response body is dropped — after the last byte, or
/// when the client goes away and the server drops the handler or the body.
pub(crate) struct InFlight(Arc<Book>);

impl InFlight {
    pub fn enter(book: &Arc<Book>) -> InFlight {
        let now = book.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        book.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(Arc::clone(book))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts an accepted TCP connection until its task ends.
pub(crate) struct OpenConnection(Arc<Book>);

impl OpenConnection {
    pub fn open(book: &Arc<Book>) -> OpenConnection {
        book.connections.fetch_add(1, Ordering::SeqCst);
        book.accepted.fetch_add(1, Ordering::SeqCst);
        OpenConnection(Arc::clone(book))
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::SeqCst);
    }
}
