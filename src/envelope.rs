//! Sealing messages on the client: AES-SIV with a random nonce, the tenant and
//! document id bound in as associated data.
//!
//! Binding the id and tenant means a server that swaps two ciphertexts, or
//! moves one to another tenant, is caught at decryption. AES-SIV is
//! misuse-resistant: a repeated nonce leaks only equality of identical
//! messages, never the key stream.
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

use aes_siv::aead::{Aead, KeyInit, Payload};
use aes_siv::{Aes256SivAead, Nonce};

use crate::keys::{KeyLabel, MasterKey, Purpose, os_random};
use crate::message::Message;
use crate::protocol::{DocId, EncryptedDocument, PublicMetadata};
use crate::{Error, Result};

/// Envelope format version.
pub const ENVELOPE_VERSION: u16 = 1;

/// Seals and opens message envelopes for one tenant.
pub struct DocumentCipher {
    aead: Aes256SivAead,
    tenant: String,
}

impl fmt::Debug for DocumentCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocumentCipher").field("tenant", &self.tenant).finish_non_exhaustive()
    }
}

impl DocumentCipher {
    /// Derives the tenant's 512-bit AES-SIV key (label: tenant, `messages`,
    /// purpose `document-encryption`, `key_version`).
    ///
    /// # Errors
    /// [`Error::KeyLabel`] if the tenant name is longer than 255 bytes.
    pub fn new(master: &MasterKey, tenant: &str, key_version: u32) -> Result<Self> {
        let label = KeyLabel::new(tenant, "messages", "", Purpose::DocumentEncryption, key_version)?;
        let key = master.derive::<64>(&label);
        let aead = Aes256SivAead::new_from_slice(key.expose()).map_err(|e| Error::Crypto(e.to_string()))?;
        Ok(DocumentCipher { aead, tenant: tenant.to_owned() })
    }

    /// The tenant this cipher seals for.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    fn associated_data(&self, doc_id: DocId, version: u16) -> Vec<u8> {
        let mut ad = Vec::with_capacity(32 + self.tenant.len());
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
            // The SIV tag adds 16 bytes: pad the plaintext so the sealed size lands on the bucket.
            let sealed = plaintext.len() as u64 + 16;
            let target = sealed.div_ceil(bucket) * bucket;
            let len =
                usize::try_from(target - 16).map_err(|_| Error::Crypto(format!("size bucket {bucket} too large")))?;
            plaintext.resize(len, 0);
        }
        let mut nonce = [0u8; 16];
        os_random(&mut nonce)?;
        let ad = self.associated_data(doc_id, ENVELOPE_VERSION);
        let sealed = self
            .aead
            .encrypt(&Nonce::from(nonce), Payload { msg: &plaintext, aad: &ad })
            .map_err(|_| Error::Crypto("AES-SIV encryption failed".into()))?;
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
        if doc.public.doc_id != expected_id
            || doc.public.tenant != self.tenant
            || doc.public.envelope_version != ENVELOPE_VERSION
        {
            return Err(Error::Decrypt { doc_id: expected_id });
        }
        let ad = self.associated_data(expected_id, doc.public.envelope_version);
        let plaintext = zeroize::Zeroizing::new(
            self.aead
                .decrypt(&Nonce::from(doc.nonce), Payload { msg: &doc.sealed, aad: &ad })
                .map_err(|_| Error::Decrypt { doc_id: expected_id })?,
        );
        postcard::from_bytes(&plaintext).map_err(|e| Error::DataCorruption {
            table: "documents",
            reason: format!("document {expected_id} does not decode: {e}"),
        })
    }
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

    #[test]
    fn same_message_twice_gives_different_ciphertexts() {
        let c = DocumentCipher::new(&MasterKey::generate().unwrap(), "t", 1).unwrap();
        let m = Message { body: "same".into(), ..Default::default() };
        assert_ne!(c.seal(1, &m).unwrap().sealed, c.seal(1, &m).unwrap().sealed);
    }
}
