//! A client-only device: downloads sealed documents, then scans them or
//! searches its own plaintext index.

use std::ops::Range;

use rayon::prelude::*;
use serde::Serialize;

use super::local_index::LocalIndex;
use super::process_cpu_seconds;
use crate::client::INGEST_CHUNK;
use crate::envelope::DocumentCipher;
use crate::keys::MasterKey;
use crate::message::IndexSpec;
use crate::message::Message;
use crate::protocol::transport::Transport;
use crate::protocol::{DocId, EncryptedDocument, IngestBatch, Request, Response};
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
        Self::at_version((master, 1), tenant, transport, tokenizer, specs, mode)
    }

    /// [`Baseline::new`] for messages sealed under key version `version`
    /// of the account (after a key rotation), with that version's master key.
    ///
    /// # Errors
    /// As [`Baseline::new`].
    pub fn at_version(
        (master, version): (&MasterKey, u32),
        tenant: &str,
        transport: T,
        tokenizer: Tokenizer,
        specs: Vec<IndexSpec>,
        mode: BaselineMode,
    ) -> Result<Self> {
        Ok(Baseline {
            transport,
            cipher: DocumentCipher::new(master, tenant, version)?,
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

    /// The tenant's next free document id on the server (a reservation of
    /// no ids reads it): every message has a smaller id. The device holds
    /// everything below the mark it synced to, so it assumes an upload
    /// has finished before a sync starts (as in the benchmarks); a batch
    /// another device is still uploading under older ids would be missed.
    fn remote_count(&self) -> Result<DocId> {
        match self.transport.call(&Request::ReserveDocumentIds { count: 0 })? {
            Response::DocumentIdRange { first, .. } => Ok(first),
            other => Err(unexpected(&other)),
        }
    }

    /// Seals and uploads messages under ids the server reserves for them (as
    /// a sending device does; it does not add them to this device's
    /// holdings: they arrive by [`Baseline::sync`] like anyone else's), in
    /// batches of [`INGEST_CHUNK`], each stored all or nothing.
    ///
    /// # Errors
    /// Transport and server errors; [`Error::Config`] if the id space is exhausted.
    pub fn upload(&mut self, messages: &[Message]) -> Result<Range<DocId>> {
        let count = DocId::try_from(messages.len()).map_err(|_| Error::Config("too many messages".into()))?;
        let (first, end) = match self.transport.call(&Request::ReserveDocumentIds { count })? {
            Response::DocumentIdRange { first, end } if end.checked_sub(first) == Some(count) => (first, end),
            other => return Err(unexpected(&other)),
        };
        for (chunk_no, chunk) in messages.chunks(INGEST_CHUNK).enumerate() {
            let base = first
                + DocId::try_from(chunk_no * INGEST_CHUNK).map_err(|_| Error::Config("too many messages".into()))?;
            let docs = chunk
                .par_iter()
                .enumerate()
                // i < INGEST_CHUNK, so the conversion cannot fail.
                .map(|(i, m)| self.cipher.seal(base + DocId::try_from(i).unwrap_or(DocId::MAX), m))
                .collect::<Result<Vec<_>>>()?;
            let batch = IngestBatch { documents: docs, postings: Vec::new() };
            expect_ok(self.transport.call(&Request::Ingest(batch))?)?;
        }
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

/// Checks that every index `query` names exists.
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
}
