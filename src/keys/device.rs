//! Device keys: one X25519 key pair per device of an account, and HPKE
//! (RFC 9180) sealing to a device's public key.
//!
//! The account keyring reaches a new device sealed to that device's public
//! key ([`seal_to_device`]) with HPKE in base mode, cipher suite
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM (the `hpke` crate;
//! nothing here re-implements HPKE). Which bytes are sealed, and under
//! which `info` and associated data, is the business of
//! [`crate::client::devices`]; this module holds the key pair, its file and
//! the two HPKE calls.
//!
//! # Device key file
//! `"SSEEKDEV"`, u16 BE version `1`, the 32-byte X25519 secret key
//! (clamped), the 32-byte public key, SHA-256 of everything before (106
//! bytes). Written atomically (a temporary file beside it, synced, linked
//! under its name without overwriting anything, the directory synced),
//! mode 0600.

use std::fmt;
use std::path::Path;

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::os_random;
use crate::{Error, Result};

type Kem = X25519HkdfSha256;

const DEVICE_FILE_MAGIC: &[u8; 8] = b"SSEEKDEV";
const DEVICE_FILE_VERSION: u16 = 1;
/// Bytes of a device key file: magic, version, secret key, public key, checksum.
pub const DEVICE_FILE_LEN: usize = 8 + 2 + 32 + 32 + 32;
/// Domain label of a fingerprint.
const FINGERPRINT_LABEL: &[u8] = b"sseek/device-fingerprint/v1";
/// Bytes of an HPKE encapsulated key of DHKEM(X25519, HKDF-SHA256).
pub const ENCAPSULATED_KEY_LEN: usize = 32;

/// The public, non-secret short name of a device key: the first 8 bytes of
/// `SHA-256("sseek/device-fingerprint/v1" || public key)`, shown as 16 hex
/// digits in groups of four (`3f2a-9c01-77de-0b45`) for people to compare
/// on both devices, and as plain hex ([`Fingerprint::hex`]) in the names of
/// the device's slot on the server.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Fingerprint(pub [u8; 8]);

impl Fingerprint {
    /// The 16 hex digits, ungrouped.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 16 hex digits, grouped by `-`, `:` or spaces or not.
    ///
    /// ```
    /// use sseek::keys::device::Fingerprint;
    /// let f = Fingerprint::parse("3f2a-9c01-77de-0b45")?;
    /// assert_eq!(f.to_string(), "3f2a-9c01-77de-0b45");
    /// assert_eq!(Fingerprint::parse(&f.hex())?, f);
    /// # Ok::<(), sseek::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] for anything but 16 hex digits.
    pub fn parse(text: &str) -> Result<Self> {
        let digits: String = text.chars().filter(|c| !matches!(c, '-' | ':' | ' ')).collect();
        let mut out = [0u8; 8];
        hex::decode_to_slice(&digits, &mut out)
            .map_err(|_| Error::Config(format!("{text:?} is not a device fingerprint (16 hex digits)")))?;
        Ok(Fingerprint(out))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.hex();
        write!(f, "{}-{}-{}-{}", &h[0..4], &h[4..8], &h[8..12], &h[12..16])
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// A device's X25519 public key (32 bytes), as it is copied from one
/// device to another: 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DevicePublicKey(pub [u8; 32]);

impl DevicePublicKey {
    /// Parses 64 hex digits (surrounding white space ignored).
    ///
    /// # Errors
    /// [`Error::Config`] for anything else.
    pub fn from_hex(text: &str) -> Result<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut out).map_err(|_| {
            Error::Config("a device public key is 64 hex digits (as `sseek device init` prints)".into())
        })?;
        Ok(DevicePublicKey(out))
    }

    /// The 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The key's [`Fingerprint`].
    pub fn fingerprint(&self) -> Fingerprint {
        let mut h = Sha256::new();
        h.update(FINGERPRINT_LABEL);
        h.update(self.0);
        let digest = h.finalize();
        let mut out = [0u8; 8];
        out.copy_from_slice(&digest[..8]);
        Fingerprint(out)
    }
}

impl fmt::Debug for DevicePublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DevicePublicKey({})", self.to_hex())
    }
}

/// One device's X25519 key pair. The secret key is zeroized on drop and
/// never printed.
///
/// ```
/// use sseek::keys::device::DeviceKeyPair;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("phone.device");
/// let pair = DeviceKeyPair::generate()?;
/// pair.save(&path)?;
/// let back = DeviceKeyPair::load(&path)?;
/// assert_eq!(back.public_key(), pair.public_key());
/// println!("fingerprint {}, public key {}", pair.fingerprint(), pair.public_key().to_hex());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DeviceKeyPair {
    secret: [u8; 32],
    #[zeroize(skip)]
    public: DevicePublicKey,
}

