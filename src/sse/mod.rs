//! Searchable symmetric encryption: the reference schemes behind one
//! client/server API.
//!
//! | scheme | module | kind | search token | paper note |
//! |---|---|---|---|---|
//! | `pibas` | [`pibas`] (block 1) | static | 2 per-keyword keys | `papers/pibas.md` |
//! | `pack` | [`pibas`] (block B) | static | 2 per-keyword keys | `papers/pack.md` |
//! | `2lev` | [`twolev`] | static, response-revealing or -hiding | 2 or 3 per-keyword keys | `papers/2lev.md` |
//! | `mitra` | [`mitra`] | dynamic, forward and Type-II backward private | one address per update | `papers/mitra.md` |
//! | `diana` | [`diana`] | dynamic (add-only), forward private | GGM nodes, O(log n) | `papers/diana.md` |
//! | `oxt` | [`oxt`] | static, conjunctions in one search | stag and `\|DB(s)\| (k-1)` xtokens | `papers/oxt.md` |
//!
//! Every scheme has a client half (keys from [`crate::keys::keyword`], local state such as
//! counters, sealed into a state file by [`crate::state`]) implementing
//! [`StaticScheme`] or [`DynamicScheme`], and a server half that takes only
//! protocol messages and a [`crate::store::Store`] ([`server`] and each
//! scheme's `server` module). [`SseIndex`] runs any scheme over any
//! [`Transport`](crate::protocol::transport::Transport).
//!
//! **Keywords.** An SSE keyword is one value of one blind-index spec
//! ([`keyword`]): `body:noon`, or the tuple `from+day:ann@x,2002-08-22` for a
//! compound spec. The same queries run on blind indexes and on SSE.
//!
//! **Boolean queries** are answered by searching each term and combining the
//! result sets on the client. Leakage: the server sees one search per term,
//! so it learns each term's search pattern and access pattern (its full
//! result set), not only the final answer. A scheme with a
//! [`ConjunctiveScheme`] half (OXT) instead answers each conjunction of an
//! OR of ANDs in one search, so the server learns the conjunction's result
//! and the s-term's list, not each term's list.
//!
//! ```
//! use std::sync::Arc;
//! use sseek::{keys::MasterKey, server::Server, store::MemoryStore, transport::InProcess};
//! use sseek::sse::{self, MultiMap, SchemeConfig, SseIndex};
//!
//! let server = Arc::new(Server::new(MemoryStore::new()));
//! let master = MasterKey::generate()?;
//! let scheme = sse::open_client(&master, "acme", &SchemeConfig::new("pack", "demo"))?;
//! let mut index = SseIndex::create(InProcess::new(server, "acme"), scheme)?;
//! let mut db = MultiMap::new();
//! db.insert(sse::keyword("body", &["noon"]), vec![1, 4, 9]);
//! index.setup(&db)?;
//! assert_eq!(index.search_keyword(&sse::keyword("body", &["noon"]))?, vec![1, 4, 9]);
//! assert!(index.search_keyword(&sse::keyword("body", &["never"]))?.is_empty());
//! # Ok::<(), sseek::Error>(())
//! ```

pub mod diana;
pub mod entries;
mod index;
pub mod mitra;
pub mod oxt;
pub mod pibas;
pub mod registry;
pub mod server;
pub mod twolev;

use std::fmt::Debug;
use std::path::PathBuf;

pub use crate::multimap::{
    Keyword, MultiMap, Update, UpdateOp, conjunction, keyword, keywords_of, multimap, pair_count, updates_of,
};
pub use index::{SseIndex, open_client, setup_rng};
pub use registry::{Scheme, SchemeKind};

use crate::Result;
use crate::protocol::{DocId, EncryptedEntry, OxtToken, SearchResult, SearchToken, SseDescriptor, VersionedState};

/// Entries sent per request during setup and updates.
pub const ENTRY_CHUNK: usize = 50_000;

/// Sorts `entries` by location (label or position) and hands them to `sink`
/// in requests of at most [`ENTRY_CHUNK`]: the order in which a scheme built
/// them (keyword by keyword) would otherwise tell the server which entries
/// belong together, and so would the request boundaries.
///
/// # Errors
/// The first error of `sink`.
pub(crate) fn send_in_location_order(
    mut entries: Vec<EncryptedEntry>,
    sink: &mut dyn FnMut(Vec<EncryptedEntry>) -> Result<()>,
) -> Result<()> {
    use rayon::slice::ParallelSliceMut;
    entries.par_sort_unstable_by_key(|e| e.location);
    let mut rest = entries.into_iter();
    loop {
        let chunk: Vec<EncryptedEntry> = rest.by_ref().take(ENTRY_CHUNK).collect();
        if chunk.is_empty() {
            return Ok(());
        }
        sink(chunk)?;
    }
}

/// Client half of a static scheme: the index is built once from a whole multimap.
pub trait StaticScheme: Debug + Send + Sync {
    /// The public descriptor of this instance.
    fn descriptor(&self) -> &SseDescriptor;

    /// Encrypts `db` and hands the entries to `sink` in chunks of at most
    /// [`ENTRY_CHUNK`]. Parallel over keywords.
    ///
    /// # Errors
    /// [`crate::Error::Config`] if `db` does not fit the scheme; the first error of `sink`.
    fn setup(&self, db: &MultiMap, sink: &mut dyn FnMut(Vec<EncryptedEntry>) -> Result<()>) -> Result<()>;

