//! Server half of Diana: check a constrained key, expand it to the leaf seeds
//! of the keyword's updates, recompute each update's label and mask, and open
//! the stored ids (response-revealing, as in the paper). Sees only the token's
//! node seeds, count and hash key; imports no key type.

use rayon::prelude::*;

use crate::primitives::ggm::{self, HEIGHT, Seed};
use crate::primitives::prf::Prf;
use crate::protocol::{DocId, EntryLocation, GgmNode, Label, SearchResult};
use crate::sse::entries::{EntryReader, PACKED_BLOCK, missing_block, open_block};
use crate::store::Table;
use crate::{Error, Result};

/// Most leaves (updates of one keyword) a search may cover: bounds the work a
/// token can ask for (about 2 AES key schedules and one store lookup per leaf).
pub const MAX_COUNT: u32 = 1 << 26;

/// Most nodes a token may carry. The minimal cover of `[0, c)` has one node
/// per set bit of `c`, at most 32.
pub const MAX_NODES: usize = 33;

/// Subtrees are expanded to their leaves in units of at most `2^UNIT_LEVELS`
/// leaves (16 KiB of seeds), so memory stays bounded whatever the count.
const UNIT_LEVELS: u8 = 10;

/// Leaves whose labels are computed (in parallel) and fetched in one `get_many`.
const GROUP_LEAVES: u64 = 1 << 16;

/// Most consecutive leaves without a stored update a search walks before it
/// gives up: a token is about 700 bytes whatever its count, so without this
/// a forged count would buy up to [`MAX_COUNT`] leaves of work (2^22 cost
/// 1.2 s of both cores). An honest client leaves a gap only where an update
/// batch (at most `ENTRY_CHUNK` = 50,000 updates) was lost to a crash
/// after its counters were saved, so 2^17 allows two such losses in a row.
pub const MAX_MISSING_LEAVES: u64 = 1 << 17;

/// Below this many leaves a group is computed on the calling thread.
const PARALLEL_LEAVES: u64 = 512;

/// A subtree to expand: its root seed and its height.
#[derive(Clone, Copy)]
struct Unit {
    seed: Seed,
    levels: u8,
}

fn bad(reason: String) -> Error {
    Error::Protocol(format!("Diana search token: {reason}"))
}

