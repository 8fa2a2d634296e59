//! Law 3, forward privacy: an update cannot be linked to earlier searches
//! for the same keyword. The check is an attack, run by the server on its
//! own [`ServerView`]; a scheme is forward private on a view when the attack
//! finds no link.
//!
//! **The linker.** The server keeps every search token it saw. At each later
//! update it reruns the old tokens with the real server search
//! ([`crate::sse::server::search`]) on its own state, rebuilt from the view
//! ([`ServerView::replay_store`]), and asks whether the answer now contains
//! something this update wrote: new ids (response-revealing answers) or,
//! for answers of encrypted values, values equal to entries of this update.
//! For blind indexes the update token is the posting token itself, so a
//! link is a posting token equal to a token of an earlier blind search.
//! Nothing else is needed: a scheme whose old tokens reach new entries
//! (Pi_bas made dynamic, blind indexes) leaks the link to anyone holding the
//! view, and one whose tokens do not (Mitra, Diana) gives the replay nothing.
//!
//! **The negative control** is [`LeakyDynamicPibas`]: Pi_bas made dynamic by
//! writing each add at the keyword's next counter, so the real Pi_bas server
//! search, which walks counters until one is missing, finds later adds when
//! an old token is replayed. `tests/suite/forward_privacy.rs` asserts the check
//! fails on it and on blind indexes, and passes on Mitra and Diana.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::Serialize;

use crate::keys::MasterKey;
use crate::keys::keyword::KeywordPrf;
use crate::leakage::view::{Observed, ServerView};
use crate::primitives::prf::{Domain, PADDING_ID, Prf, decode_ids, encode_ids};
use crate::protocol::{BlindQuery, DocId, EncryptedEntry, EntryLocation, SearchResult, SearchToken, SseDescriptor};
use crate::sse::{DynamicScheme, Keyword, SchemeConfig, Update, UpdateOp};
use crate::store::MemoryStore;
use crate::{Error, Result};

/// An update the server linked to an earlier search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    /// Position of the earlier search in the view.
    pub search_seq: u64,
    /// Position of the update in the view.
    pub update_seq: u64,
    /// The SSE instance or blind index both touch.
    pub target: String,
    /// Document ids the replayed search gained from the update, ascending
    /// (empty when the answer is encrypted values: the link is then by value).
    pub ids: Vec<DocId>,
    /// Number of ids or values the replayed search gained from the update.
    pub gained: usize,
}

/// An SSE search the linker keeps replaying.
struct TrackedSse<'a> {
    seq: u64,
    instance: &'a str,
    token: &'a SearchToken,
    /// The answer on the state before the next update.
    answer: SearchResult,
}

/// The tokens of one blind search, as (index, token value).
struct TrackedBlind {
    seq: u64,
    tokens: BTreeSet<(String, u64)>,
}

fn blind_tokens(q: &BlindQuery, out: &mut BTreeSet<(String, u64)>) {
    match q {
        BlindQuery::Token(t) => {
            out.insert((t.index.clone(), t.value));
        }
        BlindQuery::And(v) | BlindQuery::Or(v) => v.iter().for_each(|q| blind_tokens(q, out)),
    }
}

/// Multiset difference `after - before` of byte strings.
fn gained_values<'a>(before: &[Vec<u8>], after: &'a [Vec<u8>]) -> Vec<&'a Vec<u8>> {
    let mut left: HashMap<&[u8], usize> = HashMap::new();
    for v in before {
        *left.entry(v.as_slice()).or_default() += 1;
    }
    let mut out = Vec::new();
    for v in after {
        match left.get_mut(v.as_slice()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(v),
        }
    }
    out
}

/// Multiset difference `after - before` of ids, ascending.
fn gained_ids(before: &[DocId], after: &[DocId]) -> Vec<DocId> {
    let mut left: HashMap<DocId, usize> = HashMap::new();
    for id in before {
        *left.entry(*id).or_default() += 1;
    }
    let mut out: Vec<DocId> = Vec::new();
    for id in after {
        match left.get_mut(id) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(*id),
        }
    }
    out.sort_unstable();
    out
}

