//! The recovery loops on observed items: the count attack's propagation from
//! unique counts and co-occurrences, and the assignment by score.

use super::model::{KnownCounts, ObservedItem, Window};

/// The count attack's recovery loop on observed `items`: count matching,
/// then co-occurrence propagation from recovered items, seeded with `seeds`
/// (item, keyword). Returns one keyword (or none) per item.
pub(crate) fn propagate(
    known: &mut KnownCounts,
    items: &[ObservedItem],
    seeds: &[(usize, u32)],
    window: Window,
) -> Vec<Option<u32>> {
    let nk = known.keywords();
    let mut assigned: Vec<Option<u32>> = vec![None; items.len()];
    let mut taken = vec![false; nk];
    let mut anchors: Vec<(usize, u32)> = Vec::new();
    let assign =
        |i: usize, k: u32, assigned: &mut Vec<Option<u32>>, taken: &mut Vec<bool>, anchors: &mut Vec<(usize, u32)>| {
            assigned[i] = Some(k);
            taken[k as usize] = true;
            if items[i].ids.is_some() {
                anchors.push((i, k));
            }
        };
    for &(i, k) in seeds {
        if i < items.len() && (k as usize) < nk && assigned[i].is_none() && !taken[k as usize] {
            assign(i, k, &mut assigned, &mut taken, &mut anchors);
        }
    }

    // Keywords sorted by known count, to find a count window by binary search.
    let mut by_count: Vec<(u32, u32)> =
        (0..nk).filter_map(|k| u32::try_from(k).ok()).map(|k| (known.count(k), k)).collect();
    by_count.sort_unstable();
    let mut candidates: Vec<Vec<u32>> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            if assigned[i].is_some() {
                return Vec::new();
            }
            let (lo, hi) = window.known_range(item.count);
            let start = by_count.partition_point(|&(c, _)| c < lo);
            let end = by_count.partition_point(|&(c, _)| c <= hi);
            by_count[start..end.max(start)].iter().map(|&(_, k)| k).filter(|&k| !taken[k as usize]).collect()
        })
        .collect();
    let mut checked = vec![0usize; items.len()];

    loop {
        let mut changed = false;
        for i in 0..items.len() {
            if assigned[i].is_some() {
                continue;
            }
            let cands = &mut candidates[i];
            cands.retain(|&k| !taken[k as usize]);
            if let Some(ids) = &items[i].ids {
                while checked[i] < anchors.len() && !cands.is_empty() {
                    let (j, kj) = anchors[checked[i]];
                    checked[i] += 1;
                    let Some(other) = &items[j].ids else { continue };
                    let observed = u32::try_from(ids.intersection_len(other)).unwrap_or(u32::MAX);
                    let (lo, hi) = window.known_range(observed);
                    let row = known.row(kj);
                    cands.retain(|&s| (lo..=hi).contains(&row[s as usize]));
                }
            }
            if cands.len() == 1 {
                let k = cands[0];
                cands.clear();
                assign(i, k, &mut assigned, &mut taken, &mut anchors);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    assigned
}

/// Parameters of [`assign_by_score`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scoring {
    /// Anchors whose co-occurrences enter the scores.
    pub max_anchors: usize,
    /// Items assigned per round while anchors are still being added.
    pub per_round: usize,
    /// Candidates kept per item: those whose known count deviates least.
    pub max_candidates: usize,
}

/// Assigns the open items by score, confident ones first. The score of
/// candidate keyword `s` for item `i` is the mean chi-square deviation
/// ([`Window::deviation`]) of `s`'s known count from `i`'s observed count
/// and of `s`'s known co-occurrences with the anchors' keywords from `i`'s
/// observed co-occurrences with the anchor items. Anchors are the assigned
/// items with ids. Each round assigns the `per_round` open items whose best
/// candidate beats their second best by the widest margin, and they become
/// anchors; once there are `max_anchors` anchors (or no open item has a
/// candidate) the rest are assigned greedily, lowest score first. Each
/// keyword goes to one item. Candidates of an item are the free keywords in
/// its count window. `open` says which items may be assigned.
pub(crate) fn assign_by_score(
    known: &mut KnownCounts,
    items: &[ObservedItem],
    assigned: &mut [Option<u32>],
    open: &[bool],
    window: Window,
    scoring: Scoring,
) {
    let nk = known.keywords();
    let mut taken = vec![false; nk];
    for k in assigned.iter().flatten() {
        taken[*k as usize] = true;
    }
    let open_items: Vec<usize> =
        (0..items.len()).filter(|&i| assigned[i].is_none() && open.get(i).copied().unwrap_or(false)).collect();
    // Per open item (by slot): candidate keywords with their summed deviations.
    let mut by_count: Vec<(u32, u32)> = (0..nk)
        .filter_map(|k| u32::try_from(k).ok())
        .filter(|&k| !taken[k as usize])
        .map(|k| (known.count(k), k))
        .collect();
    by_count.sort_unstable();
    let mut cands: Vec<Vec<(u32, f64)>> = open_items
        .iter()
        .map(|&i| {
            let (lo, hi) = window.known_range(items[i].count);
            let start = by_count.partition_point(|&(c, _)| c < lo);
            let end = by_count.partition_point(|&(c, _)| c <= hi).max(start);
            let mut c: Vec<(u32, f64)> =
                by_count[start..end].iter().map(|&(c, k)| (k, window.deviation(c, items[i].count))).collect();
            if c.len() > scoring.max_candidates {
                c.select_nth_unstable_by(scoring.max_candidates, |a, b| a.1.total_cmp(&b.1));
                c.truncate(scoring.max_candidates);
            }
            c
        })
        .collect();
    let mut terms = vec![1usize; open_items.len()];
    let mut done = vec![false; open_items.len()];

    // Inverted index document → open items with ids, for co-occurrence rows.
    let mut items_of_doc: std::collections::HashMap<u32, Vec<u32>> = std::collections::HashMap::new();
    for (slot, &i) in open_items.iter().enumerate() {
        for d in items[i].ids.iter().flatten() {
            items_of_doc.entry(d).or_default().push(u32::try_from(slot).unwrap_or(u32::MAX));
        }
    }
    let mut pending: Vec<(usize, u32)> =
        assigned.iter().enumerate().filter_map(|(i, k)| k.filter(|_| items[i].ids.is_some()).map(|k| (i, k))).collect();
    pending.sort_by_key(|&(i, _)| std::cmp::Reverse(items[i].count));
    pending.truncate(scoring.max_anchors);
    let mut anchors_used = 0usize;

    loop {
        // Fold the new anchors into the scores.
        for (j, kj) in pending.drain(..) {
            anchors_used += 1;
            let mut observed = vec![0u32; open_items.len()];
            for d in items[j].ids.iter().flatten() {
                for &slot in items_of_doc.get(&d).into_iter().flatten() {
                    observed[slot as usize] += 1;
                }
            }
            let row = known.row(kj);
            for (slot, &i) in open_items.iter().enumerate() {
                if done[slot] || items[i].ids.is_none() {
                    continue;
                }
                terms[slot] += 1;
                let (mean, inv_var) = window.expectation(observed[slot]);
                for (s, score) in &mut cands[slot] {
                    let d = f64::from(row[*s as usize]) - mean;
                    *score += d * d * inv_var;
                }
            }
        }
        // Best and second-best candidate of every open item.
        let mut ranked: Vec<(f64, f64, usize, u32)> = Vec::new();
        for slot in 0..open_items.len() {
            if done[slot] {
                continue;
            }
            cands[slot].retain(|&(k, _)| !taken[k as usize]);
            let (mut best, mut second) = ((f64::INFINITY, 0u32), f64::INFINITY);
            for &(k, score) in &cands[slot] {
                if score < best.0 {
                    second = best.0;
                    best = (score, k);
                } else if score < second {
                    second = score;
                }
            }
            if cands[slot].is_empty() {
                done[slot] = true;
                continue;
            }
            let t = terms[slot] as f64;
            ranked.push((second / t - best.0 / t, best.0 / t, slot, best.1));
        }
        if ranked.is_empty() {
            break;
        }
        if anchors_used >= scoring.max_anchors {
            // No more anchors: the rest greedily by score.
            let mut pairs: Vec<(f64, usize, u32)> = Vec::new();
            for (slot, c) in cands.iter().enumerate() {
                if !done[slot] {
                    let t = terms[slot] as f64;
                    pairs.extend(c.iter().map(|&(k, score)| (score / t, slot, k)));
                }
            }
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (_, slot, k) in pairs {
                if !done[slot] && !taken[k as usize] {
                    done[slot] = true;
                    taken[k as usize] = true;
                    assigned[open_items[slot]] = Some(k);
                }
            }
            break;
        }
        // Widest margin first; ties by lower score.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.total_cmp(&b.1)));
        let mut added = 0;
        // The first anchors decide the rest: add them one at a time.
        let quota = if anchors_used < scoring.per_round * 4 { 1 } else { scoring.per_round.max(1) };
        for (_, _, slot, k) in ranked {
            if added == quota {
                break;
            }
            if taken[k as usize] {
                continue;
            }
            let i = open_items[slot];
            done[slot] = true;
            taken[k as usize] = true;
            assigned[i] = Some(k);
            added += 1;
            if items[i].ids.is_some() && anchors_used + pending.len() < scoring.max_anchors {
                pending.push((i, k));
            }
        }
        if added == 0 {
            break;
        }
    }
}
