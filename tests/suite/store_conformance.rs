//! The shared store conformance suite, run against every backend.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use sseek::store::{MemoryStore, RedbStore, conformance};

#[test]
fn memory_store_conforms() {
    conformance::run_all(&|_dir| MemoryStore::new(), false);
}

#[test]
fn redb_store_conforms() {
    conformance::run_all(&|dir| RedbStore::open(&dir.join("store.redb")).expect("open redb"), true);
}
