//! Declared leakage of 2Lev, response-revealing (RR) and response-hiding
//! (RH), with optional result-length padding for RH.
//!
//! - `L_setup`: the number `K` of dictionary entries (keywords with a
//!   non-empty list) and the number `M` of array blocks (id blocks plus
//!   pointer blocks of every medium and large list). Dictionary values have
//!   `1 + 4 b'` bytes and array blocks `4 b`, so sizes add nothing.
//! - `L_search` (RR): the search pattern and the access pattern `DB(w)`.
//! - `L_search` (RH): the search pattern and the padded result length: 0 for
//!   an absent keyword, `b'` for a small list (its ids sit in the dictionary,
//!   one value comes back), `ceil(pad(n)/b) * b` otherwise (one value per id
//!   block).
//!
//! What the view does not record: which dictionary entry and array cells a
//! search reads (the server derives them from the token); see
//! `src/leakage_terms/view.rs`. The RH answer values are re-encrypted blocks
//! prefixed by their position, so they are not linked to setup values either.
//!
//! The leakage function, the simulator and the recorded run that the laws
//! check this declaration against are in the evaluation layer
//! (`crate::leakage::models::twolev`).

use crate::leakage_terms::{Leak, Profile};

/// 2Lev, response-revealing.
pub const TWOLEV: Profile = Profile {
    scheme: "2lev",
    setup: &[Leak::EntryCount],
    search: &[Leak::SearchPattern, Leak::AccessPattern],
    update: &[],
    forward_private: false,
    backward: None,
    notes: "K dictionary entries and M array blocks; a search reveals its ids",
};

/// 2Lev, response-hiding, lists optionally padded (dummy ids) before setup.
pub const TWOLEV_RH: Profile = Profile {
    scheme: "2lev-rh",
    setup: &[Leak::EntryCount],
    search: &[Leak::SearchPattern, Leak::PaddedResultLength],
    update: &[],
    forward_private: false,
    backward: None,
    notes: "K dictionary entries and M array blocks; a search reveals its size class and id blocks",
};
