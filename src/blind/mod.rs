//! Blind indexes: per-field HMAC-SHA256 tokens truncated to a planned number
//! of bits, with one roaring bitmap of document ids per token on the server.
//!
//! - [`client`]: the client half. Derives one HMAC key per index and tenant,
//!   turns field values into tokens and plaintext queries into [`BlindQuery`](crate::protocol::BlindQuery)s.
//! - [`server`]: the server half. Stores posting lists in a [`Store`](crate::store::Store) and
//!   evaluates equality, AND and OR with bitmap intersection and union. It sees
//!   tokens and ids only.
//! - [`planner`]: chooses the token length from the expected rows, distinct
//!   values and postings.
//!
//! Truncation makes server answers a superset of the true matches; the client
//! decrypts the candidates and drops the false positives, so results are exact.
//!
//! **Leakage at rest** (anyone who reads the store, no queries needed): for each
//! token, its posting list, hence the frequency of each token (the sum of the
//! frequencies of the values that share it) and all co-occurrences between
//! tokens. Blind indexes are deterministic encryption of field values; see
//! `papers/blind-index.md`. **Per query**: search pattern (equal tokens) and the
//! candidate ids (access pattern up to false positives).

pub mod client;
pub mod leakage;
pub mod planner;
pub mod server;

pub use crate::message::{IndexSpec, default_index_specs};
pub use client::BlindIndexer;
pub use planner::{Plan, PlanInput, plan};
