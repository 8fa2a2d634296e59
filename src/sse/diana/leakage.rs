//! Diana's declared leakage ([`PROFILE`], and [`PAPER_PROFILE`] without
//! consolidation), its value on a plaintext
//! `Workload` (`leakage`), a simulator that builds a server view from
//! that value alone (`simulate`) and a recorded run of the real scheme
//! (`DianaModel`). The laws are in `tests/suite/leakage_laws_dynamic.rs`; the
//! note is `papers/diana.md`.
//!
//! **What the view shows** (see `src/sse/diana/`): an add batch is one
//! insert of fresh pseudorandom 16-byte labels with 4-byte values; a search
//! for `w` with `c_w > 0` adds sends the GGM nodes covering leaves `0..c_w`
//! (their depths and indexes are a function of `c_w`), `c_w` itself in the
//! clear, and the per-keyword hash key; the server answers with the ids of
//! all adds of `w` in counter order. A keyword with no add sends nothing.
//! Hence:
//!
//! - `L_setup` = `N`; `L_update` = the batch size;
//! - `L_search(w)` = the search pattern (the hash key and shared node seeds
//!   repeat), the access pattern as the server sees it (every add's id in
//!   counter order, repeats included) and the batch of every add of `w`:
//!   the server expands the token, recomputes each add's label and finds it
//!   among the stored entries (`update_times`). On an add-only scheme this
//!   is exactly `TimeDB(w)`, the Type-I item, which is how the trace names it.
//!
//! The setup sends its adds in a random order, so the ids of the setup's adds
//! of `w` reach the server in random order: the trace lists them ascending
//! and `normalize_setup_order` sorts them in a recorded view the same way
//! (the attacker can do this: it finds which leaves are setup entries).
//!
//! The canonical view records the token, not the labels the server derives
//! from it, so the simulator's random node seeds need not expand to the
//! labels it inserted (a proof would program a random oracle there); the
//! derived times are checked separately, on real views, by law 1.
//!
//! Timestamps are batch ordinals as for Mitra
//! (`crate::sse::mitra::leakage`), with the same caveat for batches larger
//! than `crate::sse::ENTRY_CHUNK`.
//!
//! **Consolidation** (`SchemeConfig::consolidate_after`, on by default):
//! a setup writes each keyword as packed blocks of 64 ids (257 bytes each),
//! so it shows the number of blocks, not of pairs; a search names the
//! keyword's blocks (the token carries their label and value keys and
//! their count) and the adds since; a search after which the keyword is
//! rewritten is followed by an insert of `ceil(|DB(w)|/64)` new blocks and
//! the removal of every entry the search named. The server opens the blocks
//! itself, so the ids it learns are those of the access pattern as before:
//! the block ids ascending, then the adds since in counter order.
//!
//! The leakage function, the simulator and the recorded run that the laws
//! check this declaration against are in the evaluation layer
//! (`crate::leakage::models::diana`).

use crate::leakage_terms::{BackwardPrivacy, Leak, Profile};

/// Diana's declared leakage as built by default, with consolidation
/// (`SchemeConfig::consolidate_after`): a setup writes each keyword as
/// packed blocks of 64 ids, so it shows the number of blocks rather than of
/// pairs; a search that rewrites its keyword shows the new block count,
/// `ceil(|DB(w)|/64)`, which the access pattern already implies.
pub const PROFILE: Profile = Profile {
    scheme: "diana",
    setup: &[Leak::EntryCount],
    search: &[
        Leak::SearchPattern,
        Leak::AccessPattern,
        Leak::BackwardPrivacy(BackwardPrivacy::TypeI),
        Leak::PaddedResultLength,
    ],
    update: &[Leak::UpdateSize],
    forward_private: true,
    backward: None,
    notes: "add-only; add entries are 16-byte labels with 4-byte values, packed blocks 257 bytes of 64 ids; the \
            access pattern is the ids of the keyword's blocks (ascending) then of its adds since, in counter order \
            (repeats included); the Type-I item is the batch of every block and add the token names, which the \
            server finds by deriving the block labels and expanding the token; a search that consolidates shows \
            ceil(|DB(w)|/64) new blocks and deletes the entries it named; the token carries the block and add \
            counts in the clear",
};

/// Diana as in the paper (`consolidate_after: None`): one entry per add, forever.
pub const PAPER_PROFILE: Profile = Profile {
    scheme: "diana-paper",
    setup: &[Leak::TotalSize],
    search: &[Leak::SearchPattern, Leak::AccessPattern, Leak::BackwardPrivacy(BackwardPrivacy::TypeI)],
    update: &[Leak::UpdateSize],
    forward_private: true,
    backward: None,
    notes: "add-only; entries are 16-byte labels with 4-byte values; the access pattern is every add's id in \
            counter order (repeats included, the setup's in random order) and the Type-I item is TimeDB(w), the \
            batch of every add of w, which the server finds by expanding the token; the token also carries the add \
            count in the clear",
};
