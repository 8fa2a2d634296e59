//! The client-only baseline: what a client can do with a server that stores
//! only ciphertext and answers no search at all.
//!
//! Two variants, both over any [`Transport`]:
//! - [`BaselineMode::DownloadAll`]: before each search the client fetches
//!   every ciphertext it does not hold yet, then decrypts every held
//!   ciphertext, extracts its keywords and scans it with [`Query::matches`].
//!   The device keeps ciphertexts only, so nothing readable rests on it.
//! - [`BaselineMode::LocalIndex`]: what many end-to-end encrypted messengers
//!   do. Each new ciphertext is fetched once, decrypted once and added to a
//!   plaintext inverted index on the device (one roaring bitmap per keyword);
//!   searches never leave the device after that.
//!
//! Both count bytes downloaded, client CPU time (see [`process_cpu_seconds`]),
//! client storage (ciphertexts kept plus the index), and let a caller time the
//! first search of a cold device (nothing downloaded) against a warm one.
//! The server learns nothing from a search here, only that a device synced.
//!
//! ```
//! use std::sync::Arc;
//! use sseek::baseline::{Baseline, BaselineMode};
//! use sseek::blind::default_index_specs;
//! use sseek::{keys::MasterKey, message::Message, query::Query};
//! use sseek::{server::Server, store::MemoryStore, text::Tokenizer, transport::InProcess};
//!
//! let server = Arc::new(Server::new(MemoryStore::new()));
//! let key = MasterKey::generate()?;
//! let specs = default_index_specs();
//! let mut phone = Baseline::new(&key, "acme", InProcess::new(Arc::clone(&server), "acme"), Tokenizer::default(), specs.clone(), BaselineMode::DownloadAll)?;
//! phone.upload(&[Message { body: "lunch at noon".into(), ..Default::default() }])?;
//! // A new device with the same key: cold, it downloads everything on its first search.
//! let mut tablet = Baseline::new(&key, "acme", InProcess::new(server, "acme"), Tokenizer::default(), specs.clone(), BaselineMode::LocalIndex)?;
//! let q = Query::parse("body:noon", &specs, &Tokenizer::default())?;
//! assert_eq!(tablet.search(&q)?, vec![0]);
//! assert!(tablet.stats().bytes_downloaded > 0);
//! # Ok::<(), sseek::Error>(())
//! ```

use std::collections::HashMap;
use std::ops::Range;

use rayon::prelude::*;
use roaring::{MultiOps, RoaringBitmap};
use serde::Serialize;

use crate::client::INGEST_CHUNK;
use crate::envelope::DocumentCipher;
use crate::keys::MasterKey;
use crate::message::IndexSpec;
use crate::message::Message;
use crate::protocol::transport::Transport;
use crate::protocol::{DocId, EncryptedDocument, Request, Response};
use crate::protocol::{expect_ok, unexpected};
use crate::query::Query;
use crate::sse::{self, Keyword};
use crate::text::Tokenizer;
use crate::{Error, Result};

/// Documents fetched per request while a device catches up. Small enough to
/// keep each response a few MB, large enough that round trips do not dominate.
pub const DOWNLOAD_CHUNK: usize = 2_000;

/// Which client-only variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum BaselineMode {
    /// Download what is missing, decrypt everything held, scan.
    DownloadAll,
    /// Download what is missing once, keep a plaintext inverted index on the device.
    LocalIndex,
}

impl BaselineMode {
    /// Both variants.
    pub const ALL: [BaselineMode; 2] = [BaselineMode::DownloadAll, BaselineMode::LocalIndex];

    /// The name used in reports: `baseline-download` or `baseline-local`.
    pub fn name(self) -> &'static str {
        match self {
            BaselineMode::DownloadAll => "baseline-download",
            BaselineMode::LocalIndex => "baseline-local",
        }
    }
}

