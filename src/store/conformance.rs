//! The conformance suite every [`Store`] backend must pass.
//!
//! Backends call [`run_all`] from their tests with a function that opens the
//! store at a directory; reopening the same directory must see the same data
//! (pass `persistent = false` for backends that keep nothing, like memory).
//! Assertions panic with a message naming the broken property.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;

use super::{Store, Table, WriteBatch};

/// Runs every check. `open(dir)` must open (or create) the backend's store in `dir`.
pub fn run_all<S: Store + 'static>(open: &dyn Fn(&Path) -> S, persistent: bool) {
    let fresh = || tempfile::tempdir().expect("tempdir");
    // Each check gets a store of its own in a fresh directory.
    let checks: [fn(&dyn Store); 8] = [
        put_get_missing,
        overwrite_and_delete,
        batches_are_atomic_and_ordered,
        tables_are_separate,
        scan_prefix_in_order,
        large_values,
        snapshot_visits_everything_in_order,
        delete_prefixes_removes_exactly_the_prefixes,
    ];
    for check in checks {
        let d = fresh();
        check(&open(d.path()));
    }
    {
        let d = fresh();
        concurrent_readers(Arc::new(open(d.path())));
    }
    {
        let d = fresh();
        snapshot_is_one_point_in_time(Arc::new(open(d.path())));
    }
    if persistent {
        let d = fresh();
        reopen_after_close(open, d.path());
    }
}

/// get of a missing key is `None`; put then get returns the value.
pub fn put_get_missing(s: &dyn Store) {
    assert_eq!(s.get(Table::Documents, b"nope").unwrap(), None, "missing key must read as None");
    assert_eq!(s.get_many(Table::Postings, &[b"a".to_vec(), b"b".to_vec()]).unwrap(), vec![None, None]);
    let mut b = WriteBatch::new();
    b.put(Table::Documents, b"k1".to_vec(), b"v1".to_vec());
    b.put(Table::Documents, b"".to_vec(), b"empty key".to_vec());
    b.put(Table::Documents, b"k2".to_vec(), Vec::new());
    s.write(b).unwrap();
    assert_eq!(s.get(Table::Documents, b"k1").unwrap().as_deref(), Some(&b"v1"[..]));
    assert_eq!(s.get(Table::Documents, b"").unwrap().as_deref(), Some(&b"empty key"[..]));
    assert_eq!(s.get(Table::Documents, b"k2").unwrap().as_deref(), Some(&b""[..]), "empty value is not missing");
    let many = s.get_many(Table::Documents, &[b"k1".to_vec(), b"x".to_vec(), b"k2".to_vec()]).unwrap();
    assert_eq!(many, vec![Some(b"v1".to_vec()), None, Some(Vec::new())], "get_many aligned with keys");
    let keys = [b"k1".to_vec(), b"x".to_vec(), b"k2".to_vec(), b"".to_vec()];
    let mut seen = Vec::new();
    s.visit_many(Table::Documents, &keys, &mut |i, v| {
        seen.push((i, v.map(<[u8]>::to_vec)));
        Ok(true)
    })
    .unwrap();
    let expected: Vec<_> = s.get_many(Table::Documents, &keys).unwrap().into_iter().enumerate().collect();
    assert_eq!(seen, expected, "visit_many sees what get_many reads, in key order");
    seen.clear();
    s.visit_many(Table::Documents, &keys, &mut |i, v| {
        seen.push((i, v.map(<[u8]>::to_vec)));
        Ok(v.is_some())
    })
    .unwrap();
    assert_eq!(seen, vec![(0, Some(b"v1".to_vec())), (1, None)], "visit_many stops when told");
    s.sync().unwrap();
}

/// A later put replaces a value; delete removes it; deleting a missing key is fine.
pub fn overwrite_and_delete(s: &dyn Store) {
    let mut b = WriteBatch::new();
    b.put(Table::Entries, b"k".to_vec(), b"old".to_vec());
    s.write(b).unwrap();
    let mut b = WriteBatch::new();
    b.put(Table::Entries, b"k".to_vec(), b"new".to_vec());
    s.write(b).unwrap();
    assert_eq!(s.get(Table::Entries, b"k").unwrap().as_deref(), Some(&b"new"[..]), "overwrite");
    let mut b = WriteBatch::new();
    b.delete(Table::Entries, b"k".to_vec()).delete(Table::Entries, b"never-there".to_vec());
    s.write(b).unwrap();
    assert_eq!(s.get(Table::Entries, b"k").unwrap(), None, "delete");
}

