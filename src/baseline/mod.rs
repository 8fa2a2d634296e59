//! The client-only baseline: what a client can do with a server that stores
//! only ciphertext and answers no search at all.
//!
//! Two variants, both over any [`Transport`](crate::protocol::transport::Transport):
//! - [`BaselineMode::DownloadAll`]: before each search the client fetches
//!   every ciphertext it does not hold yet, then decrypts every held
//!   ciphertext, extracts its keywords and scans it with [`Query::matches`](crate::query::Query::matches).
//!   The device keeps ciphertexts only, so nothing readable rests on it.
//! - [`BaselineMode::LocalIndex`]: what many end-to-end encrypted messengers
//!   do. Each new ciphertext is fetched once, decrypted once and added to a
//!   plaintext inverted index on the device (one roaring bitmap per keyword);
//!   searches never leave the device after that.
//!
//! Both count bytes downloaded, client CPU time (see [`process_cpu_seconds`]),
//! client storage (ciphertexts kept plus the index), and let a caller time the
//! first search of a cold device (nothing downloaded) against a warm one.
//! The server learns nothing from a search here, only that a device synced.
//!
//! ```
//! use std::sync::Arc;
//! use sseek::baseline::{Baseline, BaselineMode};
//! use sseek::blind::default_index_specs;
//! use sseek::{keys::MasterKey, message::Message, query::Query};
//! use sseek::{server::Server, store::MemoryStore, text::Tokenizer, transport::InProcess};
//!
//! let server = Arc::new(Server::new(MemoryStore::new()));
//! let key = MasterKey::generate()?;
//! let specs = default_index_specs();
//! let mut phone = Baseline::new(&key, "acme", InProcess::new(Arc::clone(&server), "acme"), Tokenizer::default(), specs.clone(), BaselineMode::DownloadAll)?;
//! phone.upload(&[Message { body: "lunch at noon".into(), ..Default::default() }])?;
//! // A new device with the same key: cold, it downloads everything on its first search.
//! let mut tablet = Baseline::new(&key, "acme", InProcess::new(server, "acme"), Tokenizer::default(), specs.clone(), BaselineMode::LocalIndex)?;
//! let q = Query::parse("body:noon", &specs, &Tokenizer::default())?;
//! assert_eq!(tablet.search(&q)?, vec![0]);
//! assert!(tablet.stats().bytes_downloaded > 0);
//! # Ok::<(), sseek::Error>(())
//! ```
//!
//! [`Baseline`] is a device; [`run_workload`] runs both variants over a
//! query workload for the demo's report; [`leakage`] declares what the
//! server learns from them.

mod cpu;
mod device;
pub mod leakage;
mod local_index;
mod workload;

pub use cpu::{process_cpu_seconds, thread_cpu_seconds};
pub use device::{Baseline, BaselineMode, BaselineStats, DOWNLOAD_CHUNK};
pub use workload::{BaselineReport, SCAN_BUDGET_SECONDS, markdown, run_workload};
