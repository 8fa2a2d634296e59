//! Declared leakage of Pi_bas and Pi_pack, response-revealing (RR) and
//! response-hiding (RH), with optional result-length padding for RH.
//!
//! - `L_setup`: the number of entries, `sum_w ceil(pad(n_w) / B)` (for
//!   Pi_bas, `B = 1` and no padding, that is `N`); every entry is a 16-byte
//!   label and a `4 B`-byte value, so sizes add nothing.
//! - `L_search` (RR): the search pattern and the access pattern `DB(w)`.
//! - `L_search` (RH): the search pattern and the padded result length
//!   `ceil(pad(n_w) / B) * B` (the number of entries returned, times `B`);
//!   the entries returned are the stored ones, so the server also links a
//!   search to its setup entries, which the simulator reproduces.
//!
//! The simulator `PiBasModel::simulate` rebuilds the view from the trace
//! alone: random labels and values of the right sizes for the setup, fresh
//! random keys per search-pattern class, the access pattern as given (RR) or
//! as many not-yet-used setup values as the padded length says (RH). Its view
//! equals the real one after canonical renaming (law 2, exact form).
//!
//! The leakage function, the simulator and the recorded run that the laws
//! check this declaration against are in the evaluation layer
//! (`crate::leakage::models::pibas`).

use crate::leakage_terms::{Leak, Profile};

/// Pi_bas, response-revealing.
pub const PIBAS: Profile = Profile {
    scheme: "pibas",
    setup: &[Leak::TotalSize],
    search: &[Leak::SearchPattern, Leak::AccessPattern],
    update: &[],
    forward_private: false,
    backward: None,
    notes: "N equal-size entries; a search reveals its ids",
};

/// Pi_pack with block B, response-revealing.
pub const PACK: Profile = Profile {
    scheme: "pack",
    setup: &[Leak::EntryCount],
    search: &[Leak::SearchPattern, Leak::AccessPattern],
    update: &[],
    forward_private: false,
    backward: None,
    notes: "sum_w ceil(n_w / B) equal-size entries; a search reveals its ids",
};

/// Pi_pack with block B, response-hiding, lists optionally padded (dummy
/// ids) before setup.
pub const PACK_RH: Profile = Profile {
    scheme: "pack-rh",
    setup: &[Leak::EntryCount],
    search: &[Leak::SearchPattern, Leak::PaddedResultLength],
    update: &[],
    forward_private: false,
    backward: None,
    notes: "sum_w ceil(pad(n_w) / B) entries; a search returns ceil(pad(n_w) / B) stored entries",
};