/// What a baseline device has downloaded, spent and stored so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct BaselineStats {
    /// Encoded response bytes received (ciphertexts and sync answers).
    pub bytes_downloaded: u64,
    /// Encoded request bytes sent.
    pub bytes_sent: u64,
    /// Requests sent.
    pub round_trips: u64,
    /// Documents held on the device.
    pub documents: u64,
    /// Bytes of the ciphertexts kept on the device (nonce, id, version, sealed bytes).
    pub ciphertext_bytes: u64,
    /// Bytes of the local index (keywords plus serialized bitmaps); 0 for download-all.
    pub index_bytes: u64,
    /// Client CPU seconds spent in [`Baseline::sync`] and [`Baseline::search`]
    /// (process CPU time: with an in-process server it includes the server's
    /// work of answering the downloads, a small part of the total).
    pub cpu_seconds: f64,
}

impl BaselineStats {
    /// Everything the device stores for search: ciphertexts plus index.
    pub fn storage_bytes(&self) -> u64 {
        self.ciphertext_bytes + self.index_bytes
    }
}

/// The device's own plaintext inverted index: one bitmap per SSE-style
/// keyword (index name and value tuple). Built independently of
/// [`crate::oracle::PlainIndex`], which keys by field and intersects
/// compound terms, so comparing the two checks something.
#[derive(Debug, Default, Clone)]
struct LocalIndex {
    postings: HashMap<Keyword, RoaringBitmap>,
}

impl LocalIndex {
    fn add(&mut self, id: DocId, keywords: Vec<Keyword>) {
        for k in keywords {
            self.postings.entry(k).or_default().insert(id);
        }
    }

    fn bytes(&self) -> u64 {
        self.postings.iter().map(|(k, b)| (k.len() + b.serialized_size()) as u64).sum()
    }

    fn eval(&self, query: &Query) -> RoaringBitmap {
        match query {
            Query::Term { index, values } => {
                let v: Vec<&str> = values.iter().map(String::as_str).collect();
                self.postings.get(&sse::keyword(index, &v)).cloned().unwrap_or_default()
            }
            Query::And(qs) => qs.iter().map(|q| self.eval(q)).intersection(),
            Query::Or(qs) => qs.iter().map(|q| self.eval(q)).union(),
        }
    }
}

/// One client-only device of a tenant.
#[derive(Debug)]
pub struct Baseline<T: Transport> {
    transport: T,
    cipher: DocumentCipher,
    tokenizer: Tokenizer,
    specs: Vec<IndexSpec>,
    mode: BaselineMode,
    /// Ciphertexts held, indexed by id (ids are dense, so a vector).
    held: Vec<Option<EncryptedDocument>>,
    /// Ids below this have been asked for (present or not on the server).
    synced_to: DocId,
    ciphertext_bytes: u64,
    index: LocalIndex,
    cpu_seconds: f64,
}

impl<T: Transport> Baseline<T> {
    /// A cold device: holds the key, nothing downloaded.
    ///
    /// # Errors
    /// [`Error::KeyLabel`] for an over-long tenant name.
    pub fn new(
        master: &MasterKey,
        tenant: &str,
        transport: T,
        tokenizer: Tokenizer,
        specs: Vec<IndexSpec>,
        mode: BaselineMode,
    ) -> Result<Self> {
        Ok(Baseline {
            transport,
            cipher: DocumentCipher::new(master, tenant, 1)?,
            tokenizer,
            specs,
            mode,
            held: Vec::new(),
            synced_to: 0,
            ciphertext_bytes: 0,
            index: LocalIndex::default(),
            cpu_seconds: 0.0,
        })
    }

