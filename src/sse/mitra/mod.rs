//! Mitra (Ghareh Chamani, Papadopoulos, Papamanthou, Jalili, "New
//! Constructions for Forward and Backward Private Symmetric Searchable
//! Encryption", CCS 2018): dynamic SSE with adds and deletes, forward private
//! and Type-II backward private, from symmetric primitives only. Note:
//! `papers/mitra.md`.
//!
//! **Construction.** The client keeps `FileCnt[w]`, the number of updates of
//! keyword `w` so far. Update `(op, w, id)`: `c = ++FileCnt[w]`, address
//! `G(w, c, 0)`, value `(id || op) XOR G(w, c, 1)`; the server stores
//! `D[address] = value`. Search `w`: the client sends the addresses
//! `G(w, i, 0)` for `i = 1..=FileCnt[w]`; the server returns the value under
//! each (empty if it holds none), in the same order; the client opens value
//! `i` with `G(w, i, 1)` and replays the updates in order (an add inserts the
//! id, a delete removes it). Deletions are never applied on the server.
//!
//! Our `G`: per-keyword keys `(K1, K2) = HMAC-SHA256(K, w)` split in halves
//! ([`crate::keys::keyword::KeywordPrf`]); address `AES_K1(label block c)`; pad
//! `AES-CTR_K2(value domain, nonce c)`. A value is 5 bytes: the id as u32
//! little-endian and the operation byte (0 add, 1 delete), XORed with the pad.
//!
//! **Leakage** (standard terms, as declared in the paper note):
//! - L_update: nothing beyond the fact that an update happened (one fresh
//!   pseudorandom address and a 5-byte ciphertext; not even add versus
//!   delete). The address of a future update is not computable from any
//!   earlier token, so updates are unlinkable to earlier searches: **forward
//!   privacy**.
//! - L_search = `(sp(w), TimeDB(w), Updates(w))` in the backward-privacy
//!   terms of Bost, Minaud, Ohrimenko: the search pattern (a repeated search
//!   sends a list that extends the earlier one), the number of updates `a_w`
//!   of the keyword (the token length) and which stored entries those
//!   updates are, hence when each happened. The protocol shows the server
//!   neither the ids nor which updates are deletes (the ids of `TimeDB(w)`
//!   reach it only when the client fetches documents): **Type-II backward
//!   privacy**.
//! - The client learns the result; the server learns no result ids (it
//!   returns encrypted values), so Mitra is response-hiding.
//!
//! **Cost.** Update: O(1), one HMAC per distinct keyword of a batch, two AES
//! blocks per update, 16-byte address plus 5-byte value on the wire. Search:
//! O(a_w) addresses up and values down, one round trip, where `a_w` counts
//! every update of `w` (adds and deletes). Client storage: one counter per
//! keyword. Deleted entries are never removed (no cleanup, see the paper
//! note), so `a_w` only grows.

pub mod client;
pub mod leakage;
pub mod server;

