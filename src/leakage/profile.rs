//! Declared leakage, as the analysis uses it: the vocabulary (re-exported
//! from `crate::leakage_terms`), the [`LeakageModel`] each scheme variant
//! implements for the proptest laws (`tests/suite/leakage_laws.rs`,
//! `tests/suite/leakage_laws_dynamic.rs`), the helpers simulators share, and the
//! list of every declared profile.
//!
//! The laws, written once for every scheme:
//!
//! 1. two workloads with equal traces give views whose canonical forms
//!    ([`ServerView::canonical`]) are equal;
//! 2. the simulated view has the shape of the real one.
//!
//! Vocabulary: `papers/leakage-terms.md` and the papers' notes.

use std::fmt;

use rand::RngCore;

use crate::Result;
use crate::leakage::view::{Observed, ServerView, ViewEvent};
pub use crate::leakage_terms::{
    BackwardPrivacy, Leak, LeakValue, Operation, OperationKind, OperationLeakage, Profile, Trace, Workload,
    first_occurrence,
};

/// A scheme variant with its declared leakage, a simulator and a real run:
/// everything the leakage laws need. Implemented per variant (with its
/// parameters, e.g. the block size) in the scheme's `leakage` module.
pub trait LeakageModel: fmt::Debug + Send + Sync {
    /// The declared profile.
    fn profile(&self) -> Profile;

    /// The declared leakage of `workload`, from plaintext only.
    ///
    /// # Errors
    /// [`crate::Error::Config`] if the workload does not fit the scheme
    /// (updates on a static scheme, reserved ids).
    fn leakage(&self, workload: &Workload) -> Result<Trace>;

    /// A view built from `trace` alone (and the variant's public parameters):
    /// fresh random strings where the scheme has pseudorandom ones, equal
    /// where the trace says they are equal.
    ///
    /// # Errors
    /// [`crate::Error::Config`] if `trace` lacks an item the simulator needs.
    fn simulate(&self, trace: &Trace, rng: &mut dyn RngCore) -> Result<ServerView>;

    /// Runs `workload` on the real client and the real server
    /// (`Server` + `MemoryStore` over the `InProcess` transport) with a
    /// memory recorder, under a fresh master key, and returns the view.
    ///
    /// # Errors
    /// Scheme, transport and server errors.
    fn run(&self, workload: &Workload) -> Result<ServerView>;
}

/// Tenant name the `run` methods and simulators use.
pub const TENANT: &str = "leak";

/// Instance name of the SSE index the `run` methods and simulators use.
pub const INSTANCE: &str = "laws";

/// Builds a simulated [`ServerView`] event by event, as the real server
/// would record it for [`TENANT`] (status 200, sequence numbers from 0).
#[derive(Debug, Clone, Default)]
pub struct ViewBuilder {
    events: Vec<ViewEvent>,
}

impl ViewBuilder {
    /// An empty view.
    pub fn new() -> Self {
        ViewBuilder::default()
    }

    /// Appends a successful request of [`TENANT`].
    pub fn push(&mut self, observed: Observed) {
        let seq = self.events.len() as u64;
        self.events.push(ViewEvent { seq, tenant: TENANT.to_owned(), status: 200, observed });
    }

    /// Appends a request that carries no content (`sync`, `get_schema`, ...).
    pub fn other(&mut self, request: &str) {
        self.push(Observed::Other { request: request.to_owned() });
    }

    /// The view built so far.
    pub fn finish(self) -> ServerView {
        ServerView { events: self.events }
    }
}

/// `n` random bytes: a simulated pseudorandom string.
pub fn random_bytes(rng: &mut dyn RngCore, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill_bytes(&mut v);
    v
}

/// A random 16-byte label or key.
pub fn random_label(rng: &mut dyn RngCore) -> [u8; 16] {
    let mut l = [0u8; 16];
    rng.fill_bytes(&mut l);
    l
}

/// Update times as a server derives them from a view: walks the successful
/// events keeping, for every dictionary label, the ordinal (among the
/// successful inserts) of the insert that first stored it, and at each
/// successful SSE search asks `labels_of` which labels the token covers
/// (`None`: not a token of this scheme; `Some(Err(n))`: a malformed token
/// covering `n` leaves). Returns, per such search in order, each covered
/// label's insert ordinal, `None` where no insert holds it.
pub fn update_times_by(
    view: &ServerView,
    labels_of: impl Fn(&crate::protocol::SearchToken) -> Option<std::result::Result<Vec<crate::protocol::Label>, usize>>,
) -> Vec<Vec<Option<u64>>> {
    use crate::leakage::view::Observed;
    use crate::protocol::EntryLocation;
    let mut stored: std::collections::HashMap<crate::protocol::Label, u64> = std::collections::HashMap::new();
    let mut inserts = 0u64;
    let mut out = Vec::new();
    for e in view.events.iter().filter(|e| e.status == 200) {
        match &e.observed {
            Observed::SseInsert { entries, .. } => {
                for entry in entries {
                    if let EntryLocation::Dictionary(l) = entry.location {
                        stored.entry(l).or_insert(inserts);
                    }
                }
                inserts += 1;
            }
            Observed::SseSearch { token, .. } => match labels_of(token) {
                Some(Ok(labels)) => out.push(labels.iter().map(|l| stored.get(l).copied()).collect()),
                Some(Err(n)) => out.push(vec![None; n]),
                None => {}
            },
            _ => {}
        }
    }
    out
}
