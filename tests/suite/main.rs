//! The integration tests, in one test binary: compiling and linking one
//! binary against the library instead of one per file is most of what
//! `cargo test` costs after a change. Each file of this directory is a
//! module, so a test's name starts with its file's name and filters select
//! by file (`cargo test --test suite rotation::`) as well as by test name
//! (`cargo test --tests -- --ignored postgres`).
//!
//! The tests of all modules share this process and run on parallel
//! threads: they change no environment variable, working directory or
//! other process-wide setting, and tests that must not overlap with others
//! on a shared server hold the locks in `common`.

mod common;

mod architecture;
mod audit;
mod backup;
mod bad_input;
mod bench;
mod blind_props;
mod canary;
mod cli;
mod crash;
mod demo_corpora;
mod device_keys;
mod devices;
mod erasure;
mod export;
mod forward_privacy;
mod fuzz_corpus;
mod http_limits;
mod http_redis_cluster;
mod http_serve;
mod ids_and_deletes;
mod injection;
mod keyword_encoding;
mod known_answers;
mod leakage_attacks;
mod leakage_laws;
mod leakage_laws_dynamic;
mod newest;
mod oxt;
mod redb_durability;
mod redis_cluster_crash;
mod rotation;
mod sse_bad_input;
mod sse_props;
mod sse_rotation;
mod store_conformance;
mod store_postgres;
mod store_redis_cluster;
