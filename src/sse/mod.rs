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
//!
//! Every scheme has a client half (keys from [`keys`], local state such as
//! counters, sealed into a state file by [`state`]) implementing
//! [`StaticScheme`] or [`DynamicScheme`], and a server half that takes only
//! protocol messages and a [`crate::store::Store`] ([`server`] and each
//! scheme's `server` module). [`SseIndex`] runs any scheme over any
//! [`Transport`].
//!
//! **Keywords.** An SSE keyword is one value of one blind-index spec
//! ([`keyword`]): `body:noon`, or the tuple `from+day:ann@x,2002-08-22` for a
//! compound spec. The same queries run on blind indexes and on SSE.
//!
//! **Boolean queries** are answered by searching each term and combining the
//! result sets on the client. Leakage: the server sees one search per term,
//! so it learns each term's search pattern and access pattern (its full
//! result set), not only the final answer. Schemes with lower boolean leakage
//! (OXT, BIEX) would implement a conjunctive token; [`SearchToken`] is an enum
//! so such a variant can be added without touching the others.
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
pub mod mitra;
pub mod pibas;
pub mod server;
pub mod twolev;

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::path::PathBuf;

use rand::seq::SliceRandom;
use rayon::prelude::*;
use roaring::{MultiOps, RoaringBitmap};

use crate::keys::MasterKey;
use crate::message::IndexSpec;
use crate::message::Terms;
use crate::protocol::transport::{Traffic, Transport};
use crate::protocol::{DocId, EncryptedEntry, Request, Response, SearchResult, SearchToken, SseDescriptor};
use crate::protocol::{expect_ok, unexpected};
use crate::query::Query;
use crate::{Error, Result};

/// Every registered scheme name. The demo, the tests and the server pick
/// schemes from here; a new scheme is added by registering it here and in
/// [`open_client`] and [`server::search`].
pub const SCHEMES: &[&str] = &["pibas", "pack", "2lev", "mitra", "diana"];

/// Entries sent per request during setup and updates.
pub const ENTRY_CHUNK: usize = 50_000;

/// An SSE keyword: an index name and its value tuple, length-prefixed so that
/// no two different pairs share an encoding.
pub type Keyword = Vec<u8>;

/// A plaintext multimap from keyword to ascending, distinct document ids: the
/// input of a static setup.
pub type MultiMap = BTreeMap<Keyword, Vec<DocId>>;

/// The keyword of a value tuple of an index.
pub fn keyword(index: &str, values: &[&str]) -> Keyword {
    let mut k = Vec::with_capacity(index.len() + values.iter().map(|v| v.len() + 4).sum::<usize>() + 4);
    for part in std::iter::once(index).chain(values.iter().copied()) {
        // u32 lengths: no part of a message comes near 4 GiB, so the encoding stays injective.
        k.extend_from_slice(&u32::try_from(part.len()).unwrap_or(u32::MAX).to_be_bytes());
        k.extend_from_slice(part.as_bytes());
    }
    k
}

/// The keywords of one message's terms under `specs`.
pub fn keywords_of(terms: &Terms, specs: &[IndexSpec]) -> Vec<Keyword> {
    specs.iter().flat_map(|s| s.values(terms).into_iter().map(|v| keyword(&s.name, &v))).collect()
}

/// The multimap of a batch of documents: every keyword of every spec with its ids.
pub fn multimap<T: Borrow<Terms> + Sync>(docs: &[(DocId, T)], specs: &[IndexSpec]) -> MultiMap {
    let pairs: Vec<(Keyword, DocId)> = docs
        .par_iter()
        .flat_map_iter(|(id, t)| keywords_of(t.borrow(), specs).into_iter().map(move |k| (k, *id)))
        .collect();
    let mut map: HashMap<Keyword, Vec<DocId>> = HashMap::new();
    for (k, id) in pairs {
        map.entry(k).or_default().push(id);
    }
    map.into_iter()
        .map(|(k, mut ids)| {
            ids.sort_unstable();
            ids.dedup();
            (k, ids)
        })
        .collect()
}

