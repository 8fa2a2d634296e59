//! File injection (Zhang, Katz, Papamanthou, "All Your Queries Are Belong
//! to Us: The Power of File-Injection Attacks on Searchable Encryption",
//! USENIX Security 2016), binary-search variant. Note: `papers/injection.md`.
//!
//! The attacker can make the victim index documents it wrote: in a
//! messaging app, anyone can send the victim a message. It injects
//! `ceil(log2(K + 1))` messages for `K` candidate keywords: message `j`
//! holds every candidate whose code (its index plus one) has bit `j` set.
//! A query for candidate `k` then matches exactly the messages of the bits
//! of `k + 1`, and reading which injected messages a query matches spells
//! out `k`. Code 0 is not used, so a query that matches no injected message
//! is not a candidate and gets no guess.
//!
//! Two ways to see which injected messages a query matches:
//! - [`recover`], **adaptive** (inject after the queries): the server links
//!   each injected message's update to the earlier search tokens by
//!   replaying them ([`crate::leakage::forward::links`]). This is what
//!   forward privacy forbids: against Mitra and Diana it finds nothing.
//! - [`recover_non_adaptive`] (inject before the queries): the injected ids
//!   appear in the query's access pattern. Forward privacy does not stop
//!   this; any scheme that leaks the access pattern (all of ours, once the
//!   client fetches what it found) falls to it.
//!
//! With a per-message keyword limit `T` (the countermeasure the paper
//! studies), [`plan`] splits the candidates into groups small enough that
//! every message of a group's binary search holds at most `T` keywords:
//! more messages, same decoding.
//!
//! Stated auxiliary knowledge: the candidate keywords (every query is
//! assumed to be one of them) and the ids of the injected messages (the
//! attacker sees them arrive, or counts messages).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::Result;
use crate::leakage::attacks::{Attack, Knowledge, Recovery};
use crate::leakage::forward;
use crate::leakage::observe::Observation;
use crate::leakage::view::ServerView;
use crate::protocol::DocId;

/// The messages to inject: for each, the indexes of the candidate keywords
/// it contains, ascending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InjectionPlan {
    /// Number of candidate keywords the plan covers.
    pub candidates: usize,
    /// Candidate keyword indexes per injected message.
    pub messages: Vec<Vec<u32>>,
}

/// Bits needed to give codes `1..=n` (`ceil(log2(n + 1))`).
fn bits_for(n: usize) -> usize {
    (usize::BITS - n.leading_zeros()) as usize
}

/// The binary-search messages of one group of `size` candidates starting at
/// `first`: message `j` holds the members whose code (position + 1) has bit `j`.
fn group_messages(first: usize, size: usize) -> Vec<Vec<u32>> {
    (0..bits_for(size))
        .map(|j| {
            (0..size).filter(|i| (i + 1) >> j & 1 == 1).map(|i| u32::try_from(first + i).unwrap_or(u32::MAX)).collect()
        })
        .collect()
}

/// The injection plan for `candidates` keywords. Without a limit, one
/// binary search over all of them: `ceil(log2(candidates + 1))` messages.
/// With at most `max_keywords_per_message` keywords per message, the
/// candidates are split into the largest equal groups whose messages all
/// respect the limit, one binary search per group.
///
/// A limit of 0 is treated as 1 (a message must carry a keyword to match).
pub fn plan(candidates: usize, max_keywords_per_message: Option<usize>) -> InjectionPlan {
    if candidates == 0 {
        return InjectionPlan { candidates, messages: Vec::new() };
    }
    let limit = max_keywords_per_message.map_or(candidates, |t| t.max(1));
    // Largest group size whose busiest message fits the limit. Start from
    // 2 * limit (half the codes set a given bit, so about limit per message)
    // and shrink until it fits; size 1 always fits.
    let mut size = candidates.min(limit.saturating_mul(2));
    while size > 1 && group_messages(0, size).iter().any(|m| m.len() > limit) {
        size -= 1;
    }
    let mut messages = Vec::new();
    let mut first = 0;
    while first < candidates {
        let n = size.min(candidates - first);
        messages.extend(group_messages(first, n));
        first += n;
    }
    InjectionPlan { candidates, messages }
}

impl InjectionPlan {
    /// Decoding table: the set of messages a candidate appears in, to the
    /// candidate. Sets are distinct by construction (distinct nonzero codes
    /// within a group, disjoint messages across groups).
    fn decoder(&self) -> HashMap<Vec<usize>, u32> {
        let mut sets: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (j, m) in self.messages.iter().enumerate() {
            for &k in m {
                sets.entry(k).or_default().push(j);
            }
        }
        sets.into_iter().map(|(k, s)| (s, k)).collect()
    }