/// Operations in one batch apply in order (put then delete of the same key leaves nothing).
pub fn batches_are_atomic_and_ordered(s: &dyn Store) {
    let mut b = WriteBatch::new();
    for i in 0u32..1000 {
        b.put(Table::Postings, i.to_be_bytes().to_vec(), vec![1; 8]);
    }
    b.put(Table::Postings, b"x".to_vec(), b"1".to_vec());
    b.delete(Table::Postings, b"x".to_vec());
    b.put(Table::Postings, b"y".to_vec(), b"1".to_vec());
    b.put(Table::Postings, b"y".to_vec(), b"2".to_vec());
    s.write(b).unwrap();
    assert_eq!(s.get(Table::Postings, b"x").unwrap(), None, "put then delete in one batch");
    assert_eq!(s.get(Table::Postings, b"y").unwrap().as_deref(), Some(&b"2"[..]), "last put wins");
    assert_eq!(s.stats(Table::Postings, &[]).unwrap().entries, 1001);
    s.write(WriteBatch::new()).unwrap();
}

/// The same key in two tables holds two values.
pub fn tables_are_separate(s: &dyn Store) {
    let mut b = WriteBatch::new();
    for (i, t) in Table::ALL.into_iter().enumerate() {
        b.put(t, b"same".to_vec(), vec![u8::try_from(i).unwrap()]);
    }
    s.write(b).unwrap();
    for (i, t) in Table::ALL.into_iter().enumerate() {
        assert_eq!(s.get(t, b"same").unwrap(), Some(vec![u8::try_from(i).unwrap()]), "table {} separate", t.name());
    }
}

/// scan_prefix visits exactly the keys with the prefix, in order, and stops when asked.
pub fn scan_prefix_in_order(s: &dyn Store) {
    let mut b = WriteBatch::new();
    for k in ["b/3", "a/1", "b/1", "b/2", "c/1", "b"] {
        b.put(Table::Meta, k.as_bytes().to_vec(), k.as_bytes().to_vec());
    }
    s.write(b).unwrap();
    let mut seen = Vec::new();
    s.scan_prefix(Table::Meta, b"b/", &mut |k, v| {
        assert_eq!(k, v);
        seen.push(String::from_utf8(k.to_vec()).unwrap());
        Ok(true)
    })
    .unwrap();
    assert_eq!(seen, ["b/1", "b/2", "b/3"], "prefix scan order and bounds");
    let mut n = 0;
    s.scan_prefix(Table::Meta, b"", &mut |_, _| {
        n += 1;
        Ok(n < 2)
    })
    .unwrap();
    assert_eq!(n, 2, "scan stops when the visitor returns false");
    let mut from = Vec::new();
    for start in [&b"b/2"[..], b"b/15", b"a", b"b/4"] {
        let mut seen = Vec::new();
        s.scan_from(Table::Meta, b"b/", start, &mut |k, _| {
            seen.push(String::from_utf8(k.to_vec()).unwrap());
            Ok(true)
        })
        .unwrap();
        from.push(seen);
    }
    assert_eq!(from, [vec!["b/2", "b/3"], vec!["b/2", "b/3"], vec!["b/1", "b/2", "b/3"], vec![]], "scan_from bounds");
    let st = s.stats(Table::Meta, b"b").unwrap();
    assert_eq!(st.entries, 4);
}

/// Values of several MiB round-trip.
pub fn large_values(s: &dyn Store) {
    let big: Vec<u8> = (0..12 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut b = WriteBatch::new();
    b.put(Table::Documents, b"big".to_vec(), big.clone());
    s.write(b).unwrap();
    s.sync().unwrap();
    assert!(s.get(Table::Documents, b"big").unwrap() == Some(big), "large value round trip");
}

/// Readers running alongside a writer see each batch whole or not at all.
pub fn concurrent_readers<S: Store + 'static>(s: Arc<S>) {
    let writer = {
        let s = Arc::clone(&s);
        std::thread::spawn(move || {
            for round in 1u32..=50 {
                let mut b = WriteBatch::new();
                b.put(Table::Entries, b"a".to_vec(), round.to_be_bytes().to_vec());
                b.put(Table::Entries, b"b".to_vec(), round.to_be_bytes().to_vec());
                s.write(b).unwrap();
            }
        })
    };
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let v = s.get_many(Table::Entries, &[b"a".to_vec(), b"b".to_vec()]).unwrap();
                    assert_eq!(v[0], v[1], "a reader saw half a batch");
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(s.get(Table::Entries, b"a").unwrap(), Some(50u32.to_be_bytes().to_vec()));
}

/// Data synced before close is there after reopening.
pub fn reopen_after_close<S: Store>(open: &dyn Fn(&Path) -> S, dir: &Path) {
    {
        let s = open(dir);
        let mut b = WriteBatch::new();
        b.put(Table::Documents, b"persist".to_vec(), b"yes".to_vec());
        b.put(Table::Meta, b"schema".to_vec(), b"v1".to_vec());
        s.write(b).unwrap();
        s.sync().unwrap();
    }
    let s = open(dir);
    assert_eq!(s.get(Table::Documents, b"persist").unwrap().as_deref(), Some(&b"yes"[..]), "reopen keeps data");
    assert_eq!(s.get(Table::Meta, b"schema").unwrap().as_deref(), Some(&b"v1"[..]));
}