    /// The search token of a keyword.
    fn token(&self, keyword: &[u8]) -> SearchToken;

    /// Turns the server's answer into ascending ids.
    ///
    /// # Errors
    /// [`crate::Error::DataCorruption`] if the answer does not parse.
    fn resolve(&self, keyword: &[u8], result: SearchResult) -> Result<Vec<DocId>>;

    /// Client state to keep on the server beside the index, sealed, once
    /// setup has sent the entries (OXT's keyword statistics); `None` for
    /// schemes that keep none.
    ///
    /// # Errors
    /// Encoding and RNG errors.
    fn seal_setup_state(&mut self, _db: &MultiMap) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }

    /// The scheme's conjunctive search, if it answers a conjunction in one
    /// search (OXT) rather than one search per term.
    fn conjunctive(&mut self) -> Option<&mut dyn ConjunctiveScheme> {
        None
    }
}

/// A conjunction's search request: the token and which term is the s-term
/// (the answer opens with that term's keys, [`StaticScheme::resolve`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conjunction {
    /// Index into the terms asked for of the s-term.
    pub s_term: usize,
    /// The token for [`crate::protocol::Request::OxtSearch`].
    pub token: OxtToken,
}

/// A static scheme that answers conjunctions in one search (OXT).
pub trait ConjunctiveScheme: Debug + Send + Sync {
    /// Whether the keyword statistics (list lengths) that choose the s-term are loaded.
    fn has_statistics(&self) -> bool;

    /// Loads the statistics from the sealed state setup stored on the server.
    ///
    /// # Errors
    /// [`crate::Error::StateFile`] if it does not open under this instance's key.
    fn open_statistics(&mut self, state: &VersionedState) -> Result<()>;

    /// The token of a conjunction of `terms` (1 to 16 distinct keywords).
    ///
    /// # Errors
    /// [`crate::Error::Config`] for no or too many terms, or statistics not loaded.
    fn conjunction(&self, terms: &[Keyword]) -> Result<Conjunction>;
}

/// Client half of a dynamic scheme: adds (and, if supported, deletes) after setup.
pub trait DynamicScheme: Debug + Send + Sync {
    /// The public descriptor of this instance.
    fn descriptor(&self) -> &SseDescriptor;

    /// Whether the scheme supports [`UpdateOp::Delete`].
    fn supports_delete(&self) -> bool;

    /// The entries for a batch of updates, advancing the local state. The
    /// state is saved by [`DynamicScheme::save_state`], which callers run
    /// before sending the entries, so a counter is never used twice.
    ///
    /// # Errors
    /// [`crate::Error::Config`] for a delete on an add-only scheme.
    fn update(&mut self, updates: &[Update]) -> Result<Vec<EncryptedEntry>>;

    /// The search token of a keyword, or `None` if it was never updated (the
    /// answer is empty and the server need not be asked).
    fn token(&self, keyword: &[u8]) -> Option<SearchToken>;

    /// Turns the server's answer into the ascending ids currently holding the keyword.
    ///
    /// # Errors
    /// [`crate::Error::DataCorruption`] if the answer does not parse.
    fn resolve(&mut self, keyword: &[u8], result: SearchResult) -> Result<Vec<DocId>>;

    /// Writes the local state to its state file (if it has one), atomically.
    ///
    /// # Errors
    /// I/O errors.
    fn save_state(&self) -> Result<()>;

    /// The state, sealed as version `version` of the state the tenant's
    /// devices share through the server ([`SseIndex::share_state`]).
    ///
    /// # Errors
    /// Encoding and RNG errors.
    fn seal_state(&self, version: u64) -> Result<Vec<u8>>;

    /// Replaces the state with one sealed by [`DynamicScheme::seal_state`]
    /// as `version` (another device's, read from the server).
    ///
    /// # Errors
    /// [`crate::Error::StateFile`] if it does not open as that version of
    /// this instance under this key, or holds an impossible counter; the
    /// state is unchanged then.
    fn open_state(&mut self, version: u64, sealed: &[u8]) -> Result<()>;
}

/// The client half of any scheme.
#[derive(Debug)]
pub enum SchemeClient {
    /// A static scheme.
    Static(Box<dyn StaticScheme>),
    /// A dynamic scheme.
    Dynamic(Box<dyn DynamicScheme>),
}

impl SchemeClient {
    /// The public descriptor of this instance.
    pub fn descriptor(&self) -> &SseDescriptor {
        match self {
            SchemeClient::Static(s) => s.descriptor(),
            SchemeClient::Dynamic(d) => d.descriptor(),
        }
    }
}

/// How to open a scheme's client half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeConfig {
    /// Scheme name, one of [`Scheme::name`].
    pub scheme: String,
    /// Instance name (keys are derived per instance).
    pub instance: String,
    /// Ids per entry or block; `None` for the scheme's default.
    pub block: Option<u16>,
    /// Response-revealing (the server opens results) or response-hiding.
    pub response_revealing: bool,
    /// Where a dynamic scheme keeps its state; `None` keeps it in memory only.
    pub state_path: Option<PathBuf>,
    /// Key version.
    pub key_version: u32,
}

impl SchemeConfig {
    /// Defaults for `scheme` under `instance`: default block, response-revealing, no state file, key version 1.
    pub fn new(scheme: &str, instance: &str) -> Self {
        SchemeConfig {
            scheme: scheme.to_owned(),
            instance: instance.to_owned(),
            block: None,
            response_revealing: true,
            state_path: None,
            key_version: 1,
        }
    }
}