/// Number of (keyword, document) pairs of a multimap.
pub fn pair_count(db: &MultiMap) -> usize {
    db.values().map(Vec::len).sum()
}

/// Whether an update adds or deletes a (keyword, document) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum UpdateOp {
    /// Add the pair.
    Add,
    /// Delete the pair.
    Delete,
}

/// One update of a dynamic scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// Add or delete.
    pub op: UpdateOp,
    /// The keyword.
    pub keyword: Keyword,
    /// The document.
    pub id: DocId,
}

/// The updates adding (or deleting) every keyword of a batch of documents.
pub fn updates_of<T: Borrow<Terms>>(docs: &[(DocId, T)], specs: &[IndexSpec], op: UpdateOp) -> Vec<Update> {
    docs.iter()
        .flat_map(|(id, t)| {
            keywords_of(t.borrow(), specs).into_iter().map(move |keyword| Update { op, keyword, id: *id })
        })
        .collect()
}

/// Client half of a static scheme: the index is built once from a whole multimap.
pub trait StaticScheme: Debug + Send + Sync {
    /// The public descriptor of this instance.
    fn descriptor(&self) -> &SseDescriptor;

    /// Encrypts `db` and hands the entries to `sink` in chunks of at most
    /// [`ENTRY_CHUNK`]. Parallel over keywords.
    ///
    /// # Errors
    /// [`Error::Config`] if `db` does not fit the scheme; the first error of `sink`.
    fn setup(&self, db: &MultiMap, sink: &mut dyn FnMut(Vec<EncryptedEntry>) -> Result<()>) -> Result<()>;

    /// The search token of a keyword.
    fn token(&self, keyword: &[u8]) -> SearchToken;

    /// Turns the server's answer into ascending ids.
    ///
    /// # Errors
    /// [`Error::DataCorruption`] if the answer does not parse.
    fn resolve(&self, keyword: &[u8], result: SearchResult) -> Result<Vec<DocId>>;
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
    /// [`Error::Config`] for a delete on an add-only scheme.
    fn update(&mut self, updates: &[Update]) -> Result<Vec<EncryptedEntry>>;

    /// The search token of a keyword, or `None` if it was never updated (the
    /// answer is empty and the server need not be asked).
    fn token(&self, keyword: &[u8]) -> Option<SearchToken>;

    /// Turns the server's answer into the ascending ids currently holding the keyword.
    ///
    /// # Errors
    /// [`Error::DataCorruption`] if the answer does not parse.
    fn resolve(&mut self, keyword: &[u8], result: SearchResult) -> Result<Vec<DocId>>;