impl fmt::Debug for DeviceKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceKeyPair {{ fingerprint: {}, secret: <redacted> }}", self.fingerprint())
    }
}

impl DeviceKeyPair {
    /// A fresh key pair from the OS random number generator.
    ///
    /// # Errors
    /// [`Error::Crypto`] if the OS RNG fails.
    pub fn generate() -> Result<Self> {
        let mut secret = Zeroizing::new([0u8; 32]);
        os_random(&mut secret[..])?;
        Self::from_secret(&secret)
    }

    /// The key pair of a 32-byte X25519 secret key (clamped as RFC 7748
    /// says; tests and known-answer vectors).
    ///
    /// # Errors
    /// [`Error::Crypto`] if the key is refused (never for 32 bytes).
    pub fn from_secret(secret: &[u8; 32]) -> Result<Self> {
        let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(secret)
            .map_err(|e| Error::Crypto(format!("X25519 secret key refused: {e}")))?;
        let mut public = [0u8; 32];
        Kem::sk_to_pk(&sk).write_exact(&mut public);
        // Written straight into the key pair: no copy of the secret is left behind.
        let mut pair = DeviceKeyPair { secret: [0u8; 32], public: DevicePublicKey(public) };
        sk.write_exact(&mut pair.secret);
        Ok(pair)
    }

    /// The public key, to enroll this device from one that holds the keyring.
    pub fn public_key(&self) -> DevicePublicKey {
        self.public
    }

    /// The public key's [`Fingerprint`].
    pub fn fingerprint(&self) -> Fingerprint {
        self.public.fingerprint()
    }

    /// The file bytes (format in the module docs).
    pub fn to_file_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut buf = Zeroizing::new(Vec::with_capacity(DEVICE_FILE_LEN));
        buf.extend_from_slice(DEVICE_FILE_MAGIC);
        buf.extend_from_slice(&DEVICE_FILE_VERSION.to_be_bytes());
        buf.extend_from_slice(&self.secret);
        buf.extend_from_slice(&self.public.0);
        let checksum = Sha256::digest(&buf[..]);
        buf.extend_from_slice(&checksum);
        buf
    }

    /// Parses a device key file's bytes; `source` names it in errors.
    ///
    /// # Errors
    /// [`Error::KeyFile`] naming what is wrong: not a device key file,
    /// unsupported version, truncated, trailing data, checksum mismatch, a
    /// public key that is not the secret key's.
    pub fn from_file_bytes(bytes: &[u8], source: &Path) -> Result<Self> {
        Self::parse(bytes).map_err(|reason| Error::KeyFile { path: source.to_owned(), reason })
    }

    fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        if bytes.len() < 10 || &bytes[..8] != DEVICE_FILE_MAGIC {
            if bytes.starts_with(super::KEY_FILE_MAGIC) {
                return Err("a keyring or master key file, not a device key file".into());
            }
            return Err("not an sseek device key file (bad magic bytes)".into());
        }
        let version = u16::from_be_bytes([bytes[8], bytes[9]]);
        if version != DEVICE_FILE_VERSION {
            return Err(format!(
                "unsupported device key file version {version} (this build reads version {DEVICE_FILE_VERSION})"
            ));
        }
        if bytes.len() != DEVICE_FILE_LEN {
            let what = if bytes.len() < DEVICE_FILE_LEN { "truncated" } else { "trailing data" };
            return Err(format!("{what}: {} bytes, expected {DEVICE_FILE_LEN}", bytes.len()));
        }
        let (body, checksum) = bytes.split_at(DEVICE_FILE_LEN - 32);
        if !bool::from(Sha256::digest(body)[..].ct_eq(checksum)) {
            return Err("checksum mismatch: the file is damaged".into());
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        secret.copy_from_slice(&body[10..42]);
        let pair = Self::from_secret(&secret).map_err(|e| e.to_string())?;
        // A stored secret must be stored clamped, so that a file has one form only.
        if !bool::from(pair.public.0.ct_eq(&body[42..74]) & pair.secret.ct_eq(&*secret)) {
            return Err("the public key is not the secret key's".into());
        }
        Ok(pair)
    }

    /// Reads a device key file written by [`DeviceKeyPair::save`].
    ///
    /// # Errors
    /// As [`DeviceKeyPair::from_file_bytes`]; [`Error::Io`].
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| Error::io(path, e))?);
        Self::from_file_bytes(&bytes, path)
    }

    /// Writes the key pair to a new file, atomically and never over an
    /// existing one (mode 0600 on Unix).
    ///
    /// # Errors
    /// [`Error::Io`], also when `path` exists; nothing is left behind then.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::files::publish_secret(path, &self.to_file_bytes(), false)
    }

    /// Opens what [`seal_to_device`] sealed to this device's public key
    /// with the same `info` and `aad`.
    ///
    /// # Errors
    /// [`Error::Crypto`] for bytes that do not open (modified, sealed to
    /// another key, or under another `info` or `aad`) or are too short.
    pub fn open(&self, sealed: &[u8], info: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let Some((enc, ciphertext)) = sealed.split_first_chunk::<ENCAPSULATED_KEY_LEN>() else {
            return Err(Error::Crypto(format!("HPKE ciphertext of {} bytes is truncated", sealed.len())));
        };
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc)
            .map_err(|e| Error::Crypto(format!("HPKE encapsulated key refused: {e}")))?;
        let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&self.secret)
            .map_err(|e| Error::Crypto(format!("X25519 secret key refused: {e}")))?;
        hpke::single_shot_open::<AesGcm256, HkdfSha256, Kem>(&OpModeR::Base, &sk, &enc, info, ciphertext, aad)
            .map(Zeroizing::new)
            .map_err(|_| Error::Crypto("HPKE open failed".into()))
    }
}