    /// The variant.
    pub fn mode(&self) -> BaselineMode {
        self.mode
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Downloads, spending and storage so far.
    pub fn stats(&self) -> BaselineStats {
        let t = self.transport.traffic();
        BaselineStats {
            bytes_downloaded: t.bytes_received,
            bytes_sent: t.bytes_sent,
            round_trips: t.round_trips,
            documents: self.held.iter().filter(|d| d.is_some()).count() as u64,
            ciphertext_bytes: self.ciphertext_bytes,
            index_bytes: self.index.bytes(),
            cpu_seconds: self.cpu_seconds,
        }
    }

    /// The number of document ids in use on the server: the schema's next id
    /// when a blind-index client wrote one (one cheap read), else the
    /// document count (ids are dense, assigned in order).
    fn remote_count(&self) -> Result<DocId> {
        match self.transport.call(&Request::GetSchema)? {
            Response::Schema(Some(s)) => Ok(s.next_doc_id),
            Response::Schema(None) => match self.transport.call(&Request::Stats)? {
                Response::Stats(s) => {
                    DocId::try_from(s.documents).map_err(|_| Error::Protocol("document count out of range".into()))
                }
                other => Err(unexpected(&other)),
            },
            other => Err(unexpected(&other)),
        }
    }

    /// Seals and uploads messages as the next ids (as a sending device does;
    /// it does not add them to this device's holdings: they arrive by
    /// [`Baseline::sync`] like anyone else's), and records the next free id in
    /// the tenant's schema (creating an empty one if there is none: such a
    /// tenant then has no blind indexes). Ends with a durability point.
    ///
    /// # Errors
    /// Transport and server errors; [`Error::Config`] if the id space is exhausted.
    pub fn upload(&mut self, messages: &[Message]) -> Result<Range<DocId>> {
        let first = self.remote_count()?;
        let count = DocId::try_from(messages.len()).map_err(|_| Error::Config("too many messages".into()))?;
        let end = first.checked_add(count).ok_or_else(|| Error::Config("document id space exhausted".into()))?;
        for (chunk_no, chunk) in messages.chunks(INGEST_CHUNK).enumerate() {
            let base = first
                + DocId::try_from(chunk_no * INGEST_CHUNK).map_err(|_| Error::Config("too many messages".into()))?;
            let docs = chunk
                .par_iter()
                .enumerate()
                // i < INGEST_CHUNK, so the conversion cannot fail.
                .map(|(i, m)| self.cipher.seal(base + DocId::try_from(i).unwrap_or(DocId::MAX), m))
                .collect::<Result<Vec<_>>>()?;
            expect_ok(self.transport.call(&Request::PutDocuments(docs))?)?;
        }
        // Record the next id in the tenant's public schema, so devices learn
        // the document count with one small read instead of a server-side count.
        let mut schema = match self.transport.call(&Request::GetSchema)? {
            Response::Schema(s) => s.unwrap_or_default(),
            other => return Err(unexpected(&other)),
        };
        schema.next_doc_id = schema.next_doc_id.max(end);
        expect_ok(self.transport.call(&Request::PutSchema(schema))?)?;
        expect_ok(self.transport.call(&Request::Sync)?)?;
        Ok(first..end)
    }

    /// Fetches every document the device does not hold yet, in batches of
    /// [`DOWNLOAD_CHUNK`]; the local-index variant decrypts and indexes each
    /// new one. Returns the number of documents fetched.
    ///
    /// # Errors
    /// Transport and server errors; [`Error::Decrypt`] if the server returns
    /// a modified or misplaced ciphertext (nothing of that batch is kept).
    pub fn sync(&mut self) -> Result<usize> {
        let cpu = process_cpu_seconds();
        let r = self.sync_inner();
        self.cpu_seconds += process_cpu_seconds() - cpu;
        r
    }

    fn sync_inner(&mut self) -> Result<usize> {
        let remote = self.remote_count()?;
        let mut fetched = 0;
        while self.synced_to < remote {
            let end = remote.min(self.synced_to.saturating_add(DocId::try_from(DOWNLOAD_CHUNK).unwrap_or(DocId::MAX)));
            let ids: Vec<DocId> = (self.synced_to..end).collect();
            let docs = match self.transport.call(&Request::GetDocuments(ids))? {
                Response::Documents(d) => d,
                other => return Err(unexpected(&other)),
            };
            // The server chooses what it returns: only ids we asked for are accepted.
            if docs.iter().any(|d| d.public.doc_id < self.synced_to || d.public.doc_id >= end) {
                return Err(Error::Server {
                    code: 502,
                    message: "server returned a document that was not asked for".into(),
                });
            }
            if self.mode == BaselineMode::LocalIndex {
                let keywords: Vec<(DocId, Vec<Keyword>)> = docs
                    .par_iter()
                    .map(|d| {
                        let id = d.public.doc_id;
                        let m = self.cipher.open(d, id)?;
                        Ok((id, sse::keywords_of(&m.terms(&self.tokenizer), &self.specs)))
                    })
                    .collect::<Result<_>>()?;
                for (id, k) in keywords {
                    self.index.add(id, k);
                }
            }
            self.held.resize(usize::try_from(end).unwrap_or(usize::MAX), None);
            for d in docs {
                let id = d.public.doc_id as usize;
                self.ciphertext_bytes += (d.sealed.len() + d.nonce.len() + 6) as u64;
                self.held[id] = Some(d);
                fetched += 1;
            }
            self.synced_to = end;
        }
        Ok(fetched)
    }

    /// Searches: first [`Baseline::sync`], then evaluates locally. Exact
    /// matching ids, ascending.
    ///
    /// # Errors
    /// As [`Baseline::sync`]; [`Error::Query`] for an unknown index.
    pub fn search(&mut self, query: &Query) -> Result<Vec<DocId>> {
        self.sync()?;
        let cpu = process_cpu_seconds();
        let r = self.search_local(query);
        self.cpu_seconds += process_cpu_seconds() - cpu;
        r
    }

    fn search_local(&self, query: &Query) -> Result<Vec<DocId>> {
        match self.mode {
            BaselineMode::LocalIndex => {
                // Same validation as a scan would do, so an unknown index is an error in both variants.
                validate(query, &self.specs)?;
                Ok(self.index.eval(query).iter().collect())
            }
            BaselineMode::DownloadAll => {
                let hits: Vec<Option<DocId>> = self
                    .held
                    .par_iter()
                    .flatten()
                    .map(|d| {
                        let id = d.public.doc_id;
                        let m = self.cipher.open(d, id)?;
                        Ok(query.matches(&m.terms(&self.tokenizer), &self.specs)?.then_some(id))
                    })
                    .collect::<Result<_>>()?;
                Ok(hits.into_iter().flatten().collect())
            }
        }
    }
}

/// One baseline variant over a query workload, as the demo reports it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BaselineReport {
    /// `baseline-download` or `baseline-local`.
    pub name: String,
    /// Queries run (the first on a cold device, the rest warm).
    pub queries: usize,
    /// Answers that differed from the oracle (must be 0).
    pub mismatches: usize,
    /// Results over all queries.
    pub results: u64,
    /// Time from a cold device (nothing downloaded) to the first result, seconds.
    pub cold_first_result_seconds: f64,
    /// Bytes downloaded until that first result.
    pub cold_bytes_downloaded: u64,
    /// Client CPU seconds until that first result.
    pub cold_cpu_seconds: f64,
    /// Mean time per query on the warm device, microseconds.
    pub warm_mean_query_us: f64,
    /// Client CPU seconds over all queries, cold one included.
    pub cpu_seconds: f64,
    /// Bytes of the ciphertexts kept on the device.
    pub ciphertext_bytes: u64,
    /// Bytes of the local index (0 for download-all).
    pub index_bytes: u64,
}

