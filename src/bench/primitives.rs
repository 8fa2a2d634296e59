//! Raw primitive costs on this CPU, the floor every scheme is compared with.

use std::hint::black_box;
use std::time::Instant;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use serde::Serialize;

use crate::{Error, Result};

/// Raw primitive costs on this CPU, measured in the same run: the floor
/// each scheme is compared with.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Primitives {
    /// HMAC-SHA256 of a 32-byte input with a keyed instance cloned per call, nanoseconds.
    pub hmac_sha256_ns: f64,
    /// AES-256 encryption of one 16-byte block with an expanded key, nanoseconds.
    pub aes_block_ns: f64,
    /// AES-256-SIV encryption of 1 KiB, nanoseconds.
    pub aes_siv_1kib_ns: f64,
    /// AES-256-GCM encryption of 1 KiB, nanoseconds.
    pub aes_gcm_1kib_ns: f64,
    /// AES-256-GCM-SIV encryption of 1 KiB (envelope version 2), nanoseconds.
    pub aes_gcm_siv_1kib_ns: f64,
    /// Ristretto255 fixed-base scalar multiplication (`RistrettoPoint::mul_base`,
    /// the precomputed basepoint table), nanoseconds: OXT's floor per pair at
    /// setup and per s-term entry and x-term at search.
    pub ristretto_fixed_base_ns: f64,
    /// Ristretto255 variable-base scalar multiplication, nanoseconds (OXT's
    /// server, per s-term entry and x-term).
    pub ristretto_variable_base_ns: f64,
    /// Compression of one Ristretto255 point, nanoseconds.
    pub ristretto_compress_ns: f64,
}

impl Primitives {
    /// Median over interleaved rounds (robust to the other core being busy).
    ///
    /// # Errors
    /// [`Error::Crypto`] if a primitive refuses its key (it cannot).
    #[allow(clippy::cast_possible_truncation)] // a byte pattern: truncation intended
    pub fn measure(rounds: usize) -> Result<Self> {
        use aes::Aes256;
        use aes::cipher::{BlockEncrypt, KeyInit as _};
        use aes_gcm::Aes256Gcm;
        use aes_gcm_siv::Aes256GcmSiv;
        use aes_siv::Aes256SivAead;
        use aes_siv::aead::{Aead, KeyInit};
        use hmac::{Hmac, Mac};
        use sha2::Sha256;
        let crypto = |e: &dyn std::fmt::Display| Error::Crypto(e.to_string());
        let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&[1; 32]).map_err(|e| crypto(&e))?;
        let siv = Aes256SivAead::new_from_slice(&[3; 64]).map_err(|e| crypto(&e))?;
        let gcm = Aes256Gcm::new_from_slice(&[3; 32]).map_err(|e| crypto(&e))?;
        let gcm_siv = Aes256GcmSiv::new_from_slice(&[3; 32]).map_err(|e| crypto(&e))?;
        let block_cipher = Aes256::new(&[4u8; 32].into());
        let kib = vec![0x5au8; 1024];
        let (mut h, mut s, mut g, mut gs, mut b) = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut fixed, mut variable, mut compress) = (Vec::new(), Vec::new(), Vec::new());
        let (nh, ne, nb, nr) = (20_000u32, 1_000u32, 100_000u32, 200u32);
        let scalar = Scalar::from_bytes_mod_order_wide(&[7u8; 64]);
        let point = RistrettoPoint::mul_base(&Scalar::from_bytes_mod_order_wide(&[9u8; 64]));
        for _ in 0..rounds.max(1) {
            let t = Instant::now();
            for i in 0..nh {
                let mut m = keyed.clone();
                m.update(black_box(&[i as u8; 32]));
                black_box(m.finalize().into_bytes());
            }
            h.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(nh));
            let t = Instant::now();
            for _ in 0..ne {
                black_box(siv.encrypt(&[9u8; 16].into(), black_box(kib.as_slice())).map_err(|e| crypto(&e))?);
            }
            s.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(ne));
            let t = Instant::now();
            for _ in 0..ne {
                black_box(gcm.encrypt(&[9u8; 12].into(), black_box(kib.as_slice())).map_err(|e| crypto(&e))?);
            }
            g.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(ne));
            let t = Instant::now();
            for _ in 0..ne {
                black_box(gcm_siv.encrypt(&[9u8; 12].into(), black_box(kib.as_slice())).map_err(|e| crypto(&e))?);
            }
            gs.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(ne));
            let mut block = [0x11u8; 16].into();
            let t = Instant::now();
            for _ in 0..nb {
                block_cipher.encrypt_block(black_box(&mut block));
            }
            black_box(&block);
            b.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(nb));
            let t = Instant::now();
            for _ in 0..nr {
                black_box(RistrettoPoint::mul_base(black_box(&scalar)));
            }
            fixed.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(nr));
            let t = Instant::now();
            for _ in 0..nr {
                black_box(black_box(point) * black_box(scalar));
            }
            variable.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(nr));
            let t = Instant::now();
            for _ in 0..nr {
                black_box(black_box(point).compress());
            }
            compress.push(t.elapsed().as_secs_f64() * 1e9 / f64::from(nr));
        }
        Ok(Primitives {
            hmac_sha256_ns: median(&mut h),
            aes_block_ns: median(&mut b),
            aes_siv_1kib_ns: median(&mut s),
            aes_gcm_1kib_ns: median(&mut g),
            aes_gcm_siv_1kib_ns: median(&mut gs),
            ristretto_fixed_base_ns: median(&mut fixed),
            ristretto_variable_base_ns: median(&mut variable),
            ristretto_compress_ns: median(&mut compress),
        })
    }
}

/// The median of `v` (sorted in place); 0 for an empty slice.
pub(super) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