/// Seals `plaintext` to a device's public key with HPKE (RFC 9180) in base
/// mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM: the
/// 32-byte encapsulated key followed by the AEAD ciphertext. `info` goes
/// into the key schedule and `aad` is authenticated with the ciphertext;
/// [`DeviceKeyPair::open`] needs both again.
///
/// ```
/// use sseek::keys::device::{DeviceKeyPair, seal_to_device};
/// let phone = DeviceKeyPair::generate()?;
/// let sealed = seal_to_device(&phone.public_key(), b"info", b"aad", b"secret")?;
/// assert_eq!(&phone.open(&sealed, b"info", b"aad")?[..], b"secret");
/// assert!(phone.open(&sealed, b"other info", b"aad").is_err());
/// # Ok::<(), sseek::Error>(())
/// ```
///
/// # Errors
/// [`Error::Crypto`] for a public key HPKE refuses (a low-order point) or a
/// failed encryption.
pub fn seal_to_device(public: &DevicePublicKey, info: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&public.0)
        .map_err(|e| Error::Crypto(format!("device public key refused: {e}")))?;
    let (enc, ciphertext) =
        hpke::single_shot_seal::<AesGcm256, HkdfSha256, Kem>(&OpModeS::Base, &pk, info, plaintext, aad)
            .map_err(|e| Error::Crypto(format!("HPKE seal to device {} failed: {e}", public.fingerprint())))?;
    Ok([&enc.to_bytes()[..], &ciphertext].concat())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn file_round_trip_and_every_damage_is_refused() {
        let pair = DeviceKeyPair::from_secret(&[7; 32]).unwrap();
        let bytes = pair.to_file_bytes();
        let p = Path::new("t");
        assert_eq!(DeviceKeyPair::from_file_bytes(&bytes, p).unwrap().public_key(), pair.public_key());
        for cut in 0..bytes.len() {
            assert!(DeviceKeyPair::parse(&bytes[..cut]).is_err(), "prefix of {cut} bytes parsed");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.to_vec();
            bad[i] ^= 0x10;
            assert!(DeviceKeyPair::parse(&bad).is_err(), "flip at byte {i} parsed");
        }
        assert!(!format!("{pair:?}").contains("0707"));
    }

    #[test]
    fn sealed_bytes_open_only_with_the_same_key_info_and_aad() {
        let (a, b) = (DeviceKeyPair::generate().unwrap(), DeviceKeyPair::generate().unwrap());
        let sealed = seal_to_device(&a.public_key(), b"i", b"d", b"msg").unwrap();
        assert_eq!(&a.open(&sealed, b"i", b"d").unwrap()[..], b"msg");
        assert!(b.open(&sealed, b"i", b"d").is_err());
        assert!(a.open(&sealed, b"i", b"e").is_err());
        assert!(a.open(&sealed[..20], b"i", b"d").is_err());
        assert_eq!(Fingerprint::parse(&a.fingerprint().to_string()).unwrap(), a.fingerprint());
        assert!(Fingerprint::parse("xyz").is_err());
    }
}
