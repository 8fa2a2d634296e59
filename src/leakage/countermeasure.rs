//! Countermeasures against leakage-abuse attacks, applied on the client
//! before the data reaches a scheme, so every scheme gets them unchanged:
//!
//! - **Result-length padding** ([`Padding`]): each keyword's list is padded
//!   to a multiple of `k`, or to the next power of `x` (SEAL, Demertzis et
//!   al., USENIX Security 2020). Fillers are either dummy ids with no
//!   document ([`Filler::Dummy`]: hidden from the server by response-hiding
//!   schemes, dropped by the client) or ids of real other documents
//!   ([`Filler::Documents`]: the client fetches and discards them like blind
//!   index false positives, so the access pattern the server sees is padded too).
//! - **Document size buckets** ([`SizeBuckets`]): sealed sizes rounded up.
//! - Blind-index truncation and forward privacy are scheme choices (token
//!   bits, Mitra/Diana) rather than transformations; [`Countermeasure`]
//!   names them all for the experiments.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use rand::Rng;
use rand::seq::{IndexedRandom, IteratorRandom};
use serde::Serialize;

use crate::protocol::DocId;
use crate::sse::MultiMap;
use crate::{Error, Result};

/// Dummy ids are taken from here up; no real document has such an id, so
/// the client drops them from results.
pub const DUMMY_BASE: DocId = 0xF000_0000;

/// Whether `id` is a padding dummy.
pub fn is_dummy(id: DocId) -> bool {
    id >= DUMMY_BASE
}

/// A result-length padding rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Padding {
    /// No padding.
    None,
    /// Pad every list to a multiple of `k`.
    Multiple(u32),
    /// Pad every list to the next power of `x` (x ≥ 2), as SEAL does.
    Power(u32),
}

impl Padding {
    /// The padded length of a list of `n` ids (0 stays 0: an absent keyword
    /// has no list to pad).
    pub fn padded_len(self, n: usize) -> usize {
        match self {
            _ if n == 0 => 0,
            Padding::None => n,
            Padding::Multiple(k) => n.div_ceil(k as usize) * k as usize,
            Padding::Power(x) => {
                let x = x.max(2) as usize;
                let mut p = 1usize;
                while p < n {
                    p = p.saturating_mul(x);
                }
                p
            }
        }
    }
}

/// What padding entries point to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filler {
    /// Ids from [`DUMMY_BASE`] up, distinct within a list.
    Dummy,
    /// Random ids of real documents not in the list, drawn from these.
    Documents(Vec<DocId>),
}

/// Pads every list of `db` by `padding` with `filler` ids. With
/// [`Filler::Documents`] a list cannot grow past the number of documents;
/// it is then padded to all of them.
pub fn pad(db: &MultiMap, padding: Padding, filler: &Filler, rng: &mut impl Rng) -> MultiMap {
    db.iter()
        .map(|(w, ids)| {
            let target = padding.padded_len(ids.len());
            let mut padded = ids.clone();
            match filler {
                Filler::Dummy => {
                    // A list longer than the dummy range (2^28) cannot occur: ids are u32 and below DUMMY_BASE.
                    padded.extend(
                        (0..target - ids.len())
                            .map(|j| DUMMY_BASE.saturating_add(DocId::try_from(j).unwrap_or(DocId::MAX))),
                    );
                }
                Filler::Documents(all) => {
                    let mut have: BTreeSet<DocId> = ids.iter().copied().collect();
                    let need = target.saturating_sub(ids.len());
                    if need > 0 && need * 2 < all.len().saturating_sub(have.len()) {
                        // Few fillers among many documents: draw and reject
                        // (a full scan per keyword costs O(documents) for
                        // each of tens of thousands of keywords).
                        let mut added = 0;
                        while added < need {
                            if let Some(&id) = all.choose(rng)
                                && have.insert(id)
                            {
                                padded.push(id);
                                added += 1;
                            }
                        }
                    } else {
                        padded.extend(all.iter().copied().filter(|id| !have.contains(id)).choose_multiple(rng, need));
                    }
                    padded.sort_unstable();
                }
            }
            (w.clone(), padded)
        })
        .collect()
}

/// Document size buckets: sealed sizes are rounded up to a multiple of
/// `bucket` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SizeBuckets(pub u64);

