//! 2Lev (Cash, Jaeger, Jarecki, Jutla, Krawczyk, Rosu, Steiner, NDSS 2014):
//! a static scheme with a dictionary of one entry per keyword and an array of
//! fixed-size blocks at random positions, in response-revealing (RR) and
//! response-hiding (RH) variants. Note: `papers/2lev.md`.
//!
//! **Construction.** Parameters `b` (ids per array block, the descriptor's
//! `block`, default [`DEFAULT_BLOCK`] = 256) and `b'` (slots of a dictionary
//! value, [`server::DICT_SLOTS`] = 16, fixed by the stored format). For keyword
//! `w` the client derives `(K_label, K_ptr) = HMAC-SHA256(K, w)` and `K_leaf`
//! from a second key (role `leaf`). The ids of `w` (ascending, `n` of them)
//! are laid out by size class:
//! - small, `n <= b'`: the ids sit in the dictionary value, padded to `b'`;
//! - medium, `ceil(n/b) <= b'`: the ids fill `ceil(n/b)` array blocks (the
//!   last padded with [`crate::primitives::prf::PADDING_ID`]); the dictionary value
//!   holds their positions;
//! - large, up to `b' * b * b` ids: id blocks as above, their positions in
//!   pointer blocks of `b` slots, and the dictionary value holds the
//!   positions of the pointer blocks. Longer lists are refused ([`Error::Config`](crate::Error::Config)).
//!
//! Array positions are a uniformly random permutation of `0..M` (`M` blocks
//! in all) drawn by the client at setup. The dictionary entry is stored under
//! `AES_{K_label}(0)` with value `tag || b' slots` under the `K_ptr`
//! keystream; pointer blocks are under the `K_ptr` keystream and id blocks
//! (and the inline ids of a small list) under the `K_leaf` keystream, with
//! the array position as nonce. Every array block has `4 b` bytes and every
//! dictionary value `1 + 4 b'` bytes. A token is `(K_label, K_ptr, K_leaf)`
//! (RR: the server follows the pointers and opens the id blocks) or
//! `(K_label, K_ptr)` (RH: the server follows the pointers and returns the id
//! blocks, each prefixed with its position, for the client to open). Setup
//! sends array blocks in position order and dictionary entries in label
//! order, so the requests themselves do not group blocks by keyword.
//!
//! **Leakage** (standard terms, as declared in the paper note):
//! - L_setup: the number of dictionary entries (keywords with a non-empty
//!   list) and of array blocks `M`, i.e. `N` rounded up per keyword to whole
//!   blocks plus the pointer blocks; all values of a kind have equal size.
//! - L_search: search pattern (repeated tokens are equal) and access pattern:
//!   which dictionary entry and which array blocks are read, hence the size
//!   class and the number of blocks, i.e. the result length rounded up to `b`
//!   (small lists: only that it is at most `b'`). RR additionally reveals the
//!   result ids; RH reveals them only once the client fetches documents.
//! - Static: no updates, so no forward or backward privacy question.
//!
//! **Cost.** Setup: two HMACs per keyword, one label and a 65-byte keystream
//! per keyword, `b/4` AES blocks of keystream per array block, a shuffle of
//! `M` positions. Storage: `K (1 + 4 b') + 4 b M` bytes of values. Search:
//! one dictionary read, then one batched array read per level (one for medium
//! lists, two for large), about `n/b` blocks; RR opens them on the server, RH
//! on the client.

pub mod client;
pub mod leakage;
pub mod server;

