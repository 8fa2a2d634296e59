//! Client keys: the master key, its key file, HKDF-derived subkeys with explicit
//! domain labels, and passphrase-wrapped backups.
//!
//! Everything in this module is client-only: no server module imports it.
//!
//! ```
//! use sseek::keys::{KeyLabel, MasterKey, Purpose};
//! let master = MasterKey::generate()?;
//! let body = master.derive_32(&KeyLabel::new("acme", "messages", "body", Purpose::BlindIndex, 1)?);
//! let subject = master.derive_32(&KeyLabel::new("acme", "messages", "subject", Purpose::BlindIndex, 1)?);
//! assert_ne!(body.expose(), subject.expose());
//! # Ok::<(), sseek::Error>(())
//! ```

pub mod device;
pub mod keyring;
pub mod keyword;

use std::fmt;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce as GcmNonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{Error, Result};

pub use keyring::Keyring;

/// Length of the master key in bytes (256 bits).
pub const MASTER_KEY_LEN: usize = 32;

const KEY_FILE_MAGIC: &[u8; 8] = b"SSEEKKEY";
const KEY_FILE_VERSION: u16 = 1;
/// magic + version + key id + key + checksum
const KEY_FILE_LEN: usize = 8 + 2 + 16 + MASTER_KEY_LEN + 32;
/// Fixed HKDF salt: domain separation from any other use of the same master key.
const HKDF_SALT: &[u8] = b"sseek/hkdf-salt/v1";
const LABEL_PREFIX: &[u8] = b"sseek/kdf/v1";
const BACKUP_FORMAT: &str = "sseek-key-backup";
const BACKUP_VERSION: u32 = 1;

/// Fills `buf` from the operating system's random number generator.
///
/// # Errors
/// Returns [`Error::Crypto`] if the OS RNG is unavailable.
pub fn os_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::Crypto(format!("OS random number generator failed: {e}")))
}

/// HKDF-SHA256 (RFC 5869): extracts a pseudorandom key from `ikm` with
/// `salt`, then expands it with `info` to fill `okm`.
///
/// [`MasterKey::derive`] is this function with the fixed salt
/// `sseek/hkdf-salt/v1` and [`KeyLabel::encode`] as `info`; it is public so
/// that the RFC 5869 test vectors run through the code every subkey comes
/// from (`tests/suite/known_answers.rs`). An empty `salt` is the RFC's "not
/// provided" (HMAC pads both to a block of zeros).
///
/// ```
/// let mut okm = [0u8; 42];
/// sseek::keys::hkdf_sha256(b"salt", b"input key material", b"context", &mut okm)?;
/// assert_ne!(okm, [0u8; 42]);
/// # Ok::<(), sseek::Error>(())
/// ```
///
/// # Errors
/// [`Error::Crypto`] if `okm` is longer than 255 * 32 = 8160 bytes.
pub fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8], okm: &mut [u8]) -> Result<()> {
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, okm)
        .map_err(|e| Error::Crypto(format!("HKDF-SHA256 cannot give {} bytes: {e}", okm.len())))
}

/// A public, non-secret identifier of a master key: the first 16 bytes of
/// `SHA-256("sseek/key-id/v1" || key)`. Lets a client tell which key a file or
/// backup holds without revealing the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyId(pub [u8; 16]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// What a derived key is used for. Part of every derivation label, so keys for
/// different purposes never coincide even for the same field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Keys of message envelopes (AES-SIV, AES-GCM-SIV: one per envelope version).
    DocumentEncryption,
    /// HMAC-SHA256 key of a blind index.
    BlindIndex,
    /// Keys of an SSE scheme.
    Sse,
    /// Anything else, named by the caller.
    Other(&'static str),
}

impl Purpose {
    fn as_str(&self) -> &str {
        match self {
            Purpose::DocumentEncryption => "document-encryption",
            Purpose::BlindIndex => "blind-index",
            Purpose::Sse => "sse",
            Purpose::Other(s) => s,
        }
    }
}

/// The domain label of a derived key: tenant, table, field, purpose and key
/// version. The label is encoded injectively (each component length-prefixed),
/// so two different labels always give different HKDF `info` strings and thus
/// independent keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyLabel {
    tenant: String,
    table: String,
    field: String,
    purpose: Purpose,
    version: u32,
}