    /// Writes the local state to its state file (if it has one), atomically.
    ///
    /// # Errors
    /// I/O errors.
    fn save_state(&self) -> Result<()>;
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
    /// Scheme name, one of [`SCHEMES`].
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

/// Opens the client half of a registered scheme. A dynamic scheme with a
/// state file loads it if it exists.
///
/// # Errors
/// [`Error::Config`] for an unknown scheme or bad parameters; key label and
/// state file errors.
pub fn open_client(master: &MasterKey, tenant: &str, config: &SchemeConfig) -> Result<SchemeClient> {
    Ok(match config.scheme.as_str() {
        "pibas" => SchemeClient::Static(Box::new(pibas::PiBas::new(master, tenant, config, 1)?)),
        "pack" => SchemeClient::Static(Box::new(pibas::PiBas::new(
            master,
            tenant,
            config,
            config.block.unwrap_or(pibas::DEFAULT_BLOCK),
        )?)),
        "2lev" => SchemeClient::Static(Box::new(twolev::TwoLev::new(master, tenant, config)?)),
        "mitra" => SchemeClient::Dynamic(Box::new(mitra::Mitra::open(master, tenant, config)?)),
        "diana" => SchemeClient::Dynamic(Box::new(diana::Diana::open(master, tenant, config)?)),
        other => return Err(Error::Config(format!("unknown SSE scheme {other:?} (known: {})", SCHEMES.join(", ")))),
    })
}

/// One SSE index of a tenant: a scheme's client half talking to the server
/// over a transport.
#[derive(Debug)]
pub struct SseIndex<T: Transport> {
    transport: T,
    scheme: SchemeClient,
    /// Whether this handle registered the instance (only then may a static setup run).
    created: bool,
}

impl<T: Transport> SseIndex<T> {
    /// Registers a new instance on the server. A static instance must not exist
    /// yet (it is built once); a dynamic one may, with the same descriptor.
    ///
    /// # Errors
    /// [`Error::Config`] if a static instance exists; transport and server errors.
    pub fn create(transport: T, scheme: SchemeClient) -> Result<Self> {
        let descriptor = scheme.descriptor().clone();
        let exists = describe(&transport, &descriptor.instance)?.is_some();
        if exists && matches!(scheme, SchemeClient::Static(_)) {
            return Err(Error::Config(format!(
                "SSE instance {:?} already exists; a static index is built once",
                descriptor.instance
            )));
        }
        expect_ok(transport.call(&Request::SseCreate(descriptor))?)?;
        Ok(SseIndex { transport, scheme, created: true })
    }

    /// Opens an existing instance, checking that the server's descriptor matches.
    ///
    /// # Errors
    /// [`Error::NotFound`] if it does not exist; [`Error::Config`] if it was
    /// created with another scheme or parameters.
    pub fn open(transport: T, scheme: SchemeClient) -> Result<Self> {
        let descriptor = scheme.descriptor();
        match describe(&transport, &descriptor.instance)? {
            Some(d) if &d == descriptor => Ok(SseIndex { transport, scheme, created: false }),
            Some(d) => Err(Error::Config(format!("SSE instance {:?} was created as {d:?}", descriptor.instance))),
            None => Err(Error::NotFound(format!("SSE instance {:?}", descriptor.instance))),
        }
    }

