//! Plant canary words in a corpus, run the demo into a kept store directory,
//! and scan every byte the server side wrote: no canary may appear.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use crate::common;

use common::CANARIES;
use sseek::demo::{self, DemoOptions};
use sseek::store::RedbStore;

#[test]
fn store_holds_no_plaintext() {
    let corpus = common::canary_corpus(5, 400);
    let messages = corpus.messages.clone();
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("server.redb")).unwrap();
    let opts = DemoOptions { progress: false, queries_per_index: 10, ..Default::default() };
    let report = demo::run_with_store(&opts, corpus, store, "redb".into()).unwrap();
    assert_eq!(report.mismatches, 0);
    assert!(report.queries > 50);

    // The scanner must be able to find a canary, or its silence means nothing.
    std::fs::write(dir.path().join("control.txt"), "a zebracanarytoken here").unwrap();
    let hits = demo::scan_for_plaintext(dir.path(), CANARIES).unwrap();
    assert_eq!(hits.len(), 1, "control file must be found: {hits:?}");
    std::fs::remove_file(dir.path().join("control.txt")).unwrap();

    let mut needles: Vec<String> = CANARIES.iter().map(|s| (*s).to_owned()).collect();
    // Also some ordinary words and a whole message text from the corpus.
    needles.push(messages[3].body.split(' ').take(4).collect::<Vec<_>>().join(" "));
    needles.push(messages[10].from.clone());
    let refs: Vec<&str> = needles.iter().map(String::as_str).collect();
    let hits = demo::scan_for_plaintext(dir.path(), &refs).unwrap();
    assert!(hits.is_empty(), "plaintext found in the store: {hits:?}");
}