/// Seconds of warm scanning after which the download-all variant in
/// [`run_workload`] skips the rest of the workload: each of its queries
/// decrypts the whole corpus (about a second for the shipped corpus), so the
/// full demo workload would take minutes. At least 3 queries always run.
pub const SCAN_BUDGET_SECONDS: f64 = 2.0;

/// Runs both baselines over a workload against a tenant already holding
/// the sealed documents of `master`: per variant, a new device (from
/// `connect`) answers the first query cold, then the rest warm (download-all:
/// within [`SCAN_BUDGET_SECONDS`]); every answer is compared with `expected`.
///
/// # Errors
/// Transport, server and decryption errors.
pub fn run_workload<T: Transport, F: Fn() -> Result<T>>(
    connect: F,
    master: &MasterKey,
    tenant: &str,
    specs: &[IndexSpec],
    queries: &[&Query],
    expected: &[Vec<DocId>],
) -> Result<Vec<BaselineReport>> {
    let mut out = Vec::new();
    for mode in BaselineMode::ALL {
        let mut dev = Baseline::new(master, tenant, connect()?, Tokenizer::default(), specs.to_vec(), mode)?;
        let mut r = BaselineReport { name: mode.name().into(), ..Default::default() };
        let mut warm_us = 0.0;
        for (i, (q, want)) in queries.iter().zip(expected).enumerate() {
            if mode == BaselineMode::DownloadAll && i >= 3 && warm_us / 1e6 > SCAN_BUDGET_SECONDS {
                break;
            }
            r.queries += 1;
            let t = std::time::Instant::now();
            let got = dev.search(q)?;
            let us = t.elapsed().as_secs_f64() * 1e6;
            if i == 0 {
                let s = dev.stats();
                r.cold_first_result_seconds = us / 1e6;
                r.cold_bytes_downloaded = s.bytes_downloaded;
                r.cold_cpu_seconds = s.cpu_seconds;
            } else {
                warm_us += us;
            }
            r.mismatches += usize::from(&got != want);
            r.results += got.len() as u64;
        }
        let s = dev.stats();
        r.warm_mean_query_us = warm_us / r.queries.saturating_sub(1).max(1) as f64;
        r.cpu_seconds = s.cpu_seconds;
        r.ciphertext_bytes = s.ciphertext_bytes;
        r.index_bytes = s.index_bytes;
        out.push(r);
    }
    Ok(out)
}

