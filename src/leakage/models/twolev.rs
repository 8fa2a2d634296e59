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

pub use crate::sse::twolev::leakage::{TWOLEV, TWOLEV_RH};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use rand::RngCore;
use rand::seq::SliceRandom;

use crate::keys::MasterKey;
use crate::leakage::countermeasure::Padding;
use crate::leakage::models::pibas::{class_of, count_of, padded_db, push_inserts, run_static, search_classes};
use crate::leakage::profile::{
    INSTANCE, Leak, LeakValue, LeakageModel, OperationKind, OperationLeakage, Profile, TENANT, Trace, ViewBuilder,
    Workload, random_bytes, random_label,
};
use crate::leakage::view::{Observed, ServerView};
use crate::protocol::{EncryptedEntry, EntryLocation, SearchResult, SearchToken, SseDescriptor};
use crate::sse::registry::Scheme;
use crate::sse::twolev::server::{DICT_SLOTS, DICT_VALUE_LEN};
use crate::sse::{self, SchemeConfig};
use crate::{Error, Result};

/// A simulated search-pattern class: its three keys and its RH answer.
type ClassToken = ([[u8; 16]; 3], Vec<Vec<u8>>);

/// A 2Lev variant with its public parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwoLevModel {
    /// `b`, ids per array block.
    pub block: u16,
    /// Response-revealing or response-hiding.
    pub response_revealing: bool,
    /// Result-length padding applied before setup (RH only).
    pub padding: Padding,
}

impl TwoLevModel {
    /// 2Lev RR with `b = block`.
    pub fn rr(block: u16) -> Self {
        TwoLevModel { block, response_revealing: true, padding: Padding::None }
    }

    /// 2Lev RH with `b = block`, lists padded by `padding`.
    pub fn rh(block: u16, padding: Padding) -> Self {
        TwoLevModel { block, response_revealing: false, padding }
    }

    fn check(&self, workload: &Workload) -> Result<()> {
        if workload.has_updates() {
            return Err(Error::Config("2Lev is static: no updates".into()));
        }
        if self.response_revealing && self.padding != Padding::None {
            return Err(Error::Config("padding with dummy ids needs the response-hiding variant".into()));
        }
        Ok(())
    }

    /// (id blocks, pointer blocks) of a list of `n` ids after padding, as the client lays it out.
    fn shape(&self, n: usize) -> (usize, usize) {
        let (n, b) = (self.padding.padded_len(n), usize::from(self.block));
        if n <= DICT_SLOTS {
            return (0, 0);
        }
        let id_blocks = n.div_ceil(b);
        if id_blocks <= DICT_SLOTS { (id_blocks, 0) } else { (id_blocks, id_blocks.div_ceil(b)) }
    }

    /// What an RH search returns for a list of `n` ids, in ids: see the module docs.
    fn padded_result(&self, n: usize) -> usize {
        match self.shape(n) {
            _ if n == 0 => 0,
            (0, _) => DICT_SLOTS,
            (id_blocks, _) => id_blocks * usize::from(self.block),
        }
    }

    fn descriptor(&self) -> SseDescriptor {
        SseDescriptor {
            instance: INSTANCE.to_owned(),
            scheme: Scheme::TwoLev.name().to_owned(),
            block: self.block,
            response_revealing: self.response_revealing,
            key_version: 1,
        }
    }
}

impl LeakageModel for TwoLevModel {
    fn profile(&self) -> Profile {
        if self.response_revealing { TWOLEV } else { TWOLEV_RH }
    }

    fn leakage(&self, workload: &Workload) -> Result<Trace> {
        self.check(workload)?;
        let mut trace = Trace::new(self.profile().scheme);
        let lists = workload.db.values().filter(|ids| !ids.is_empty());
        let (k, m) = lists.fold((0u64, 0u64), |(k, m), ids| {
            let (i, p) = self.shape(ids.len());
            (k + 1, m + (i + p) as u64)
        });
        trace.setup.push((Leak::EntryCount, LeakValue::Tuple(vec![LeakValue::Count(k), LeakValue::Count(m)])));
        for (class, keyword) in search_classes(workload) {
            let ids = workload.db.get(keyword).cloned().unwrap_or_default();
            let second = if self.response_revealing {
                (Leak::AccessPattern, LeakValue::Ids(ids))
            } else {
                (Leak::PaddedResultLength, LeakValue::Count(self.padded_result(ids.len()) as u64))
            };
            trace.operations.push(OperationLeakage {
                kind: OperationKind::Search,
                values: vec![(Leak::SearchPattern, LeakValue::Pattern(class)), second],
            });
        }
        Ok(trace)
    }