pub use client::Mitra;

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet, HashSet};
    use std::sync::Arc;

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::keys::MasterKey;
    use crate::protocol::transport::Transport;
    use crate::protocol::{DocId, EntryLocation, Label, SearchResult, SearchToken};
    use crate::server::InProcess;
    use crate::server::Server;
    use crate::sse::entries::EntryReader;
    use crate::sse::{self, DynamicScheme, Keyword, SchemeClient, SchemeConfig, SseIndex, Update, UpdateOp};
    use crate::store::{MemoryStore, RedbStore, Store, Table, WriteBatch};
    use crate::{Error, Result};

    const TENANT: &str = "t";
    const INSTANCE: &str = "m";

    fn kw(v: &str) -> Keyword {
        sse::keyword("body", &[v])
    }

    fn add(k: &str, id: DocId) -> Update {
        Update { op: UpdateOp::Add, keyword: kw(k), id }
    }

    fn del(k: &str, id: DocId) -> Update {
        Update { op: UpdateOp::Delete, keyword: kw(k), id }
    }

    fn config(state: Option<std::path::PathBuf>) -> SchemeConfig {
        let mut c = SchemeConfig::new("mitra", INSTANCE);
        c.state_path = state;
        c
    }

    fn memory_index(master: &MasterKey) -> (Arc<Server<MemoryStore>>, SseIndex<InProcess<MemoryStore>>) {
        let server = Arc::new(Server::new(MemoryStore::new()));
        let scheme = sse::open_client(master, TENANT, &config(None)).unwrap();
        let index = SseIndex::create(InProcess::new(server.clone(), TENANT), scheme).unwrap();
        (server, index)
    }

    /// The addresses a search for `k` would send.
    fn addresses<T: Transport>(index: &SseIndex<T>, k: &str) -> Vec<Label> {
        let SchemeClient::Dynamic(d) = index.scheme() else { panic!("Mitra is dynamic") };
        match d.token(&kw(k)) {
            Some(SearchToken::Addresses(a)) => a,
            other => panic!("unexpected token {other:?}"),
        }
    }

    fn put_raw(store: &dyn Store, address: Label, value: Vec<u8>) {
        let key = EntryReader::new(store, TENANT, INSTANCE).key(&EntryLocation::Dictionary(address));
        let mut batch = WriteBatch::new();
        batch.put(Table::Entries, key, value);
        store.write(batch).unwrap();
    }

    #[test]
    fn scheme_is_registered_dynamic_and_response_hiding() {
        let master = MasterKey::generate().unwrap();
        let client = sse::open_client(&master, TENANT, &config(None)).unwrap();
        let SchemeClient::Dynamic(d) = &client else { panic!("Mitra must open as a dynamic scheme") };
        assert!(d.supports_delete());
        let desc = d.descriptor();
        assert_eq!((desc.scheme.as_str(), desc.block, desc.response_revealing), ("mitra", 1, false));
        let mut bad = config(None);
        bad.block = Some(4);
        assert!(matches!(Mitra::open(&master, TENANT, &bad), Err(Error::Config(_))));
    }

    #[test]
    fn adds_deletes_and_re_adds() {
        let master = MasterKey::generate().unwrap();
        let (_server, mut index) = memory_index(&master);
        index.update(&[add("a", 1), add("a", 2), add("b", 2), add("a", 9)]).unwrap();
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), vec![1, 2, 9]);
        assert_eq!(index.search_keyword(&kw("b")).unwrap(), vec![2]);

        index.update(&[del("a", 1)]).unwrap();
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), vec![2, 9]);
        assert_eq!(index.search_keyword(&kw("b")).unwrap(), vec![2]);

        // Re-add after delete; a delete of an absent id changes nothing.
        index.update(&[add("a", 1), del("a", 40), del("b", 2)]).unwrap();
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), vec![1, 2, 9]);
        assert!(index.search_keyword(&kw("b")).unwrap().is_empty());

        // Within one batch, order decides: add-then-delete is gone, delete-then-add stays.
        index.update(&[add("c", 5), del("c", 5), del("c", 6), add("c", 6), add("c", 6)]).unwrap();
        assert_eq!(index.search_keyword(&kw("c")).unwrap(), vec![6]);
        index.update(&[del("c", 6)]).unwrap();
        assert!(index.search_keyword(&kw("c")).unwrap().is_empty());
        // Extreme ids round-trip (no id is reserved).
        index.update(&[add("d", 0), add("d", DocId::MAX)]).unwrap();
        assert_eq!(index.search_keyword(&kw("d")).unwrap(), vec![0, DocId::MAX]);
    }

    /// Random adds and deletes over a few keywords, large batches (parallel
    /// path) and small ones, checked against a plaintext model after each batch.
    #[test]
    fn random_updates_match_a_plaintext_model() {
        let master = MasterKey::generate().unwrap();
        let (_server, mut index) = memory_index(&master);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let words: Vec<String> = (0..12).map(|i| format!("w{i}")).collect();
        let mut model: BTreeMap<String, BTreeSet<DocId>> = BTreeMap::new();
        for round in 0..8 {
            let n = if round % 3 == 0 { 9000 } else { rng.random_range(1..60) };
            let mut batch = Vec::with_capacity(n);
            for _ in 0..n {
                // Skewed keyword choice, a small id range so deletes hit.
                let w = &words[rng.random_range(0..words.len()).min(rng.random_range(0..words.len()))];
                let id = rng.random_range(0..200);
                let ids = model.entry(w.clone()).or_default();
                if rng.random_bool(0.35) {
                    ids.remove(&id);
                    batch.push(del(w, id));
                } else {
                    ids.insert(id);
                    batch.push(add(w, id));
                }
            }
            index.update(&batch).unwrap();
            for w in &words {
                let want: Vec<DocId> = model.get(w).map(|s| s.iter().copied().collect()).unwrap_or_default();
                assert_eq!(index.search_keyword(&kw(w)).unwrap(), want, "round {round} keyword {w}");
            }
        }
    }

    #[test]
    fn never_updated_keyword_is_empty_without_a_round_trip() {
        let master = MasterKey::generate().unwrap();
        let (_server, mut index) = memory_index(&master);
        index.update(&[add("a", 1)]).unwrap();
        let before = index.traffic();
        assert!(index.search_keyword(&kw("never")).unwrap().is_empty());
        assert_eq!(index.traffic(), before);
        let SchemeClient::Dynamic(d) = index.scheme() else { unreachable!() };
        assert!(d.token(&kw("never")).is_none());
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), vec![1]);
        assert_eq!(index.traffic().round_trips, before.round_trips + 1);
    }

    #[test]
    fn state_file_and_redb_store_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (db_path, state_path) = (dir.path().join("store.redb"), dir.path().join("mitra.state"));
        let master = MasterKey::generate().unwrap();
        let open_index = |create: bool| -> Result<SseIndex<InProcess<RedbStore>>> {
            let server = Arc::new(Server::new(RedbStore::open(&db_path)?));
            let scheme = sse::open_client(&master, TENANT, &config(Some(state_path.clone())))?;
            let transport = InProcess::new(server, TENANT);
            if create { SseIndex::create(transport, scheme) } else { SseIndex::open(transport, scheme) }
        };

        let mut index = open_index(true).unwrap();
        index.update(&[add("a", 1), add("a", 2), add("b", 3)]).unwrap();
        index.update(&[del("a", 1)]).unwrap();
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), vec![2]);
        assert!(state_path.exists());
        drop(index); // closes the redb database

        let mut index = open_index(false).unwrap();
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), vec![2]);
        assert_eq!(index.search_keyword(&kw("b")).unwrap(), vec![3]);
        // The counters continue: new updates go to new addresses and old ones stay readable.
        index.update(&[add("a", 1), del("b", 3), add("b", 4)]).unwrap();
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), vec![1, 2]);
        assert_eq!(index.search_keyword(&kw("b")).unwrap(), vec![4]);
        let (a, b) = (addresses(&index, "a"), addresses(&index, "b"));
        assert_eq!((a.len(), b.len()), (4, 3));
        drop(index);

        // Every update has its own entry: nothing was overwritten.
        let store = RedbStore::open(&db_path).unwrap();
        let mut entries = 0;
        store
            .scan_prefix(Table::Entries, &sse::server::instance_prefix(TENANT, INSTANCE), &mut |_, _| {
                entries += 1;
                Ok(true)
            })
            .unwrap();
        assert_eq!(entries, 7);
        drop(store);

        // A third session sees the last state too.
        let mut index = open_index(false).unwrap();
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), vec![1, 2]);
        drop(index);

        // Another master key cannot open the state file.
        let other = MasterKey::generate().unwrap();
        let err = Mitra::open(&other, TENANT, &config(Some(state_path.clone()))).unwrap_err();
        assert!(matches!(err, Error::StateFile { .. }), "{err}");
    }

    #[test]
    fn damaged_values_are_clear_errors_and_missing_ones_are_skipped() {
        let master = MasterKey::generate().unwrap();
        let (server, mut index) = memory_index(&master);
        index.update(&[add("a", 1), add("a", 2), add("a", 3)]).unwrap();
        let addrs = addresses(&index, "a");
        let store: &dyn Store = server.store();
        let reader = EntryReader::new(store, TENANT, INSTANCE);
        let original = reader.get(&EntryLocation::Dictionary(addrs[1])).unwrap().unwrap();

        // Wrong length.
        put_raw(store, addrs[1], vec![0; 7]);
        let err = index.search_keyword(&kw("a")).unwrap_err();
        assert!(matches!(&err, Error::DataCorruption { reason, .. } if reason.contains("7 bytes")), "{err}");

        // Right length, but the operation byte opens to 2 or 3.
        let mut flipped = original.clone();
        flipped[4] ^= 0x02;
        put_raw(store, addrs[1], flipped);
        let err = index.search_keyword(&kw("a")).unwrap_err();
        assert!(matches!(&err, Error::DataCorruption { reason, .. } if reason.contains("operation byte")), "{err}");

        // A missing entry (a batch the server lost) is skipped, not an error.
        let mut batch = WriteBatch::new();
        batch.delete(Table::Entries, reader.key(&EntryLocation::Dictionary(addrs[1])));
        store.write(batch).unwrap();
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), vec![1, 3]);

        put_raw(store, addrs[1], original);
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn answers_of_the_wrong_shape_are_rejected() {
        let master = MasterKey::generate().unwrap();
        let mut m = Mitra::open(&master, TENANT, &config(None)).unwrap();
        let entries = m.update(&[add("a", 1), add("a", 2)]).unwrap();
        let values: Vec<Vec<u8>> = entries.iter().map(|e| e.value.clone()).collect();
        assert_eq!(m.resolve(&kw("a"), SearchResult::Values(values.clone())).unwrap(), vec![1, 2]);
        let short = SearchResult::Values(values[..1].to_vec());
        assert!(matches!(m.resolve(&kw("a"), short), Err(Error::Protocol(_))));
        assert!(matches!(m.resolve(&kw("a"), SearchResult::Ids(vec![1, 2])), Err(Error::Protocol(_))));
        assert!(matches!(m.resolve(&kw("zz"), SearchResult::Values(values)), Err(Error::Protocol(_))));
        assert!(m.resolve(&kw("zz"), SearchResult::Values(Vec::new())).unwrap().is_empty());
    }

    /// Entries the store holds for the instance.
    fn stored(store: &dyn Store) -> usize {
        let mut n = 0;
        store
            .scan_prefix(Table::Entries, &sse::server::instance_prefix(TENANT, INSTANCE), &mut |_, _| {
                n += 1;
                Ok(true)
            })
            .unwrap();
        n
    }

    /// A search of a keyword with enough updates rewrites it as packed
    /// blocks under a fresh generation: the old entries are gone from the
    /// server, later updates continue under the new generation, every
    /// answer stays right, and a second rewrite uses other labels.
    #[test]
    fn searches_consolidate_keywords_into_packed_blocks() {
        let master = MasterKey::generate().unwrap();
        let (server, mut index) = memory_index(&master);
        let mut model = BTreeSet::new();
        let mut batch = Vec::new();
        for id in 0..150 {
            batch.push(add("a", id));
            model.insert(id);
        }
        for id in (0..150).step_by(7) {
            batch.push(del("a", id));
            model.remove(&id);
        }
        index.update(&batch).unwrap();
        index.update(&[add("b", 1)]).unwrap();
        assert_eq!(stored(server.store()), batch.len() + 1);
        let want: Vec<DocId> = model.iter().copied().collect();
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), want);
        // 128 live ids: 2 blocks, and the 172 update entries of "a" are deleted.
        assert_eq!(stored(server.store()), 2 + 1);
        let SchemeClient::Dynamic(d) = index.scheme() else { unreachable!() };
        let first = match d.token(&kw("a")) {
            Some(SearchToken::PackedAddresses { label_key, blocks: 2, addresses }) if addresses.is_empty() => label_key,
            other => panic!("expected a packed token, got {other:?}"),
        };
        // Below the threshold: no rewrite, updates ride along.
        index.update(&[add("a", 1000), del("a", 1)]).unwrap();
        model.insert(1000);
        model.remove(&1);
        let want: Vec<DocId> = model.iter().copied().collect();
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), want);
        assert_eq!(stored(server.store()), 2 + 2 + 1);
        // Eight updates since: the next search rewrites again, under another generation.
        let more: Vec<Update> = (2000..2008).map(|id| add("a", id)).collect();
        model.extend(2000..2008);
        index.update(&more).unwrap();
        let want: Vec<DocId> = model.iter().copied().collect();
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), want);
        let SchemeClient::Dynamic(d) = index.scheme() else { unreachable!() };
        match d.token(&kw("a")) {
            Some(SearchToken::PackedAddresses { label_key, blocks: 3, .. }) => assert_ne!(label_key, first),
            other => panic!("expected a packed token, got {other:?}"),
        }
        assert_eq!(stored(server.store()), 3 + 1);
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), want);
        assert_eq!(index.search_keyword(&kw("b")).unwrap(), vec![1]);
        // Deleting everything leaves a generation of no blocks: no entry at all.
        let gone: Vec<Update> = want.iter().map(|&id| del("a", id)).collect();
        index.update(&gone).unwrap();
        assert!(index.search_keyword(&kw("a")).unwrap().is_empty());
        assert_eq!(stored(server.store()), 1);
        assert!(index.search_keyword(&kw("a")).unwrap().is_empty());
        index.update(&[add("a", 5)]).unwrap();
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), vec![5]);
    }

    /// A setup writes each keyword as packed blocks directly; without
    /// consolidation it writes one entry per pair, as in the paper.
    #[test]
    fn setup_packs_fresh_keywords_unless_consolidation_is_off() {
        let mut db = sse::MultiMap::new();
        db.insert(kw("a"), (0..130).collect());
        db.insert(kw("b"), vec![3, 9]);
        for consolidate_after in [Some(sse::CONSOLIDATE_AFTER), None] {
            let master = MasterKey::generate().unwrap();
            let server = Arc::new(Server::new(MemoryStore::new()));
            let scheme =
                sse::open_client(&master, TENANT, &SchemeConfig { consolidate_after, ..config(None) }).unwrap();
            let mut index = SseIndex::create(InProcess::new(server.clone(), TENANT), scheme).unwrap();
            index.setup(&db).unwrap();
            let expected = if consolidate_after.is_some() { 3 + 1 } else { 132 };
            assert_eq!(stored(server.store()), expected, "{consolidate_after:?}");
            assert_eq!(index.search_keyword(&kw("a")).unwrap(), (0..130).collect::<Vec<_>>());
            index.update(&[del("b", 3), add("b", 4)]).unwrap();
            assert_eq!(index.search_keyword(&kw("b")).unwrap(), vec![4, 9]);
        }
    }

    /// The state file keeps generations across a restart; damaged or
    /// missing blocks are clear errors.
    #[test]
    fn generations_survive_a_restart_and_bad_blocks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state_path = dir.path().join("mitra.state");
        let master = MasterKey::generate().unwrap();
        let server = Arc::new(Server::new(MemoryStore::new()));
        let open = |create: bool| {
            let scheme = sse::open_client(&master, TENANT, &config(Some(state_path.clone()))).unwrap();
            let t = InProcess::new(server.clone(), TENANT);
            if create { SseIndex::create(t, scheme).unwrap() } else { SseIndex::open(t, scheme).unwrap() }
        };
        let mut index = open(true);
        let ids: Vec<DocId> = (0..100).collect();
        index.update(&ids.iter().map(|&id| add("a", id)).collect::<Vec<_>>()).unwrap();
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), ids);
        drop(index);
        let mut index = open(false);
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), ids);
        let SchemeClient::Dynamic(d) = index.scheme() else { unreachable!() };
        let Some(SearchToken::PackedAddresses { label_key, blocks: 2, .. }) = d.token(&kw("a")) else { panic!() };
        let label = crate::primitives::prf::Prf::new(&label_key).label(1);
        let store: &dyn Store = server.store();
        let reader = EntryReader::new(store, TENANT, INSTANCE);
        let original = reader.get(&EntryLocation::Dictionary(label)).unwrap().unwrap();
        put_raw(store, label, original[..10].to_vec());
        let err = index.search_keyword(&kw("a")).unwrap_err();
        assert!(matches!(&err, Error::DataCorruption { reason, .. } if reason.contains("10 bytes")), "{err}");
        let mut bad = original.clone();
        bad[0] ^= 0x80;
        put_raw(store, label, bad);
        let err = index.search_keyword(&kw("a")).unwrap_err();
        assert!(matches!(&err, Error::DataCorruption { reason, .. } if reason.contains("count")), "{err}");
        let mut batch = WriteBatch::new();
        batch.delete(Table::Entries, reader.key(&EntryLocation::Dictionary(label)));
        store.write(batch).unwrap();
        let err = index.search_keyword(&kw("a")).unwrap_err();
        assert!(matches!(&err, Error::DataCorruption { reason, .. } if reason.contains("missing")), "{err}");
        put_raw(store, label, original);
        assert_eq!(index.search_keyword(&kw("a")).unwrap(), ids);
    }

    /// Fails the `nth` request (from 0) of operation `kind`, once: a
    /// rewrite cut off between its steps, as a crash or a lost connection
    /// would.
    #[derive(Debug)]
    struct FailOnce {
        inner: InProcess<MemoryStore>,
        kind: &'static str,
        left: std::sync::Mutex<Option<usize>>,
    }

    impl Transport for FailOnce {
        fn call(&self, request: &crate::protocol::Request) -> Result<crate::protocol::Response> {
            if request.operation() == self.kind {
                let mut left = self.left.lock().unwrap();
                match *left {
                    Some(0) => {
                        *left = None;
                        return Err(Error::Protocol(format!("{} cut off", self.kind)));
                    }
                    Some(n) => *left = Some(n - 1),
                    None => {}
                }
            }
            self.inner.call(request)
        }
        fn traffic(&self) -> crate::protocol::transport::Traffic {
            self.inner.traffic()
        }
    }

    /// A rewrite cut off after its blocks are stored, or after the state
    /// points to them, loses no result: the search reports the failure, and
    /// every later search answers right (from the old entries, or from the
    /// blocks, with the old entries left unread).
    #[test]
    fn a_rewrite_cut_off_at_any_step_loses_nothing() {
        for (kind, nth) in [("SseInsert", 1), ("SseRemove", 0)] {
            let master = MasterKey::generate().unwrap();
            let server = Arc::new(Server::new(MemoryStore::new()));
            let transport = FailOnce {
                inner: InProcess::new(server.clone(), TENANT),
                kind,
                left: std::sync::Mutex::new(Some(nth)),
            };
            let scheme = sse::open_client(&master, TENANT, &config(None)).unwrap();
            let mut index = SseIndex::create(transport, scheme).unwrap();
            let ids: Vec<DocId> = (0..20).collect();
            index.update(&ids.iter().map(|&id| add("a", id)).collect::<Vec<_>>()).unwrap();
            assert!(index.search_keyword(&kw("a")).is_err(), "{kind}");
            assert_eq!(index.search_keyword(&kw("a")).unwrap(), ids, "{kind}");
            index.update(&[add("a", 99)]).unwrap();
            let mut want = ids.clone();
            want.push(99);
            assert_eq!(index.search_keyword(&kw("a")).unwrap(), want, "{kind}");
        }
    }

    #[test]
    fn server_answer_is_aligned_with_the_addresses() {
        let store = MemoryStore::new();
        let reader = EntryReader::new(&store, TENANT, INSTANCE);
        put_raw(&store, [1; 16], vec![1, 2, 3, 4, 5]);
        put_raw(&store, [3; 16], vec![9; 5]);
        let got = server::search(&reader, &[[1; 16], [2; 16], [3; 16], [1; 16]]).unwrap();
        assert_eq!(got, SearchResult::Values(vec![vec![1, 2, 3, 4, 5], vec![], vec![9; 5], vec![1, 2, 3, 4, 5]]));
        assert_eq!(server::search(&reader, &[]).unwrap(), SearchResult::Values(Vec::new()));
    }

    #[test]
    fn update_entries_look_unlinkable() {
        let master = MasterKey::generate().unwrap();
        let mut m = Mitra::open(&master, TENANT, &config(None)).unwrap();
        // The same pair added again and again: every entry must still differ.
        let a: Vec<_> = m.update(&vec![add("a", 7); 2000]).unwrap();
        let b: Vec<_> = m.update(&[add("b", 7)]).unwrap();
        let labels: Vec<Label> = a
            .iter()
            .chain(&b)
            .map(|e| match e.location {
                EntryLocation::Dictionary(l) => l,
                EntryLocation::Array(_) => panic!("Mitra uses dictionary entries"),
            })
            .collect();
        assert_eq!(labels.iter().collect::<HashSet<_>>().len(), labels.len(), "addresses repeat");
        assert!(a.iter().chain(&b).all(|e| e.value.len() == client::VALUE_LEN));
        let distinct_values = a.iter().map(|e| e.value.clone()).collect::<HashSet<_>>().len();
        assert!(distinct_values > 1990, "equal updates give equal values ({distinct_values} distinct)");
        // Address bits look balanced (a counter or keyword pattern would skew them).
        let ones: u32 = labels.iter().flatten().map(|b| b.count_ones()).sum();
        let share = f64::from(ones) / (labels.len() * 128) as f64;
        assert!((0.49..0.51).contains(&share), "share of one bits {share}");

        // Forward privacy sanity: a token issued now does not contain the
        // address of a later update; the later token extends the earlier one.
        let Some(SearchToken::Addresses(before)) = m.token(&kw("b")) else { panic!() };
        let next = m.update(&[add("b", 8)]).unwrap();
        let EntryLocation::Dictionary(new_address) = next[0].location else { panic!() };
        assert!(!before.contains(&new_address));
        let Some(SearchToken::Addresses(after)) = m.token(&kw("b")) else { panic!() };
        assert_eq!(&after[..before.len()], &before[..]);
        assert_eq!(after.last(), Some(&new_address));

        // Another instance (or master key) gives unrelated addresses for the same keyword.
        let mut other = Mitra::open(&MasterKey::generate().unwrap(), TENANT, &config(None)).unwrap();
        let o = other.update(&[add("b", 7)]).unwrap();
        assert_ne!(o[0].location, b[0].location);
        // Debug output never shows keywords.
        assert!(!format!("{m:?}").contains("body"));
    }

    /// A message's few updates take the per-entry path, a long batch the
    /// per-keyword batched one: the same updates give the same entries
    /// either way, a packed keyword's among them.
    #[test]
    fn small_and_long_batches_give_the_same_entries() {
        let master = MasterKey::generate().unwrap();
        let (mut long, mut small) = (
            Mitra::open(&master, TENANT, &config(None)).unwrap(),
            Mitra::open(&master, TENANT, &config(None)).unwrap(),
        );
        let mut db = sse::MultiMap::new();
        db.insert(kw("packed"), vec![1, 2, 3]);
        let (packing, _) = long.pack_setup(&db).unwrap().unwrap();
        long.apply_packing(&packing).unwrap();
        small.apply_packing(&packing).unwrap();
        let words = ["a", "b", "packed", "c", "a", "a", "d"];
        let updates: Vec<Update> = (0..150u32)
            .map(|i| {
                let w = words[i as usize % words.len()];
                if i % 11 == 0 { del(w, i / 2) } else { add(w, i) }
            })
            .collect();
        let batched = long.update(&updates).unwrap();
        let one_by_one: Vec<_> = updates.chunks(5).flat_map(|c| small.update(c).unwrap()).collect();
        assert_eq!(batched.len(), updates.len());
        assert!(batched == one_by_one, "the two paths give different entries");
        assert_eq!(long.update_count(&kw("packed")), small.update_count(&kw("packed")));
        assert!(long.generation(&kw("packed")).is_some());
    }
}
