//! Leakage models of every scheme variant: the leakage function (a trace
//! from a plaintext workload alone), a simulator (a server view from the
//! trace alone) and a recorded run of the real client and server, bundled as
//! [`crate::leakage::profile::LeakageModel`] for the proptest laws.
//!
//! The declared profiles these models implement live with their schemes
//! (`src/sse/*/leakage.rs`, `src/blind/leakage.rs`); this is the machinery
//! that checks them, so it sits in the evaluation layer.

pub mod blind;
pub mod diana;
pub mod mitra;
pub mod pibas;
pub mod twolev;
