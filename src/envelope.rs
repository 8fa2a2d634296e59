//! Sealing messages on the client: a nonce-misuse-resistant AEAD with a
//! random nonce, the tenant, document id and envelope version bound in as
//! associated data.
//!
//! Binding the id and tenant means a server that swaps two ciphertexts, or
//! moves one to another tenant, is caught at decryption. Both envelope
//! versions are misuse-resistant: a repeated nonce leaks only equality of
//! identical messages, never the key stream.
//!
//! | version | AEAD | key | nonce |
//! |---|---|---|---|
//! | 1 | AES-SIV (RFC 5297), 512-bit key | label field empty | 16 random bytes |
//! | 2 | AES-256-GCM-SIV (RFC 8452) | label field `envelope-v2` | 12 random bytes, then 4 zero bytes |
//!
//! New documents are sealed as version 2 ([`ENVELOPE_VERSION`]); version 1
//! documents still open. Version 2 exists for speed: AES-SIV's S2V runs a
//! serial CMAC over the whole message before its CTR pass, while GCM-SIV
//! pairs one CTR pass with POLYVAL (carry-less multiplication), several
//! times cheaper per byte, which dominates opening search results. Both
//! add a 16-byte tag, so sealed sizes (and size buckets) are unchanged.
//! Each version has its own key, derived under its own label, so no key
//! serves two algorithms.
//!
//! ```
//! use sseek::envelope::DocumentCipher;
//! use sseek::keys::MasterKey;
//! use sseek::message::Message;
//! let cipher = DocumentCipher::new(&MasterKey::generate()?, "acme", 1)?;
//! let msg = Message { from: "ann@example.com".into(), body: "hello".into(), ..Default::default() };
//! let doc = cipher.seal(7, &msg)?;
//! assert_eq!(cipher.open(&doc, 7)?, msg);
//! assert!(cipher.open(&doc, 8).is_err()); // moved to another id
//! # Ok::<(), sseek::Error>(())
//! ```

use std::fmt;

use aes_gcm_siv::Aes256GcmSiv;
use aes_siv::Aes256SivAead;
use aes_siv::aead::{Aead, AeadInOut, KeyInit, Payload};

use crate::keys::{KeyLabel, MasterKey, Purpose, os_random};
use crate::message::Message;
use crate::protocol::{DocId, EncryptedDocument, PublicMetadata};
use crate::{Error, Result};

/// Envelope format version of new seals: AES-256-GCM-SIV.
pub const ENVELOPE_VERSION: u16 = 2;

/// The first envelope format, AES-SIV: still opened, no longer written.
pub const ENVELOPE_VERSION_SIV: u16 = 1;

/// Bytes of a version 2 (AES-GCM-SIV) nonce; the rest of the 16-byte nonce
/// field must be zero.
const GCM_SIV_NONCE_LEN: usize = 12;

/// Seals and opens message envelopes for one tenant.
pub struct DocumentCipher {
    /// Version 1 (opening only).
    siv: Aes256SivAead,
    /// Version 2.
    gcm_siv: Aes256GcmSiv,
    tenant: String,
}

impl fmt::Debug for DocumentCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocumentCipher").field("tenant", &self.tenant).finish_non_exhaustive()
    }
}

impl DocumentCipher {
    /// Derives the tenant's envelope keys: the 512-bit AES-SIV key of
    /// version 1 (label: tenant, `messages`, no field, purpose
    /// `document-encryption`, `key_version`) and the 256-bit AES-GCM-SIV
    /// key of version 2 (the same label with field `envelope-v2`).
    ///
    /// # Errors
    /// [`Error::KeyLabel`] if the tenant name is longer than 255 bytes.
    pub fn new(master: &MasterKey, tenant: &str, key_version: u32) -> Result<Self> {
        let label = KeyLabel::new(tenant, "messages", "", Purpose::DocumentEncryption, key_version)?;
        let key = master.derive::<64>(&label);
        let siv = Aes256SivAead::new_from_slice(key.expose()).map_err(|e| Error::Crypto(e.to_string()))?;
        let label = KeyLabel::new(tenant, "messages", "envelope-v2", Purpose::DocumentEncryption, key_version)?;
        let key = master.derive::<32>(&label);
        let gcm_siv = Aes256GcmSiv::new_from_slice(key.expose()).map_err(|e| Error::Crypto(e.to_string()))?;
        Ok(DocumentCipher { siv, gcm_siv, tenant: tenant.to_owned() })
    }

