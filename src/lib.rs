//! # sseek: encrypted search you can measure
//!
//! A messaging server stores only ciphertext, yet users want to search their
//! messages. sseek keeps the keys on the client, sends the server sealed
//! messages and blind-index tokens, and lets it answer searches without
//! learning keywords or contents, and it tells you exactly what the server
//! can learn anyway.
//!
//! The crate is a house in layers (`ARCHITECTURE.md` walks it; a test checks
//! that imports only go down and that the server side never reaches a key):
//!
//! | layer | modules | what |
//! |---|---|---|
//! | 1 base | [`text`], [`message`], [`query`], [`multimap`], [`protocol`], [`leakage_terms`], [`store`] | keywords, messages, queries, the plaintext multimap, every wire type with the [`transport::Transport`] trait, the leakage vocabulary, the `Store` trait with memory, redb and PostgreSQL backends |
//! | 2 primitives and secrets | [`keys`], [`envelope`], [`state`], [`primitives`] | master key and HKDF subkeys, AES-GCM-SIV sealing (AES-SIV for envelope version 1), sealed client state, keyless PRF and GGM |
//! | 3 schemes | [`blind`], [`sse`] | blind indexes; Pi_bas, Pi_pack, 2Lev, Mitra, Diana, each with client half, server half and declared leakage; the scheme registry [`sse::registry`] |
//! | 4 client and server | [`client`], [`server`] | the client and its HTTP transport; the server, its in-process transport and `sseek serve` |
//! | 5 evaluation | [`oracle`], [`datasets`], [`baseline`], [`leakage`], [`bench`](mod@bench), [`demo`] | the plaintext oracle, corpora, client-only baselines, leakage analysis (recorded views, laws, attacks, countermeasures), `sseek bench`, the demo |
//!
//! ```
//! use std::sync::Arc;
//! use sseek::{client::Client, keys::MasterKey, message::Message, query::Query};
//! use sseek::{server::Server, store::MemoryStore, transport::InProcess, text::Tokenizer};
//! use sseek::blind::{default_index_specs, planner::plan_for_corpus};
//!
//! let server = Arc::new(Server::new(MemoryStore::new()));
//! let mut client = Client::connect(MasterKey::generate()?, "acme", InProcess::new(server, "acme"), Tokenizer::default())?;
//! let msgs = vec![Message { from: "ann@example.com".into(), subject: "Quarterly report".into(),
//!                           body: "numbers attached".into(), ..Default::default() }];
//! let terms: Vec<_> = msgs.iter().map(|m| m.terms(client.tokenizer())).collect();
//! client.create_schema(plan_for_corpus(&terms, &default_index_specs(), 10.0, 2.0, 1.0).into_iter().map(|(d, _)| d).collect())?;
//! client.add_messages(&msgs, None)?;
//! let q = Query::parse("subject:quarterly", client.specs(), client.tokenizer())?;
//! assert_eq!(client.search(&q)?.messages[0].1.body, "numbers attached");
//! # Ok::<(), sseek::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// 1. Base: errors, text, messages, queries, the wire, the store.
mod error;
pub mod files;
pub mod leakage_terms;
pub mod message;
pub mod multimap;
pub mod protocol;
pub mod query;
pub mod store;
pub mod text;
// 2. Primitives and secrets.
pub mod envelope;
pub mod keys;
pub mod primitives;
pub mod state;
// 3. Schemes.
pub mod blind;
pub mod sse;
// 4. Client and server, side by side.
pub mod client;
pub mod server;
// 5. Evaluation, the operator commands of the data lifecycle, the device commands.
pub mod baseline;
pub mod bench;
pub mod datasets;
pub mod demo;
pub mod device_cli;
pub mod leakage;
pub mod ops;
pub mod oracle;

/// Transports: the [`Transport`](transport::Transport) trait (base), the
/// in-process transport (it lives with the server) and the HTTP one (it
/// lives with the client), under one path.
pub mod transport {
    pub use crate::client::Http;
    pub use crate::protocol::transport::{Traffic, Transport};
    pub use crate::server::InProcess;
}

pub use error::Error;

/// The README's Rust examples, compiled and run as doctests so they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The result type of every fallible sseek function.
pub type Result<T> = std::result::Result<T, Error>;