/// What a replayed answer gained from one insert: ids (if the answer is
/// ids) and the count of gained ids or of gained values equal to an entry of
/// the insert.
fn gained(before: &SearchResult, after: &SearchResult, entries: &[EncryptedEntry]) -> (Vec<DocId>, usize) {
    match (before, after) {
        (SearchResult::Ids(b), SearchResult::Ids(a)) => {
            let ids = gained_ids(b, a);
            let n = ids.len();
            (ids, n)
        }
        (SearchResult::Values(b), SearchResult::Values(a)) => {
            let written: BTreeSet<&[u8]> = entries.iter().map(|e| e.value.as_slice()).collect();
            let n = gained_values(b, a).into_iter().filter(|v| written.contains(v.as_slice())).count();
            (Vec::new(), n)
        }
        // The answer kind is fixed by the descriptor, so it cannot change
        // between replays; count nothing rather than guess.
        _ => (Vec::new(), 0),
    }
}

/// Replays `token` on the server's state. Diana's server refuses a packed
/// token once a rewrite deleted the blocks it names (a missing block is
/// damage to an honest client); the server can learn nothing more from such
/// a token (later adds go to a new generation's tree), so it answers empty.
fn replay(store: &MemoryStore, tenant: &str, instance: &str, token: &SearchToken) -> Result<SearchResult> {
    match crate::sse::server::search(store, tenant, instance, token) {
        Err(Error::DataCorruption { .. }) if matches!(token, SearchToken::PackedGgm { .. }) => {
            Ok(SearchResult::Ids(Vec::new()))
        }
        r => r,
    }
}