impl SizeBuckets {
    /// The padded size of a `bytes`-long ciphertext.
    pub fn padded(self, bytes: u64) -> u64 {
        bytes.div_ceil(self.0.max(1)) * self.0.max(1)
    }
}

/// A countermeasure as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Countermeasure {
    /// Nothing.
    None,
    /// `pad:k`: result lengths padded to multiples of k.
    Pad(u32),
    /// `pow:x`: result lengths padded to powers of x.
    Pow(u32),
    /// `size:b`: document ciphertext sizes padded to multiples of b bytes.
    Size(u64),
    /// `bits:n`: blind-index tokens truncated to n bits.
    Bits(u8),
}

impl Countermeasure {
    /// The result-length padding it implies.
    pub fn padding(self) -> Padding {
        match self {
            Countermeasure::Pad(k) => Padding::Multiple(k),
            Countermeasure::Pow(x) => Padding::Power(x),
            _ => Padding::None,
        }
    }
}

impl fmt::Display for Countermeasure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Countermeasure::None => write!(f, "none"),
            Countermeasure::Pad(k) => write!(f, "pad:{k}"),
            Countermeasure::Pow(x) => write!(f, "pow:{x}"),
            Countermeasure::Size(b) => write!(f, "size:{b}"),
            Countermeasure::Bits(n) => write!(f, "bits:{n}"),
        }
    }
}

impl FromStr for Countermeasure {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::Config(format!("countermeasure {s:?}: expected none, pad:K, pow:X, size:BYTES or bits:N"));
        if s == "none" {
            return Ok(Countermeasure::None);
        }
        let (kind, arg) = s.split_once(':').ok_or_else(bad)?;
        let n: u64 = arg.parse().map_err(|_| bad())?;
        match kind {
            "pad" if (1..=1 << 20).contains(&n) => Ok(Countermeasure::Pad(u32::try_from(n).map_err(|_| bad())?)),
            "pow" if (2..=1 << 20).contains(&n) => Ok(Countermeasure::Pow(u32::try_from(n).map_err(|_| bad())?)),
            "size" if (1..=1 << 30).contains(&n) => Ok(Countermeasure::Size(n)),
            "bits" if (1..=64).contains(&n) => Ok(Countermeasure::Bits(u8::try_from(n).map_err(|_| bad())?)),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn padded_lengths() {
        assert_eq!(Padding::Multiple(4).padded_len(5), 8);
        assert_eq!(Padding::Multiple(4).padded_len(8), 8);
        assert_eq!(Padding::Power(2).padded_len(5), 8);
        assert_eq!(Padding::Power(3).padded_len(10), 27);
        assert_eq!(Padding::Power(2).padded_len(1), 1);
        assert_eq!(Padding::None.padded_len(7), 7);
        assert_eq!(Padding::Multiple(4).padded_len(0), 0);
    }

    #[test]
    fn padding_keeps_ids_and_adds_distinct_fillers() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let mut db = MultiMap::new();
        db.insert(b"a".to_vec(), vec![1, 2, 3]);
        db.insert(b"b".to_vec(), vec![4]);
        let dummies = pad(&db, Padding::Multiple(4), &Filler::Dummy, &mut rng);
        assert_eq!(dummies[b"a".as_slice()], vec![1, 2, 3, DUMMY_BASE]);
        assert_eq!(dummies[b"b".as_slice()].iter().filter(|&&i| is_dummy(i)).count(), 3);
        let docs = pad(&db, Padding::Multiple(4), &Filler::Documents((1..=10).collect()), &mut rng);
        let b = &docs[b"b".as_slice()];
        assert_eq!(b.len(), 4);
        assert!(b.contains(&4));
        let set: BTreeSet<_> = b.iter().collect();
        assert_eq!(set.len(), 4, "fillers are distinct and not already in the list");
    }

    #[test]
    fn parses_countermeasures() {
        assert_eq!("pad:8".parse::<Countermeasure>().unwrap(), Countermeasure::Pad(8));
        assert_eq!("pow:2".parse::<Countermeasure>().unwrap(), Countermeasure::Pow(2));
        assert_eq!("none".parse::<Countermeasure>().unwrap(), Countermeasure::None);
        for bad in ["pad", "pad:0", "pow:1", "bits:99", "size:x", "zzz:1"] {
            assert!(bad.parse::<Countermeasure>().is_err(), "{bad}");
        }
    }
}
