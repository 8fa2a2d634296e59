//! The GGM tree of Diana: a range-constrained PRF from AES, shared by both
//! halves. Holds no key type: seeds are 16 raw bytes, as a
//! [`SearchToken::Ggm`](crate::protocol::SearchToken::Ggm) carries them.
//!
//! **Tree.** Height [`HEIGHT`] = 32; leaf `i` (counter `i`, 0-based) is
//! reached from the root along the bits of `i`, most significant first
//! (bit 0 = left). Node `(depth, index)` covers leaves
//! `index * 2^(32 - depth) .. (index + 1) * 2^(32 - depth)`.
//!
//! **PRG.** The children of a node with seed `s` are `AES_s(G0)` and
//! `AES_s(G1)`, where `G0` and `G1` are the fixed blocks
//! `"sseek:diana:ggm" || 0x00` and `... || 0x01`: AES-128 keyed with the seed
//! as a PRF on two distinct inputs is a length-doubling PRG (Goldreich,
//! Goldwasser, Micali). One key schedule and two blocks per node.
//!
//! **Leaf outputs.** From leaf seed `ST` and the keyword's hash key `K'`:
//! `UT = AES_ST(K' xor TL)` (the dictionary label) and
//! `mask = AES_ST(K' xor TM)[..4]` (the id mask), with `TL != TM` fixed
//! tweaks. This is the paper's `H1(K', ST)` and `H2(K', ST)` instantiated as a
//! PRF keyed by the leaf seed on two distinct inputs. The key must be `ST`,
//! not `K'`: the server learns `K'` at the first search, and AES under a
//! known key is invertible, so `AES_K'(f(ST))` would let it decrypt the label
//! of every later update of the keyword and recompute its mask, undoing
//! forward privacy. `ST` of a leaf `>= c` stays pseudorandom to a server that
//! holds only the constrained key for `[0, c)`.

use aes::Aes128Enc;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockEncrypt, KeyInit};

use crate::protocol::{GgmNode, Label};

/// Height of the tree: leaves are counters `0 .. 2^32`.
pub const HEIGHT: u8 = 32;

/// A node seed.
pub type Seed = [u8; 16];

const PRG_INPUT: [Seed; 2] = [*b"sseek:diana:ggm\x00", *b"sseek:diana:ggm\x01"];
const LABEL_TWEAK: [u8; 16] = *b"sseek:diana:lbl\x00";
const MASK_TWEAK: [u8; 16] = *b"sseek:diana:msk\x00";

/// AES-128 under `key` of two blocks, pipelined. The same function as
/// [`crate::primitives::prf::Prf`]`::new(key).block(..)` (a test checks it), but
/// with an encrypt-only key schedule: the tree re-keys AES at every node,
/// and skipping the decryption round keys halves the cost of a node
/// (measured: 43 ns against 70 to 87 ns for key schedule plus two blocks).
fn aes2(key: &Seed, a: [u8; 16], b: [u8; 16]) -> [[u8; 16]; 2] {
    let cipher = Aes128Enc::new(&GenericArray::from(*key));
    let mut blocks = [GenericArray::from(a), GenericArray::from(b)];
    cipher.encrypt_blocks(&mut blocks);
    [blocks[0].into(), blocks[1].into()]
}

/// The two children (left, right) of a node.
pub fn children(seed: &Seed) -> [Seed; 2] {
    aes2(seed, PRG_INPUT[0], PRG_INPUT[1])
}

/// One child of a node: `bit` 0 is the left one.
pub fn child(seed: &Seed, bit: u32) -> Seed {
    let mut block = GenericArray::from(PRG_INPUT[usize::from(bit & 1 == 1)]);
    Aes128Enc::new(&GenericArray::from(*seed)).encrypt_block(&mut block);
    block.into()
}

/// The seed of leaf `i`: 32 PRG steps from the root.
pub fn leaf(root: &Seed, i: u32) -> Seed {
    (0..u32::from(HEIGHT)).rev().fold(*root, |s, bit| child(&s, (i >> bit) & 1))
}

fn xor(a: &[u8; 16], b: &[u8; 16]) -> [u8; 16] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// The dictionary label and the 4-byte id mask of a leaf.
pub fn leaf_outputs(leaf: &Seed, hash_key: &[u8; 16]) -> (Label, [u8; 4]) {
    let [label, mask] = aes2(leaf, xor(hash_key, &LABEL_TWEAK), xor(hash_key, &MASK_TWEAK));
    (label, [mask[0], mask[1], mask[2], mask[3]])
}

/// The leaves `[start, end)` a node covers, or `None` if `depth > HEIGHT` or
/// `index >= 2^depth`.
pub fn range(depth: u8, index: u32) -> Option<(u64, u64)> {
    if depth > HEIGHT || u64::from(index) >> depth != 0 {
        return None;
    }
    let shift = HEIGHT - depth;
    Some((u64::from(index) << shift, (u64::from(index) + 1) << shift))
}

