//! The client side of SSE: opening a scheme's client half by its
//! [`Scheme`], and [`SseIndex`], which runs any scheme over any
//! [`Transport`]. A client half never calls up into the client; this module
//! talks to the server through the base transport trait only.

use std::sync::mpsc;

use rand::seq::SliceRandom;
use rayon::slice::ParallelSliceMut;
use roaring::{MultiOps, RoaringBitmap};

use super::Conjunction;
use super::{
    ENTRY_CHUNK, Keyword, MultiMap, Packing, Scheme, SchemeClient, SchemeConfig, Update, UpdateOp, diana, keyword,
    mitra, oxt, pibas, twolev,
};
use crate::keys::MasterKey;
use crate::protocol::transport::{Traffic, Transport};
use crate::protocol::{
    DocId, EncryptedEntry, EntryLocation, Request, Response, SearchResult, SseDescriptor, expect_ok, unexpected,
};
use crate::query::Query;
use crate::{Error, Result};

/// Opens the client half of a registered scheme. A dynamic scheme with a
/// state file loads it if it exists.
///
/// # Errors
/// [`crate::Error::Config`] for an unknown scheme or bad parameters; key label and
/// state file errors.
pub fn open_client(master: &MasterKey, tenant: &str, config: &SchemeConfig) -> Result<SchemeClient> {
    Ok(match Scheme::parse(&config.scheme)? {
        Scheme::PiBas => SchemeClient::Static(Box::new(pibas::PiBas::new(master, tenant, config, 1)?)),
        Scheme::Pack => SchemeClient::Static(Box::new(pibas::PiBas::new(
            master,
            tenant,
            config,
            config.block.unwrap_or(pibas::DEFAULT_BLOCK),
        )?)),
        Scheme::TwoLev => SchemeClient::Static(Box::new(twolev::TwoLev::new(master, tenant, config)?)),
        Scheme::Oxt => SchemeClient::Static(Box::new(oxt::Oxt::new(master, tenant, config)?)),
        Scheme::Mitra => SchemeClient::Dynamic(Box::new(mitra::Mitra::open(master, tenant, config)?)),
        Scheme::Diana => SchemeClient::Dynamic(Box::new(diana::Diana::open(master, tenant, config)?)),
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
    /// With [`SseIndex::share_state`]: the version of the shared client
    /// state loaded last (0: none on the server yet).
    shared: Option<u64>,
    /// The name the server knows the instance by, if not its own: a
    /// rebuild under a new key version is written beside the instance,
    /// under another name, until it replaces it.
    server_name: Option<String>,
}

/// Attempts of one update batch against other devices' concurrent updates.
const SHARED_STATE_ATTEMPTS: usize = 64;

impl<T: Transport> SseIndex<T> {
    /// Registers a new instance on the server. A static instance must not exist
    /// yet (it is built once); a dynamic one may, with the same descriptor.
    ///
    /// # Errors
    /// [`crate::Error::Config`] if a static instance exists; transport and server errors.
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
        Ok(SseIndex { transport, scheme, created: true, shared: None, server_name: None })
    }

    /// Opens an existing instance, checking that the server's descriptor matches.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] if it does not exist; [`crate::Error::Config`] if it was
    /// created with another scheme or parameters.
    pub fn open(transport: T, scheme: SchemeClient) -> Result<Self> {
        let descriptor = scheme.descriptor();
        match describe(&transport, &descriptor.instance)? {
            Some(d) if &d == descriptor => {
                Ok(SseIndex { transport, scheme, created: false, shared: None, server_name: None })
            }
            Some(d) => Err(Error::Config(format!("SSE instance {:?} was created as {d:?}", descriptor.instance))),
            None => Err(Error::NotFound(format!("SSE instance {:?}", descriptor.instance))),
        }
    }

    /// Keeps the dynamic scheme's client state (its counters) on the
    /// server, sealed, so that several devices of the account can update
    /// and search the same instance: each update batch first reserves its
    /// counters by compare-and-swap of the state (a device that lost the
    /// race reads the winner's state and computes its entries again), then
    /// sends its entries; each search first reads the newest state. No
    /// counter is used twice and no device's update is lost. The state is
    /// sealed with its version as associated data, and a version older than
    /// one seen before is refused, so the server can neither edit it nor
    /// roll a device back.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use sseek::{keys::MasterKey, server::Server, store::MemoryStore, transport::InProcess};
    /// use sseek::sse::{self, SchemeConfig, SseIndex, Update, UpdateOp};
    /// let server = Arc::new(Server::new(MemoryStore::new()));
    /// let key = MasterKey::generate()?;
    /// let device = |key: &MasterKey| -> sseek::Result<_> {
    ///     let scheme = sse::open_client(key, "t", &SchemeConfig::new("mitra", "mail"))?;
    ///     SseIndex::create(InProcess::new(Arc::clone(&server), "t"), scheme)?.share_state()
    /// };
    /// let (mut phone, mut laptop) = (device(&key)?, device(&key)?);
    /// phone.update(&[Update { op: UpdateOp::Add, keyword: b"noon".to_vec(), id: 1 }])?;
    /// laptop.update(&[Update { op: UpdateOp::Add, keyword: b"noon".to_vec(), id: 2 }])?;
    /// assert_eq!(phone.search_keyword(b"noon")?, vec![1, 2]);
    /// # Ok::<(), sseek::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Config`] for a static scheme; as [`SseIndex::refresh_state`].
    pub fn share_state(mut self) -> Result<Self> {
        if !matches!(self.scheme, SchemeClient::Dynamic(_)) {
            return Err(Error::Config("only dynamic schemes keep client state".into()));
        }
        self.shared = Some(0);
        self.refresh_state()?;
        Ok(self)
    }

    /// Loads the newest shared state from the server, if it is newer than
    /// the one held (nothing to do without [`SseIndex::share_state`]).
    ///
    /// # Errors
    /// [`crate::Error::StateFile`] for a state that does not open as its
    /// version (modified, of another instance or key, or an old state
    /// relabelled) or for a version older than one seen before (a rollback);
    /// transport and server errors.
    pub fn refresh_state(&mut self) -> Result<()> {
        let instance = self.name();
        let (Some(known), SchemeClient::Dynamic(d)) = (self.shared, &mut self.scheme) else { return Ok(()) };
        let stored = match self.transport.call(&Request::GetClientState { instance: instance.clone() })? {
            Response::ClientState(s) => s,
            other => return Err(unexpected(&other)),
        };
        let key_version = d.descriptor().key_version;
        // A rebuild under a new key version starts the state's versions
        // again, sealed under the new key: say so rather than call it a
        // rollback or a damaged state.
        let rebuilt = || match describe(&self.transport, &instance) {
            Ok(Some(now)) if now.key_version != key_version => Some(Error::Conflict(format!(
                "SSE instance {instance:?} is under key version {} now, not {key_version}: open it again with that \
                 version",
                now.key_version
            ))),
            _ => None,
        };
        let rollback = |found: u64| {
            if let Some(e) = rebuilt() {
                return e;
            }
            Error::StateFile {
                path: "shared state on the server".into(),
                reason: format!(
                    "version {found} is older than version {known}, seen before: the server rolled it back"
                ),
            }
        };
        match stored {
            None if known > 0 => Err(rollback(0)),
            None => Ok(()),
            Some(s) if s.version < known => Err(rollback(s.version)),
            Some(s) if s.version == known => Ok(()),
            Some(s) => {
                if let Err(e) = d.open_state(s.version, &s.sealed) {
                    return Err(rebuilt().unwrap_or(e));
                }
                self.shared = Some(s.version);
                Ok(())
            }
        }
    }

    /// The name the server knows this instance by.
    fn name(&self) -> String {
        self.server_name.clone().unwrap_or_else(|| self.scheme.descriptor().instance.clone())
    }

    /// Rebuilds this instance under a newer key version and replaces it on
    /// the server, for a key rotation: `scheme` is the client half of the
    /// same scheme, instance name and parameters under the new version
    /// (from [`open_client`] with the new master key and
    /// [`SchemeConfig::key_version`]), and `db` what the index holds now.
    /// The new index is written beside the old one (which keeps answering
    /// searches, complete, until the end), then one transaction on the
    /// server moves it in and deletes the old entries, descriptor and
    /// shared state: nothing under the old version is left. A handle of the
    /// old version still open elsewhere gets a clear error (409) on its next
    /// search instead of an empty answer. With a shared client state, an
    /// update another device makes during the rebuild makes the replacement
    /// fail (409), so it is never lost; rebuild again with the new `db`. On
    /// any error this handle keeps the old version, and a rebuild that
    /// stopped before the replacement is started over by the next call.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use sseek::{keys::Keyring, server::Server, store::MemoryStore, transport::InProcess};
    /// use sseek::sse::{self, MultiMap, SchemeConfig, SseIndex};
    /// let server = Arc::new(Server::new(MemoryStore::new()));
    /// let mut ring = Keyring::generate()?;
    /// let mut db = MultiMap::new();
    /// db.insert(b"body:noon".to_vec(), vec![1, 4]);
    /// let config = SchemeConfig::new("2lev", "mail");
    /// let v1 = sse::open_client(ring.current(), "t", &config)?;
    /// let mut index = SseIndex::create(InProcess::new(Arc::clone(&server), "t"), v1)?;
    /// index.setup(&db)?;
    /// let version = ring.add_version()?;
    /// let v2 = sse::open_client(ring.current(), "t", &SchemeConfig { key_version: version, ..config })?;
    /// index.rotate(v2, &db)?;
    /// assert_eq!(index.search_keyword(b"body:noon")?, vec![1, 4]);
    /// # Ok::<(), sseek::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`crate::Error::Config`] for a `scheme` of another scheme, name or
    /// parameters, or not of a newer key version; a 409 if the shared state
    /// moved on; scheme, transport and server errors (the old instance is
    /// then intact).
    pub fn rotate(&mut self, scheme: SchemeClient, db: &MultiMap) -> Result<()> {
        let (old, new) = (self.scheme.descriptor().clone(), scheme.descriptor().clone());
        if (&new.instance, &new.scheme, new.block, new.response_revealing)
            != (&old.instance, &old.scheme, old.block, old.response_revealing)
            || new.key_version <= old.key_version
            || matches!(scheme, SchemeClient::Static(_)) != matches!(self.scheme, SchemeClient::Static(_))
        {
            return Err(Error::Config(format!(
                "a rebuild of SSE instance {:?} needs the same scheme, name and parameters under a newer key \
                 version than {}",
                old.instance, old.key_version
            )));
        }
        let staged = format!("{}~v{}", old.instance, new.key_version);
        // Left by a rebuild that stopped before it replaced the instance.
        expect_ok(self.transport.call(&Request::SseDrop { instance: staged.clone() })?)?;
        let expect_state = match self.shared {
            Some(_) => match self.transport.call(&Request::GetClientState { instance: self.name() })? {
                Response::ClientState(s) => Some(s.map_or(0, |s| s.version)),
                other => return Err(unexpected(&other)),
            },
            None => None,
        };
        expect_ok(self.transport.call(&Request::SseCreate(SseDescriptor { instance: staged.clone(), ..new }))?)?;
        let mut rebuilt = SseIndex {
            transport: &self.transport,
            scheme,
            created: true,
            shared: self.shared.map(|_| 0),
            server_name: Some(staged.clone()),
        };
        rebuilt.setup(db)?;
        expect_ok(self.transport.call(&Request::SseSwap { instance: old.instance, staged, expect_state })?)?;
        let (scheme, shared) = (rebuilt.scheme, rebuilt.shared);
        self.scheme = scheme;
        self.shared = shared;
        self.created = false;
        Ok(())
    }

    /// Deletes the instance on the server: its entries, descriptor and
    /// shared client state.
    ///
    /// # Errors
    /// Transport and server errors.
    pub fn drop_instance(self) -> Result<()> {
        expect_ok(self.transport.call(&Request::SseDrop { instance: self.name() })?)
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
                let instance = self.server_name.clone().unwrap_or_else(|| s.descriptor().instance.clone());
                pipelined(&self.transport, &instance, |sink| s.setup(db, sink))?;
                if let Some(sealed) = s.seal_setup_state(db)? {
                    expect_ok(self.transport.call(&Request::PutClientState { instance, version: 1, sealed })?)?;
                }
            }
            SchemeClient::Dynamic(d) => {
                // Keywords new to the client become packed blocks directly
                // (not with a shared state: another device may be adding).
                let packed = if self.shared.is_none() { d.pack_setup(db)? } else { None };
                let db = match packed {
                    Some((packing, rest)) => {
                        if !packing.keywords.is_empty() {
                            self.store_packing(packing)?;
                        }
                        std::borrow::Cow::Owned(rest)
                    }
                    None => std::borrow::Cow::Borrowed(db),
                };
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
    /// [`crate::Error::Config`] on a static scheme or a delete on an add-only one;
    /// transport, server and state file errors.
    pub fn update(&mut self, updates: &[Update]) -> Result<()> {
        if !matches!(self.scheme, SchemeClient::Dynamic(_)) {
            return Err(Error::Config("static SSE schemes take no updates; run setup once".into()));
        }
        if self.shared.is_none() && updates.len() > ENTRY_CHUNK {
            // No shared state to reserve against: encrypt the next chunk
            // while the server stores this one. The state is still saved
            // before a chunk is sent (write-ahead).
            let instance = self.name();
            let SchemeClient::Dynamic(d) = &mut self.scheme else { unreachable!("checked above") };
            return pipelined(&self.transport, &instance, |sink| {
                for chunk in updates.chunks(ENTRY_CHUNK) {
                    let entries = d.update(chunk)?;
                    d.save_state()?;
                    sink(entries)?;
                }
                Ok(())
            });
        }
        for chunk in updates.chunks(ENTRY_CHUNK) {
            let mut entries = self.reserve(chunk)?;
            sort_by_location(&mut entries);
            let instance = self.name();
            expect_ok(self.transport.call(&Request::SseInsert { instance, entries })?)?;
        }
        Ok(())
    }

    /// The entries of one batch, with their counters reserved: the advanced
    /// state is saved before anything is sent (write-ahead: a crash in
    /// between leaves gaps the server skips, never a counter used twice, which
    /// would overwrite an entry and link two updates). With a shared state,
    /// saving is a compare-and-swap on the server; losing it to another
    /// device means reading its state and computing the entries again.
    fn reserve(&mut self, chunk: &[Update]) -> Result<Vec<EncryptedEntry>> {
        let instance = self.name();
        for _ in 0..SHARED_STATE_ATTEMPTS {
            self.refresh_state()?;
            let SchemeClient::Dynamic(d) = &mut self.scheme else { unreachable!("checked by update") };
            let entries = d.update(chunk)?;
            d.save_state()?;
            let Some(known) = self.shared else { return Ok(entries) };
            let (version, instance) = (known + 1, instance.clone());
            let sealed = d.seal_state(version)?;
            match self.transport.call(&Request::PutClientState { instance, version, sealed }) {
                Ok(r) => {
                    expect_ok(r)?;
                    self.shared = Some(version);
                    return Ok(entries);
                }
                // Another device reserved first; its state has the counters to continue from.
                Err(Error::Server { code: 409, .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(format!(
            "the shared client state changed under {SHARED_STATE_ATTEMPTS} attempts in a row; try again"
        )))
    }

    /// The ids the index holds for one keyword, ascending, before deletes
    /// are applied ([`SseIndex::search`] applies them).
    ///
    /// # Errors
    /// Transport, server and parse errors.
    pub fn search_keyword(&mut self, keyword: &[u8]) -> Result<Vec<DocId>> {
        // Another device may have added under this keyword since.
        self.refresh_state()?;
        self.search_fresh(keyword)
    }

    /// [`SseIndex::search_keyword`] with the shared state already read.
    fn search_fresh(&mut self, keyword: &[u8]) -> Result<Vec<DocId>> {
        let (instance, key_version) = (self.name(), self.scheme.descriptor().key_version);
        let token = match &self.scheme {
            SchemeClient::Static(s) => s.token(keyword),
            SchemeClient::Dynamic(d) => match d.token(keyword) {
                Some(t) => t,
                None => return Ok(Vec::new()),
            },
        };
        let result = match self.transport.call(&Request::SseSearchFixedIds { instance, key_version, token })? {
            Response::SseFixedIds(ids) => SearchResult::Ids(ids.ids()?),
            Response::SseResult(r) => r,
            other => return Err(unexpected(&other)),
        };
        let (ids, packing) = match &mut self.scheme {
            SchemeClient::Static(s) => (s.resolve(keyword, result)?, None),
            SchemeClient::Dynamic(d) => {
                let ids = d.resolve(keyword, result)?;
                let packing = d.consolidation(keyword, &ids)?;
                (ids, packing)
            }
        };
        if let Some(packing) = packing {
            self.store_packing(packing)?;
        }
        Ok(ids)
    }

    /// Stores a [`Packing`]: its blocks first, then the state that points
    /// to them (saved to the state file; with a shared state, by
    /// compare-and-swap), then the deletion of the entries it replaces.
    /// Returns whether it took effect: it is dropped, and its blocks
    /// deleted again, if a keyword changed meanwhile (another device's
    /// update). A crash at any point leaves the index whole: before the
    /// state is saved the old entries still answer, after it the blocks do.
    fn store_packing(&mut self, mut packing: Packing) -> Result<bool> {
        let (instance, key_version) = (self.name(), self.scheme.descriptor().key_version);
        let written: Vec<EntryLocation> = packing.entries.iter().map(|e| e.location).collect();
        super::send_in_location_order(std::mem::take(&mut packing.entries), &mut |entries| {
            expect_ok(self.transport.call(&Request::SseInsert { instance: instance.clone(), entries })?)
        })?;
        let SchemeClient::Dynamic(d) = &mut self.scheme else {
            return Err(Error::Config("static SSE schemes are not packed after setup".into()));
        };
        match d.apply_packing(&packing) {
            Ok(()) => {}
            Err(Error::Conflict(_)) => {
                remove_entries(&self.transport, &instance, key_version, &written)?;
                return Ok(false);
            }
            Err(e) => return Err(e),
        }
        d.save_state()?;
        if let Some(known) = self.shared {
            let (version, sealed) = (known + 1, d.seal_state(known + 1)?);
            match self.transport.call(&Request::PutClientState { instance: instance.clone(), version, sealed }) {
                Ok(r) => {
                    expect_ok(r)?;
                    self.shared = Some(version);
                }
                // Another device moved the state on: take its state, drop the blocks.
                Err(Error::Server { code: 409, .. }) => {
                    remove_entries(&self.transport, &instance, key_version, &written)?;
                    self.refresh_state()?;
                    return Ok(false);
                }
                Err(e) => return Err(e),
            }
        }
        remove_entries(&self.transport, &instance, key_version, &packing.obsolete)?;
        Ok(true)
    }

    /// Evaluates a boolean query: one search per term, combined on the
    /// client, less the tenant's deleted ids. Those come from the server
    /// with every query, whatever the answer (asking only for non-empty
    /// answers would tell the server which answers were empty); a static
    /// index keeps a deleted message's entries until it is rebuilt, and a
    /// dynamic one until the client sends its delete updates.
    ///
    /// # Errors
    /// As [`SseIndex::search_keyword`]; [`crate::Error::Protocol`] for
    /// tombstones that do not decode.
    pub fn search(&mut self, query: &Query) -> Result<Vec<DocId>> {
        // Once per query, not per term.
        self.refresh_state()?;
        let mut ids = self.eval(query)?;
        ids -= self.tombstones()?;
        Ok(ids.iter().collect())
    }

    /// Whether the scheme answers a conjunction in one search (OXT).
    fn is_conjunctive(&mut self) -> bool {
        match &mut self.scheme {
            SchemeClient::Static(s) => s.conjunctive().is_some(),
            SchemeClient::Dynamic(_) => false,
        }
    }

    /// One conjunction of two or more keywords in one search: the
    /// statistics are read from the server once per handle, the client
    /// picks the least frequent term as the s-term, and the server tests
    /// the other terms against the XSet.
    ///
    /// # Errors
    /// [`crate::Error::NotFound`] if the instance has no statistics on the
    /// server; scheme, transport and server errors.
    pub fn search_conjunction(&mut self, terms: &[Keyword]) -> Result<Vec<DocId>> {
        let (instance, key_version) = (self.name(), self.scheme.descriptor().key_version);
        let SchemeClient::Static(s) = &mut self.scheme else {
            return Err(Error::Config("only static conjunctive schemes answer conjunctions".into()));
        };
        let Some(c) = s.conjunctive() else {
            return Err(Error::Config(format!("SSE scheme {:?} has no conjunctive search", s.descriptor().scheme)));
        };
        if !c.has_statistics() {
            match self.transport.call(&Request::GetClientState { instance: instance.clone() })? {
                Response::ClientState(Some(state)) => {
                    if let Err(e) = c.open_statistics(&state) {
                        // Sealed under another key version: the instance was rebuilt.
                        return Err(match describe(&self.transport, &instance)? {
                            Some(d) if d.key_version != key_version => Error::Conflict(format!(
                                "SSE instance {instance:?} is under key version {} now, not {key_version}: open it \
                                 again with that version",
                                d.key_version
                            )),
                            _ => e,
                        });
                    }
                }
                Response::ClientState(None) => {
                    return Err(Error::NotFound(format!("keyword statistics of SSE instance {instance:?}")));
                }
                other => return Err(unexpected(&other)),
            }
        }
        let Conjunction { s_term, token } = c.conjunction(terms)?;
        let result = match self.transport.call(&Request::OxtSearch { instance, key_version, token })? {
            Response::SseResult(r) => r,
            other => return Err(unexpected(&other)),
        };
        s.resolve(&terms[s_term], result)
    }

    /// The tenant's deleted ids, from the server.
    ///
    /// # Errors
    /// Transport and server errors; [`crate::Error::Protocol`] if they do not decode.
    pub fn tombstones(&self) -> Result<RoaringBitmap> {
        match self.transport.call(&Request::Tombstones)? {
            Response::Tombstones(bytes) => RoaringBitmap::deserialize_from(&bytes[..])
                .map_err(|e| Error::Protocol(format!("tombstones do not decode: {e}"))),
            other => Err(unexpected(&other)),
        }
    }

    fn eval(&mut self, query: &Query) -> Result<RoaringBitmap> {
        if self.is_conjunctive()
            && let Some(conjunctions) = disjunctive_normal_form(query)
        {
            let mut ids = RoaringBitmap::new();
            for terms in conjunctions {
                let found = match terms.as_slice() {
                    [one] => self.search_fresh(one)?,
                    _ => self.search_conjunction(&terms)?,
                };
                ids |= RoaringBitmap::from_sorted_iter(found)
                    .map_err(|e| Error::Protocol(format!("unsorted ids: {e}")))?;
            }
            return Ok(ids);
        }
        match query {
            Query::Term { index, values } => {
                let v: Vec<&str> = values.iter().map(String::as_str).collect();
                let ids = self.search_fresh(&keyword(index, &v))?;
                Ok(RoaringBitmap::from_sorted_iter(ids).map_err(|e| Error::Protocol(format!("unsorted ids: {e}")))?)
            }
            Query::And(qs) => Ok(qs.iter().map(|q| self.eval(q)).collect::<Result<Vec<_>>>()?.intersection()),
            Query::Or(qs) => Ok(qs.iter().map(|q| self.eval(q)).collect::<Result<Vec<_>>>()?.union()),
        }
    }
}

/// Most conjunctions a query is expanded into for a conjunctive scheme;
/// a larger expansion is answered term by term instead.
const MAX_CONJUNCTIONS: usize = 64;

/// A query as an OR of ANDs of keywords (each AND sorted and without
/// repeats), if that has at most [`MAX_CONJUNCTIONS`] conjunctions of at
/// most [`oxt::MAX_TERMS`] terms.
fn disjunctive_normal_form(query: &Query) -> Option<Vec<Vec<Keyword>>> {
    let dnf: Vec<Vec<Keyword>> = match query {
        Query::Term { index, values } => {
            let v: Vec<&str> = values.iter().map(String::as_str).collect();
            vec![vec![keyword(index, &v)]]
        }
        Query::Or(qs) => {
            let mut out = Vec::new();
            for q in qs {
                out.extend(disjunctive_normal_form(q)?);
                if out.len() > MAX_CONJUNCTIONS {
                    return None;
                }
            }
            out
        }
        Query::And(qs) => {
            // The product of the children's disjunctions; an empty AND matches nothing here as in `eval`.
            let mut out: Vec<Vec<Keyword>> = if qs.is_empty() { Vec::new() } else { vec![Vec::new()] };
            for q in qs {
                let child = disjunctive_normal_form(q)?;
                if out.len().saturating_mul(child.len()) > MAX_CONJUNCTIONS {
                    return None;
                }
                out = out
                    .iter()
                    .flat_map(|a| {
                        child.iter().map(move |b| {
                            let mut c = a.clone();
                            c.extend(b.iter().cloned());
                            c.sort_unstable();
                            c.dedup();
                            c
                        })
                    })
                    .collect();
                if out.iter().any(|c| c.len() > oxt::MAX_TERMS) {
                    return None;
                }
            }
            out
        }
    };
    Some(dnf)
}

/// Runs `body` with a sink that sends each batch of entries as one insert.
/// With more than one rayon thread the insert runs on the pool while `body`
/// computes the next batch (one insert in flight; each sink call first waits
/// for the previous one), so setup uses both the client's crypto and the
/// server's store at once. With one thread it is a plain loop.
fn pipelined<T: Transport, R>(
    transport: &T,
    instance: &str,
    body: impl FnOnce(&mut dyn FnMut(Vec<EncryptedEntry>) -> Result<()>) -> Result<R>,
) -> Result<R> {
    let insert = |mut entries: Vec<EncryptedEntry>| {
        sort_by_location(&mut entries);
        expect_ok(transport.call(&Request::SseInsert { instance: instance.to_owned(), entries })?)
    };
    if rayon::current_num_threads() < 2 {
        return body(&mut |entries| insert(entries));
    }
    rayon::in_place_scope(|scope| {
        let mut pending: Option<mpsc::Receiver<Result<()>>> = None;
        let mut sink = |entries: Vec<EncryptedEntry>| -> Result<()> {
            if let Some(rx) = pending.take() {
                wait(&rx)?;
            }
            let (tx, rx) = mpsc::sync_channel(1);
            scope.spawn(move |_| {
                // The receiver is gone only if the caller stopped waiting; nothing to report then.
                let _ = tx.send(insert(entries));
            });
            pending = Some(rx);
            Ok(())
        };
        let out = body(&mut sink);
        // The last insert is awaited even after an error, so none outlives the call.
        let last = pending.take().map_or(Ok(()), |rx| wait(&rx));
        let out = out?;
        last.map(|()| out)
    })
}

/// The outcome of a pipelined insert. A rayon worker must not block on a
/// job that may sit in its own queue, so inside the pool it runs other jobs
/// while it waits; outside it blocks.
fn wait(rx: &mpsc::Receiver<Result<()>>) -> Result<()> {
    let gone = || Error::Protocol("a pipelined SSE insert ended without an outcome".into());
    if rayon::current_thread_index().is_none() {
        return rx.recv().map_err(|_| gone())?;
    }
    loop {
        match rx.try_recv() {
            Ok(outcome) => return outcome,
            Err(mpsc::TryRecvError::Disconnected) => return Err(gone()),
            Err(mpsc::TryRecvError::Empty) => {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    std::thread::yield_now();
                }
            }
        }
    }
}

/// Sorts a request's entries by label (or position): the order in which a
/// scheme produced them (keyword by keyword, counter by counter) would tell
/// the server which entries belong together. Cheap on a chunk that
/// [`super::send_in_location_order`] already sorted.
fn sort_by_location(entries: &mut [EncryptedEntry]) {
    // A setup chunk holds tens of thousands of entries: sorted on every core.
    if entries.len() >= PARALLEL_SORT {
        entries.par_sort_unstable_by_key(|e| e.location);
    } else {
        entries.sort_unstable_by_key(|e| e.location);
    }
}

/// Below this many entries a sort stays on the calling thread.
const PARALLEL_SORT: usize = 4096;

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

/// Asks the server to delete entries by location, in requests of at most [`ENTRY_CHUNK`].
fn remove_entries<T: Transport>(
    transport: &T,
    instance: &str,
    key_version: u32,
    locations: &[EntryLocation],
) -> Result<()> {
    for chunk in locations.chunks(ENTRY_CHUNK) {
        let request = Request::SseRemove { instance: instance.to_owned(), key_version, locations: chunk.to_vec() };
        expect_ok(transport.call(&request)?)?;
    }
    Ok(())
}

fn describe<T: Transport>(transport: &T, instance: &str) -> Result<Option<SseDescriptor>> {
    match transport.call(&Request::SseDescribe { instance: instance.to_owned() })? {
        Response::SseDescriptor(d) => Ok(d),
        other => Err(unexpected(&other)),
    }
}