impl KeyLabel {
    /// Builds a label. Components may be empty (e.g. no field) but must be at
    /// most 255 bytes each.
    ///
    /// # Errors
    /// [`Error::KeyLabel`] if a component is longer than 255 bytes.
    pub fn new(tenant: &str, table: &str, field: &str, purpose: Purpose, version: u32) -> Result<Self> {
        for (name, v) in [("tenant", tenant), ("table", table), ("field", field), ("purpose", purpose.as_str())] {
            if v.len() > 255 {
                return Err(Error::KeyLabel(format!("{name} is {} bytes, at most 255 allowed", v.len())));
            }
        }
        Ok(KeyLabel { tenant: tenant.to_owned(), table: table.to_owned(), field: field.to_owned(), purpose, version })
    }

    /// The same label with another key version (for rotation).
    #[must_use]
    pub fn with_version(&self, version: u32) -> Self {
        KeyLabel { version, ..self.clone() }
    }

    /// The key version of this label.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The injective byte encoding used as HKDF `info`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(LABEL_PREFIX);
        for part in [&self.tenant[..], &self.table[..], &self.field[..], self.purpose.as_str()] {
            out.push(u8::try_from(part.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(part.as_bytes());
        }
        out.extend_from_slice(&self.version.to_be_bytes());
        out
    }
}

/// A derived secret key of `N` bytes. Zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DerivedKey<const N: usize>([u8; N]);

impl<const N: usize> DerivedKey<N> {
    /// The key bytes, for handing to a primitive. Do not copy them elsewhere.
    pub fn expose(&self) -> &[u8; N] {
        &self.0
    }
}

impl<const N: usize> fmt::Debug for DerivedKey<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DerivedKey<{N}>(<redacted>)")
    }
}

/// Creates a key file: never over an existing one, readable by its owner only.
fn new_key_file(path: &Path) -> Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| Error::io(path, e))
}

/// The 256-bit master key. Every other key is derived from it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey {
    bytes: [u8; MASTER_KEY_LEN],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey {{ id: {}, key: <redacted> }}", self.key_id())
    }
}

