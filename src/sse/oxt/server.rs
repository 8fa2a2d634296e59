//! Server half of OXT: walk the s-term's TSet list, turn each entry's
//! blinded `y` and the client's xtokens into xtags, and keep the entries
//! whose xtags are all in the XSet.
//!
//! Sees only the token's per-query bytes and stored values. This module
//! fixes the stored format (the constants below); the client half builds
//! values to it. Every stored value and every xtoken is untrusted input: one
//! that does not parse is a clear error, never a panic.

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::primitives::prf::{Domain, Prf};
use crate::protocol::{EntryLocation, Label, OxtToken, SearchResult};
use crate::sse::entries::{EntryReader, MAX_TOKEN_ITEMS};
use crate::{Error, Result};

/// Bytes of one TSet tuple: the encrypted id `e` (4) and `y` (a 32-byte scalar).
pub const TUPLE_LEN: usize = 4 + 32;
/// Bytes of a compressed Ristretto point (an xtoken).
pub const POINT_LEN: usize = 32;
/// Most x-terms one conjunction may carry (a conjunction of 16 terms).
pub const MAX_XTERMS: usize = 15;
/// Bytes of one answer value: the entry's position in the list (4, big-endian) and `e` (4).
pub const ANSWER_LEN: usize = 8;
/// Entries whose xtags are looked up in one store read.
const XSET_BATCH: usize = 4096;
/// Domain separation of the XSet label hash.
const XSET_DOMAIN: &[u8] = b"sseek oxt xset v1";

/// Bytes of a TSet value holding `block` tuples: a 2-byte count, then the tuples.
pub fn tset_value_len(block: usize) -> usize {
    2 + TUPLE_LEN * block
}

/// The store label of an xtag (a compressed point): a domain-separated hash,
/// truncated to a dictionary label. The XSet is an exact set of these.
pub fn xset_label(xtag: &CompressedRistretto) -> Label {
    let digest = Sha256::new().chain_update(XSET_DOMAIN).chain_update(xtag.as_bytes()).finalize();
    let mut label = [0u8; 16];
    label.copy_from_slice(&digest[..16]);
    label
}

fn corrupt(reason: String) -> Error {
    Error::DataCorruption { table: "entries", reason }
}

/// One tuple of the s-term's list: its position, `e`, and `y`.
#[derive(Debug, Clone)]
struct Tuple {
    position: u32,
    e: [u8; 4],
    y: Scalar,
}

/// Checks a token's shape before any store read: a sane x-term count and
/// whole rows of 32-byte points.
///
/// # Errors
/// [`Error::Protocol`] naming what is wrong.
pub fn check_token(token: &OxtToken) -> Result<usize> {
    let xterms = usize::from(token.xterms);
    if xterms > MAX_XTERMS {
        return Err(Error::Protocol(format!("OXT token with {xterms} x-terms (at most {MAX_XTERMS})")));
    }
    if xterms == 0 {
        if !token.xtokens.is_empty() {
            return Err(Error::Protocol(format!(
                "OXT token without x-terms carries {} bytes of xtokens",
                token.xtokens.len()
            )));
        }
        return Ok(0);
    }
    let row = xterms * POINT_LEN;
    if !token.xtokens.len().is_multiple_of(row) {
        return Err(Error::Protocol(format!(
            "OXT xtokens of {} bytes are not whole rows of {xterms} points of {POINT_LEN} bytes",
            token.xtokens.len()
        )));
    }
    let rows = token.xtokens.len() / row;
    if rows * xterms > MAX_TOKEN_ITEMS {
        return Err(Error::Protocol(format!("OXT token of {} xtokens is too large", rows * xterms)));
    }
    Ok(rows)
}

/// Answers an OXT token for an instance of `block` tuples per TSet value:
/// [`SearchResult::Values`] holding, for every entry of the s-term's list
/// whose xtags are all in the XSet, its position and `e` ([`ANSWER_LEN`]
/// bytes). With no x-terms every entry passes (a single-term search).
///
/// # Errors
/// [`Error::Protocol`] for a token of a bad shape, an xtoken that is not a
/// Ristretto point, or fewer rows of xtokens than the list has entries;
/// [`Error::DataCorruption`] for stored values that do not parse; store errors.
pub fn search(reader: &EntryReader<'_>, block: usize, token: &OxtToken) -> Result<SearchResult> {
    let tests = test_entries(reader, block, token)?;
    Ok(SearchResult::Values(tests.iter().filter(|t| t.present.iter().all(|p| *p)).map(|t| answer(&t.tuple)).collect()))
}

/// What the server computes for one entry of the s-term's list: the
/// XSet labels of its xtags, one per x-term, and which are in the XSet.
/// Public so the leakage tests can see exactly what a search shows.
#[derive(Debug, Clone)]
pub struct EntryTest {
    tuple: Tuple,
    /// The XSet label of each x-term's xtag, in token order.
    pub xtags: Vec<Label>,
    /// Whether each is in the XSet.
    pub present: Vec<bool>,
}

