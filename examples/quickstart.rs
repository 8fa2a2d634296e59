//! Quickstart: encrypt a few messages, index them, search, and look at what
//! crossed the client/server boundary.
//!
//! Run: `cargo run --release --example quickstart`

use std::sync::Arc;

use sseek::blind::{default_index_specs, planner::plan_for_corpus};
use sseek::{client::Client, keys::MasterKey, message::Message, query::Query};
use sseek::{server::Server, store::MemoryStore, text::Tokenizer, transport::InProcess};

fn main() -> sseek::Result<()> {
    let server = Arc::new(Server::new(MemoryStore::new()));
    let mut client =
        Client::connect(MasterKey::generate()?, "acme", InProcess::new(server, "acme"), Tokenizer::default())?;
    let msgs = vec![
        Message {
            from: "ann@example.com".into(),
            to: vec!["bob@example.com".into()],
            subject: "Quarterly report".into(),
            date: "2026-11-26T09:00:00Z".into(),
            body: "The quarterly numbers are attached. Lunch at noon?".into(),
        },
        Message {
            from: "bob@example.com".into(),
            to: vec!["ann@example.com".into()],
            subject: "Re: Quarterly report".into(),
            date: "2026-11-26T09:05:00Z".into(),
            body: "Noon works. Numbers look good.".into(),
        },
        Message {
            from: "cy@example.com".into(),
            to: vec!["ann@example.com".into()],
            subject: "Offsite".into(),
            date: "2026-11-27T15:00:00Z".into(),
            body: "Booking the offsite for December.".into(),
        },
    ];
    let terms: Vec<_> = msgs.iter().map(|m| m.terms(client.tokenizer())).collect();
    let plans = plan_for_corpus(&terms, &default_index_specs(), 1.0, 2.0, 100.0);
    for (d, p) in &plans {
        println!(
            "index {:<9} {:>2}-bit tokens, ~{:.2} false positives per query",
            d.name, d.bits, p.expected_false_positives
        );
    }
    client.create_schema(plans.into_iter().map(|(d, _)| d).collect())?;
    client.add_messages(&msgs, None)?;

    for text in [
        "body:numbers",
        "from+day:bob@example.com,2026-11-26",
        "subject:quarterly AND to:ann@example.com",
        "body:offsite OR body:noon",
    ] {
        let q = Query::parse(text, client.specs(), client.tokenizer())?;
        let hits = client.search(&q)?;
        println!("{text:<45} -> ids {:?} ({} false positives dropped)", hits.ids, hits.false_positives);
    }
    let t = client.traffic();
    println!(
        "crossed the boundary: {} requests, {} bytes up, {} bytes down",
        t.round_trips, t.bytes_sent, t.bytes_received
    );
    Ok(())
}
