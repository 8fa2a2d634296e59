//! Pi_bas and Pi_pack (Cash, Jaeger, Jarecki, Jutla, Krawczyk, Rosu, Steiner,
//! NDSS 2014): static dictionary schemes. Notes: `papers/pibas.md`, `papers/pack.md`.
//!
//! **Construction.** For keyword `w` the client derives `(K1, K2) =
//! HMAC-SHA256(K, w)` split in halves. The ids of `w`, ascending, are cut into
//! blocks of `B` (Pi_bas is `B = 1`; the last block of Pi_pack is padded with
//! [`crate::primitives::prf::PADDING_ID`]). Block `c` is stored under label
//! `AES_K1(c)` with value `ids XOR AES-CTR_K2(c)`. A search token is
//! `(K1, K2)` (response-revealing: the server walks `c = 0, 1, ...` until a
//! label is missing and opens the values) or `K1` alone (response-hiding: the
//! server returns the encrypted blocks and the client opens them).
//!
//! **Leakage** (standard terms, as declared in the paper note):
//! - L_setup: the number of entries `sum_w ceil(n_w / B)` and their (equal) size.
//! - L_search: search pattern (repeated tokens are equal) and access pattern
//!   (which entries, hence the result length rounded up to `B`; the result ids
//!   themselves in the response-revealing variant).
//! - Static: no updates, so no forward or backward privacy question.
//!
//! **Cost.** Setup: one HMAC per keyword, one AES block per entry, `B/4` AES
//! blocks of keystream per entry. Search: one store lookup and one label per
//! `B` results.

pub mod client;
pub mod leakage;
pub mod server;

pub use client::{DEFAULT_BLOCK, PiBas};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::keys::MasterKey;
    use crate::protocol::DocId;
    use crate::server::InProcess;
    use crate::server::Server;
    use crate::sse::{self, MultiMap, SchemeClient, SchemeConfig, SseIndex, StaticScheme};
    use crate::store::MemoryStore;

    fn db() -> MultiMap {
        let mut db = MultiMap::new();
        db.insert(sse::keyword("body", &["a"]), (0..300).collect());
        db.insert(sse::keyword("body", &["b"]), vec![7]);
        db.insert(sse::keyword("body", &["c"]), (0..64).map(|i| i * 3).collect());
        db
    }

    #[test]
    fn both_variants_and_block_sizes_find_exactly_the_ids() {
        for (block, rr) in [(1, true), (1, false), (8, true), (64, false), (64, true), (7, true)] {
            let server = Arc::new(Server::new(MemoryStore::new()));
            let master = MasterKey::generate().unwrap();
            let mut cfg = SchemeConfig::new("pack", "p");
            cfg.block = Some(block);
            cfg.response_revealing = rr;
            let scheme = sse::open_client(&master, "t", &cfg).unwrap();
            let mut index = SseIndex::create(InProcess::new(server, "t"), scheme).unwrap();
            let db = db();
            index.setup(&db).unwrap();
            for (k, ids) in &db {
                assert_eq!(&index.search_keyword(k).unwrap(), ids, "block {block} rr {rr}");
            }
            assert!(index.search_keyword(&sse::keyword("body", &["zz"])).unwrap().is_empty());
        }
    }

    /// The fixed-width id answer holds exactly the ids `SseSearchAt`
    /// answers; encrypted values (response-hiding) are answered alike.
    #[test]
    fn fixed_id_answers_hold_the_ids_of_search_at() {
        use crate::protocol::{Request, Response, SearchResult};
        for rr in [true, false] {
            let server = Arc::new(Server::new(MemoryStore::new()));
            let master = MasterKey::generate().unwrap();
            let mut cfg = SchemeConfig::new("pack", "p");
            cfg.response_revealing = rr;
            let mut index = SseIndex::create(
                InProcess::new(Arc::clone(&server), "t"),
                sse::open_client(&master, "t", &cfg).unwrap(),
            )
            .unwrap();
            let db = db();
            index.setup(&db).unwrap();
            let SchemeClient::Static(client) = sse::open_client(&master, "t", &cfg).unwrap() else {
                panic!("pack is static")
            };
            let key_version = client.descriptor().key_version;
            for k in db.keys().chain([&sse::keyword("body", &["zz"])]) {
                let token = client.token(k);
                let at = server
                    .handle("t", Request::SseSearchAt { instance: "p".into(), key_version, token: token.clone() });
                let fixed = server.handle("t", Request::SseSearchFixedIds { instance: "p".into(), key_version, token });
                match (at, fixed) {
                    (Response::SseResult(SearchResult::Ids(ids)), Response::SseFixedIds(f)) => {
                        assert!(rr);
                        assert_eq!(f.ids().unwrap(), ids);
                        assert_eq!(db.get(k).map_or(0, Vec::len), ids.len());
                    }
                    (Response::SseResult(values @ SearchResult::Values(_)), Response::SseResult(again)) => {
                        assert!(!rr);
                        assert_eq!(values, again);
                    }
                    other => panic!("unexpected answers {other:?}"),
                }
            }
        }
    }

    #[test]
    fn entries_have_equal_size_and_the_expected_count() {
        let master = MasterKey::generate().unwrap();
        let mut cfg = SchemeConfig::new("pack", "p");
        cfg.block = Some(16);
        let s = PiBas::new(&master, "t", &cfg, 16).unwrap();
        let mut all = Vec::new();
        s.setup(&db(), &mut |e| {
            all.extend(e);
            Ok(())
        })
        .unwrap();
        // ceil(300/16) + 1 + ceil(64/16)
        assert_eq!(all.len(), 19 + 1 + 4);
        assert!(all.iter().all(|e| e.value.len() == 64));
        let _ = SchemeClient::Static(Box::new(s));
    }

    /// A keyword of more entries than one request goes out in pieces, each
    /// encrypted in parallel tasks: on 1 and 2 threads, the entries and
    /// their order are those of the keyword encrypted in one go (so every
    /// counter is used once, in order), and a search finds every id.
    #[test]
    fn a_keyword_larger_than_a_request_is_sent_in_counter_order() {
        let block = 2;
        let n = DocId::try_from(2 * sse::ENTRY_CHUNK + 9_001).unwrap();
        let ids: Vec<DocId> = (0..n).collect();
        let k = sse::keyword("body", &["huge"]);
        let mut db = MultiMap::new();
        db.insert(k.clone(), ids.clone());
        let master = MasterKey::generate().unwrap();
        let mut cfg = SchemeConfig::new("pack", "p");
        cfg.block = Some(block);
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let s = PiBas::new(&master, "t", &cfg, block).unwrap();
            let mut pieces = Vec::new();
            pool.install(|| {
                s.setup(&db, &mut |e| {
                    pieces.push(e);
                    Ok(())
                })
            })
            .unwrap();
            assert_eq!(pieces.len(), 2, "{threads} thread(s)");
            assert_eq!(pieces.concat(), s.entries_of(&k, &ids), "{threads} thread(s)");
        }
        let server = Arc::new(Server::new(MemoryStore::new()));
        let scheme = sse::open_client(&master, "t", &cfg).unwrap();
        let mut index = SseIndex::create(InProcess::new(server, "t"), scheme).unwrap();
        index.setup(&db).unwrap();
        assert_eq!(index.search_keyword(&k).unwrap(), ids);
    }
}