/// The baseline rows of the demo's markdown report.
pub fn markdown(reports: &[BaselineReport]) -> String {
    if reports.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\n| client-only baseline | queries | mismatches | results | cold: first result s | cold: bytes downloaded | cold: CPU s | warm: mean query µs | CPU s (all queries) | device storage bytes (ciphertexts + index) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.3} | {} | {:.3} | {:.0} | {:.2} | {} + {} |\n",
            r.name,
            r.queries,
            r.mismatches,
            r.results,
            r.cold_first_result_seconds,
            r.cold_bytes_downloaded,
            r.cold_cpu_seconds,
            r.warm_mean_query_us,
            r.cpu_seconds,
            r.ciphertext_bytes,
            r.index_bytes
        ));
    }
    s
}

fn validate(query: &Query, specs: &[IndexSpec]) -> Result<()> {
    match query {
        Query::Term { index, .. } => {
            if specs.iter().any(|s| &s.name == index) {
                Ok(())
            } else {
                Err(Error::Query(format!("unknown index {index:?}")))
            }
        }
        Query::And(qs) | Query::Or(qs) => qs.iter().try_for_each(|q| validate(q, specs)),
    }
}

/// CPU seconds used by this process so far, all threads, from
/// `/proc/self/task/*/schedstat` (nanosecond resolution, unlike the 10 ms
/// ticks of `/proc/self/stat`). Threads that already exited are not counted,
/// which is why callers measure deltas around work done by long-lived
/// threads (rayon's pool). 0 where `/proc` is unavailable.
pub fn process_cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0.0 };
    let mut ns: u64 = 0;
    for t in tasks.flatten() {
        if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
            ns += s.split_whitespace().next().and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        }
    }
    ns as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::datasets::Synthetic;
    use crate::message::default_index_specs;
    use crate::oracle::PlainIndex;
    use crate::server::InProcess;
    use crate::server::Server;
    use crate::store::MemoryStore;

    fn queries(specs: &[IndexSpec], oracle: &PlainIndex) -> Vec<Query> {
        use crate::message::Field;
        let mut qs = Vec::new();
        for f in [Field::From, Field::To, Field::Day, Field::Body] {
            let mut v = oracle.frequencies(f);
            v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            for (value, _) in v.iter().step_by((v.len() / 6).max(1)) {
                qs.push(Query::term(f.name(), &[value]));
            }
        }
        qs.push(Query::term("body", &["zqxjkvwabsent"]));
        let body = oracle.frequencies(Field::Body);
        let from = oracle.frequencies(Field::From);
        let day = oracle.frequencies(Field::Day);
        qs.push(Query::And(vec![Query::term("body", &[body[0].0]), Query::term("body", &[body[1].0])]));
        qs.push(Query::Or(vec![Query::term("body", &[body[2].0]), Query::term("from", &[from[0].0])]));
        qs.push(Query::term("from+day", &[from[0].0, day[0].0]));
        assert!(specs.iter().any(|s| s.name == "from+day"));
        qs
    }

    #[test]
    fn both_variants_equal_the_oracle_cold_and_after_new_messages() {
        let specs = default_index_specs();
        let tok = Tokenizer::default();
        let msgs = Synthetic::new(3).generate(600);
        let server = Arc::new(Server::new(MemoryStore::new()));
        let key = MasterKey::generate().unwrap();
        let mut sender = Baseline::new(
            &key,
            "t",
            InProcess::new(Arc::clone(&server), "t"),
            Tokenizer::default(),
            specs.clone(),
            BaselineMode::DownloadAll,
        )
        .unwrap();
        assert_eq!(sender.upload(&msgs[..400]).unwrap(), 0..400);
        let mut devices: Vec<_> = BaselineMode::ALL
            .iter()
            .map(|m| {
                Baseline::new(
                    &key,
                    "t",
                    InProcess::new(Arc::clone(&server), "t"),
                    Tokenizer::default(),
                    specs.clone(),
                    *m,
                )
                .unwrap()
            })
            .collect();
        for round in 0..2 {
            let n = if round == 0 { 400 } else { 600 };
            let mut oracle = PlainIndex::new();
            for (i, m) in msgs[..n].iter().enumerate() {
                oracle.add(DocId::try_from(i).unwrap(), &m.terms(&tok));
            }
            for d in &mut devices {
                for q in queries(&specs, &oracle) {
                    let want: Vec<DocId> = oracle.eval(&q, &specs).unwrap().iter().collect();
                    assert_eq!(d.search(&q).unwrap(), want, "{} {q}", d.mode().name());
                }
                let s = d.stats();
                assert_eq!(s.documents, n as u64);
                assert!(s.ciphertext_bytes > 0 && s.bytes_downloaded > s.ciphertext_bytes);
                assert_eq!(s.index_bytes > 0, d.mode() == BaselineMode::LocalIndex);
            }
            if round == 0 {
                // New messages arrive; the devices fetch only those.
                let before = devices[1].stats().bytes_downloaded;
                assert_eq!(sender.upload(&msgs[400..]).unwrap(), 400..600);
                assert_eq!(devices[1].sync().unwrap(), 200);
                let more = devices[1].stats().bytes_downloaded - before;
                assert!(more < devices[1].stats().ciphertext_bytes / 2, "only the new messages: {more}");
            }
        }
        assert!(devices[0].search(&Query::term("nosuch", &["x"])).is_err());
        assert!(devices[1].search(&Query::term("nosuch", &["x"])).is_err());
    }

    #[test]
    fn wrong_key_device_cannot_search() {
        let server = Arc::new(Server::new(MemoryStore::new()));
        let specs = default_index_specs();
        let mut a = Baseline::new(
            &MasterKey::generate().unwrap(),
            "t",
            InProcess::new(Arc::clone(&server), "t"),
            Tokenizer::default(),
            specs.clone(),
            BaselineMode::LocalIndex,
        )
        .unwrap();
        a.upload(&[Message { body: "hello world".into(), ..Default::default() }]).unwrap();
        let mut b = Baseline::new(
            &MasterKey::generate().unwrap(),
            "t",
            InProcess::new(server, "t"),
            Tokenizer::default(),
            specs,
            BaselineMode::LocalIndex,
        )
        .unwrap();
        assert!(matches!(b.sync(), Err(Error::Decrypt { doc_id: 0 })));
    }

    #[test]
    fn cpu_time_advances() {
        let a = process_cpu_seconds();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(process_cpu_seconds() >= a);
    }
}

