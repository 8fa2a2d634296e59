//! Declared leakage of blind indexes, at rest and queried.
//!
//! A workload's keywords must be `body` keywords (`sse::keyword("body",
//! &[word])`); document `i` is a message whose body is its words, for every
//! id from 0 to the largest id of the database (ids without keywords get an
//! empty body, because the client assigns dense ids).
//!
//! - At rest (`L_setup`, a database thief with no queries): the number of
//!   documents and their ciphertext sizes, and every token's posting list:
//!   the multiset of `DB(w)`, hence all frequencies and co-occurrences. This
//!   is exact for 64-bit tokens; with `t`-bit tokens the lists of colliding
//!   keywords are merged, which depends on the key, so it is a function of
//!   the plaintext only as a distribution (the laws use 64 bits, and the
//!   2-bit index is a negative control, `crate::leakage::controls`).
//! - Per query (`L_search`): the search pattern, the candidate set (`DB(w)`
//!   at 64 bits) and the volume (ids and ciphertext sizes returned).
//!
//! The leakage function, the simulator and the recorded run that the laws
//! check this declaration against are in the evaluation layer
//! (`crate::leakage::models::blind`).

use crate::leakage_terms::{Leak, Profile};

/// A blind index at rest (a database thief, no queries).
pub const AT_REST: Profile = Profile {
    scheme: "blind-at-rest",
    setup: &[Leak::DocumentCount, Leak::DocumentSizes, Leak::FrequenciesAtRest, Leak::CoOccurrenceAtRest],
    search: &[],
    update: &[],
    forward_private: false,
    backward: None,
    notes: "every token's posting list: frequencies and co-occurrences up to truncation collisions",
};

/// A blind index queried by its owner.
pub const QUERIED: Profile = Profile {
    scheme: "blind",
    setup: &[Leak::DocumentCount, Leak::DocumentSizes, Leak::FrequenciesAtRest, Leak::CoOccurrenceAtRest],
    search: &[Leak::SearchPattern, Leak::CandidateSet, Leak::Volume],
    update: &[],
    forward_private: false,
    backward: None,
    notes: "at-rest leakage plus, per query, the token (search pattern), the candidate ids and their sizes",
};