    /// The scheme's client half.
    pub fn scheme(&self) -> &SchemeClient {
        &self.scheme
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Traffic over the transport so far.
    pub fn traffic(&self) -> Traffic {
        self.transport.traffic()
    }

    /// Builds the index from a whole multimap: a static setup, or for a
    /// dynamic scheme one add per pair. Ends with a durability point.
    ///
    /// # Errors
    /// Scheme, transport and server errors.
    pub fn setup(&mut self, db: &MultiMap) -> Result<()> {
        match &mut self.scheme {
            SchemeClient::Static(s) => {
                if !self.created {
                    return Err(Error::Config(format!(
                        "SSE instance {:?} was opened, not created: a static index is built once",
                        s.descriptor().instance
                    )));
                }
                self.created = false;
                let (transport, instance) = (&self.transport, s.descriptor().instance.clone());
                s.setup(db, &mut |mut entries| {
                    sort_by_location(&mut entries);
                    expect_ok(transport.call(&Request::SseInsert { instance: instance.clone(), entries })?)
                })?;
            }
            SchemeClient::Dynamic(_) => {
                let mut updates: Vec<Update> = db
                    .iter()
                    .flat_map(|(k, ids)| ids.iter().map(|id| Update { op: UpdateOp::Add, keyword: k.clone(), id: *id }))
                    .collect();
                // All adds, so order does not change the result; shuffled so
                // that which updates travel together says nothing about keywords.
                updates.shuffle(&mut setup_rng()?);
                for chunk in updates.chunks(ENTRY_CHUNK) {
                    self.update(chunk)?;
                }
            }
        }
        expect_ok(self.transport.call(&Request::Sync)?)
    }

    /// Applies updates (dynamic schemes only). The client state is saved
    /// before each batch is sent (write-ahead), so counters are never reused.
    ///
    /// # Errors
    /// [`Error::Config`] on a static scheme or a delete on an add-only one;
    /// transport, server and state file errors.
    pub fn update(&mut self, updates: &[Update]) -> Result<()> {
        let SchemeClient::Dynamic(d) = &mut self.scheme else {
            return Err(Error::Config("static SSE schemes take no updates; run setup once".into()));
        };
        for chunk in updates.chunks(ENTRY_CHUNK) {
            let mut entries = d.update(chunk)?;
            sort_by_location(&mut entries);
            // Save the advanced counters before sending: a crash in between
            // leaves gaps the server skips, never a counter used twice (a
            // reused counter would overwrite an entry and link two updates).
            d.save_state()?;
            let instance = d.descriptor().instance.clone();
            expect_ok(self.transport.call(&Request::SseInsert { instance, entries })?)?;
        }
        Ok(())
    }

    /// The ids currently holding one keyword, ascending.
    ///
    /// # Errors
    /// Transport, server and parse errors.
    pub fn search_keyword(&mut self, keyword: &[u8]) -> Result<Vec<DocId>> {
        let instance = self.scheme.descriptor().instance.clone();
        let token = match &self.scheme {
            SchemeClient::Static(s) => s.token(keyword),
            SchemeClient::Dynamic(d) => match d.token(keyword) {
                Some(t) => t,
                None => return Ok(Vec::new()),
            },
        };
        let result = match self.transport.call(&Request::SseSearch { instance, token })? {
            Response::SseResult(r) => r,
            other => return Err(unexpected(&other)),
        };
        match &mut self.scheme {
            SchemeClient::Static(s) => s.resolve(keyword, result),
            SchemeClient::Dynamic(d) => d.resolve(keyword, result),
        }
    }

    /// Evaluates a boolean query: one search per term, combined on the client.
    ///
    /// # Errors
    /// As [`SseIndex::search_keyword`].
    pub fn search(&mut self, query: &Query) -> Result<Vec<DocId>> {
        Ok(self.eval(query)?.iter().collect())
    }

    fn eval(&mut self, query: &Query) -> Result<RoaringBitmap> {
        match query {
            Query::Term { index, values } => {
                let v: Vec<&str> = values.iter().map(String::as_str).collect();
                let ids = self.search_keyword(&keyword(index, &v))?;
                Ok(RoaringBitmap::from_sorted_iter(ids).map_err(|e| Error::Protocol(format!("unsorted ids: {e}")))?)
            }
            Query::And(qs) => Ok(qs.iter().map(|q| self.eval(q)).collect::<Result<Vec<_>>>()?.intersection()),
            Query::Or(qs) => Ok(qs.iter().map(|q| self.eval(q)).collect::<Result<Vec<_>>>()?.union()),
        }
    }
}

/// Sorts a request's entries by label (or position): the order in which a
/// scheme produced them (keyword by keyword, counter by counter) would tell
/// the server which entries belong together.
fn sort_by_location(entries: &mut [EncryptedEntry]) {
    entries.sort_unstable_by_key(|e| e.location);
}

/// A generator for setup-time shuffles, seeded from the OS.
///
/// # Errors
/// The OS RNG fails.
pub fn setup_rng() -> Result<rand_chacha::ChaCha20Rng> {
    use rand::SeedableRng;
    let mut seed = [0u8; 32];
    crate::keys::os_random(&mut seed)?;
    Ok(rand_chacha::ChaCha20Rng::from_seed(seed))
}

fn describe<T: Transport>(transport: &T, instance: &str) -> Result<Option<SseDescriptor>> {
    match transport.call(&Request::SseDescribe { instance: instance.to_owned() })? {
        Response::SseDescriptor(d) => Ok(d),
        other => Err(unexpected(&other)),
    }
}
