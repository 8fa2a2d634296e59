//! Negative controls for the leakage laws: deliberately leaky variants whose
//! declared leakage (profile, leakage function, simulator) is that of an
//! honest scheme while their real run leaks more. The laws must catch every
//! one of them (`tests/suite/leakage_laws.rs` asserts that proptest finds a
//! counterexample); a law that passes them would check nothing.
//!
//! - [`whole_list_pibas`]: a Pi_bas whose labels do not depend on the
//!   counter, so each keyword's whole list sits in one entry whose value size
//!   reveals the list length at setup. Declared: Pi_bas (only `N`).
//! - [`padding_off`]: a padded response-hiding scheme (Pi_pack RH or 2Lev RH)
//!   with its padding switched off. Declared: the padded result lengths.
//! - [`short_tokens`]: a blind index with 2-bit tokens, declared as one with
//!   64-bit tokens: collisions merge posting lists in a key-dependent way.
//!
//! Every server half is the real one ([`crate::server::Server`] over a
//! [`crate::store::MemoryStore`] and the in-process transport, with a
//! recorder); only the client differs.

use rand::RngCore;

use crate::keys::MasterKey;
use crate::keys::keyword::KeywordPrf;
use crate::leakage::countermeasure::Padding;
use crate::leakage::models::blind::BlindModel;
use crate::leakage::models::pibas::{PiBasModel, run_static};
use crate::leakage::models::twolev::TwoLevModel;
use crate::leakage::profile::{INSTANCE, LeakageModel, Profile, TENANT, Trace, Workload};
use crate::leakage::view::ServerView;
use crate::primitives::prf::{Domain, Prf, decode_ids, encode_ids};
use crate::protocol::{DocId, EncryptedEntry, EntryLocation, SearchResult, SearchToken, SseDescriptor};
use crate::sse::{MultiMap, SchemeClient, StaticScheme};
use crate::{Error, Result};

/// A variant that declares `declared`'s leakage but runs `actual`.
#[derive(Debug, Clone)]
pub struct Mislabelled<D, A> {
    /// The model whose profile, leakage function and simulator are claimed.
    pub declared: D,
    /// The model that actually runs.
    pub actual: A,
}

impl<D: LeakageModel, A: LeakageModel> LeakageModel for Mislabelled<D, A> {
    fn profile(&self) -> Profile {
        self.declared.profile()
    }

    fn leakage(&self, workload: &Workload) -> Result<Trace> {
        self.declared.leakage(workload)
    }

    fn simulate(&self, trace: &Trace, rng: &mut dyn RngCore) -> Result<ServerView> {
        self.declared.simulate(trace, rng)
    }

    fn run(&self, workload: &Workload) -> Result<ServerView> {
        self.actual.run(workload)
    }
}

/// Pi_pack RH with block `block`, declared padded to multiples of `k`, run unpadded.
pub fn padding_off(block: u16, k: u32) -> Mislabelled<PiBasModel, PiBasModel> {
    Mislabelled {
        declared: PiBasModel::pack_rh(block, Padding::Multiple(k)),
        actual: PiBasModel::pack_rh(block, Padding::None),
    }
}

/// 2Lev RH with block `block`, declared padded to multiples of `k`, run unpadded.
pub fn twolev_padding_off(block: u16, k: u32) -> Mislabelled<TwoLevModel, TwoLevModel> {
    Mislabelled {
        declared: TwoLevModel::rh(block, Padding::Multiple(k)),
        actual: TwoLevModel::rh(block, Padding::None),
    }
}

/// A queried blind index declared with 64-bit tokens, run with 2-bit tokens.
pub fn short_tokens() -> Mislabelled<BlindModel, BlindModel> {
    Mislabelled { declared: BlindModel::queried(), actual: BlindModel { bits: 2, queried: true } }
}

/// A Pi_bas declared as Pi_bas, run with counter-free labels.
pub fn whole_list_pibas() -> Mislabelled<PiBasModel, WholeListPiBas> {
    Mislabelled { declared: PiBasModel::pibas(), actual: WholeListPiBas }
}

/// The leaky Pi_bas: one entry per keyword, under the counter-free label
/// `F(K1, 0)`, holding the whole list. The real Pi_pack server answers it
/// (it walks counters from 0 and stops at the first missing label), so the
/// search is unchanged and only the setup leaks more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WholeListPiBas;

#[derive(Debug)]
struct WholeListClient {
    descriptor: SseDescriptor,
    prf: KeywordPrf,
}

impl StaticScheme for WholeListClient {
    fn descriptor(&self) -> &SseDescriptor {
        &self.descriptor
    }

    fn setup(&self, db: &MultiMap, sink: &mut dyn FnMut(Vec<EncryptedEntry>) -> Result<()>) -> Result<()> {
        let entries = db
            .iter()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(k, ids)| {
                let keys = self.prf.keys(k);
                let mut value = encode_ids(ids, ids.len());
                Prf::new(&keys.second).apply_keystream(Domain::Value, 0, &mut value);
                EncryptedEntry { location: EntryLocation::Dictionary(Prf::new(&keys.first).label(0)), value }
            })
            .collect();
        sink(entries)
    }

    fn token(&self, keyword: &[u8]) -> SearchToken {
        let keys = self.prf.keys(keyword);
        SearchToken::Dictionary { label_key: keys.first, value_key: Some(keys.second) }
    }

    fn resolve(&self, _keyword: &[u8], result: SearchResult) -> Result<Vec<DocId>> {
        match result {
            SearchResult::Ids(ids) => Ok(ids),
            SearchResult::Values(values) => {
                let mut ids = Vec::new();
                for v in values {
                    decode_ids(&v, &mut ids)?;
                }
                Ok(ids)
            }
        }
    }
}

impl LeakageModel for WholeListPiBas {
    fn profile(&self) -> Profile {
        crate::leakage::models::pibas::PIBAS
    }

    fn leakage(&self, workload: &Workload) -> Result<Trace> {
        PiBasModel::pibas().leakage(workload)
    }

    fn simulate(&self, trace: &Trace, rng: &mut dyn RngCore) -> Result<ServerView> {
        PiBasModel::pibas().simulate(trace, rng)
    }

    fn run(&self, workload: &Workload) -> Result<ServerView> {
        if workload.has_updates() {
            return Err(Error::Config("static scheme: no updates".into()));
        }
        let master = MasterKey::generate()?;
        let client = WholeListClient {
            descriptor: SseDescriptor {
                instance: INSTANCE.to_owned(),
                // The real Pi_bas server half, as the honest scheme.
                scheme: "pibas".to_owned(),
                block: 1,
                response_revealing: true,
                key_version: 1,
            },
            prf: KeywordPrf::new(&master, TENANT, "pibas", INSTANCE, "keyword", 1)?,
        };
        let searches: Vec<&[u8]> = workload.searches().map(Vec::as_slice).collect();
        run_static(SchemeClient::Static(Box::new(client)), &workload.db, &searches)
    }
}
