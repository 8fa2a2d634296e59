//! Client state files of dynamic schemes (Mitra's and Diana's per-keyword
//! counters): sealed with AES-256-GCM under a key derived for the instance,
//! written atomically, and validated on load.
//!
//! Format: `"SSEEKST1"`, 12-byte nonce, AES-256-GCM ciphertext of the
//! postcard-encoded state, with the instance name as associated data. The
//! counters name keywords in plaintext, so the file must never be stored
//! unsealed; a file from another instance or key fails to open.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::keys::{KeyLabel, MasterKey, Purpose, os_random};
use crate::{Error, Result};

const MAGIC: &[u8; 8] = b"SSEEKST1";
/// Magic of a state kept on the server, sealed with its version.
const SHARED_MAGIC: &[u8; 8] = b"SSEEKSS1";

/// Seals and opens one instance's state file.
pub struct StateFile {
    aead: Aes256Gcm,
    associated: Vec<u8>,
}

impl std::fmt::Debug for StateFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateFile(<keyed>)")
    }
}

impl StateFile {
    /// The sealer of `scheme`'s `instance` for `tenant`.
    ///
    /// # Errors
    /// [`Error::KeyLabel`] for over-long names.
    pub fn new(master: &MasterKey, tenant: &str, scheme: &str, instance: &str, key_version: u32) -> Result<Self> {
        let label =
            KeyLabel::new(tenant, &format!("sse:{scheme}"), &format!("{instance}/state"), Purpose::Sse, key_version)?;
        let key = master.derive_32(&label);
        let aead = Aes256Gcm::new_from_slice(key.expose()).map_err(|e| Error::Crypto(e.to_string()))?;
        let associated = format!("sseek client state v1/{tenant}/{scheme}/{instance}").into_bytes();
        Ok(StateFile { aead, associated })
    }

    /// A sealer under the key `master` derives for `label`, with `context`
    /// in the associated data: for a state that is not an SSE instance's
    /// (the device directory), under a label of its own.
    ///
    /// # Errors
    /// [`Error::Crypto`] if AES-256-GCM refuses the key (never for 32 bytes).
    pub fn keyed(master: &MasterKey, label: &KeyLabel, context: &str) -> Result<Self> {
        let key = master.derive_32(label);
        let aead = Aes256Gcm::new_from_slice(key.expose()).map_err(|e| Error::Crypto(e.to_string()))?;
        let associated = format!("sseek client state v1/{context}").into_bytes();
        Ok(StateFile { aead, associated })
    }

    /// Seals `state` and replaces `path` atomically (write to a temporary
    /// file in the same directory, then rename), so a crash leaves the old
    /// or the new state, never a torn one.
    ///
    /// # Errors
    /// I/O errors.
    pub fn save<T: Serialize>(&self, path: &Path, state: &T) -> Result<()> {
        let sealed = self.seal(MAGIC, &self.associated, state)?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
        tmp.write_all(&sealed).map_err(|e| Error::io(path, e))?;
        tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
        tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
        // The rename is durable only once the directory entry is on disk;
        // without this a power loss could roll the counters back after the
        // server already stored entries under them.
        crate::files::sync_parent(path)
    }

    /// Seals `state` as version `version` of a state kept on the server
    /// (shared by a tenant's devices): `"SSEEKSS1"`, nonce, AES-256-GCM with
    /// the instance and the version as associated data, so a state cannot be
    /// moved to another instance or handed out under another version.
    ///
    /// # Errors
    /// Encoding and RNG errors.
    pub fn seal_versioned<T: Serialize>(&self, state: &T, version: u64) -> Result<Vec<u8>> {
        self.seal(SHARED_MAGIC, &self.versioned(version), state)
    }

    /// Opens a state sealed by [`StateFile::seal_versioned`] as `version`;
    /// `source` names where it came from in errors.
    ///
    /// # Errors
    /// [`Error::StateFile`] for bytes of another key, instance or version,
    /// or modified, truncated or malformed ones.
    pub fn open_versioned<T: DeserializeOwned>(&self, sealed: &[u8], version: u64, source: &str) -> Result<T> {
        let bad = |reason: &str| Error::StateFile { path: source.into(), reason: reason.to_owned() };
        let mismatch = format!("does not open as version {version}: another key, instance or version, or modified");
        self.open(SHARED_MAGIC, &self.versioned(version), sealed, ("not an sseek shared state", &mismatch), &bad)
    }