pub use client::{DEFAULT_BLOCK, MAX_BLOCK, TwoLev};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::server::{DICT_NONCE, DICT_SLOTS, DICT_VALUE_LEN, NO_POINTER, TAG_LARGE, TAG_MEDIUM};
    use super::*;
    use crate::Error;
    use crate::keys::MasterKey;
    use crate::primitives::prf::{Domain, PADDING_ID, Prf, encode_ids};
    use crate::protocol::{DocId, EncryptedEntry, EntryLocation, SearchResult, SearchToken};
    use crate::server::InProcess;
    use crate::server::Server;
    use crate::sse::entries::EntryReader;
    use crate::sse::{self, MultiMap, SchemeClient, SchemeConfig, SseIndex, StaticScheme};
    use crate::store::{MemoryStore, Store, Table, WriteBatch};

    fn config(block: Option<u16>, rr: bool) -> SchemeConfig {
        let mut cfg = SchemeConfig::new("2lev", "t2");
        cfg.block = block;
        cfg.response_revealing = rr;
        cfg
    }

    /// Lists of every size class and at the class boundaries for block `b`.
    fn db(b: usize) -> MultiMap {
        let limit = (DICT_SLOTS * b * b).min(5_000);
        let sizes = [
            1,
            2,
            DICT_SLOTS,
            DICT_SLOTS + 1,
            DICT_SLOTS * b,
            DICT_SLOTS * b + 1,
            limit.max(DICT_SLOTS * b + 2),
            limit,
        ];
        let mut db = MultiMap::new();
        for (k, n) in sizes.into_iter().enumerate() {
            let (n, k) = (u32::try_from(n).unwrap(), u32::try_from(k).unwrap());
            let ids: Vec<DocId> = (0..n).map(|i| i * 3 + k).collect();
            db.insert(sse::keyword("body", &[&format!("w{k}")]), ids);
        }
        db
    }

    fn setup_entries(s: &TwoLev, db: &MultiMap) -> Vec<Vec<EncryptedEntry>> {
        let mut chunks = Vec::new();
        s.setup(db, &mut |e| {
            chunks.push(e);
            Ok(())
        })
        .unwrap();
        chunks
    }

    #[test]
    fn both_variants_and_block_sizes_find_exactly_the_ids() {
        for block in [Some(4), Some(3), Some(16), Some(2), None] {
            for rr in [true, false] {
                let server = Arc::new(Server::new(MemoryStore::new()));
                let master = MasterKey::generate().unwrap();
                let scheme = sse::open_client(&master, "t", &config(block, rr)).unwrap();
                let b = usize::from(scheme.descriptor().block);
                let mut index = SseIndex::create(InProcess::new(server, "t"), scheme).unwrap();
                let db = db(b);
                index.setup(&db).unwrap();
                for (k, ids) in &db {
                    assert_eq!(&index.search_keyword(k).unwrap(), ids, "block {b} rr {rr} n {}", ids.len());
                }
                assert!(index.search_keyword(&sse::keyword("body", &["zz"])).unwrap().is_empty());
            }
        }
    }

    #[test]
    fn default_block_holds_a_million_ids_and_one_more_is_refused() {
        let master = MasterKey::generate().unwrap();
        let s = TwoLev::new(&master, "t", &config(None, true)).unwrap();
        assert_eq!(s.max_list(), 1 << 20);
        let store = MemoryStore::new();
        let mut db = MultiMap::new();
        db.insert(b"big".to_vec(), (0..1u32 << 20).collect());
        let chunks = setup_entries(&s, &db);
        let mut batch = WriteBatch::new();
        let reader = EntryReader::new(&store, "t", "t2");
        for e in chunks.into_iter().flatten() {
            batch.put(Table::Entries, reader.key(&e.location), e.value);
        }
        store.write(batch).unwrap();
        let SearchToken::TwoLevel { label_key, pointer_key, leaf_key } = s.token(b"big") else { unreachable!() };
        let r = server::search(&reader, 256, &label_key, &pointer_key, leaf_key.as_ref()).unwrap();
        assert_eq!(s.resolve(b"big", r).unwrap().len(), 1 << 20);

        db.insert(b"big".to_vec(), (0..(1u32 << 20) + 1).collect());
        let err = s.setup(&db, &mut |_| Ok(())).unwrap_err();
        assert!(matches!(&err, Error::Config(m) if m.contains("limit of 1048576")), "{err}");
    }

    #[test]
    fn values_have_equal_sizes_positions_form_a_permutation_and_requests_hide_grouping() {
        let master = MasterKey::generate().unwrap();
        let b = 4;
        let s = TwoLev::new(&master, "t", &config(Some(4), true)).unwrap();
        let db = db(b);
        let chunks = setup_entries(&s, &db);
        let all: Vec<&EncryptedEntry> = chunks.iter().flatten().collect();
        let mut positions = Vec::new();
        let mut labels = Vec::new();
        for e in &all {
            match e.location {
                EntryLocation::Array(p) => {
                    assert_eq!(e.value.len(), 4 * b);
                    positions.push(p);
                }
                EntryLocation::Dictionary(l) => {
                    assert_eq!(e.value.len(), DICT_VALUE_LEN);
                    labels.push(l);
                }
            }
        }
        assert_eq!(labels.len(), db.len());
        // Blocks: per list, ceil(n/b) id blocks when n > b', plus pointer blocks when that exceeds b'.
        let expected: usize = db
            .values()
            .map(|ids| ids.len())
            .filter(|&n| n > DICT_SLOTS)
            .map(|n| {
                let k = n.div_ceil(b);
                if k <= DICT_SLOTS { k } else { k + k.div_ceil(b) }
            })
            .sum();
        assert_eq!(positions.len(), expected);
        // Array blocks come first, in position order 0..M; then labels in order.
        assert_eq!(positions, (0..u32::try_from(expected).unwrap()).collect::<Vec<_>>());
        assert!(labels.is_sorted());
        assert!(all.iter().take(expected).all(|e| matches!(e.location, EntryLocation::Array(_))));
        assert!(chunks.iter().all(|c| !c.is_empty() && c.len() <= sse::ENTRY_CHUNK));
        let _ = SchemeClient::Static(Box::new(s));
    }

    #[test]
    fn layout_is_fresh_per_setup() {
        let master = MasterKey::generate().unwrap();
        let s = TwoLev::new(&master, "t", &config(Some(4), true)).unwrap();
        let db = db(4);
        let a: Vec<EncryptedEntry> = setup_entries(&s, &db).into_iter().flatten().collect();
        let b: Vec<EncryptedEntry> = setup_entries(&s, &db).into_iter().flatten().collect();
        // Same keys and labels, but blocks land at other positions.
        assert_eq!(a.len(), b.len());
        assert_ne!(a, b);
    }

    #[test]
    fn bad_parameters_and_reserved_ids_are_refused() {
        let master = MasterKey::generate().unwrap();
        assert!(matches!(TwoLev::new(&master, "t", &config(Some(0), true)), Err(Error::Config(_))));
        assert!(matches!(TwoLev::new(&master, "t", &config(Some(MAX_BLOCK + 1), true)), Err(Error::Config(_))));
        assert!(TwoLev::new(&master, "t", &config(Some(MAX_BLOCK), true)).is_ok());
        let s = TwoLev::new(&master, "t", &config(Some(1), true)).unwrap();
        let mut db = MultiMap::new();
        db.insert(b"k".to_vec(), (0..17).collect());
        assert!(matches!(s.setup(&db, &mut |_| Ok(())), Err(Error::Config(_))));
        db.insert(b"k".to_vec(), vec![1, PADDING_ID]);
        assert!(matches!(s.setup(&db, &mut |_| Ok(())), Err(Error::Config(m)) if m.contains("reserved")));
    }

    #[test]
    fn missing_keyword_gives_the_empty_answer_of_its_variant() {
        let store = MemoryStore::new();
        let reader = EntryReader::new(&store, "t", "t2");
        assert_eq!(server::search(&reader, 4, &[1; 16], &[2; 16], Some(&[3; 16])).unwrap(), SearchResult::Ids(vec![]));
        assert_eq!(server::search(&reader, 4, &[1; 16], &[2; 16], None).unwrap(), SearchResult::Values(vec![]));
    }

    #[test]
    fn response_hiding_answers_carry_no_plain_ids() {
        let master = MasterKey::generate().unwrap();
        let s = TwoLev::new(&master, "t", &config(Some(4), false)).unwrap();
        let store = MemoryStore::new();
        let reader = EntryReader::new(&store, "t", "t2");
        let db = db(4);
        let mut batch = WriteBatch::new();
        for e in setup_entries(&s, &db).into_iter().flatten() {
            batch.put(Table::Entries, reader.key(&e.location), e.value);
        }
        store.write(batch).unwrap();
        for (k, ids) in &db {
            let SearchToken::TwoLevel { label_key, pointer_key, leaf_key: None } = s.token(k) else { panic!() };
            let SearchResult::Values(values) = server::search(&reader, 4, &label_key, &pointer_key, None).unwrap()
            else {
                panic!("RH answered ids")
            };
            // One value per id block, or one for inline ids.
            let blocks = if ids.len() <= DICT_SLOTS { 1 } else { ids.len().div_ceil(4) };
            assert_eq!(values.len(), blocks);
            let plain = encode_ids(&ids[..ids.len().min(4)], 4);
            assert!(values.iter().all(|v| !v.windows(plain.len()).any(|w| w == plain)));
            assert_eq!(&s.resolve(k, SearchResult::Values(values)).unwrap(), ids);
        }
    }

    /// Writes `value` as keyword `k`'s dictionary entry (encrypted with its
    /// pointer key) and any extra array slots, then searches in both variants.
    fn search_tampered(plain_dict: &[u8], array: &[(u32, Vec<u8>)]) -> Vec<crate::Result<SearchResult>> {
        let master = MasterKey::generate().unwrap();
        let s = TwoLev::new(&master, "t", &config(Some(4), true)).unwrap();
        let SearchToken::TwoLevel { label_key, pointer_key, leaf_key } = s.token(b"k") else { unreachable!() };
        let store = MemoryStore::new();
        let reader = EntryReader::new(&store, "t", "t2");
        let pointer = Prf::new(&pointer_key);
        let mut dict = plain_dict.to_vec();
        pointer.apply_keystream(Domain::Dictionary, DICT_NONCE, &mut dict);
        let mut batch = WriteBatch::new();
        batch.put(Table::Entries, reader.key(&EntryLocation::Dictionary(Prf::new(&label_key).label(0))), dict);
        for (pos, plain) in array {
            let mut v = plain.clone();
            pointer.apply_keystream(Domain::Array, u64::from(*pos), &mut v);
            batch.put(Table::Entries, reader.key(&EntryLocation::Array(*pos)), v);
        }
        store.write(batch).unwrap();
        [leaf_key.as_ref(), None]
            .into_iter()
            .map(|leaf| server::search(&reader, 4, &label_key, &pointer_key, leaf))
            .collect()
    }

    fn dict(tag: u8, pointers: &[u32]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend(encode_ids(pointers, DICT_SLOTS));
        v
    }

    #[test]
    fn corrupted_values_are_data_corruption_not_panics() {
        let block = |words: &[u32]| encode_ids(words, 4);
        let mut out_of_place = dict(TAG_MEDIUM, &[]);
        out_of_place[5..9].copy_from_slice(&7u32.to_le_bytes());
        type Case = (&'static str, Vec<u8>, Vec<(u32, Vec<u8>)>);
        let cases: Vec<Case> = vec![
            ("short dictionary value", vec![0; 3], vec![]),
            ("long dictionary value", vec![0; DICT_VALUE_LEN + 4], vec![]),
            ("unknown tag", dict(9, &[1]), vec![]),
            ("no pointers", dict(TAG_MEDIUM, &[]), vec![]),
            ("pointer after padding", out_of_place, vec![]),
            ("missing block", dict(TAG_MEDIUM, &[12_345]), vec![]),
            ("empty block", dict(TAG_MEDIUM, &[1]), vec![(1, vec![])]),
            ("odd block", dict(TAG_MEDIUM, &[1]), vec![(1, vec![0; 7])]),
            ("unequal blocks", dict(TAG_MEDIUM, &[1, 2]), vec![(1, block(&[5])), (2, vec![0; 32])]),
            ("missing pointer block", dict(TAG_LARGE, &[3]), vec![]),
            ("empty pointer block", dict(TAG_LARGE, &[3]), vec![(3, block(&[]))]),
            (
                "pointer block not full",
                dict(TAG_LARGE, &[3, 4]),
                vec![(3, block(&[1])), (4, block(&[2])), (1, block(&[5]))],
            ),
            ("pointer to missing id block", dict(TAG_LARGE, &[3]), vec![(3, block(&[1, 2]))]),
            ("pointer block padding then pointer", dict(TAG_LARGE, &[3]), vec![(3, block(&[1, NO_POINTER, 2]))]),
            ("repeated pointer", dict(TAG_MEDIUM, &[1, 1]), vec![(1, block(&[5]))]),
            (
                "pointer blocks aimed at one id block",
                dict(TAG_LARGE, &[3, 4]),
                vec![(3, block(&[1, 1, 1, 1])), (4, block(&[1])), (1, block(&[5]))],
            ),
            ("block longer than the instance's b", dict(TAG_MEDIUM, &[1]), vec![(1, encode_ids(&[5], 8))]),
        ];
        for (name, d, array) in cases {
            for r in search_tampered(&d, &array) {
                assert!(matches!(r, Err(Error::DataCorruption { .. })), "{name}: {r:?}");
            }
        }
        // Sanity: a well-formed tampered medium entry parses.
        for r in search_tampered(&dict(TAG_MEDIUM, &[1]), &[(1, block(&[5]))]) {
            assert!(r.is_ok());
        }
    }

    #[test]
    fn client_refuses_malformed_response_hiding_values() {
        let master = MasterKey::generate().unwrap();
        let s = TwoLev::new(&master, "t", &config(Some(4), false)).unwrap();
        for v in [vec![1, 2], vec![0, 0, 0, 1, 9, 9, 9], vec![0xff; 4 + 4 * 4]] {
            let r = s.resolve(b"k", SearchResult::Values(vec![v]));
            assert!(matches!(r, Err(Error::DataCorruption { .. })), "{r:?}");
        }
    }
}
