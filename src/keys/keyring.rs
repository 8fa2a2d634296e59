//! The keyring: an account's master keys by version, in one file.
//!
//! A rotation (`crate::client::rotation`) adds version v + 1, re-seals and
//! re-indexes under it, then removes version v, so between rotations a
//! keyring holds one version. Every key below a master key is derived with
//! its version in the label as well, so two versions never share a subkey.
//!
//! # File format (version 2 of the key file)
//! `"SSEEKKEY"`, u16 BE `2`, u32 BE current version, u16 BE count, then per
//! key in ascending version order: u32 BE version, its 16-byte key id, the
//! 32-byte key; then SHA-256 of everything before. A version-1 key file
//! (one master key, [`MasterKey::save`]) opens as a keyring holding it as
//! version 1; `sseek upgrade-key` rewrites it in this format.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::{KEY_FILE_MAGIC, KEY_FILE_VERSION, MASTER_KEY_LEN, MasterKey};
use crate::{Error, Result};

/// The key file version of a keyring.
const KEYRING_FILE_VERSION: u16 = 2;
/// Most versions one keyring may hold.
const MAX_VERSIONS: usize = 1024;
/// Bytes of one key record: version, key id, key.
const RECORD_LEN: usize = 4 + 16 + MASTER_KEY_LEN;
/// Bytes before the records: magic, file version, current version, count.
const HEADER_LEN: usize = 8 + 2 + 4 + 2;

/// Master keys by version; one of them is current (new data is sealed and
/// indexed under it).
///
/// ```
/// use sseek::keys::Keyring;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("me.key");
/// let ring = Keyring::generate()?;
/// ring.save(&path)?;
/// let back = Keyring::load(&path)?;
/// assert_eq!(back.current_version(), 1);
/// assert_eq!(back.current().key_id(), ring.current().key_id());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Keyring {
    current: u32,
    keys: BTreeMap<u32, MasterKey>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("current", &self.current).field("keys", &self.keys).finish()
    }
}

impl Keyring {
    /// A keyring of one fresh key, version 1.
    ///
    /// # Errors
    /// [`Error::Crypto`] if the OS RNG fails.
    pub fn generate() -> Result<Self> {
        Ok(Self::from_master(MasterKey::generate()?))
    }

    /// A keyring holding `master` as version 1.
    pub fn from_master(master: MasterKey) -> Self {
        Keyring { current: 1, keys: BTreeMap::from([(1, master)]) }
    }

    /// A keyring of the given keys, `current` among them (imports, known-answer tests).
    ///
    /// # Errors
    /// [`Error::Config`] for no key, too many, a repeated version, or a
    /// current version not among them.
    pub fn from_keys(current: u32, keys: impl IntoIterator<Item = (u32, MasterKey)>) -> Result<Self> {
        let mut map = BTreeMap::new();
        for (version, key) in keys {
            if map.insert(version, key).is_some() {
                return Err(Error::Config(format!("key version {version} given twice")));
            }
        }
        if map.is_empty() || map.len() > MAX_VERSIONS || !map.contains_key(&current) {
            return Err(Error::Config(format!(
                "a keyring holds 1 to {MAX_VERSIONS} keys, the current version {current} among them"
            )));
        }
        Ok(Keyring { current, keys: map })
    }

    /// The version new data is sealed and indexed under.
    pub fn current_version(&self) -> u32 {
        self.current
    }

    /// The current master key.
    pub fn current(&self) -> &MasterKey {
        // The constructors and the parser keep `current` among the keys.
        &self.keys[&self.current]
    }

    /// The master key of `version`, if the keyring holds it.
    pub fn get(&self, version: u32) -> Option<&MasterKey> {
        self.keys.get(&version)
    }

    /// The versions held, ascending.
    pub fn versions(&self) -> Vec<u32> {
        self.keys.keys().copied().collect()
    }