/// Every (earlier search, later update) pair of `tenant` the server can
/// link by replaying the search on its own state, in view order.
///
/// # Errors
/// Store and protocol errors replaying the view (a view the server did not
/// record, e.g. one edited by hand).
pub fn links(view: &ServerView, tenant: &str) -> Result<Vec<Link>> {
    let events: Vec<_> = view.events.iter().filter(|e| e.status == 200 && e.tenant == tenant).collect();
    let first_search = events.iter().find_map(|e| match e.observed {
        Observed::SseSearch { .. } | Observed::BlindSearch { .. } => Some(e.seq),
        _ => None,
    });
    let Some(first_search) = first_search else { return Ok(Vec::new()) };
    // The server's SSE state when the first search arrived; later events
    // are applied one at a time with the server's own functions.
    let store: MemoryStore = view.replay_store(tenant, Some(first_search))?;
    let mut sse: Vec<TrackedSse<'_>> = Vec::new();
    let mut blind: Vec<TrackedBlind> = Vec::new();
    let mut out = Vec::new();
    for e in events.into_iter().filter(|e| e.seq >= first_search) {
        match &e.observed {
            Observed::SseCreate { descriptor } => crate::sse::server::create(&store, tenant, descriptor)?,
            Observed::SseSearch { instance, token, .. } => {
                let answer = replay(&store, tenant, instance, token)?;
                sse.push(TrackedSse { seq: e.seq, instance, token, answer });
            }
            Observed::SseInsert { instance, entries } => {
                crate::sse::server::insert(&store, tenant, instance, entries.clone())?;
                for s in sse.iter_mut().filter(|s| s.instance == instance) {
                    let after = replay(&store, tenant, instance, s.token)?;
                    let (ids, n) = gained(&s.answer, &after, entries);
                    if n > 0 {
                        out.push(Link {
                            search_seq: s.seq,
                            update_seq: e.seq,
                            target: instance.clone(),
                            ids,
                            gained: n,
                        });
                    }
                    s.answer = after;
                }
            }
            Observed::BlindSearch { query, .. } => {
                let mut tokens = BTreeSet::new();
                blind_tokens(query, &mut tokens);
                blind.push(TrackedBlind { seq: e.seq, tokens });
            }
            // A rewrite's deletions: earlier answers shrink, never grow.
            Observed::SseRemove { instance, locations } => {
                let reader = crate::sse::entries::EntryReader::new(&store, tenant, instance);
                let mut batch = crate::store::WriteBatch::new();
                for location in locations {
                    batch.delete(crate::store::Table::Entries, reader.key(location));
                }
                crate::store::Store::write(&store, batch)?;
                for s in sse.iter_mut().filter(|s| s.instance == instance) {
                    s.answer = replay(&store, tenant, instance, s.token)?;
                }
            }
            Observed::InsertBlindPostings { .. } | Observed::Ingest { .. } => {
                for (index, postings) in e.observed.postings_added() {
                    let index = index.to_owned();
                    for s in &blind {
                        let mut ids: Vec<DocId> = postings
                            .iter()
                            .filter(|(t, _)| s.tokens.contains(&(index.clone(), *t)))
                            .flat_map(|(_, ids)| ids.iter().copied())
                            .collect();
                        if ids.is_empty() {
                            continue;
                        }
                        ids.sort_unstable();
                        ids.dedup();
                        let n = ids.len();
                        out.push(Link { search_seq: s.seq, update_seq: e.seq, target: index.clone(), ids, gained: n });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Whether no update of any tenant in `view` links to an earlier search of
/// that tenant: the scheme behaved forward privately on this history.
///
/// # Errors
/// As [`links`].
pub fn forward_private_on(view: &ServerView) -> Result<bool> {
    let tenants: BTreeSet<&str> = view.events.iter().map(|e| e.tenant.as_str()).collect();
    for t in tenants {
        if !links(view, t)?.is_empty() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The links of `view` grouped by search position: for each earlier search,
/// the ids it gained from later updates (used by the injection attack).
///
/// # Errors
/// As [`links`].
pub fn gained_ids_by_search(view: &ServerView, tenant: &str) -> Result<BTreeMap<u64, BTreeSet<DocId>>> {
    let mut out: BTreeMap<u64, BTreeSet<DocId>> = BTreeMap::new();
    for l in links(view, tenant)? {
        out.entry(l.search_seq).or_default().extend(l.ids);
    }
    Ok(out)
}

/// **Deliberately leaky control, not a scheme to use.** Pi_bas made dynamic
/// the naive way: an add of `(w, id)` writes the entry Pi_bas would write
/// for `w`'s next counter `c`, label `F(K1, c)` and value `Enc_K2(c, id)`,
/// into an instance registered as `pibas` (block 1). The search token stays
/// `(K1, K2)` (or `K1`, response-hiding), so the real Pi_bas server search,
/// which walks `c = 0, 1, ...` until a label is missing, also finds every
/// add made after the token was sent: no forward privacy. The forward-privacy
/// law must fail on it, and the adaptive injection attack must succeed.
///
/// Keys and entries are those of [`crate::sse::pibas::PiBas`] (same key
/// label, same label and value encryption), built from the public PRF
/// helpers.
pub struct LeakyDynamicPibas {
    descriptor: SseDescriptor,
    prf: KeywordPrf,
    /// Next counter per keyword (entries written so far).
    counters: HashMap<Keyword, u64>,
}

impl fmt::Debug for LeakyDynamicPibas {
    /// Shows sizes, never keywords.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeakyDynamicPibas")
            .field("descriptor", &self.descriptor)
            .field("keywords", &self.counters.len())
            .finish_non_exhaustive()
    }
}

impl LeakyDynamicPibas {
    /// Derives the keys Pi_bas would use for `config.instance` (the scheme
    /// name and block in `config` are ignored: the instance is `pibas`,
    /// block 1). Counters start at 0 and live in memory only.
    ///
    /// # Errors
    /// Key label errors.
    pub fn open(master: &MasterKey, tenant: &str, config: &SchemeConfig) -> Result<Self> {
        let prf = KeywordPrf::new(master, tenant, "pibas", &config.instance, "keyword", config.key_version)?;
        let descriptor = SseDescriptor {
            instance: config.instance.clone(),
            scheme: "pibas".to_owned(),
            block: 1,
            response_revealing: config.response_revealing,
            key_version: config.key_version,
        };
        Ok(LeakyDynamicPibas { descriptor, prf, counters: HashMap::new() })
    }

    /// Number of adds of `keyword` so far.
    pub fn count(&self, keyword: &[u8]) -> u64 {
        self.counters.get(keyword).copied().unwrap_or(0)
    }
}

impl DynamicScheme for LeakyDynamicPibas {
    fn descriptor(&self) -> &SseDescriptor {
        &self.descriptor
    }

    fn supports_delete(&self) -> bool {
        false
    }

    /// # Errors
    /// [`Error::Config`] for a delete or the reserved padding id.
    fn update(&mut self, updates: &[Update]) -> Result<Vec<EncryptedEntry>> {
        if updates.iter().any(|u| u.op == UpdateOp::Delete) {
            return Err(Error::Config("the leaky dynamic Pi_bas control is add-only".into()));
        }
        if updates.iter().any(|u| u.id == PADDING_ID) {
            return Err(Error::Config(format!("document id {PADDING_ID} is reserved for padding")));
        }
        let mut counters = self.counters.clone();
        let mut entries = Vec::with_capacity(updates.len());
        for u in updates {
            let c = counters.entry(u.keyword.clone()).or_insert(0);
            let keys = self.prf.keys(&u.keyword);
            // As Pi_bas with block 1 (`PiBas::entries_of`, private there).
            let mut value = encode_ids(&[u.id], 1);
            Prf::new(&keys.second).apply_keystream(Domain::Value, *c, &mut value);
            let label = Prf::new(&keys.first).label(*c);
            entries.push(EncryptedEntry { location: EntryLocation::Dictionary(label), value });
            *c += 1;
        }
        self.counters = counters;
        Ok(entries)
    }

    fn token(&self, keyword: &[u8]) -> Option<SearchToken> {
        if self.count(keyword) == 0 {
            return None;
        }
        let keys = self.prf.keys(keyword);
        Some(SearchToken::Dictionary {
            label_key: keys.first,
            value_key: self.descriptor.response_revealing.then_some(keys.second),
        })
    }

    fn resolve(&mut self, keyword: &[u8], result: SearchResult) -> Result<Vec<DocId>> {
        let mut ids = match result {
            SearchResult::Ids(ids) => ids,
            SearchResult::Values(values) => {
                let value = Prf::new(&self.prf.keys(keyword).second);
                let mut ids = Vec::with_capacity(values.len());
                for (c, mut v) in values.into_iter().enumerate() {
                    value.apply_keystream(Domain::Value, c as u64, &mut v);
                    decode_ids(&v, &mut ids)?;
                }
                ids
            }
        };
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    fn save_state(&self) -> Result<()> {
        Ok(())
    }

    fn seal_state(&self, _version: u64) -> Result<Vec<u8>> {
        Err(Error::Config("the leaky control keeps its state in memory only".into()))
    }

    fn open_state(&mut self, _version: u64, _sealed: &[u8]) -> Result<()> {
        Err(Error::Config("the leaky control keeps its state in memory only".into()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::leakage::view::Recorder;
    use crate::server::InProcess;
    use crate::server::Server;
    use crate::sse::{self, SchemeClient, SseIndex};

    fn add(w: &str, id: DocId) -> Update {
        Update { op: UpdateOp::Add, keyword: sse::keyword("body", &[w]), id }
    }

    fn leaky(rr: bool) -> (Recorder, SseIndex<InProcess<MemoryStore>>) {
        let recorder = Recorder::memory();
        let server = Arc::new(Server::new(MemoryStore::new()).with_observer(recorder.observer()));
        let mut cfg = SchemeConfig::new("pibas", "leaky");
        cfg.response_revealing = rr;
        let scheme = LeakyDynamicPibas::open(&MasterKey::generate().unwrap(), "t", &cfg).unwrap();
        let index = SseIndex::create(InProcess::new(server, "t"), SchemeClient::Dynamic(Box::new(scheme))).unwrap();
        (recorder, index)
    }

    #[test]
    fn leaky_pibas_finds_its_adds_and_links_them_to_earlier_searches() {
        for rr in [true, false] {
            let (recorder, mut index) = leaky(rr);
            index.update(&[add("a", 3), add("b", 4), add("a", 5)]).unwrap();
            assert_eq!(index.search_keyword(&sse::keyword("body", &["a"])).unwrap(), vec![3, 5]);
            index.update(&[add("b", 9)]).unwrap();
            index.update(&[add("a", 7)]).unwrap();
            assert_eq!(index.search_keyword(&sse::keyword("body", &["a"])).unwrap(), vec![3, 5, 7]);
            let view = recorder.view();
            let found = links(&view, "t").unwrap();
            // Only the add of "a" after the first search of "a" links; the add of "b" does not.
            assert_eq!(found.len(), 1, "rr {rr}: {found:?}");
            assert_eq!(found[0].gained, 1);
            assert_eq!(found[0].ids, if rr { vec![7] } else { Vec::new() });
            assert!(!forward_private_on(&view).unwrap());
        }
    }

    #[test]
    fn mitra_and_diana_updates_do_not_link() {
        for scheme in ["mitra", "diana"] {
            let recorder = Recorder::memory();
            let server = Arc::new(Server::new(MemoryStore::new()).with_observer(recorder.observer()));
            let client =
                sse::open_client(&MasterKey::generate().unwrap(), "t", &SchemeConfig::new(scheme, "d")).unwrap();
            let mut index = SseIndex::create(InProcess::new(server, "t"), client).unwrap();
            index.update(&[add("a", 3)]).unwrap();
            index.search_keyword(&sse::keyword("body", &["a"])).unwrap();
            index.update(&[add("a", 7)]).unwrap();
            assert_eq!(index.search_keyword(&sse::keyword("body", &["a"])).unwrap(), vec![3, 7]);
            assert!(links(&recorder.view(), "t").unwrap().is_empty(), "{scheme}");
            assert!(forward_private_on(&recorder.view()).unwrap());
        }
    }
}
