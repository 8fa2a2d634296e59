//! OXT (Cash, Jarecki, Jutla, Krawczyk, Rosu, Steiner, CRYPTO 2013): a
//! static scheme that answers a conjunction in one search, so the server
//! learns the conjunction's result and the s-term's list, not each term's
//! list. Note: `papers/oxt.md`.
//!
//! **Construction.** Keys per instance and key version, each its own
//! derived label (roles `tset`, `ekey`, `xterm`, `xind`, `z`): the TSet key
//! gives a keyword's stag (label and value keys, as Pi_pack), `K_e(w)`
//! encrypts ids, and `K_X`, `K_I`, `K_Z` are PRFs into the Ristretto255
//! scalar field (HMAC-SHA512 reduced mod p). For keyword `w` with ids in a
//! fresh random order `ind_0, ind_1, ...`:
//! - `xind_c = F_p(K_I, ind_c)`, `z_c = F_p(K_Z, w || c)`, `y_c = xind_c / z_c`,
//!   `e_c = ind_c XOR AES_{K_e(w)}(c)`;
//! - the TSet holds the tuples `(e_c, y_c)` in values of `B` tuples
//!   (the descriptor's block, default [`DEFAULT_BLOCK`]) under labels
//!   `AES_{label}(j)`, each value under the stag's value keystream;
//! - the XSet holds `xtag = g^(F_p(K_X, w) * xind_c)` for every pair, as
//!   an exact set: one dictionary label `SHA-256(xtag)[..16]` with an empty
//!   value per pair, so a membership test is one store lookup.
//!
//! A conjunction `w_1 AND ... AND w_k` picks as s-term the least frequent
//! term, by the keyword statistics (list lengths) that setup seals and
//! stores as the instance's client state; a client reads them once per
//! handle. It sends the s-term's stag and, for every `c < |DB(s)|` and every
//! x-term `x_i`, `xtoken[c][i] = g^(z_c * F_p(K_X, x_i))`. The server walks
//! the s-term's list and keeps entry `c` when every `xtoken[c][i]^(y_c)`
//! (`= g^(F_p(K_X, x_i) * xind_c)`) is in the XSet, answering its position
//! and `e_c`; the client opens `e_c` with `K_e(s)`. A single term is a
//! search without x-terms ([`crate::protocol::SearchToken::Dictionary`]).
//! Queries with OR are answered as an OR of ANDs (expanded on the client,
//! up to 64 conjunctions; a larger one is answered term by term).
//!
//! **Leakage**: see [`leakage`].
//!
//! **Cost.** Setup: per pair one fixed-base scalar multiplication (the
//! xtag), a scalar inversion and two HMAC-SHA512; per document one more.
//! Storage: `N` XSet labels and `sum_w ceil(n_w / B)` values of `2 + 36 B`
//! bytes. Search: the client computes `|DB(s)| * (k - 1)` fixed-base
//! multiplications and sends 32 bytes for each; the server reads the
//! s-term's values, computes as many variable-base multiplications, and
//! reads that many XSet labels in batches.

pub mod client;
pub mod leakage;
pub mod server;

