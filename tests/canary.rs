//! Plant canary words in a corpus, run the demo into a kept store directory,
//! and scan every byte the server side wrote: no canary may appear.

#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)]

use sseek::datasets::{Corpus, Synthetic};
use sseek::demo::{self, DemoOptions};
use sseek::message::Message;
use sseek::store::RedbStore;

const CANARIES: &[&str] = &["canaryxylophone", "zebracanarytoken", "canary-sender@plant.example", "Quetzalcanary"];

#[test]
fn store_holds_no_plaintext() {
    let mut messages = Synthetic::new(5).generate(400);
    for (i, m) in messages.iter_mut().enumerate().step_by(7) {
        m.body = format!("{} canaryxylophone {} zebracanarytoken", m.body, i);
        m.subject = "Quetzalcanary meeting".into();
    }
    messages.push(Message {
        from: "canary-sender@plant.example".into(),
        to: vec!["someone@else.example".into()],
        subject: "hello".into(),
        date: "2026-11-26T10:00:00Z".into(),
        body: "canaryxylophone alone".into(),
    });
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("server.redb")).unwrap();
    let corpus = Corpus { name: "canary".into(), messages: messages.clone(), skipped: Vec::new() };
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