    /// Adds a fresh key as the next version and makes it current; returns it.
    ///
    /// # Errors
    /// [`Error::Config`] past 1,024 keys or version `u32::MAX`; RNG errors.
    pub fn add_version(&mut self) -> Result<u32> {
        let last = self.keys.keys().next_back().copied().unwrap_or(0);
        let next = last.checked_add(1).ok_or_else(|| Error::Config("no key version after u32::MAX".into()))?;
        if self.keys.len() >= MAX_VERSIONS {
            return Err(Error::Config(format!("a keyring holds at most {MAX_VERSIONS} versions")));
        }
        self.keys.insert(next, MasterKey::generate()?);
        self.current = next;
        Ok(next)
    }

    /// Drops the key of an old version (the end of a rotation).
    ///
    /// # Errors
    /// [`Error::Config`] for the current version or one not held.
    pub fn remove_version(&mut self, version: u32) -> Result<()> {
        if version == self.current {
            return Err(Error::Config(format!("version {version} is current; rotate before removing it")));
        }
        self.keys.remove(&version).map(drop).ok_or_else(|| Error::Config(format!("no key version {version}")))
    }

    /// The file bytes (format in the module docs).
    pub fn to_file_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut buf = Zeroizing::new(Vec::with_capacity(HEADER_LEN + self.keys.len() * RECORD_LEN + 32));
        buf.extend_from_slice(KEY_FILE_MAGIC);
        buf.extend_from_slice(&KEYRING_FILE_VERSION.to_be_bytes());
        buf.extend_from_slice(&self.current.to_be_bytes());
        // At most MAX_VERSIONS keys, checked wherever one is added.
        buf.extend_from_slice(&u16::try_from(self.keys.len()).unwrap_or(u16::MAX).to_be_bytes());
        for (version, key) in &self.keys {
            buf.extend_from_slice(&version.to_be_bytes());
            buf.extend_from_slice(&key.key_id().0);
            buf.extend_from_slice(&key.bytes);
        }
        let checksum = Sha256::digest(&buf[..]);
        buf.extend_from_slice(&checksum);
        buf
    }

    /// Parses a key file of either version.
    ///
    /// # Errors
    /// What is wrong with it, as text (see [`Keyring::load`]).
    fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        if bytes.len() < 10 || &bytes[..8] != KEY_FILE_MAGIC {
            return Err("not an sseek key file (bad magic bytes)".into());
        }
        match u16::from_be_bytes([bytes[8], bytes[9]]) {
            KEY_FILE_VERSION => MasterKey::parse_key_file(bytes).map(Self::from_master),
            KEYRING_FILE_VERSION => Self::parse_keyring(bytes),
            other => Err(format!(
                "unsupported key file version {other} (this build reads versions {KEY_FILE_VERSION} and {KEYRING_FILE_VERSION})"
            )),
        }
    }

    fn parse_keyring(bytes: &[u8]) -> std::result::Result<Self, String> {
        if bytes.len() < HEADER_LEN + 32 {
            return Err(format!("truncated: {} bytes", bytes.len()));
        }
        let current = u32::from_be_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]);
        let count = usize::from(u16::from_be_bytes([bytes[14], bytes[15]]));
        if count == 0 || count > MAX_VERSIONS {
            return Err(format!("{count} keys (1 to {MAX_VERSIONS} allowed)"));
        }
        let expected = HEADER_LEN + count * RECORD_LEN + 32;
        if bytes.len() != expected {
            let what = if bytes.len() < expected { "truncated" } else { "trailing data" };
            return Err(format!("{what}: {} bytes, expected {expected} for {count} keys", bytes.len()));
        }
        let (body, checksum) = bytes.split_at(expected - 32);
        if !bool::from(Sha256::digest(body)[..].ct_eq(checksum)) {
            return Err("checksum mismatch: the file is damaged".into());
        }
        let mut keys = BTreeMap::new();
        for record in body[HEADER_LEN..].chunks_exact(RECORD_LEN) {
            let version = u32::from_be_bytes([record[0], record[1], record[2], record[3]]);
            let mut raw = Zeroizing::new([0u8; MASTER_KEY_LEN]);
            raw.copy_from_slice(&record[20..]);
            let key = MasterKey::from_bytes(*raw);
            if !bool::from(key.key_id().0.ct_eq(&record[4..20])) {
                return Err(format!("key id of version {version} does not match its key"));
            }
            if keys.keys().next_back().is_some_and(|last| *last >= version) {
                return Err(format!("key versions out of order at version {version}"));
            }
            keys.insert(version, key);
        }
        if !keys.contains_key(&current) {
            return Err(format!("current version {current} is not among the keys"));
        }
        Ok(Keyring { current, keys })
    }

    /// Reads a key file: a keyring, or a version-1 file of one key (held as
    /// version 1).
    ///
    /// # Errors
    /// [`Error::KeyFile`] naming what is wrong (not a key file, unsupported
    /// version, truncated, checksum, key id, versions out of order, current
    /// version missing), or [`Error::Io`].
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| Error::io(path, e))?);
        Self::parse(&bytes).map_err(|reason| Error::KeyFile { path: path.to_owned(), reason })
    }

    /// Parses key file bytes of either version (a keyring handed over in
    /// memory, sealed to a device); `source` names them in errors.
    ///
    /// # Errors
    /// As [`Keyring::load`], without I/O.
    pub fn from_file_bytes(bytes: &[u8], source: &Path) -> Result<Self> {
        Self::parse(bytes).map_err(|reason| Error::KeyFile { path: source.to_owned(), reason })
    }

    /// Writes the keyring to a new file (mode 0600, synced); never overwrites.
    ///
    /// # Errors
    /// I/O errors, also when `path` exists.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut file = super::new_key_file(path)?;
        file.write_all(&self.to_file_bytes()).map_err(|e| Error::io(path, e))?;
        file.sync_all().map_err(|e| Error::io(path, e))
    }

    /// Replaces the key file at `path` atomically (a new file beside it,
    /// synced, renamed over it, the directory synced): a crash leaves the
    /// old file or the new one. For upgrades and rotations.
    ///
    /// # Errors
    /// I/O errors; the old file is then intact.
    pub fn replace(&self, path: &Path) -> Result<()> {
        let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".new");
        let tmp = path.with_file_name(name);
        let _ = std::fs::remove_file(&tmp);
        self.save(&tmp)?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        crate::files::sync_parent(path)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn versions_round_trip_and_damage_is_named() {
        let mut ring = Keyring::generate().unwrap();
        assert_eq!(ring.add_version().unwrap(), 2);
        assert_eq!(ring.add_version().unwrap(), 3);
        ring.remove_version(1).unwrap();
        assert!(ring.remove_version(3).is_err(), "the current version stays");
        let bytes = ring.to_file_bytes();
        let back = Keyring::parse(&bytes).unwrap();
        assert_eq!((back.current_version(), back.versions()), (3, vec![2, 3]));
        assert_eq!(back.get(2).unwrap().key_id(), ring.get(2).unwrap().key_id());
        for cut in 0..bytes.len() {
            assert!(Keyring::parse(&bytes[..cut]).is_err(), "prefix of {cut} bytes parsed");
        }
        for i in 0..bytes.len() {
            let mut bad = bytes.to_vec();
            bad[i] ^= 0x40;
            assert!(Keyring::parse(&bad).is_err(), "flip at byte {i} parsed");
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(Keyring::parse(&long).unwrap_err().contains("trailing"));
    }

    #[test]
    fn a_version_1_key_file_opens_as_version_1_and_upgrades_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.key");
        let master = MasterKey::generate().unwrap();
        master.save(&path).unwrap();
        let ring = Keyring::load(&path).unwrap();
        assert_eq!((ring.current_version(), ring.current().key_id()), (1, master.key_id()));
        ring.replace(&path).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(u16::from_be_bytes([bytes[8], bytes[9]]), KEYRING_FILE_VERSION);
        assert_eq!(Keyring::load(&path).unwrap().current().key_id(), master.key_id());
        assert!(ring.save(&path).is_err(), "save never overwrites");
    }
}