    /// The tenant this cipher seals for.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    fn associated_data(&self, doc_id: DocId, version: u16) -> Vec<u8> {
        let mut ad = Vec::with_capacity(32 + self.tenant.len());
        // The same prefix for both versions: the version itself is bound below.
        ad.extend_from_slice(b"sseek/envelope/v1");
        ad.push(u8::try_from(self.tenant.len()).unwrap_or(u8::MAX));
        ad.extend_from_slice(self.tenant.as_bytes());
        ad.extend_from_slice(&doc_id.to_be_bytes());
        ad.extend_from_slice(&version.to_be_bytes());
        ad
    }

    /// Seals a message as document `doc_id`.
    ///
    /// # Errors
    /// [`Error::Crypto`] if the RNG fails.
    pub fn seal(&self, doc_id: DocId, message: &Message) -> Result<EncryptedDocument> {
        self.seal_padded(doc_id, message, 1)
    }

    /// Seals a message with its ciphertext size rounded up to a multiple of
    /// `bucket` bytes (1: no padding), so sizes at rest and in responses
    /// reveal only the bucket (a countermeasure against volume attacks, see
    /// [`crate::leakage::countermeasure::SizeBuckets`]). The padding is zero
    /// bytes after the encoded message inside the ciphertext; [`Self::open`]
    /// reads the message and ignores them.
    ///
    /// # Errors
    /// [`Error::Crypto`] if the RNG fails.
    pub fn seal_padded(&self, doc_id: DocId, message: &Message, bucket: u64) -> Result<EncryptedDocument> {
        let mut plaintext = zeroize::Zeroizing::new(
            postcard::to_stdvec(message).map_err(|e| Error::Crypto(format!("encode message: {e}")))?,
        );
        if bucket > 1 {
            // The tag adds 16 bytes: pad the plaintext so the sealed size lands on the bucket.
            let sealed = plaintext.len() as u64 + 16;
            let target = sealed.div_ceil(bucket) * bucket;
            let len =
                usize::try_from(target - 16).map_err(|_| Error::Crypto(format!("size bucket {bucket} too large")))?;
            plaintext.resize(len, 0);
        }
        let mut nonce = [0u8; 16];
        os_random(&mut nonce[..GCM_SIV_NONCE_LEN])?;
        let ad = self.associated_data(doc_id, ENVELOPE_VERSION);
        let sealed = self
            .gcm_siv
            .encrypt(&gcm_siv_nonce(&nonce), Payload { msg: &plaintext, aad: &ad })
            .map_err(|_| Error::Crypto("AES-GCM-SIV encryption failed".into()))?;
        Ok(EncryptedDocument {
            public: PublicMetadata { tenant: self.tenant.clone(), doc_id, envelope_version: ENVELOPE_VERSION },
            nonce,
            sealed,
        })
    }

    /// Opens a sealed document that the caller expects to be `expected_id`.
    /// The tag is checked before any plaintext is released.
    ///
    /// # Errors
    /// [`Error::Decrypt`] if the document is for another id or tenant, was
    /// modified, or is under another key; [`Error::DataCorruption`] if it
    /// decrypts but does not decode.
    pub fn open(&self, doc: &EncryptedDocument, expected_id: DocId) -> Result<Message> {
        let mut buffer = zeroize::Zeroizing::new(doc.sealed.clone());
        self.open_buffer(doc, &mut buffer, expected_id)
    }

    /// As [`Self::open`], decrypting in the document's own buffer (no copy
    /// of the ciphertext), which is zeroized afterwards.
    ///
    /// # Errors
    /// As [`Self::open`].
    pub fn open_owned(&self, mut doc: EncryptedDocument, expected_id: DocId) -> Result<Message> {
        let mut buffer = zeroize::Zeroizing::new(std::mem::take(&mut doc.sealed));
        self.open_buffer(&doc, &mut buffer, expected_id)
    }

    /// Checks `doc`'s metadata, decrypts `buffer` (its sealed bytes) in
    /// place and decodes the message.
    fn open_buffer(&self, doc: &EncryptedDocument, buffer: &mut Vec<u8>, expected_id: DocId) -> Result<Message> {
        let version = doc.public.envelope_version;
        if doc.public.doc_id != expected_id || doc.public.tenant != self.tenant {
            return Err(Error::Decrypt { doc_id: expected_id });
        }
        let ad = self.associated_data(expected_id, version);
        let opened = match version {
            ENVELOPE_VERSION_SIV => self.siv.decrypt_in_place(&aes_siv::Nonce::from(doc.nonce), &ad, buffer),
            // The unused nonce bytes are not authenticated: insisting on zeros
            // keeps one ciphertext from having several accepted encodings.
            ENVELOPE_VERSION if doc.nonce[GCM_SIV_NONCE_LEN..].iter().all(|b| *b == 0) => {
                self.gcm_siv.decrypt_in_place(&gcm_siv_nonce(&doc.nonce), &ad, buffer)
            }
            _ => return Err(Error::Decrypt { doc_id: expected_id }),
        };
        opened.map_err(|_| Error::Decrypt { doc_id: expected_id })?;
        postcard::from_bytes(buffer).map_err(|e| Error::DataCorruption {
            table: "documents",
            reason: format!("document {expected_id} does not decode: {e}"),
        })
    }
}