pub use client::{DEFAULT_BLOCK, MAX_BLOCK, MAX_TERMS, Oxt};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::server::{POINT_LEN, tset_value_len};
    use super::*;
    use crate::Error;
    use crate::keys::MasterKey;
    use crate::protocol::{OxtToken, Request, Response, SearchResult};
    use crate::server::{InProcess, Server};
    use crate::sse::{self, ConjunctiveScheme, MultiMap, SchemeConfig, SseIndex, StaticScheme};
    use crate::store::MemoryStore;

    fn db() -> MultiMap {
        let mut db = MultiMap::new();
        db.insert(b"a".to_vec(), (0..40).collect());
        db.insert(b"b".to_vec(), (0..40).filter(|i| i % 3 == 0).collect());
        db.insert(b"c".to_vec(), (0..40).filter(|i| i % 5 == 0).collect());
        db.insert(b"d".to_vec(), vec![7]);
        db
    }

    fn index(block: Option<u16>) -> (Arc<Server<MemoryStore>>, SseIndex<InProcess<MemoryStore>>) {
        let server = Arc::new(Server::new(MemoryStore::new()));
        let master = MasterKey::generate().unwrap();
        let mut config = SchemeConfig::new("oxt", "x");
        config.block = block;
        let scheme = sse::open_client(&master, "t", &config).unwrap();
        let mut index = SseIndex::create(InProcess::new(Arc::clone(&server), "t"), scheme).unwrap();
        index.setup(&db()).unwrap();
        (server, index)
    }

    #[test]
    fn conjunctions_and_single_terms_find_exactly_the_ids() {
        for block in [Some(1), Some(3), None] {
            let (_, mut index) = index(block);
            let db = db();
            for k in db.keys() {
                assert_eq!(&index.search_keyword(k).unwrap(), &db[k]);
            }
            assert!(index.search_keyword(b"zz").unwrap().is_empty());
            let cases: [&[&[u8]]; 6] =
                [&[b"a", b"b"], &[b"b", b"c"], &[b"a", b"b", b"c"], &[b"a", b"d"], &[b"b", b"d"], &[b"a", b"zz"]];
            for terms in cases {
                let keywords: Vec<Vec<u8>> = terms.iter().map(|t| t.to_vec()).collect();
                assert_eq!(index.search_conjunction(&keywords).unwrap(), sse::conjunction(&db, terms), "{terms:?}");
            }
        }
    }

    #[test]
    fn the_s_term_is_the_least_frequent_and_the_token_has_a_row_per_entry() {
        let master = MasterKey::generate().unwrap();
        let mut s = Oxt::new(&master, "t", &SchemeConfig::new("oxt", "x")).unwrap();
        assert!(s.seal_setup_state(&db()).unwrap().is_some());
        let terms = vec![b"a".to_vec(), b"c".to_vec(), b"b".to_vec()];
        let c = s.conjunction(&terms).unwrap();
        assert_eq!(terms[c.s_term], b"c");
        assert_eq!(c.token.xterms, 2);
        assert_eq!(c.token.xtokens.len(), 8 * 2 * POINT_LEN);
        assert!(s.conjunction(&[]).is_err());
        let too_many: Vec<Vec<u8>> = (0..=MAX_TERMS).map(|i| vec![u8::try_from(i).unwrap()]).collect();
        assert!(matches!(s.conjunction(&too_many), Err(Error::Config(_))));
    }

    #[test]
    fn bad_truncated_and_wrong_length_xtokens_are_clear_errors() {
        let server = Arc::new(Server::new(MemoryStore::new()));
        let master = MasterKey::generate().unwrap();
        let config = SchemeConfig { block: Some(4), ..SchemeConfig::new("oxt", "x") };
        let scheme = sse::open_client(&master, "t", &config).unwrap();
        SseIndex::create(InProcess::new(Arc::clone(&server), "t"), scheme).unwrap().setup(&db()).unwrap();
        // The same keys outside the index, to build tokens by hand.
        let mut s = Oxt::new(&master, "t", &config).unwrap();
        s.seal_setup_state(&db()).unwrap();
        let good = s.conjunction(&[b"b".to_vec(), b"c".to_vec()]).unwrap().token;
        let call = |token: OxtToken, key_version| {
            server.handle("t", Request::OxtSearch { instance: "x".into(), key_version, token })
        };
        let Response::SseResult(r) = call(good.clone(), 1) else { panic!("good token refused") };
        assert_eq!(s.resolve(b"c", r).unwrap(), vec![0, 15, 30]);
        let mut not_a_point = good.clone();
        not_a_point.xtokens[..POINT_LEN].fill(0xff);
        let cases: Vec<(OxtToken, u16, &str)> = vec![
            (OxtToken { xtokens: good.xtokens[..good.xtokens.len() - 1].to_vec(), ..good.clone() }, 400, "whole rows"),
            (OxtToken { xtokens: good.xtokens[..POINT_LEN * 7].to_vec(), ..good.clone() }, 400, "for 7 entries"),
            (OxtToken { xtokens: Vec::new(), ..good.clone() }, 400, "for 0 entries"),
            (OxtToken { xterms: 3, ..good.clone() }, 400, "whole rows"),
            (OxtToken { xterms: 0, ..good.clone() }, 400, "without x-terms"),
            (OxtToken { xterms: 16, ..good.clone() }, 400, "x-terms"),
            (not_a_point, 400, "not a Ristretto point"),
        ];
        for (token, code, needle) in cases {
            match call(token, 1) {
                Response::Error { code: c, message } => {
                    assert_eq!(c, code, "{message}");
                    assert!(message.contains(needle), "{needle}: {message}");
                }
                other => panic!("expected an error for {needle}, got {other:?}"),
            }
        }
        assert!(matches!(call(good, 2), Response::Error { code: 409, .. }));
    }

    #[test]
    fn values_have_one_size_and_the_xset_has_one_label_per_pair() {
        let master = MasterKey::generate().unwrap();
        let s = Oxt::new(&master, "t", &SchemeConfig { block: Some(4), ..SchemeConfig::new("oxt", "x") }).unwrap();
        let db = db();
        let mut entries = Vec::new();
        s.setup(&db, &mut |e| {
            entries.extend(e);
            Ok(())
        })
        .unwrap();
        let pairs: usize = db.values().map(Vec::len).sum();
        let values: usize = db.values().map(|ids| ids.len().div_ceil(4)).sum();
        assert_eq!(entries.iter().filter(|e| e.value.is_empty()).count(), pairs);
        assert_eq!(entries.iter().filter(|e| e.value.len() == tset_value_len(4)).count(), values);
        assert_eq!(entries.len(), pairs + values);
        assert!(entries.is_sorted_by_key(|e| e.location));
        assert!(matches!(s.resolve(b"a", SearchResult::Ids(vec![1])), Err(Error::DataCorruption { .. })));
        assert!(matches!(s.resolve(b"a", SearchResult::Values(vec![vec![0; 7]])), Err(Error::DataCorruption { .. })));
    }
}