/// Checks a token and cuts it into units, left to right.
///
/// The nodes must lie in the tree (depth at most [`HEIGHT`], index below
/// `2^depth`) and cover disjoint ranges whose union is exactly
/// `0..count`, in any order. Nothing is expanded before the whole token
/// passes, so the work is bounded by `count <= MAX_COUNT`.
fn plan(nodes: &[GgmNode], count: u32) -> Result<Vec<Unit>> {
    if count > MAX_COUNT {
        return Err(bad(format!("count {count} exceeds the limit of {MAX_COUNT} updates per keyword")));
    }
    if nodes.len() > MAX_NODES {
        return Err(bad(format!("{} nodes (at most {MAX_NODES})", nodes.len())));
    }
    let mut ranged = nodes
        .iter()
        .map(|n| {
            ggm::range(n.depth, n.index).map(|(start, end)| (start, end, n)).ok_or_else(|| {
                bad(format!("node (depth {}, index {}) is not in a tree of height {HEIGHT}", n.depth, n.index))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    ranged.sort_unstable_by_key(|r| r.0);
    let mut next = 0u64;
    for (start, end, _) in &ranged {
        if *start != next {
            return Err(bad(format!("nodes overlap or leave a gap at leaf {}", next.min(*start))));
        }
        next = *end;
    }
    if next != u64::from(count) {
        return Err(bad(format!("nodes cover leaves 0..{next} but the count is {count}")));
    }
    let mut units = Vec::new();
    for (_, _, n) in ranged {
        let levels = HEIGHT - n.depth;
        if levels <= UNIT_LEVELS {
            units.push(Unit { seed: n.seed, levels });
        } else {
            let tops = ggm::expand(&n.seed, levels - UNIT_LEVELS);
            units.extend(tops.into_iter().map(|seed| Unit { seed, levels: UNIT_LEVELS }));
        }
    }
    Ok(units)
}

fn unit_outputs(unit: &Unit, hash_key: &[u8; 16]) -> impl Iterator<Item = (Label, [u8; 4])> {
    ggm::expand(&unit.seed, unit.levels).into_iter().map(move |leaf| ggm::leaf_outputs(&leaf, hash_key))
}

/// Answers a Diana token: the ids of the keyword's updates `0..count`, in
/// update order. A leaf whose label is not stored (an update that never
/// reached the server) is skipped, up to [`MAX_MISSING_LEAVES`] in a row.
///
/// # Errors
/// [`Error::Protocol`] for a malformed token (see the checks above);
/// [`Error::DataCorruption`] for a stored value that is not 4 bytes; store errors.
pub fn search(reader: &EntryReader<'_>, nodes: &[GgmNode], count: u32, hash_key: &[u8; 16]) -> Result<SearchResult> {
    let units = plan(nodes, count)?;
    let mut ids: Vec<DocId> = Vec::with_capacity(count.min(1 << 16) as usize);
    leaf_ids(reader, &units, hash_key, &mut ids)?;
    Ok(SearchResult::Ids(ids))
}

/// Appends the ids stored at the leaves of `units` to `ids`, in leaf order.
fn leaf_ids(reader: &EntryReader<'_>, units: &[Unit], hash_key: &[u8; 16], ids: &mut Vec<DocId>) -> Result<()> {
    let mut rest = units;
    let mut since_hit = 0u64;
    while !rest.is_empty() {
        // A group of whole units of about GROUP_LEAVES leaves.
        let mut take = 0;
        let mut leaves = 0u64;
        while take < rest.len() && (take == 0 || leaves + (1u64 << rest[take].levels) <= GROUP_LEAVES) {
            leaves += 1u64 << rest[take].levels;
            take += 1;
        }
        let (group, tail) = rest.split_at(take);
        rest = tail;
        let outputs: Vec<(Label, [u8; 4])> = if leaves >= PARALLEL_LEAVES {
            group.par_iter().flat_map_iter(|u| unit_outputs(u, hash_key)).collect()
        } else {
            group.iter().flat_map(|u| unit_outputs(u, hash_key)).collect()
        };
        let values = reader.get_many(outputs.iter().map(|(label, _)| EntryLocation::Dictionary(*label)))?;
        for ((_, mask), value) in outputs.iter().zip(values) {
            let Some(value) = value else {
                since_hit += 1;
                continue;
            };
            since_hit = 0;
            let word: [u8; 4] = value.as_slice().try_into().map_err(|_| Error::DataCorruption {
                table: Table::Entries.name(),
                reason: format!("Diana entry value of {} bytes (expected 4)", value.len()),
            })?;
            ids.push(u32::from_le_bytes(std::array::from_fn(|i| word[i] ^ mask[i])));
        }
        if since_hit >= MAX_MISSING_LEAVES && !rest.is_empty() {
            return Err(bad(format!(
                "no stored update among {since_hit} consecutive leaves (at most {MAX_MISSING_LEAVES}): the count exceeds what was stored"
            )));
        }
    }
    Ok(())
}

/// Answers a consolidated Diana token: the ids of the keyword's `blocks`
/// packed blocks (labels `0..blocks` of `label_key`, opened with
/// `value_key`), in block order, then those of its adds since, as
/// [`search`] gives them (`count` 0 with no nodes if there are none). The
/// server learns the block count and the ids, which the access pattern
/// shows it anyway.
///
/// # Errors
/// [`Error::DataCorruption`] for a block the store does not hold, of the
/// wrong size, or that opens to an impossible count; as [`search`] for the
/// GGM part (checked before any block is read); store errors.
pub fn search_packed(
    reader: &EntryReader<'_>,
    label_key: &[u8; 16],
    value_key: &[u8; 16],
    blocks: u32,
    nodes: &[GgmNode],
    count: u32,
    hash_key: &[u8; 16],
) -> Result<SearchResult> {
    // Refuse a malformed constrained key before any store read.
    let units = plan(nodes, count)?;
    let labels = Prf::new(label_key).labels(0, blocks as usize);
    let value = Prf::new(value_key);
    let mut ids: Vec<DocId> = Vec::with_capacity(labels.len() * PACKED_BLOCK);
    let found = reader.get_many(labels.iter().map(|l| EntryLocation::Dictionary(*l)))?;
    for (j, bytes) in found.into_iter().enumerate() {
        let bytes = bytes.ok_or_else(|| missing_block("Diana", j))?;
        open_block("Diana", &value, j, &bytes, |id| ids.push(id))?;
    }
    leaf_ids(reader, &units, hash_key, &mut ids)?;
    Ok(SearchResult::Ids(ids))
}

/// The leaf seeds a token covers, left to right (tests compare them with the
/// client's; `benches/scheme_costs.rs` times the crypto apart from the store).
///
/// # Errors
/// [`Error::Protocol`] for nodes that do not cover `0..count`.
pub fn leaf_seeds(nodes: &[GgmNode], count: u32) -> Result<Vec<Seed>> {
    Ok(plan(nodes, count)?.iter().flat_map(|u| ggm::expand(&u.seed, u.levels)).collect())
}