    /// The candidate whose messages are exactly `matched`, if any.
    fn decode(&self, decoder: &HashMap<Vec<usize>, u32>, matched: &BTreeSet<usize>) -> Option<u32> {
        if matched.is_empty() {
            return None;
        }
        decoder.get(&matched.iter().copied().collect::<Vec<_>>()).copied()
    }
}

/// Injected messages (by position in the plan) among `ids`.
fn matched(ids: impl IntoIterator<Item = DocId>, position: &HashMap<DocId, usize>) -> BTreeSet<usize> {
    ids.into_iter().filter_map(|id| position.get(&id).copied()).collect()
}

fn positions(injected_ids: &[DocId]) -> HashMap<DocId, usize> {
    injected_ids.iter().enumerate().map(|(j, id)| (*id, j)).collect()
}

/// Adaptive recovery: messages injected *after* the queries, linked to the
/// earlier search tokens through the update leakage
/// ([`forward::links`]). One guess per query of
/// [`Observation::from_view`] on `view` restricted to `tenant`, same order.
/// `injected_ids[j]` is the id of the message carrying `plan.messages[j]`.
///
/// # Errors
/// As [`forward::links`].
pub fn recover(view: &ServerView, tenant: &str, plan: &InjectionPlan, injected_ids: &[DocId]) -> Result<Recovery> {
    let view = view.tenant(tenant);
    let gained = forward::gained_ids_by_search(&view, tenant)?;
    let position = positions(injected_ids);
    let decoder = plan.decoder();
    let guesses = Observation::from_view(&view)
        .queries
        .iter()
        .map(|q| {
            let ids = gained.get(&q.seq).into_iter().flatten().copied();
            plan.decode(&decoder, &matched(ids, &position))
        })
        .collect();
    Ok(Recovery { guesses })
}

/// Non-adaptive recovery: messages injected *before* the queries, read off
/// each query's access pattern (the ids the server returned or the client
/// fetched). Works against any scheme that leaks the access pattern,
/// forward private or not. One guess per query of `observation`.
pub fn recover_non_adaptive(observation: &Observation, plan: &InjectionPlan, injected_ids: &[DocId]) -> Recovery {
    let position = positions(injected_ids);
    let decoder = plan.decoder();
    let guesses = observation
        .queries
        .iter()
        .map(|q| plan.decode(&decoder, &matched(q.ids.iter().flatten().copied(), &position)))
        .collect();
    Recovery { guesses }
}

/// The injection attack with its plan and the ids its messages got, for
/// harnesses that run attacks through [`Attack`]. As an [`Attack`] it is
/// the non-adaptive variant (an [`Observation`] holds no update leakage);
/// the adaptive one is [`InjectionAttack::recover_adaptive`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InjectionAttack {
    /// The injected messages' keywords.
    pub plan: InjectionPlan,
    /// The id each injected message got, aligned with `plan.messages`.
    pub injected_ids: Vec<DocId>,
}

impl InjectionAttack {
    /// [`recover`] with this plan and these ids.
    ///
    /// # Errors
    /// As [`recover`].
    pub fn recover_adaptive(&self, view: &ServerView, tenant: &str) -> Result<Recovery> {
        recover(view, tenant, &self.plan, &self.injected_ids)
    }
}

impl Attack for InjectionAttack {
    fn name(&self) -> &'static str {
        "injection"
    }

    /// Non-adaptive recovery; `knowledge` is not used beyond what the plan
    /// already fixed (the candidate list it was built for).
    fn recover(&self, observation: &Observation, _knowledge: &Knowledge) -> Recovery {
        recover_non_adaptive(observation, &self.plan, &self.injected_ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_plan_uses_log_messages_and_codes_are_unique() {
        let p = plan(64, None);
        assert_eq!(p.messages.len(), 7);
        let p500 = plan(500, None);
        assert_eq!(p500.messages.len(), 9);
        let d = p500.decoder();
        assert_eq!(d.len(), 500);
        // Every candidate decodes to itself from the messages that hold it.
        for k in 0..500u32 {
            let set: BTreeSet<usize> =
                p500.messages.iter().enumerate().filter(|(_, m)| m.contains(&k)).map(|(j, _)| j).collect();
            assert_eq!(p500.decode(&d, &set), Some(k));
        }
        assert_eq!(p500.decode(&d, &BTreeSet::new()), None);
    }

    #[test]
    fn threshold_plan_respects_the_limit_and_still_decodes() {
        for (k, t) in [(500, 10), (500, 1), (64, 3), (7, 100)] {
            let p = plan(k, Some(t));
            assert!(p.messages.iter().all(|m| m.len() <= t), "K {k} T {t}");
            let d = p.decoder();
            assert_eq!(d.len(), k, "every candidate has its own message set (K {k} T {t})");
        }
        assert!(plan(500, Some(10)).messages.len() > plan(500, None).messages.len());
    }
}