impl MasterKey {
    /// A fresh key from the OS random number generator.
    ///
    /// # Errors
    /// [`Error::Crypto`] if the OS RNG fails.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; MASTER_KEY_LEN];
        os_random(&mut bytes)?;
        Ok(MasterKey { bytes })
    }

    /// A key from raw bytes (tests, known-answer vectors, imports).
    pub fn from_bytes(bytes: [u8; MASTER_KEY_LEN]) -> Self {
        MasterKey { bytes }
    }

    /// The public identifier of this key.
    pub fn key_id(&self) -> KeyId {
        let mut h = Sha256::new();
        h.update(b"sseek/key-id/v1");
        h.update(self.bytes);
        let digest = h.finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        KeyId(id)
    }

    /// Derives `N` bytes of key material for `label` with HKDF-SHA256.
    ///
    /// # Panics
    /// Never for `N <= 8160` (255 * 32, the HKDF-SHA256 limit); larger `N` is a
    /// programming error caught at the first call.
    pub fn derive<const N: usize>(&self, label: &KeyLabel) -> DerivedKey<N> {
        let mut out = DerivedKey([0u8; N]);
        #[allow(clippy::expect_used)]
        hkdf_sha256(HKDF_SALT, &self.bytes, &label.encode(), &mut out.0)
            .expect("HKDF output length within 255 * 32 bytes");
        out
    }

    /// Derives a 256-bit key (HMAC keys, AES-256 keys).
    pub fn derive_32(&self, label: &KeyLabel) -> DerivedKey<32> {
        self.derive::<32>(label)
    }

    /// Writes this key to a new key file (mode 0600 on Unix). Refuses to
    /// overwrite an existing file.
    ///
    /// Format (binary, 90 bytes): `"SSEEKKEY"`, version (u16 BE), key id (16),
    /// key (32), SHA-256 checksum of everything before it (32).
    ///
    /// # Errors
    /// [`Error::Io`] if the file exists or cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut buf = Zeroizing::new(Vec::with_capacity(KEY_FILE_LEN));
        buf.extend_from_slice(KEY_FILE_MAGIC);
        buf.extend_from_slice(&KEY_FILE_VERSION.to_be_bytes());
        buf.extend_from_slice(&self.key_id().0);
        buf.extend_from_slice(&self.bytes);
        let checksum = Sha256::digest(&buf[..]);
        buf.extend_from_slice(&checksum);

        let mut file = new_key_file(path)?;
        file.write_all(&buf).map_err(|e| Error::io(path, e))?;
        file.sync_all().map_err(|e| Error::io(path, e))?;
        Ok(())
    }

    /// Destroys a key file: checks that it is one, overwrites its bytes
    /// with zeros, syncs, removes it and syncs its directory; returns the
    /// id of the key destroyed. This is crypto-shredding: every document and
    /// index entry the key sealed, in the store or in any backup, can no
    /// longer be opened. Passphrase-wrapped exports of the key
    /// (`export-key`) still open it: destroy those too. On copy-on-write
    /// file systems and flash the old blocks may survive the overwrite
    /// until reused; full-disk encryption covers that case.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("k.key");
    /// let key = sseek::keys::MasterKey::generate()?;
    /// key.save(&path)?;
    /// assert_eq!(sseek::keys::MasterKey::destroy_file(&path)?, key.key_id());
    /// assert!(!path.exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::KeyFile`] if `path` is not a valid key file (nothing is
    /// touched then); I/O errors.
    pub fn destroy_file(path: &Path) -> Result<KeyId> {
        // Either format: a keyring file holds every version's key.
        let id = Keyring::load(path)?.current().key_id();
        let len = std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len();
        let mut file = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| Error::io(path, e))?;
        file.write_all(&vec![0u8; usize::try_from(len).unwrap_or(0)]).map_err(|e| Error::io(path, e))?;
        file.sync_all().map_err(|e| Error::io(path, e))?;
        drop(file);
        std::fs::remove_file(path).map_err(|e| Error::io(path, e))?;
        crate::files::sync_parent(path)?;
        Ok(id)
    }

    /// Reads a key file written by [`MasterKey::save`], checking its length,
    /// magic, version, checksum and key id.
    ///
    /// # Errors
    /// [`Error::KeyFile`] naming what is wrong (truncated, not a key file,
    /// unsupported version, checksum mismatch), or [`Error::Io`].
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| Error::io(path, e))?);
        Self::parse_key_file(&bytes).map_err(|reason| Error::KeyFile { path: path.to_owned(), reason })
    }

    fn parse_key_file(bytes: &[u8]) -> std::result::Result<Self, String> {
        if bytes.len() < KEY_FILE_MAGIC.len() || &bytes[..8] != KEY_FILE_MAGIC {
            return Err("not an sseek key file (bad magic bytes)".into());
        }
        if bytes.len() < 10 {
            return Err(format!("truncated: {} bytes, expected {KEY_FILE_LEN}", bytes.len()));
        }
        let version = u16::from_be_bytes([bytes[8], bytes[9]]);
        if version == 2 {
            return Err("a keyring (key file version 2): open it with Keyring::load".into());
        }
        if version != KEY_FILE_VERSION {
            return Err(format!(
                "unsupported key file version {version} (this build reads version {KEY_FILE_VERSION})"
            ));
        }
        if bytes.len() != KEY_FILE_LEN {
            return Err(format!(
                "{}: {} bytes, expected {KEY_FILE_LEN}",
                if bytes.len() < KEY_FILE_LEN { "truncated" } else { "trailing data" },
                bytes.len()
            ));
        }
        let body = &bytes[..KEY_FILE_LEN - 32];
        let checksum = Sha256::digest(body);
        if !bool::from(checksum[..].ct_eq(&bytes[KEY_FILE_LEN - 32..])) {
            return Err("checksum mismatch: the file is damaged".into());
        }
        let mut key = [0u8; MASTER_KEY_LEN];
        key.copy_from_slice(&bytes[26..26 + MASTER_KEY_LEN]);
        let master = MasterKey { bytes: key };
        key.zeroize();
        if !bool::from(master.key_id().0.ct_eq(&bytes[10..26])) {
            return Err("key id does not match the key".into());
        }
        Ok(master)
    }

    /// Exports this key wrapped under a passphrase: Argon2id derives a
    /// key-encryption key, AES-256-GCM encrypts the master key with the header
    /// as associated data. The result is a JSON text safe to store or copy.
    ///
    /// # Errors
    /// [`Error::Crypto`] if the RNG or Argon2 fails.
    pub fn export_wrapped(&self, passphrase: &str, params: WrapParams) -> Result<String> {
        let mut salt = [0u8; 16];
        os_random(&mut salt)?;
        let mut nonce = [0u8; 12];
        os_random(&mut nonce)?;
        let mut backup = KeyBackup {
            format: BACKUP_FORMAT.into(),
            version: BACKUP_VERSION,
            kdf: "argon2id".into(),
            m_cost_kib: params.m_cost_kib,
            t_cost: params.t_cost,
            p_cost: params.p_cost,
            salt: hex::encode(salt),
            nonce: hex::encode(nonce),
            key_id: self.key_id().to_string(),
            ciphertext: String::new(),
        };
        let kek = wrap_kek(passphrase, &salt, params)?;
        let cipher = Aes256Gcm::new_from_slice(kek.expose()).map_err(|e| Error::Crypto(e.to_string()))?;
        let aad = backup.associated_data();
        let ct = cipher
            .encrypt(&GcmNonce::from(nonce), Payload { msg: &self.bytes, aad: &aad })
            .map_err(|_| Error::Crypto("AES-GCM encryption failed".into()))?;
        backup.ciphertext = hex::encode(ct);
        serde_json::to_string_pretty(&backup).map_err(|e| Error::KeyBackup(e.to_string()))
    }

    /// Imports a key exported by [`MasterKey::export_wrapped`].
    ///
    /// # Errors
    /// [`Error::WrongPassphrase`] if the passphrase is wrong or the backup was
    /// modified; [`Error::KeyBackup`] if it is not a valid backup.
    pub fn import_wrapped(text: &str, passphrase: &str) -> Result<Self> {
        let backup: KeyBackup =
            serde_json::from_str(text).map_err(|e| Error::KeyBackup(format!("not a key backup: {e}")))?;
        if backup.format != BACKUP_FORMAT {
            return Err(Error::KeyBackup(format!("unknown format {:?}", backup.format)));
        }
        if backup.version != BACKUP_VERSION {
            return Err(Error::KeyBackup(format!("unsupported version {}", backup.version)));
        }
        if backup.kdf != "argon2id" {
            return Err(Error::KeyBackup(format!("unsupported kdf {:?}", backup.kdf)));
        }
        let params = WrapParams { m_cost_kib: backup.m_cost_kib, t_cost: backup.t_cost, p_cost: backup.p_cost };
        params.validate()?;
        let salt = decode_hex_exact::<16>(&backup.salt, "salt")?;
        let nonce = decode_hex_exact::<12>(&backup.nonce, "nonce")?;
        let ct = hex::decode(&backup.ciphertext).map_err(|e| Error::KeyBackup(format!("ciphertext: {e}")))?;
        if ct.len() != MASTER_KEY_LEN + 16 {
            return Err(Error::KeyBackup(format!(
                "ciphertext is {} bytes, expected {}",
                ct.len(),
                MASTER_KEY_LEN + 16
            )));
        }
        let kek = wrap_kek(passphrase, &salt, params)?;
        let cipher = Aes256Gcm::new_from_slice(kek.expose()).map_err(|e| Error::Crypto(e.to_string()))?;
        let aad = backup.associated_data();
        let pt = Zeroizing::new(
            cipher
                .decrypt(&GcmNonce::from(nonce), Payload { msg: &ct, aad: &aad })
                .map_err(|_| Error::WrongPassphrase)?,
        );
        let mut bytes = [0u8; MASTER_KEY_LEN];
        bytes.copy_from_slice(&pt);
        let master = MasterKey { bytes };
        bytes.zeroize();
        // The key id is authenticated as associated data; check it anyway so a
        // mismatch is reported rather than silently accepted.
        if master.key_id().to_string() != backup.key_id {
            return Err(Error::KeyBackup("key id does not match the unwrapped key".into()));
        }
        Ok(master)
    }
}

