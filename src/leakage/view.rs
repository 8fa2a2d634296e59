//! Recording the server's view at the client/server boundary: a
//! [`Recorder`] is the server's boundary observer (attach it with
//! [`crate::server::Server::with_observer`]), and an attacker's replay of the
//! recorded inserts ([`ServerView::replay_store`]). The view types themselves
//! are base vocabulary (`crate::leakage_terms::view`, re-exported here).
//!
//! ```
//! use std::sync::Arc;
//! use sseek::leakage::view::Recorder;
//! use sseek::{keys::MasterKey, server::Server, store::MemoryStore, transport::InProcess};
//! use sseek::sse::{self, MultiMap, SchemeConfig, SseIndex};
//!
//! let recorder = Recorder::memory();
//! let server = Arc::new(Server::new(MemoryStore::new()).with_observer(recorder.observer()));
//! let scheme = sse::open_client(&MasterKey::generate()?, "acme", &SchemeConfig::new("pibas", "i"))?;
//! let mut index = SseIndex::create(InProcess::new(server, "acme"), scheme)?;
//! let mut db = MultiMap::new();
//! db.insert(sse::keyword("body", &["noon"]), vec![1, 4, 9]);
//! index.setup(&db)?;
//! index.search_keyword(&sse::keyword("body", &["noon"]))?;
//! let view = recorder.view();
//! assert_eq!(view.searches().count(), 1);
//! # Ok::<(), sseek::Error>(())
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub use crate::leakage_terms::canonical::{CanonicalView, Shape};
pub use crate::leakage_terms::view::{DocumentSize, Observed, ServerView, SseSearchEvent, ViewEvent};
use crate::protocol::observer::BoundaryObserver;
use crate::protocol::{Request, Response};
use crate::store::{MemoryStore, Store, Table, WriteBatch};
use crate::{Error, Result};

impl ServerView {
    /// Rebuilds, in memory, the SSE state the server held for `tenant` after
    /// the events before position `until` (all events if `None`): the
    /// attacker's copy of its own database, on which it can rerun
    /// [`crate::sse::server::search`] with tokens it saw earlier.
    ///
    /// # Errors
    /// Store and protocol errors replaying the inserts.
    pub fn replay_store(&self, tenant: &str, until: Option<u64>) -> Result<MemoryStore> {
        let store = MemoryStore::new();
        for e in self.events.iter().filter(|e| e.status == 200 && e.tenant == tenant) {
            if until.is_some_and(|u| e.seq >= u) {
                break;
            }
            match &e.observed {
                Observed::SseCreate { descriptor } => crate::sse::server::create(&store, tenant, descriptor)?,
                Observed::SseInsert { instance, entries } => {
                    // The server accepted these once; write them directly
                    // (no duplicate check needed, and faster).
                    let reader = crate::sse::entries::EntryReader::new(&store, tenant, instance);
                    let mut batch = WriteBatch::new();
                    for entry in entries {
                        batch.put(Table::Entries, reader.key(&entry.location), entry.value.clone());
                    }
                    store.write(batch)?;
                }
                Observed::SseRemove { instance, locations } => {
                    let reader = crate::sse::entries::EntryReader::new(&store, tenant, instance);
                    let mut batch = WriteBatch::new();
                    for location in locations {
                        batch.delete(Table::Entries, reader.key(location));
                    }
                    store.write(batch)?;
                }
                _ => {}
            }
        }
        Ok(store)
    }
}

/// Where recorded events go.
#[derive(Debug)]
struct Sink {
    events: Vec<ViewEvent>,
    keep_in_memory: bool,
    file: Option<(PathBuf, BufWriter<File>)>,
    next_seq: u64,
}

/// Records a [`ServerView`]; attach it with
/// [`crate::server::Server::with_observer`] (through [`Recorder::observer`]). Cloning shares the recording.
#[derive(Debug, Clone)]
pub struct Recorder {
    sink: Arc<Mutex<Sink>>,
}

impl Recorder {
    /// Records into memory; read it with [`Recorder::view`].
    pub fn memory() -> Self {
        Recorder {
            sink: Arc::new(Mutex::new(Sink { events: Vec::new(), keep_in_memory: true, file: None, next_seq: 0 })),
        }
    }

    /// Appends every event to a JSON-lines file (created or truncated) and
    /// keeps nothing in memory, for a long-running `sseek serve`.
    ///
    /// # Errors
    /// I/O errors creating the file.
    pub fn to_file(path: &Path) -> Result<Self> {
        let file = BufWriter::new(File::create(path).map_err(|e| Error::io(path, e))?);
        Ok(Recorder {
            sink: Arc::new(Mutex::new(Sink {
                events: Vec::new(),
                keep_in_memory: false,
                file: Some((path.to_path_buf(), file)),
                next_seq: 0,
            })),
        })
    }

    /// This recorder as the server's boundary observer; the observer and
    /// `self` share one recording.
    pub fn observer(&self) -> Arc<dyn BoundaryObserver> {
        Arc::new(self.clone())
    }