/// The AES-GCM-SIV nonce held in the first bytes of a 16-byte nonce field.
fn gcm_siv_nonce(field: &[u8; 16]) -> aes_gcm_siv::Nonce {
    let mut nonce = aes_gcm_siv::Nonce::default();
    nonce.copy_from_slice(&field[..GCM_SIV_NONCE_LEN]);
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_seal_lands_on_the_bucket_and_opens() {
        let k = MasterKey::generate().unwrap();
        let c = DocumentCipher::new(&k, "t", 1).unwrap();
        let m = Message { body: "short note".into(), ..Default::default() };
        let plain = c.seal(3, &m).unwrap();
        let padded = c.seal_padded(3, &m, 256).unwrap();
        assert_eq!(padded.sealed.len() % 256, 0);
        assert!(padded.sealed.len() > plain.sealed.len());
        assert_eq!(c.open(&padded, 3).unwrap(), m);
    }

    #[test]
    fn tamper_swap_and_wrong_key_fail() {
        let k = MasterKey::generate().unwrap();
        let c = DocumentCipher::new(&k, "t", 1).unwrap();
        let m = Message { body: "secret".into(), ..Default::default() };
        let mut d = c.seal(1, &m).unwrap();
        assert_eq!(c.open(&d, 1).unwrap(), m);
        let other_tenant = DocumentCipher::new(&k, "u", 1).unwrap();
        assert!(other_tenant.open(&d, 1).is_err());
        let mut moved = d.clone();
        moved.public.doc_id = 2;
        assert!(c.open(&moved, 2).is_err(), "id swap must be detected");
        let rotated = DocumentCipher::new(&k, "t", 2).unwrap();
        assert!(rotated.open(&d, 1).is_err());
        d.sealed[3] ^= 1;
        assert!(matches!(c.open(&d, 1), Err(Error::Decrypt { doc_id: 1 })));
    }

    /// Seals as envelope version 1 did (AES-SIV, 16-byte random nonce).
    fn seal_v1(c: &DocumentCipher, doc_id: DocId, m: &Message) -> EncryptedDocument {
        let plaintext = postcard::to_stdvec(m).unwrap();
        let mut nonce = [0u8; 16];
        os_random(&mut nonce).unwrap();
        let ad = c.associated_data(doc_id, ENVELOPE_VERSION_SIV);
        let sealed = c.siv.encrypt(&aes_siv::Nonce::from(nonce), Payload { msg: &plaintext, aad: &ad }).unwrap();
        EncryptedDocument {
            public: PublicMetadata { tenant: c.tenant.clone(), doc_id, envelope_version: ENVELOPE_VERSION_SIV },
            nonce,
            sealed,
        }
    }

    #[test]
    fn version_1_documents_still_open_and_new_seals_are_version_2() {
        let k = MasterKey::generate().unwrap();
        let c = DocumentCipher::new(&k, "t", 1).unwrap();
        let m = Message { from: "ann@example.com".into(), body: "old mail".into(), ..Default::default() };
        let old = seal_v1(&c, 4, &m);
        assert_eq!(c.open(&old, 4).unwrap(), m);
        let new = c.seal(4, &m).unwrap();
        assert_eq!(new.public.envelope_version, 2);
        assert_eq!(new.nonce[GCM_SIV_NONCE_LEN..], [0; 4]);
        assert_eq!(new.sealed.len(), old.sealed.len(), "both tags are 16 bytes");
        assert_eq!(c.open(&new, 4).unwrap(), m);
        assert_eq!(c.open_owned(new.clone(), 4).unwrap(), m);
        assert_eq!(c.open_owned(old.clone(), 4).unwrap(), m);
        assert!(c.open_owned(new.clone(), 5).is_err());
        // A document claiming the other version does not open: the version is
        // bound in the associated data and each version has its own key.
        let mut relabelled = old.clone();
        relabelled.public.envelope_version = 2;
        relabelled.nonce[GCM_SIV_NONCE_LEN..].fill(0);
        assert!(matches!(c.open(&relabelled, 4), Err(Error::Decrypt { doc_id: 4 })));
        let mut relabelled = new.clone();
        relabelled.public.envelope_version = 1;
        assert!(c.open(&relabelled, 4).is_err());
        let mut unknown = new.clone();
        unknown.public.envelope_version = 3;
        assert!(c.open(&unknown, 4).is_err());
    }

    #[test]
    fn version_2_rejects_a_nonzero_nonce_tail_and_tampering() {
        let c = DocumentCipher::new(&MasterKey::generate().unwrap(), "t", 1).unwrap();
        let m = Message { body: "secret".into(), ..Default::default() };
        let d = c.seal(9, &m).unwrap();
        let mut tail = d.clone();
        tail.nonce[15] = 1;
        assert!(matches!(c.open(&tail, 9), Err(Error::Decrypt { doc_id: 9 })));
        let mut nonce = d.clone();
        nonce.nonce[0] ^= 1;
        assert!(c.open(&nonce, 9).is_err());
        let mut short = d.clone();
        short.sealed.truncate(15);
        assert!(c.open(&short, 9).is_err());
    }

    #[test]
    fn same_message_twice_gives_different_ciphertexts() {
        let c = DocumentCipher::new(&MasterKey::generate().unwrap(), "t", 1).unwrap();
        let m = Message { body: "same".into(), ..Default::default() };
        assert_ne!(c.seal(1, &m).unwrap().sealed, c.seal(1, &m).unwrap().sealed);
    }
}