/// A snapshot visits every entry of every table, tables in order and keys
/// in order, and stops when asked.
pub fn snapshot_visits_everything_in_order(s: &dyn Store) {
    let mut b = WriteBatch::new();
    let mut expected = Vec::new();
    for (i, table) in Table::ALL.into_iter().enumerate() {
        for k in ["z", "a", "m", ""] {
            let value = format!("{i}{k}").into_bytes();
            b.put(table, k.as_bytes().to_vec(), value.clone());
            expected.push((table, k.as_bytes().to_vec(), value));
        }
    }
    s.write(b).unwrap();
    expected.sort();
    let mut seen = Vec::new();
    s.snapshot(&mut |t, k, v| {
        seen.push((t, k.to_vec(), v.to_vec()));
        Ok(true)
    })
    .unwrap();
    assert_eq!(seen, expected, "snapshot order and contents");
    let mut n = 0;
    s.snapshot(&mut |_, _, _| {
        n += 1;
        Ok(n < 3)
    })
    .unwrap();
    assert_eq!(n, 3, "snapshot stops when the visitor returns false");
}

/// Prefix deletes remove the keys under each prefix in its table only,
/// count them, and apply the extra batch in the same call.
pub fn delete_prefixes_removes_exactly_the_prefixes(s: &dyn Store) {
    let mut b = WriteBatch::new();
    let keys: [&[u8]; 7] = [b"a", b"a1", b"a\xff", b"ab", b"b1", b"\xff\x01", b"\xff\xff"];
    for table in [Table::Documents, Table::Entries] {
        for k in keys {
            b.put(table, k.to_vec(), b"v".to_vec());
        }
    }
    s.write(b).unwrap();
    let mut extra = WriteBatch::new();
    extra.delete(Table::Entries, b"b1".to_vec()).put(Table::Meta, b"erased".to_vec(), b"1".to_vec());
    let removed =
        s.delete_prefixes(&[(Table::Documents, b"a".to_vec()), (Table::Documents, vec![0xff])], extra).unwrap();
    assert_eq!(removed, 6, "keys removed by the prefixes");
    let left = |t: Table| {
        let mut ks = Vec::new();
        s.scan_prefix(t, b"", &mut |k, _| {
            ks.push(k.to_vec());
            Ok(true)
        })
        .unwrap();
        ks
    };
    assert_eq!(left(Table::Documents), vec![b"b1".to_vec()], "only the prefixes go");
    assert_eq!(left(Table::Entries).len(), 6, "another table keeps its keys (less the extra delete)");
    assert_eq!(s.get(Table::Meta, b"erased").unwrap().as_deref(), Some(&b"1"[..]), "the extra batch applies");
    assert_eq!(s.delete_prefixes(&[(Table::Postings, b"none".to_vec())], WriteBatch::new()).unwrap(), 0);
    // The prefixes go first, then the batch: keys the batch puts under a
    // deleted prefix stay (moving entries into an emptied namespace needs this).
    let mut refill = WriteBatch::new();
    refill.put(Table::Entries, b"a-new".to_vec(), b"n".to_vec());
    assert_eq!(s.delete_prefixes(&[(Table::Entries, b"a".to_vec())], refill).unwrap(), 4);
    assert_eq!(left(Table::Entries), vec![b"a-new".to_vec(), b"\xff\x01".to_vec(), b"\xff\xff".to_vec()]);
}

/// A snapshot taken while a writer changes two tables in each batch sees
/// the same round in both: one point in time, not a table at a time.
pub fn snapshot_is_one_point_in_time<S: Store + 'static>(s: Arc<S>) {
    let write_round = |s: &S, round: u32| {
        let mut b = WriteBatch::new();
        b.put(Table::Documents, b"round".to_vec(), round.to_be_bytes().to_vec());
        b.put(Table::Meta, b"round".to_vec(), round.to_be_bytes().to_vec());
        s.write(b).unwrap();
    };
    write_round(&s, 0);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (s, stop) = (Arc::clone(&s), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut round = 1;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                write_round(&s, round);
                round += 1;
            }
            round
        })
    };
    for _ in 0..5 {
        let mut seen = Vec::new();
        s.snapshot(&mut |_, k, v| {
            if k == b"round" {
                seen.push(v.to_vec());
                // Give the writer time to commit rounds between the tables.
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Ok(true)
        })
        .unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0], seen[1], "a snapshot saw two points in time");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = writer.join().unwrap();
    assert!(rounds > 1, "the writer made no progress during the snapshots");
}