/// The constrained key for leaves `[0, count)`: the minimal set of nodes
/// covering exactly those leaves (one per set bit of `count`, so at most 32),
/// left to right.
///
/// Walks the bits of `count` from the most significant: where the bit at
/// depth `d` is 1, the left child at depth `d + 1` of the current path is
/// wholly below `count` and joins the set, and the path goes right;
/// otherwise the path goes left. The path ends at leaf `count` itself,
/// which is not covered.
pub fn cover(root: &Seed, count: u32) -> Vec<GgmNode> {
    let mut nodes = Vec::with_capacity(count.count_ones() as usize);
    let (mut seed, mut index) = (*root, 0u32);
    for depth in 1..=HEIGHT {
        let bit = (count >> (HEIGHT - depth)) & 1;
        if bit == 1 {
            let [left, right] = children(&seed);
            nodes.push(GgmNode { depth, index: index << 1, seed: left });
            seed = right;
        } else {
            seed = child(&seed, 0);
        }
        index = (index << 1) | bit;
    }
    nodes
}

/// The leaf seeds below a node `levels` levels down, left to right,
/// expanded breadth first (one key schedule per internal node, no recursion).
pub fn expand(seed: &Seed, levels: u8) -> Vec<Seed> {
    let mut level = vec![*seed];
    for _ in 0..levels {
        level = level.iter().flat_map(children).collect();
    }
    level
}

/// The seeds of leaves `start .. start + n`, left to right: the same as
/// [`leaf`] of each, but every node on the way is computed once, so a run of
/// `n` consecutive leaves costs about `n + 32` node expansions instead of
/// `32 n` (the subtree spanning the run is shared).
///
/// # Panics
/// If the run passes leaf `2^32 - 1` (`start + n > 2^32`).
pub fn leaves(root: &Seed, start: u32, n: u32) -> Vec<Seed> {
    let end = u64::from(start) + u64::from(n);
    assert!(end <= 1 << HEIGHT, "leaves {start}..{end} lie outside the tree");
    let mut out = Vec::with_capacity(n as usize);
    if n > 0 {
        descend(root, HEIGHT, 0, (u64::from(start), end), &mut out);
    }
    out
}

/// Appends the leaves of `[a, b)` below the node with `seed`, `levels` above
/// the leaves and covering leaves from `lo`; the node's range meets `[a, b)`.
fn descend(seed: &Seed, levels: u8, lo: u64, (a, b): (u64, u64), out: &mut Vec<Seed>) {
    if levels == 0 {
        out.push(*seed);
        return;
    }
    let mid = lo + (1u64 << (levels - 1));
    // A whole subtree in range: expand it breadth first (no recursion per leaf).
    if a <= lo && lo + (1u64 << levels) <= b && levels <= 12 {
        out.extend(expand(seed, levels));
        return;
    }
    match (a < mid, b > mid) {
        (true, true) => {
            let [left, right] = children(seed);
            descend(&left, levels - 1, lo, (a, b), out);
            descend(&right, levels - 1, mid, (a, b), out);
        }
        (true, false) => descend(&child(seed, 0), levels - 1, lo, (a, b), out),
        _ => descend(&child(seed, 1), levels - 1, mid, (a, b), out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::prf::Prf;

    #[test]
    fn the_tree_is_aes_keyed_by_the_node_seed() {
        let seed = [0x42; 16];
        let prf = Prf::new(&seed);
        assert_eq!(children(&seed), [prf.block(PRG_INPUT[0]), prf.block(PRG_INPUT[1])]);
        assert_eq!(child(&seed, 1), prf.block(PRG_INPUT[1]));
        let key = [9; 16];
        let (label, mask) = leaf_outputs(&seed, &key);
        assert_eq!(label, prf.block(xor(&key, &LABEL_TWEAK)));
        assert_eq!(mask[..], prf.block(xor(&key, &MASK_TWEAK))[..4]);
        assert_ne!(LABEL_TWEAK, MASK_TWEAK);
        // Leaf 5 = 29 steps left, then right, left, right.
        let leftmost = (0..29).fold(seed, |s, _| child(&s, 0));
        assert_eq!(leaf(&seed, 5), child(&child(&child(&leftmost, 1), 0), 1));
        assert_eq!(expand(&leftmost, 3)[5], leaf(&seed, 5));
    }

    #[test]
    fn runs_of_leaves_equal_single_leaves() {
        let root = [3; 16];
        for (start, n) in [(0, 0), (0, 1), (5, 1), (0, 4096), (7, 9000), (4095, 3), (u32::MAX - 2, 3)] {
            let run = leaves(&root, start, n);
            assert_eq!(run.len(), n as usize);
            for (i, s) in run.iter().enumerate() {
                if i < 40 || i + 40 > run.len() || i % 997 == 0 {
                    assert_eq!(*s, leaf(&root, start + u32::try_from(i).unwrap()), "leaf {start} + {i}");
                }
            }
        }
    }
}