/// Declared leakage of the client-only baselines.
///
/// Documents are built from a workload as for the blind index
/// ([`crate::leakage::models::blind::messages`]): one sending device uploads them,
/// then a second, cold device runs the searches.
///
/// - `L_setup`: the number of documents and their ciphertext sizes.
/// - `L_search`: that a search happened. Each search starts with a sync
///   (the device asks for the document count), and the first one downloads
///   every document, whatever the query; the server never sees a keyword.
///   The local-index device syncs the same way, so it leaks the same; a
///   device that synced on its own schedule would leak nothing per query.
pub mod leakage {
    use std::sync::Arc;

    use rand::RngCore;

    use super::{Baseline, BaselineMode};
    use crate::keys::MasterKey;
    use crate::leakage::models::blind::{body_query, document_sizes, messages};
    use crate::leakage::profile::{
        Leak, LeakValue, LeakageModel, OperationKind, OperationLeakage, Profile, TENANT, Trace, ViewBuilder, Workload,
    };
    use crate::leakage::view::{DocumentSize, Observed, Recorder, ServerView};
    use crate::message::Field;
    use crate::message::IndexSpec;
    use crate::server::InProcess;
    use crate::server::Server;
    use crate::store::MemoryStore;
    use crate::text::Tokenizer;
    use crate::{Error, Result};