/// Argon2id cost parameters for passphrase wrapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrapParams {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Parallelism.
    pub p_cost: u32,
}

impl Default for WrapParams {
    /// 64 MiB, 3 passes, 1 lane: OWASP's Argon2id guidance range for interactive use.
    fn default() -> Self {
        WrapParams { m_cost_kib: 64 * 1024, t_cost: 3, p_cost: 1 }
    }
}

impl WrapParams {
    /// Cheap parameters for tests only. Never use for real backups.
    pub fn insecure_for_tests() -> Self {
        WrapParams { m_cost_kib: 64, t_cost: 1, p_cost: 1 }
    }

    fn validate(&self) -> Result<()> {
        // Bounds keep a hostile backup file from demanding unbounded memory or time.
        if !(8..=4 * 1024 * 1024).contains(&self.m_cost_kib)
            || !(1..=64).contains(&self.t_cost)
            || !(1..=64).contains(&self.p_cost)
        {
            return Err(Error::KeyBackup(format!("Argon2 parameters out of range: {self:?}")));
        }
        Ok(())
    }
}

fn wrap_kek(passphrase: &str, salt: &[u8], params: WrapParams) -> Result<DerivedKey<32>> {
    params.validate()?;
    let p = argon2::Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32))
        .map_err(|e| Error::KeyBackup(format!("Argon2 parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
    let mut out = [0u8; 32];
    argon
        .hash_password_into(passphrase.as_bytes(), salt, &mut out)
        .map_err(|e| Error::Crypto(format!("Argon2id failed: {e}")))?;
    Ok(DerivedKey(out))
}

fn decode_hex_exact<const N: usize>(s: &str, what: &str) -> Result<[u8; N]> {
    let v = hex::decode(s).map_err(|e| Error::KeyBackup(format!("{what}: {e}")))?;
    v.try_into().map_err(|v: Vec<u8>| Error::KeyBackup(format!("{what} is {} bytes, expected {N}", v.len())))
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBackup {
    format: String,
    version: u32,
    kdf: String,
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
    nonce: String,
    key_id: String,
    ciphertext: String,
}

impl KeyBackup {
    fn associated_data(&self) -> Vec<u8> {
        format!(
            "{}|{}|{}|{}|{}|{}|{}|{}",
            self.format, self.version, self.kdf, self.m_cost_kib, self.t_cost, self.p_cost, self.salt, self.key_id
        )
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        let k = MasterKey::generate().unwrap();
        k.save(&path).unwrap();
        assert!(k.save(&path).is_err(), "must not overwrite");
        let back = MasterKey::load(&path).unwrap();
        assert_eq!(back.key_id(), k.key_id());

        let bytes = std::fs::read(&path).unwrap();
        let truncated = dir.path().join("t.key");
        std::fs::write(&truncated, &bytes[..40]).unwrap();
        let err = MasterKey::load(&truncated).unwrap_err().to_string();
        assert!(err.contains("truncated"), "{err}");

        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        let damaged = dir.path().join("d.key");
        std::fs::write(&damaged, &flipped).unwrap();
        let err = MasterKey::load(&damaged).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");

        let foreign = dir.path().join("f.key");
        std::fs::write(&foreign, b"-----BEGIN PRIVATE KEY-----\n").unwrap();
        let err = MasterKey::load(&foreign).unwrap_err().to_string();
        assert!(err.contains("not an sseek key file"), "{err}");
    }

    #[test]
    fn debug_never_prints_key() {
        let k = MasterKey::from_bytes([0xab; 32]);
        let s = format!("{k:?}");
        assert!(!s.contains("abab"), "{s}");
        let d = k.derive_32(&KeyLabel::new("t", "m", "f", Purpose::BlindIndex, 1).unwrap());
        let s = format!("{d:?}");
        assert!(s.contains("redacted"));
    }

    #[test]
    fn wrap_round_trip_and_wrong_passphrase() {
        let k = MasterKey::generate().unwrap();
        let text = k.export_wrapped("correct horse", WrapParams::insecure_for_tests()).unwrap();
        let back = MasterKey::import_wrapped(&text, "correct horse").unwrap();
        assert_eq!(back.key_id(), k.key_id());
        assert!(matches!(MasterKey::import_wrapped(&text, "wrong horse"), Err(Error::WrongPassphrase)));
        assert!(matches!(MasterKey::import_wrapped("{}", "x"), Err(Error::KeyBackup(_))));
    }

    #[test]
    fn labels_are_injective() {
        // "ab" + "c" and "a" + "bc" must not collide.
        let a = KeyLabel::new("ab", "c", "", Purpose::BlindIndex, 1).unwrap();
        let b = KeyLabel::new("a", "bc", "", Purpose::BlindIndex, 1).unwrap();
        assert_ne!(a.encode(), b.encode());
        let k = MasterKey::from_bytes([7; 32]);
        assert_ne!(k.derive_32(&a).expose(), k.derive_32(&b).expose());
        assert_ne!(k.derive_32(&a).expose(), k.derive_32(&a.with_version(2)).expose());
    }
}