    fn versioned(&self, version: u64) -> Vec<u8> {
        [&self.associated[..], b"/shared/", &version.to_be_bytes()].concat()
    }

    /// Opens the state at `path`, or `None` if there is no file.
    ///
    /// # Errors
    /// [`Error::StateFile`] for a file of another key or instance, or a
    /// modified, truncated or malformed one.
    pub fn load<T: DeserializeOwned>(&self, path: &Path) -> Result<Option<T>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let bad = |reason: &str| Error::StateFile { path: path.to_owned(), reason: reason.to_owned() };
        let reasons = ("not an sseek state file", "does not open: another key or instance, or modified");
        self.open(MAGIC, &self.associated, &bytes, reasons, &bad).map(Some)
    }

    /// `magic`, a fresh nonce, then AES-256-GCM of the postcard-encoded
    /// state with `aad` as associated data.
    fn seal<T: Serialize>(&self, magic: &[u8; 8], aad: &[u8], state: &T) -> Result<Vec<u8>> {
        let plain = postcard::to_stdvec(state).map_err(|e| Error::Crypto(format!("state encoding: {e}")))?;
        let mut nonce = [0u8; 12];
        os_random(&mut nonce)?;
        let sealed = self
            .aead
            .encrypt(&Nonce::from(nonce), Payload { msg: &plain, aad })
            .map_err(|e| Error::Crypto(e.to_string()))?;
        Ok([&magic[..], &nonce, &sealed].concat())
    }

    /// The state in `bytes` made by [`StateFile::seal`] with the same magic
    /// and associated data; `reasons` are what `bad` reports for another
    /// magic and for a failed decryption.
    fn open<T: DeserializeOwned>(
        &self,
        magic: &[u8; 8],
        aad: &[u8],
        bytes: &[u8],
        (not_ours, mismatch): (&str, &str),
        bad: &dyn Fn(&str) -> Error,
    ) -> Result<T> {
        let rest = bytes.strip_prefix(magic).ok_or_else(|| bad(not_ours))?;
        let Some((nonce, sealed)) = rest.split_first_chunk::<12>() else {
            return Err(bad("truncated"));
        };
        let plain = self.aead.decrypt(&Nonce::from(*nonce), Payload { msg: sealed, aad }).map_err(|_| bad(mismatch))?;
        postcard::from_bytes(&plain).map_err(|e| bad(&format!("state does not decode: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn round_trip_and_rejections() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.state");
        let m = MasterKey::generate().unwrap();
        let f = StateFile::new(&m, "t", "mitra", "i", 1).unwrap();
        assert_eq!(f.load::<HashMap<Vec<u8>, u32>>(&path).unwrap(), None);
        let state: HashMap<Vec<u8>, u32> = [(b"kw".to_vec(), 3)].into();
        f.save(&path, &state).unwrap();
        assert_eq!(f.load::<HashMap<Vec<u8>, u32>>(&path).unwrap(), Some(state));
        let other = StateFile::new(&m, "t", "mitra", "j", 1).unwrap();
        assert!(matches!(other.load::<HashMap<Vec<u8>, u32>>(&path), Err(Error::StateFile { .. })));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..15]).unwrap();
        assert!(matches!(f.load::<HashMap<Vec<u8>, u32>>(&path), Err(Error::StateFile { .. })));
    }

    #[test]
    fn shared_states_are_bound_to_their_version_and_instance() {
        let m = MasterKey::generate().unwrap();
        let f = StateFile::new(&m, "t", "mitra", "i", 1).unwrap();
        let state: HashMap<Vec<u8>, u32> = [(b"kw".to_vec(), 3)].into();
        let sealed = f.seal_versioned(&state, 7).unwrap();
        assert_eq!(f.open_versioned::<HashMap<Vec<u8>, u32>>(&sealed, 7, "server").unwrap(), state);
        let open = |bytes: &[u8], version| f.open_versioned::<HashMap<Vec<u8>, u32>>(bytes, version, "server");
        assert!(matches!(open(&sealed, 8), Err(Error::StateFile { .. })), "replayed under another version");
        let other = StateFile::new(&m, "t", "mitra", "j", 1).unwrap();
        assert!(other.open_versioned::<HashMap<Vec<u8>, u32>>(&sealed, 7, "server").is_err(), "another instance");
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(open(&flipped, 7).is_err());
        assert!(open(&sealed[..20], 7).is_err());
    }
}