    /// Download-all: the server stores sealed documents and hands them all out on a cold device's first search.
    pub const DOWNLOAD_ALL: Profile = Profile {
        scheme: "client-download-all",
        setup: &[Leak::DocumentCount, Leak::DocumentSizes],
        search: &[Leak::SearchOccurred],
        update: &[],
        forward_private: true,
        backward: None,
        notes: "a search syncs (the first downloads every document): the server learns only that it happened",
    };

    /// Local index: the device indexes what it downloads; searches run on the device after a sync.
    pub const LOCAL_INDEX: Profile = Profile {
        scheme: "client-local-index",
        setup: &[Leak::DocumentCount, Leak::DocumentSizes],
        search: &[Leak::SearchOccurred],
        update: &[],
        forward_private: true,
        backward: None,
        notes: "the sync before a search shows when it happened; the query never reaches the server",
    };

    /// A client-only baseline device.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct BaselineModel {
        /// Download-all or local index.
        pub mode: BaselineMode,
    }

    impl LeakageModel for BaselineModel {
        fn profile(&self) -> Profile {
            match self.mode {
                BaselineMode::DownloadAll => DOWNLOAD_ALL,
                BaselineMode::LocalIndex => LOCAL_INDEX,
            }
        }

        fn leakage(&self, workload: &Workload) -> Result<Trace> {
            if workload.has_updates() {
                return Err(Error::Config("baseline workloads upload documents at setup only".into()));
            }
            let sizes = document_sizes(workload)?;
            let mut trace = Trace::new(self.profile().scheme);
            trace.setup = vec![
                (Leak::DocumentCount, LeakValue::Count(sizes.len() as u64)),
                (Leak::DocumentSizes, LeakValue::Sizes(sizes)),
            ];
            trace.operations = workload
                .searches()
                .map(|_| OperationLeakage {
                    kind: OperationKind::Search,
                    values: vec![(Leak::SearchOccurred, LeakValue::Flag(true))],
                })
                .collect();
            Ok(trace)
        }

        fn simulate(&self, trace: &Trace, _rng: &mut dyn RngCore) -> Result<ServerView> {
            let Some(LeakValue::Sizes(sizes)) = trace.setup_value(Leak::DocumentSizes) else {
                return Err(Error::Config("trace: no document sizes".into()));
            };
            let documents: Vec<DocumentSize> = sizes.iter().map(|(&id, &bytes)| DocumentSize { id, bytes }).collect();
            let mut view = ViewBuilder::new();
            // Upload: the document count (no schema yet, so the stats), the documents, the next id.
            view.other("get_schema");
            view.other("stats");
            for chunk in documents.chunks(crate::client::INGEST_CHUNK) {
                view.push(Observed::PutDocuments { documents: chunk.to_vec() });
            }
            view.other("get_schema");
            view.other("put_schema");
            view.other("sync");
            for (i, _) in trace.operations.iter().enumerate() {
                view.other("get_schema");
                if i == 0 {
                    for chunk in documents.chunks(super::DOWNLOAD_CHUNK) {
                        let ids = chunk.iter().map(|d| d.id).collect();
                        view.push(Observed::GetDocuments { ids, returned: chunk.to_vec() });
                    }
                }
            }
            Ok(view.finish())
        }

        fn run(&self, workload: &Workload) -> Result<ServerView> {
            let recorder = Recorder::memory();
            let server = Arc::new(Server::new(MemoryStore::new()).with_observer(recorder.observer()));
            let key = MasterKey::generate()?;
            let specs = vec![IndexSpec::single(Field::Body)];
            let device = |server: Arc<Server<MemoryStore>>| {
                Baseline::new(
                    &key,
                    TENANT,
                    InProcess::new(server, TENANT),
                    Tokenizer::default(),
                    specs.clone(),
                    self.mode,
                )
            };
            device(Arc::clone(&server))?.upload(&messages(workload)?)?;
            let mut searcher = device(server)?;
            for k in workload.searches() {
                searcher.search(&body_query(k)?)?;
            }
            Ok(recorder.view())
        }
    }
}
