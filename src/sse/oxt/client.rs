//! Client half of OXT: keys, setup (TSet and XSet), single-term and
//! conjunctive tokens, the sealed keyword statistics, opening answers.

use std::collections::HashMap;
use std::sync::LazyLock;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use hmac::{Hmac, KeyInit, Mac};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroize;

use super::server::{ANSWER_LEN, MAX_XTERMS, POINT_LEN, TUPLE_LEN, tset_value_len, xset_label};
use crate::keys::keyword::KeywordPrf;
use crate::keys::{KeyLabel, MasterKey, Purpose};
use crate::primitives::prf::{Domain, Prf};
use crate::protocol::{
    DocId, EncryptedEntry, EntryLocation, OxtToken, SearchResult, SearchToken, SseDescriptor, VersionedState,
};
use crate::sse::registry::Scheme;
use crate::sse::{
    Conjunction, ConjunctiveScheme, Keyword, MultiMap, SchemeConfig, StaticScheme, send_in_location_order, setup_rng,
};
use crate::state::StateFile;
use crate::{Error, Result};

/// Default tuples per TSet value: 16 tuples make a 578-byte value, one
/// store lookup per 16 entries of the s-term's list.
pub const DEFAULT_BLOCK: u16 = 16;
/// Largest block: a TSet value must fit the store's value limit.
pub const MAX_BLOCK: u16 = 1_800;
/// Most distinct terms of one conjunction.
pub const MAX_TERMS: usize = MAX_XTERMS + 1;
/// Version under which the keyword statistics are sealed as the instance's
/// client state (a static index writes it once).
const STATISTICS_VERSION: u64 = 1;

type HmacSha512 = Hmac<Sha512>;

/// A PRF into Z_p (the Ristretto255 scalar field): HMAC-SHA512 under a
/// derived key, its 64 bytes reduced mod p (bias below 2^-250).
#[derive(Clone)]
struct ScalarPrf {
    mac: HmacSha512,
}

impl std::fmt::Debug for ScalarPrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScalarPrf(<keyed>)")
    }
}

impl ScalarPrf {
    fn new(master: &MasterKey, tenant: &str, instance: &str, role: &str, key_version: u32) -> Result<Self> {
        let label = KeyLabel::new(
            tenant,
            &format!("sse:{}", Scheme::Oxt.name()),
            &format!("{instance}/{role}"),
            Purpose::Sse,
            key_version,
        )?;
        let key = master.derive_32(&label);
        let mac = <HmacSha512 as KeyInit>::new_from_slice(key.expose()).map_err(|e| Error::Crypto(e.to_string()))?;
        Ok(ScalarPrf { mac })
    }

    /// `F_p(K, input)`, or `F_p(K, input || c)` with a counter; the input's
    /// length is hashed first so the two never collide.
    fn scalar(&self, input: &[u8], counter: Option<u64>) -> Scalar {
        let mut mac = self.mac.clone();
        mac.update(&(input.len() as u64).to_be_bytes());
        mac.update(input);
        if let Some(c) = counter {
            mac.update(&c.to_be_bytes());
        }
        let mut out: [u8; 64] = mac.finalize().into_bytes().into();
        let s = Scalar::from_bytes_mod_order_wide(&out);
        out.zeroize();
        s
    }
}

/// The client half of OXT.
#[derive(Debug)]
pub struct Oxt {
    descriptor: SseDescriptor,
    block: usize,
    /// The stag of a keyword: its TSet label and value keys.
    tset: KeywordPrf,
    /// `K_e(w)`: the key of the encrypted ids `e` of a keyword's list.
    ekey: KeywordPrf,
    /// `K_X`: `xkey(w) = F_p(K_X, w)`.
    xterm: ScalarPrf,
    /// `K_I`: `xind = F_p(K_I, ind)`.
    xind: ScalarPrf,
    /// `K_Z`: `z_c = F_p(K_Z, w || c)`.
    z: ScalarPrf,
    sealer: StateFile,
    /// List length per keyword hash, once set up or loaded from the server.
    counts: Option<HashMap<u64, u32>>,
}