    /// Records one handled request.
    ///
    /// # Errors
    /// I/O errors writing the file; a poisoned recorder.
    pub fn record(&self, tenant: &str, request: &Request, response: &Response) -> Result<()> {
        let status = match response {
            Response::Error { code, .. } => *code,
            _ => 200,
        };
        let observed = Observed::of(request, response);
        let mut sink = self.sink.lock().map_err(|_| Error::Store("view recorder poisoned".into()))?;
        let event = ViewEvent { seq: sink.next_seq, tenant: tenant.to_owned(), status, observed };
        sink.next_seq += 1;
        if let Some((path, file)) = sink.file.as_mut() {
            let io = |e| Error::io(path.as_path(), e);
            serde_json::to_writer(&mut *file, &event).map_err(|e| io(std::io::Error::other(e)))?;
            file.write_all(b"\n").map_err(io)?;
            // One line per request: flush so a view read while serving is whole.
            file.flush().map_err(io)?;
        }
        if sink.keep_in_memory {
            sink.events.push(event);
        }
        Ok(())
    }

    /// A copy of the events recorded in memory so far.
    pub fn view(&self) -> ServerView {
        self.sink.lock().map(|s| ServerView { events: s.events.clone() }).unwrap_or_default()
    }

    /// Takes the events recorded in memory so far, leaving the recorder empty
    /// (sequence numbers keep counting).
    pub fn take(&self) -> ServerView {
        self.sink.lock().map(|mut s| ServerView { events: std::mem::take(&mut s.events) }).unwrap_or_default()
    }

    /// Number of events recorded so far.
    pub fn len(&self) -> u64 {
        self.sink.lock().map(|s| s.next_seq).unwrap_or(0)
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The file events are appended to, if any.
    pub fn path(&self) -> Option<PathBuf> {
        self.sink.lock().ok().and_then(|s| s.file.as_ref().map(|(p, _)| p.clone()))
    }
}

impl BoundaryObserver for Recorder {
    fn observe(&self, tenant: &str, request: &Request, response: &Response) -> Result<()> {
        self.record(tenant, request, response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::MasterKey;
    use crate::protocol::{SearchResult, SearchToken};
    use crate::server::InProcess;
    use crate::server::Server;
    use crate::sse::{self, MultiMap, SchemeConfig, SseIndex};

    fn search(addresses: &[u8], values: &[&[u8]]) -> ViewEvent {
        ViewEvent {
            seq: 1,
            tenant: "t".into(),
            status: 200,
            observed: Observed::SseSearch {
                instance: "i".into(),
                token: SearchToken::Addresses(addresses.iter().map(|&a| [a; 16]).collect()),
                result: SearchResult::Values(values.iter().map(|v| v.to_vec()).collect()),
            },
        }
    }

    #[test]
    fn recorded_view_round_trips_through_json_lines_and_replays() {
        let recorder = Recorder::memory();
        let server = Arc::new(Server::new(MemoryStore::new()).with_observer(recorder.observer()));
        let scheme = sse::open_client(&MasterKey::generate().unwrap(), "t", &SchemeConfig::new("pibas", "i")).unwrap();
        let mut index = SseIndex::create(InProcess::new(Arc::clone(&server), "t"), scheme).unwrap();
        let mut db = MultiMap::new();
        db.insert(sse::keyword("body", &["a"]), vec![1, 2, 3]);
        db.insert(sse::keyword("body", &["b"]), vec![2]);
        index.setup(&db).unwrap();
        assert_eq!(index.search_keyword(&sse::keyword("body", &["a"])).unwrap(), vec![1, 2, 3]);
        let view = recorder.view();
        // create, insert, sync, search (describe/sync are "other").
        assert!(
            view.events
                .iter()
                .any(|e| matches!(e.observed, Observed::SseInsert { ref entries, .. } if entries.len() == 4))
        );
        let s = view.searches().next().unwrap();
        assert_eq!(s.result, &SearchResult::Ids(vec![1, 2, 3]));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("view.jsonl");
        view.save(&path).unwrap();
        let back = ServerView::load(&path).unwrap();
        assert_eq!(back, view);

        // The attacker's rebuilt store answers the recorded token the same way.
        let store = back.replay_store("t", None).unwrap();
        let again = sse::server::search(&store, "t", s.instance, s.token).unwrap();
        assert_eq!(&again, s.result);
    }

    #[test]
    fn damaged_view_files_are_refused_with_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.jsonl");
        let good = serde_json::to_string(&search(&[1], &[b"v"])).unwrap();
        std::fs::write(&path, format!("{good}\n\n{{\"seq\": 3, \"tenant\": 5}}\n")).unwrap();
        match ServerView::load(&path) {
            Err(Error::ViewFile { line, .. }) => assert_eq!(line, 3),
            other => panic!("expected a ViewFile error, got {other:?}"),
        }
        std::fs::write(&path, [0xff, 0xfe, b'\n']).unwrap();
        assert!(matches!(ServerView::load(&path), Err(Error::ViewFile { line: 1, .. })));
        std::fs::write(&path, "").unwrap();
        assert!(ServerView::load(&path).unwrap().events.is_empty());
        assert!(matches!(ServerView::load(&dir.path().join("missing")), Err(Error::Io { .. })));
    }

    #[test]
    fn file_recorder_appends_lines_a_reader_can_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.jsonl");
        let recorder = Recorder::to_file(&path).unwrap();
        let server = Server::new(MemoryStore::new()).with_observer(recorder.observer());
        server.handle("t", Request::GetDocuments(vec![4, 5]));
        server.handle("t", Request::Stats);
        let view = ServerView::load(&path).unwrap();
        assert_eq!(view.events.len(), 2);
        assert_eq!(view.events[0].observed, Observed::GetDocuments { ids: vec![4, 5], returned: vec![] });
        assert!(recorder.view().events.is_empty(), "a file recorder keeps nothing in memory");
        assert_eq!(recorder.len(), 2);
    }
}