impl EntryTest {
    /// The entry's position in the s-term's list.
    pub fn position(&self) -> u32 {
        self.tuple.position
    }
}

/// Walks the s-term's list and tests every entry against every x-term, in
/// list order. [`search`] answers the entries all of whose tests pass.
///
/// # Errors
/// As [`search`].
pub fn test_entries(reader: &EntryReader<'_>, block: usize, token: &OxtToken) -> Result<Vec<EntryTest>> {
    let rows = check_token(token)?;
    let xterms = usize::from(token.xterms);
    let tuples = walk(reader, block, &token.label_key, &token.value_key)?;
    if xterms == 0 {
        return Ok(tuples
            .into_iter()
            .map(|tuple| EntryTest { tuple, xtags: Vec::new(), present: Vec::new() })
            .collect());
    }
    if tuples.len() > rows {
        return Err(Error::Protocol(format!(
            "OXT token has xtokens for {rows} entries, the s-term's list has {}",
            tuples.len()
        )));
    }
    let mut out = Vec::new();
    for chunk in tuples.chunks(XSET_BATCH) {
        // Labels of every xtag of the chunk, row by row, computed in parallel.
        let labels: Vec<Vec<Label>> = chunk
            .par_iter()
            .map(|t| {
                let start = t.position as usize * xterms * POINT_LEN;
                let row = &token.xtokens[start..start + xterms * POINT_LEN];
                let (points, _) = row.as_chunks::<POINT_LEN>();
                points
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let xtoken = decompress(p, t.position, i)?;
                        Ok(xset_label(&(xtoken * t.y).compress()))
                    })
                    .collect::<Result<Vec<Label>>>()
            })
            .collect::<Result<_>>()?;
        let found = reader.get_many(labels.iter().flatten().map(|l| EntryLocation::Dictionary(*l)))?;
        if found.len() != chunk.len() * xterms {
            return Err(corrupt(format!("store answered {} of {} XSet reads", found.len(), chunk.len() * xterms)));
        }
        for ((t, xtags), present) in chunk.iter().zip(labels).zip(found.chunks(xterms)) {
            out.push(EntryTest { tuple: t.clone(), xtags, present: present.iter().map(Option::is_some).collect() });
        }
    }
    Ok(out)
}

fn answer(t: &Tuple) -> Vec<u8> {
    let mut v = Vec::with_capacity(ANSWER_LEN);
    v.extend_from_slice(&t.position.to_be_bytes());
    v.extend_from_slice(&t.e);
    v
}

fn decompress(bytes: &[u8; POINT_LEN], row: u32, term: usize) -> Result<RistrettoPoint> {
    CompressedRistretto(*bytes)
        .decompress()
        .ok_or_else(|| Error::Protocol(format!("OXT xtoken of entry {row}, x-term {term} is not a Ristretto point")))
}

/// The s-term's tuples in list order: TSet values under labels `0, 1, ...`
/// of `label_key`, each under the `value_key` keystream. Every value but the
/// last is full; `y` must be a canonical scalar.
fn walk(reader: &EntryReader<'_>, block: usize, label_key: &[u8; 16], value_key: &[u8; 16]) -> Result<Vec<Tuple>> {
    let (label, value) = (Prf::new(label_key), Prf::new(value_key));
    let expected = tset_value_len(block);
    let mut tuples = Vec::new();
    let mut ended = false;
    reader.walk_counters(
        |start, n| label.labels(start, n),
        |counter, stored| {
            let mut v = stored.to_vec();
            if ended {
                return Err(corrupt(format!("OXT TSet value {counter} follows a value that is not full")));
            }
            if v.len() != expected {
                return Err(corrupt(format!("OXT TSet value of {} bytes, expected {expected}", v.len())));
            }
            value.apply_keystream(Domain::Value, counter, &mut v);
            let count = usize::from(u16::from_le_bytes([v[0], v[1]]));
            if count == 0 || count > block {
                return Err(corrupt(format!("OXT TSet value {counter} holds {count} tuples (1 to {block} allowed)")));
            }
            ended = count < block;
            let (slots, _) = v[2..].as_chunks::<TUPLE_LEN>();
            for (i, slot) in slots[..count].iter().enumerate() {
                let position = counter
                    .checked_mul(block as u64)
                    .and_then(|p| p.checked_add(i as u64))
                    .and_then(|p| u32::try_from(p).ok())
                    .ok_or_else(|| corrupt("OXT s-term list longer than 2^32 entries".into()))?;
                let mut e = [0u8; 4];
                e.copy_from_slice(&slot[..4]);
                let mut y = [0u8; 32];
                y.copy_from_slice(&slot[4..]);
                let y = Option::<Scalar>::from(Scalar::from_canonical_bytes(y))
                    .ok_or_else(|| corrupt(format!("OXT TSet entry {position} holds a non-canonical scalar")))?;
                tuples.push(Tuple { position, e, y });
            }
            Ok(())
        },
    )?;
    Ok(tuples)
}