    fn simulate(&self, trace: &Trace, rng: &mut dyn RngCore) -> Result<ServerView> {
        let (k, m) = match trace.setup_value(Leak::EntryCount) {
            Some(LeakValue::Tuple(v)) if v.len() == 2 => {
                (count_of(v.first(), "dictionary entries")?, count_of(v.get(1), "array blocks")?)
            }
            _ => return Err(Error::Config("trace: no 2Lev entry counts".into())),
        };
        let b = usize::from(self.block);
        let mut view = ViewBuilder::new();
        view.other("sse_describe");
        view.push(Observed::SseCreate { descriptor: self.descriptor() });
        let positions = u32::try_from(m).map_err(|_| Error::Config("trace: too many array blocks".into()))?;
        let mut order: Vec<u32> = (0..positions).collect();
        order.shuffle(rng);
        // Array positions are a permutation of 0..M: sent in position order.
        order.sort_unstable();
        let array: Vec<EncryptedEntry> = order
            .into_iter()
            .map(|p| EncryptedEntry { location: EntryLocation::Array(p), value: random_bytes(rng, 4 * b) })
            .collect();
        push_inserts(&mut view, array);
        let mut dictionary: Vec<EncryptedEntry> = (0..k)
            .map(|_| EncryptedEntry {
                location: EntryLocation::Dictionary(random_label(rng)),
                value: random_bytes(rng, DICT_VALUE_LEN),
            })
            .collect();
        dictionary.sort_unstable_by_key(|e| e.location);
        push_inserts(&mut view, dictionary);
        view.other("sync");
        let mut tokens: HashMap<u32, ClassToken> = HashMap::new();
        for op in &trace.operations {
            let class = class_of(op)?;
            if let Entry::Vacant(slot) = tokens.entry(class) {
                let values = if self.response_revealing {
                    Vec::new()
                } else {
                    match count_of(op.get(Leak::PaddedResultLength), "the padded result length")? {
                        0 => Vec::new(),
                        DICT_SLOTS => vec![random_bytes(rng, 4 + 4 * DICT_SLOTS)],
                        len => (0..len / b).map(|_| random_bytes(rng, 4 + 4 * b)).collect(),
                    }
                };
                slot.insert(([random_label(rng), random_label(rng), random_label(rng)], values));
            }
            let ([label_key, pointer_key, leaf_key], values) = &tokens[&class];
            let result = if self.response_revealing {
                match op.get(Leak::AccessPattern) {
                    Some(LeakValue::Ids(ids)) => SearchResult::Ids(ids.clone()),
                    _ => return Err(Error::Config("trace: a search without its access pattern".into())),
                }
            } else {
                SearchResult::Values(values.clone())
            };
            let token = SearchToken::TwoLevel {
                label_key: *label_key,
                pointer_key: *pointer_key,
                leaf_key: self.response_revealing.then_some(*leaf_key),
            };
            view.push(Observed::SseSearch { instance: INSTANCE.to_owned(), token, result });
        }
        Ok(view.finish())
    }

    fn run(&self, workload: &Workload) -> Result<ServerView> {
        self.check(workload)?;
        let mut config = SchemeConfig::new("2lev", INSTANCE);
        config.block = Some(self.block);
        config.response_revealing = self.response_revealing;
        let scheme = sse::open_client(&MasterKey::generate()?, TENANT, &config)?;
        let searches: Vec<&[u8]> = workload.searches().map(Vec::as_slice).collect();
        run_static(scheme, &padded_db(&workload.db, self.padding)?, &searches)
    }
}