/// A keyword's key in the statistics table (inside the sealed state only).
fn keyword_hash(keyword: &[u8]) -> u64 {
    let d = Sha256::new().chain_update(b"sseek oxt count").chain_update(keyword).finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

impl Oxt {
    /// Derives the instance keys (each role its own label under the
    /// instance and key version). OXT answers are encrypted ids, so the
    /// descriptor is response-hiding whatever `config` asks.
    ///
    /// # Errors
    /// [`Error::Config`] for a block of 0 or above [`MAX_BLOCK`]; key label errors.
    pub fn new(master: &MasterKey, tenant: &str, config: &SchemeConfig) -> Result<Self> {
        let block = config.block.unwrap_or(DEFAULT_BLOCK);
        if block == 0 || block > MAX_BLOCK {
            return Err(Error::Config(format!("OXT block size {block} outside 1..={MAX_BLOCK}")));
        }
        let (name, instance, version) = (Scheme::Oxt.name(), config.instance.as_str(), config.key_version);
        let descriptor = SseDescriptor {
            instance: instance.to_owned(),
            scheme: name.to_owned(),
            block,
            response_revealing: false,
            key_version: version,
        };
        Ok(Oxt {
            descriptor,
            block: usize::from(block),
            tset: KeywordPrf::new(master, tenant, name, instance, "tset", version)?,
            ekey: KeywordPrf::new(master, tenant, name, instance, "ekey", version)?,
            xterm: ScalarPrf::new(master, tenant, instance, "xterm", version)?,
            xind: ScalarPrf::new(master, tenant, instance, "xind", version)?,
            z: ScalarPrf::new(master, tenant, instance, "z", version)?,
            sealer: StateFile::new(master, tenant, name, instance, version)?,
            counts: None,
        })
    }

    /// The list length of a keyword from the statistics, if loaded.
    pub fn count(&self, keyword: &[u8]) -> Option<u32> {
        self.counts.as_ref().map(|c| c.get(&keyword_hash(keyword)).copied().unwrap_or(0))
    }

    /// `z_c = F_p(K_Z, w || c)`, never zero.
    fn z(&self, keyword: &[u8], c: u64) -> Result<Scalar> {
        let z = self.z.scalar(keyword, Some(c));
        // Probability 2^-252; refused rather than dividing by zero.
        if z == Scalar::ZERO {
            return Err(Error::Crypto("OXT blinding scalar z is zero".into()));
        }
        Ok(z)
    }

    /// TSet values and XSet labels of a group of keywords, each with its
    /// ids in their random order: the scalars of the whole group first, then
    /// `y` and the xtags in one batch ([`blind_batch`]).
    fn entries_of_group(
        &self,
        group: &[(&Keyword, Vec<DocId>)],
        xinds: &HashMap<DocId, Scalar>,
    ) -> Result<Vec<EncryptedEntry>> {
        let pairs: usize = group.iter().map(|(_, order)| order.len()).sum();
        let (mut xkeys, mut ids_xind, mut zs) =
            (Vec::with_capacity(pairs), Vec::with_capacity(pairs), Vec::with_capacity(pairs));
        for (keyword, order) in group {
            let xkey = self.xterm.scalar(keyword, None);
            for (c, id) in order.iter().enumerate() {
                let xind = xinds.get(id).ok_or_else(|| Error::Config(format!("no xind for id {id}")))?;
                xkeys.push(xkey);
                ids_xind.push(*xind);
                zs.push(self.z(keyword, c as u64)?);
            }
        }
        let (mut ys, xtags) = blind_batch(&xkeys, &ids_xind, zs);
        let mut out = Vec::with_capacity(pairs + group.len());
        let mut start = 0;
        for (keyword, order) in group {
            let end = start + order.len();
            self.entries_of(keyword, order, &ys[start..end], &xtags[start..end], &mut out)?;
            start = end;
        }
        ys.zeroize();
        xkeys.zeroize();
        ids_xind.zeroize();
        Ok(out)
    }

    /// TSet values and XSet labels of one keyword, its ids in `order` with
    /// their `y` and xtags, appended to `out`.
    fn entries_of(
        &self,
        keyword: &[u8],
        order: &[DocId],
        ys: &[Scalar],
        xtags: &[CompressedRistretto],
        out: &mut Vec<EncryptedEntry>,
    ) -> Result<()> {
        let keys = self.tset.keys(keyword);
        let (label, value) = (Prf::new(&keys.first), Prf::new(&keys.second));
        let e_key = Prf::new(&self.ekey.keys(keyword).first);
        let mut tuples = Vec::with_capacity(order.len() * TUPLE_LEN);
        for (c, ((id, y), xtag)) in order.iter().zip(ys).zip(xtags).enumerate() {
            let mut e = id.to_le_bytes();
            e_key.apply_keystream(Domain::Value, c as u64, &mut e);
            tuples.extend_from_slice(&e);
            tuples.extend_from_slice(y.as_bytes());
            out.push(EncryptedEntry { location: EntryLocation::Dictionary(xset_label(xtag)), value: Vec::new() });
        }
        let per_value = TUPLE_LEN * self.block;
        for (j, chunk) in tuples.chunks(per_value).enumerate() {
            let mut v = Vec::with_capacity(tset_value_len(self.block));
            let count = u16::try_from(chunk.len() / TUPLE_LEN).map_err(|_| Error::Config("block too large".into()))?;
            v.extend_from_slice(&count.to_le_bytes());
            v.extend_from_slice(chunk);
            v.resize(tset_value_len(self.block), 0);
            value.apply_keystream(Domain::Value, j as u64, &mut v);
            out.push(EncryptedEntry { location: EntryLocation::Dictionary(label.label(j as u64)), value: v });
        }
        tuples.zeroize();
        Ok(())
    }
}

/// Pairs of one batch at setup: enough to spread one scalar inversion and
/// one field inversion (the compression) thin, few enough to stay in cache.
const BLIND_BATCH: usize = 1024;

/// The inverse of 2 in Z_p.
static HALF: LazyLock<Scalar> = LazyLock::new(|| Scalar::from(2u64).invert());

/// For entries `(xkey_i, xind_i, z_i)` (every `z_i` nonzero):
/// `y_i = xind_i / z_i` and the xtag `compress(g^(xkey_i * xind_i))`, the
/// same values as one at a time, in batches: the `z_i` inverted together
/// (one scalar inversion per batch), and the points computed as
/// `g^(xkey_i * xind_i / 2)` and compressed doubled together (one field
/// inversion per batch instead of one per point).
fn blind_batch(xkeys: &[Scalar], xinds: &[Scalar], mut zs: Vec<Scalar>) -> (Vec<Scalar>, Vec<CompressedRistretto>) {
    let mut points = Vec::with_capacity(BLIND_BATCH.min(xinds.len()));
    let mut xtags = Vec::with_capacity(xinds.len());
    for (z, (xkey, xind)) in zs.chunks_mut(BLIND_BATCH).zip(xkeys.chunks(BLIND_BATCH).zip(xinds.chunks(BLIND_BATCH))) {
        Scalar::invert_batch_alloc(z);
        for (z, xind) in z.iter_mut().zip(xind) {
            *z *= xind;
        }
        points.clear();
        points.extend(xkey.iter().zip(xind).map(|(k, x)| RistrettoPoint::mul_base(&(k * x * *HALF))));
        xtags.extend(RistrettoPoint::double_and_compress_batch(&points));
    }
    (zs, xtags)
}

impl StaticScheme for Oxt {
    fn descriptor(&self) -> &SseDescriptor {
        &self.descriptor
    }

    fn setup(&self, db: &MultiMap, sink: &mut dyn FnMut(Vec<EncryptedEntry>) -> Result<()>) -> Result<()> {
        if let Some((_, ids)) = db.iter().find(|(_, ids)| u32::try_from(ids.len()).is_err()) {
            return Err(Error::Config(format!("an OXT list of {} ids exceeds 2^32", ids.len())));
        }
        // xind once per document, shared by all its keywords.
        let mut ids: Vec<DocId> = db.values().flatten().copied().collect();
        ids.par_sort_unstable();
        ids.dedup();
        let xinds: HashMap<DocId, Scalar> =
            ids.par_iter().map(|&id| (id, self.xind.scalar(&id.to_le_bytes(), None))).collect();
        // Each list in random order (as in the paper), so positions in a
        // result say nothing about id order; one seed per keyword for rayon.
        let mut rng = setup_rng()?;
        type Work<'a> = (&'a Keyword, &'a Vec<DocId>, [u8; 32]);
        let work: Vec<Work<'_>> =
            db.iter().filter(|(_, ids)| !ids.is_empty()).map(|(k, ids)| (k, ids, rng.random())).collect();
        // Consecutive keywords grouped to about a batch of pairs, so short
        // lists share the batched inversions too.
        let mut groups: Vec<&[Work<'_>]> = Vec::new();
        let (mut start, mut pairs) = (0, 0);
        for (i, (_, ids, _)) in work.iter().enumerate() {
            pairs += ids.len();
            if pairs >= BLIND_BATCH || i + 1 == work.len() {
                groups.push(&work[start..=i]);
                (start, pairs) = (i + 1, 0);
            }
        }
        let entries: Vec<EncryptedEntry> = groups
            .par_iter()
            .map(|group| {
                let ordered: Vec<(&Keyword, Vec<DocId>)> = group
                    .iter()
                    .map(|(k, ids, seed)| {
                        let mut order = (*ids).clone();
                        order.shuffle(&mut ChaCha20Rng::from_seed(*seed));
                        (*k, order)
                    })
                    .collect();
                self.entries_of_group(&ordered, &xinds)
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect();
        // All entries in label order: request boundaries say nothing about keywords.
        send_in_location_order(entries, sink)
    }

    fn token(&self, keyword: &[u8]) -> SearchToken {
        let keys = self.tset.keys(keyword);
        SearchToken::Dictionary { label_key: keys.first, value_key: Some(keys.second) }
    }

    fn resolve(&self, keyword: &[u8], result: SearchResult) -> Result<Vec<DocId>> {
        let SearchResult::Values(values) = result else {
            return Err(corrupt("an OXT answer holds plain ids".into()));
        };
        let e_key = Prf::new(&self.ekey.keys(keyword).first);
        let mut ids = Vec::with_capacity(values.len());
        for v in values {
            let Ok(v) = <[u8; ANSWER_LEN]>::try_from(v.as_slice()) else {
                return Err(corrupt(format!("OXT answer value of {} bytes, expected {ANSWER_LEN}", v.len())));
            };
            let position = u32::from_be_bytes([v[0], v[1], v[2], v[3]]);
            let mut e = [v[4], v[5], v[6], v[7]];
            e_key.apply_keystream(Domain::Value, u64::from(position), &mut e);
            ids.push(DocId::from_le_bytes(e));
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    fn seal_setup_state(&mut self, db: &MultiMap) -> Result<Option<Vec<u8>>> {
        let counts: HashMap<u64, u32> = db
            .iter()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(k, ids)| (keyword_hash(k), u32::try_from(ids.len()).unwrap_or(u32::MAX)))
            .collect();
        // Fixed-size rows, so the sealed size says only how many keywords there are.
        let mut table: Vec<[u8; 12]> = counts
            .iter()
            .map(|(k, v)| {
                let mut row = [0u8; 12];
                row[..8].copy_from_slice(&k.to_be_bytes());
                row[8..].copy_from_slice(&v.to_be_bytes());
                row
            })
            .collect();
        table.sort_unstable();
        let sealed = self.sealer.seal_versioned(&table, STATISTICS_VERSION)?;
        self.counts = Some(counts);
        Ok(Some(sealed))
    }

    fn conjunctive(&mut self) -> Option<&mut dyn ConjunctiveScheme> {
        Some(self)
    }
}

impl ConjunctiveScheme for Oxt {
    fn has_statistics(&self) -> bool {
        self.counts.is_some()
    }

    fn open_statistics(&mut self, state: &VersionedState) -> Result<()> {
        if state.version != STATISTICS_VERSION {
            return Err(Error::StateFile {
                path: "OXT statistics on the server".into(),
                reason: format!("version {}, a static index writes only {STATISTICS_VERSION}", state.version),
            });
        }
        let table: Vec<[u8; 12]> =
            self.sealer.open_versioned(&state.sealed, STATISTICS_VERSION, "OXT statistics on the server")?;
        self.counts = Some(
            table
                .into_iter()
                .map(|row| {
                    let (k, v) = row.split_at(8);
                    (
                        u64::from_be_bytes(k.try_into().unwrap_or_default()),
                        u32::from_be_bytes(v.try_into().unwrap_or_default()),
                    )
                })
                .collect(),
        );
        Ok(())
    }

    fn conjunction(&self, terms: &[Keyword]) -> Result<Conjunction> {
        let mut distinct: Vec<&Keyword> = terms.iter().collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.is_empty() || distinct.len() > MAX_TERMS {
            return Err(Error::Config(format!(
                "an OXT conjunction has 1 to {MAX_TERMS} terms, not {}",
                distinct.len()
            )));
        }
        let counts = self.counts.as_ref().ok_or_else(|| Error::Config("OXT statistics are not loaded".into()))?;
        let count = |k: &[u8]| counts.get(&keyword_hash(k)).copied().unwrap_or(0);
        // The s-term: the least frequent term, so the server walks the shortest list.
        let s = distinct.iter().copied().min_by_key(|k| count(k)).ok_or_else(|| Error::Config("no terms".into()))?;
        let s_term = terms.iter().position(|t| t == s).unwrap_or(0);
        let xkeys: Vec<Scalar> = distinct.iter().filter(|k| **k != s).map(|k| self.xterm.scalar(k, None)).collect();
        let n = count(s);
        let rows: Vec<Vec<u8>> = (0..u64::from(n))
            .into_par_iter()
            .map(|c| {
                let z = self.z(s, c)?;
                let mut row = Vec::with_capacity(xkeys.len() * POINT_LEN);
                for xkey in &xkeys {
                    row.extend_from_slice(RistrettoPoint::mul_base(&(z * xkey)).compress().as_bytes());
                }
                Ok(row)
            })
            .collect::<Result<_>>()?;
        let keys = self.tset.keys(s);
        Ok(Conjunction {
            s_term,
            token: OxtToken {
                label_key: keys.first,
                value_key: keys.second,
                xterms: u8::try_from(xkeys.len()).map_err(|_| Error::Config("too many x-terms".into()))?,
                xtokens: rows.concat(),
            },
        })
    }
}

fn corrupt(reason: String) -> Error {
    Error::DataCorruption { table: "entries", reason }
}

#[cfg(test)]
mod tests {
    use rand::RngCore;

    use super::*;

    fn random_scalar(rng: &mut ChaCha20Rng) -> Scalar {
        let mut wide = [0u8; 64];
        rng.fill_bytes(&mut wide);
        Scalar::from_bytes_mod_order_wide(&wide)
    }

    /// The batched `y` and xtags are byte for byte those computed one entry
    /// at a time (`xind * z^-1`, `compress(g^(xkey * xind))`), across batch
    /// boundaries and for shared and distinct xkeys.
    #[test]
    fn batched_blinding_equals_one_at_a_time() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        for n in [0, 1, 2, 5, BLIND_BATCH - 1, BLIND_BATCH, BLIND_BATCH + 3, 2 * BLIND_BATCH + 100] {
            let shared = random_scalar(&mut rng);
            let xkeys: Vec<Scalar> =
                (0..n).map(|i| if i % 3 == 0 { random_scalar(&mut rng) } else { shared }).collect();
            let xinds: Vec<Scalar> = (0..n).map(|_| random_scalar(&mut rng)).collect();
            let zs: Vec<Scalar> = (0..n).map(|_| random_scalar(&mut rng)).collect();
            let (ys, xtags) = blind_batch(&xkeys, &xinds, zs.clone());
            assert_eq!((ys.len(), xtags.len()), (n, n));
            for i in 0..n {
                assert_eq!(ys[i].to_bytes(), (xinds[i] * zs[i].invert()).to_bytes(), "y {i} of {n}");
                let one = RistrettoPoint::mul_base(&(xkeys[i] * xinds[i])).compress();
                assert_eq!(xtags[i].to_bytes(), one.to_bytes(), "xtag {i} of {n}");
                assert_eq!(xset_label(&xtags[i]), xset_label(&one));
            }
        }
        // Negative control: a different z gives a different y.
        let (x, z) = (random_scalar(&mut rng), random_scalar(&mut rng));
        let (ys, _) = blind_batch(&[Scalar::ONE], &[x], vec![z + Scalar::ONE]);
        assert_ne!(ys[0], x * z.invert());
    }
}
