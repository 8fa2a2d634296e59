//! Mitra's declared leakage ([`PROFILE`], and [`PAPER_PROFILE`] without consolidation), its value on a plaintext
//! `Workload` (`leakage`), a simulator that builds a server view from
//! that value alone (`simulate`) and a recorded run of the real scheme
//! (`MitraModel`'s `LeakageModel::run`). The laws that tie them together
//! are in `tests/suite/leakage_laws_dynamic.rs`; the note is `papers/mitra.md`.
//!
//! **What the view shows** (see `src/sse/mitra/`): an update batch is one
//! insert of fresh pseudorandom 16-byte addresses with 5-byte values, sorted
//! by address; a search for `w` sends the addresses of all updates of `w` so
//! far, in counter order, and gets their values back. A search for a keyword
//! with no update sends nothing. Hence:
//!
//! - `L_setup` = `N`, the number of pairs (one entry each);
//! - `L_update` = the batch size (adds and deletes look alike);
//! - `L_search(w)` = the search pattern and the batch of every update on `w`
//!   so far, in counter order (the `Updates(w)` part of Type-II backward
//!   privacy). No ids and no operation types: values stay encrypted.
//!
//! **Timestamps** are batch ordinals: the setup (if it has pairs) is batch 0,
//! then every non-empty update batch in order. A batch larger than
//! `crate::sse::ENTRY_CHUNK` travels in several requests; the trace does
//! not say which request holds which update (for the setup the client
//! shuffles, so it is random), and the simulator picks one at random, so the
//! laws are exact only for batches up to that size.
//!
//! The leakage function, the simulator and the recorded run that the laws
//! check this declaration against are in the evaluation layer
//! (`crate::leakage::models::mitra`).

use crate::leakage_terms::{BackwardPrivacy, Leak, Profile};

/// Mitra's declared leakage as built by default, with consolidation
/// (`SchemeConfig::consolidate_after`): a setup writes each keyword as
/// packed blocks of 64 ids, so it shows the number of blocks rather than of
/// pairs; a search that rewrites its keyword shows the new block count, its
/// result length rounded up to 64 (`|DB(w)|` is part of Type II anyway).
pub const PROFILE: Profile = Profile {
    scheme: "mitra",
    setup: &[Leak::EntryCount],
    search: &[Leak::SearchPattern, Leak::BackwardPrivacy(BackwardPrivacy::TypeII), Leak::PaddedResultLength],
    update: &[Leak::UpdateSize],
    forward_private: true,
    backward: Some(BackwardPrivacy::TypeII),
    notes: "update entries are 16-byte addresses with 5-byte values, adds and deletes alike; Type II here is \
            Updates(w): the batch of every add and delete on w since its blocks were written, not told apart, and \
            the blocks; a search that consolidates shows ceil(|DB(w)|/64) new 257-byte blocks and deletes the \
            entries it named; no ids reach the server in the protocol (response-hiding)",
};

/// Mitra as in the paper (`consolidate_after: None`): one entry per update, forever.
pub const PAPER_PROFILE: Profile = Profile {
    scheme: "mitra-paper",
    setup: &[Leak::TotalSize],
    search: &[Leak::SearchPattern, Leak::BackwardPrivacy(BackwardPrivacy::TypeII)],
    update: &[Leak::UpdateSize],
    forward_private: true,
    backward: Some(BackwardPrivacy::TypeII),
    notes: "entries are 16-byte addresses with 5-byte values, adds and deletes alike; Type II here is Updates(w): \
            the batch of every add and delete on w, not told apart; no ids reach the server in the protocol \
            (response-hiding), only through later document fetches",
};
