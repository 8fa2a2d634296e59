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

mod batch;
pub mod diana;
pub mod entries;
mod index;
pub mod mitra;
pub mod oxt;
pub mod packed;
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

/// Ids per packed block when a dynamic scheme consolidates (see
/// [`Packing`]): a block is 257 bytes, one count byte and 64 ids.
pub use entries::PACKED_BLOCK;

/// Default [`SchemeConfig::consolidate_after`]: a searched keyword is
/// rewritten as packed blocks once it has at least this many updates since
/// its blocks were written, and at least as many as it has blocks (so that
/// rewriting costs at most one block per update, amortized).
pub const CONSOLIDATE_AFTER: u32 = 8;

/// Whether a keyword is due for a rewrite after a search: consolidation is
/// on (`consolidate_after` is `Some(t)`), and the keyword has at least one
/// update since its blocks were written, at least `t`, and at least as many
/// as it has blocks. The one rule of the clients and of their leakage models.
pub fn consolidation_due(consolidate_after: Option<u32>, updates: usize, blocks: usize) -> bool {
    consolidate_after.is_some_and(|t| updates > 0 && updates >= (t as usize).max(blocks))
}

/// Entries that replace some keywords' entries by packed blocks under a
/// fresh generation, and the client state that points to them, staged: a
/// dynamic scheme makes one after a search (the client then knows the
/// keyword's result, and the server has just seen which entries are the
/// keyword's) or for a setup. [`SseIndex`] sends `entries`, then applies the
/// state with [`DynamicScheme::apply_packing`] and saves it, then asks the
/// server to delete `obsolete`: a crash in between leaves unread entries,
/// never a state that points to blocks the server does not hold.
#[derive(Debug)]
pub struct Packing {
    /// The packed blocks, at labels of a generation never used before.
    pub entries: Vec<EncryptedEntry>,
    /// Locations of the entries the blocks replace (all the search just
    /// named); empty for a setup.
    pub obsolete: Vec<crate::protocol::EntryLocation>,
    /// Per keyword: its state before (checked when applied) and its new generation.
    pub keywords: Vec<PackedKeyword>,
}

/// One keyword of a [`Packing`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedKeyword {
    /// The keyword.
    pub keyword: Keyword,
    /// Its generation and update count when the packing was made.
    pub before: (Option<Generation>, u32),
    /// The generation that holds it afterwards (its update count restarts at 0).
    pub after: Generation,
}

/// A keyword's packed generation: a random id (fresh per rewrite, so no
/// label or keystream is ever used for two contents) from which the
/// blocks' and later updates' keys are derived, and the number of blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Generation {
    /// Random generation id.
    pub id: [u8; 16],
    /// Number of packed blocks written under it.
    pub blocks: u32,
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

    /// After a search of `keyword` answered `ids`: the packing that rewrites
    /// the keyword's entries as blocks, if the scheme consolidates and the
    /// keyword is due ([`SchemeConfig::consolidate_after`]). Changes no state.
    ///
    /// # Errors
    /// RNG errors.
    fn consolidation(&self, _keyword: &[u8], _ids: &[DocId]) -> Result<Option<Packing>> {
        Ok(None)
    }

    /// For a setup: a packing of the keywords of `db` this client never
    /// updated (each becomes packed blocks directly) and the pairs left for
    /// ordinary updates; `None` if the scheme does not pack its setup.
    ///
    /// # Errors
    /// RNG errors.
    fn pack_setup(&self, _db: &MultiMap) -> Result<Option<(Packing, MultiMap)>> {
        Ok(None)
    }

    /// Points the keywords of `packing` to their new generations (update
    /// counts back to 0), once its entries are stored.
    ///
    /// # Errors
    /// [`crate::Error::Conflict`] if a keyword changed since the packing was
    /// made; nothing is applied then. [`crate::Error::Config`] for a scheme that does not pack.
    fn apply_packing(&mut self, _packing: &Packing) -> Result<()> {
        Err(crate::Error::Config("this SSE scheme does not pack entries".into()))
    }
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
    /// Dynamic schemes that consolidate (Mitra, Diana): after a search, rewrite the
    /// keyword as packed blocks once it has at least this many updates since
    /// its last rewrite, and at least as many as it has blocks; a setup
    /// writes fresh keywords as packed blocks directly. `None` keeps one
    /// entry per update, as in the paper. Default [`CONSOLIDATE_AFTER`].
    pub consolidate_after: Option<u32>,
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
            consolidate_after: Some(CONSOLIDATE_AFTER),
        }
    }
}
