//! Key rotation without downtime: a tenant's documents and blind indexes
//! move from key version v to v + 1 while clients keep adding and searching.
//!
//! The protocol (the server's half is `server::key_epoch` and
//! `server::documents::rotate`):
//! 1. The client adds version v + 1 to its keyring and saves it, so the
//!    new key exists before anything is written under it.
//! 2. `BeginRotation` moves the tenant's epoch to "rotating v -> v + 1"
//!    (with the schema's tag under v + 1). From then on the server accepts
//!    new messages only under v + 1, and a search made for the old epoch is
//!    refused and retried with both versions.
//! 3. In id order, in batches, the client fetches documents, opens each
//!    under v (one already under v + 1 is skipped), seals it again under
//!    v + 1 at the same size, and sends it with its postings under v to
//!    remove and under v + 1 to add: one transaction per batch, so every
//!    message is wholly under one version at every moment. After each batch
//!    a checkpoint, sealed under v + 1, is stored on the server by
//!    compare-and-swap.
//! 4. Every id at or past the tenant's next free id at the start was
//!    written under v + 1 (the server refused v by then), so the walk ends
//!    there. `FinishRotation` returns the tenant to rest at v + 1; the
//!    server drops the postings of deleted messages, the last entries
//!    that could still be under v. The client removes v from its keyring.
//!
//! A crash (of the client or the server) at any point is resumed by running
//! the rotation again: each step is idempotent and the checkpoint says
//! where the walk was; a batch applied but not checkpointed is found
//! already under v + 1 and skipped.

use std::time::Instant;

use indicatif::ProgressBar;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::Client;
use crate::keys::{Keyring, os_random};
use crate::message::Terms;
use crate::protocol::transport::Transport;
use crate::protocol::{DocId, KeyEpoch, Request, Response, VersionedState, expect_ok, unexpected};
use crate::state::StateFile;
use crate::{Error, Result};

/// Documents re-sealed and re-indexed per batch (one transaction and one
/// checkpoint each).
pub const ROTATION_BATCH: u32 = 1_000;

/// The shared client-state slot that holds the rotation's checkpoint.
const CHECKPOINT_SLOT: &str = "rotation";

/// Where a rotation's walk is, sealed under the new key version and kept
/// on the server, so any device can resume it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    /// The rotation's random id (the server's epoch names it too).
    rotation: [u8; 16],
    from: u32,
    to: u32,
    /// The tenant's next free id when the rotation began: every id from
    /// here on was written under the new version.
    end: DocId,
    /// The last id the walk has passed.
    after: Option<DocId>,
    /// Documents re-sealed so far.
    moved: u64,
    /// Documents found already under the new version.
    skipped: u64,
    /// The walk is over; only the epoch's end and the key's removal remain.
    walked: bool,
}

/// How to run a rotation.
#[derive(Debug, Clone, Default)]
pub struct RotationOptions {
    /// Documents per batch (0: [`ROTATION_BATCH`]).
    pub batch: u32,
    /// A progress bar to advance (its length is set to the document count).
    pub progress: Option<ProgressBar>,
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RotationReport {
    /// The version retired.
    pub from: u32,
    /// The version the tenant now rests at.
    pub to: u32,
    /// Whether it continued a rotation started before (by this or another device).
    pub resumed: bool,
    /// Documents re-sealed and re-indexed by this run.
    pub moved: u64,
    /// Documents this run found already under the new version.
    pub skipped: u64,
    /// Batches this run sent.
    pub batches: u64,
    /// Wall time of this run, in seconds.
    pub seconds: f64,
}

/// Where a tenant's keys stand, as `sseek rotate --status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RotationStatus {
    /// The server's key epoch.
    pub epoch: KeyEpoch,
    /// Documents the tenant holds.
    pub documents: u64,
    /// During a rotation: documents moved to the new version so far
    /// (by every run), per the checkpoint.
    pub moved: Option<u64>,
    /// During a rotation: the last id the walk has passed, and the id it ends at.
    pub position: Option<(Option<DocId>, DocId)>,
    /// Key versions this keyring holds.
    pub keyring_versions: Vec<u32>,
}

impl<T: Transport> Client<T> {
    /// Rotates the tenant's keys to the next version, or resumes the
    /// rotation under way, while other clients keep working (see the
    /// module docs). `save` persists the keyring: it is called once the new
    /// version is added (before the server hears of it) and once the old
    /// one is removed; a rotation that stops in between is resumed by
    /// calling this again with the saved keyring.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use sseek::{client::Client, keys::Keyring, message::Message, query::Query};
    /// # use sseek::{server::Server, store::MemoryStore, transport::InProcess, text::Tokenizer};
    /// # use sseek::blind::{default_index_specs, planner::plan_for_corpus};
    /// use sseek::client::rotation::RotationOptions;
    /// let server = Arc::new(Server::new(MemoryStore::new()));
    /// let ring = Keyring::generate()?;
    /// let mut client = Client::connect_keyring(&ring, "acme", InProcess::new(server, "acme"), Tokenizer::default())?;
    /// # let msgs = vec![Message { body: "lunch at noon?".into(), ..Default::default() }];
    /// # let terms: Vec<_> = msgs.iter().map(|m| m.terms(client.tokenizer())).collect();
    /// # client.create_schema(plan_for_corpus(&terms, &default_index_specs(), 10.0, 2.0, 1.0).into_iter().map(|(d, _)| d).collect())?;
    /// client.add_messages(&msgs, None)?;
    /// let mut saved = None;
    /// let report = client.rotate(&mut |ring: &Keyring| { saved = Some(ring.clone()); Ok(()) }, &RotationOptions::default())?;
    /// assert_eq!((report.from, report.to, report.moved), (1, 2, 1));
    /// assert_eq!(saved.unwrap().versions(), vec![2]);
    /// let noon = Query::parse("body:noon", client.specs(), client.tokenizer())?;
    /// assert_eq!(client.search(&noon)?.ids, vec![0]);
    /// # Ok::<(), sseek::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] if the keyring does not fit the tenant's epoch;
    /// [`Error::StateFile`] for a checkpoint that does not open or belongs
    /// to another rotation (nothing is overwritten then); [`Error::Decrypt`]
    /// for a document neither version opens; `save`'s errors; transport
    /// and server errors (a 409 if another device moved the checkpoint on).
    pub fn rotate(
        &mut self,
        save: &mut dyn FnMut(&Keyring) -> Result<()>,
        options: &RotationOptions,
    ) -> Result<RotationReport> {
        let started = Instant::now();
        self.refresh_epoch()?;
        let mut resumed = true;
        let keys = self.keys();
        if keys.epoch.previous.is_none() {
            let to = keys.epoch.current;
            let stale: Vec<u32> = keys.keyring.versions().into_iter().filter(|v| *v < to).collect();
            if !stale.is_empty() {
                // The rotation ended on the server; only the old key's removal was left.
                self.destroy_old_versions(&stale, save)?;
                let from = stale.last().copied().unwrap_or(to);
                let elapsed = started.elapsed();
                return Ok(RotationReport {
                    from,
                    to,
                    resumed,
                    moved: 0,
                    skipped: 0,
                    batches: 0,
                    seconds: elapsed.as_secs_f64(),
                });
            }
            resumed = false;
            self.begin_rotation(save)?;
        }
        let epoch = self.keys().epoch;
        let (from, to) = match epoch.previous {
            Some(from) => (from, epoch.current),
            None => return Err(Error::Config("the tenant is not rotating".into())),
        };
        let (mut slot_version, mut checkpoint) = self.start_checkpoint(&epoch)?;
        let batch = if options.batch == 0 { ROTATION_BATCH } else { options.batch };
        if let Some(pb) = &options.progress {
            pb.set_length(self.server_stats()?.documents);
            pb.set_position(checkpoint.moved + checkpoint.skipped);
        }
        let (mut moved, mut skipped, mut batches) = (0u64, 0u64, 0u64);
        while !checkpoint.walked {
            let Some((last, mut documents)) = self.document_page(checkpoint.after, batch)? else {
                checkpoint.walked = true;
                self.put_checkpoint(&checkpoint, slot_version)?;
                break;
            };
            documents.retain(|d| d.public.doc_id < checkpoint.end);
            let passed_end = last >= checkpoint.end;
            let (rewritten, already) = self.rotate_batch(&epoch, &documents)?;
            batches += 1;
            moved += rewritten;
            skipped += already;
            checkpoint.moved += rewritten;
            checkpoint.skipped += already;
            checkpoint.after = Some(last);
            checkpoint.walked = passed_end;
            slot_version = self.put_checkpoint(&checkpoint, slot_version)?;
            if let Some(pb) = &options.progress {
                pb.inc(documents.len() as u64);
            }
        }
        expect_ok(self.transport.call(&Request::FinishRotation { epoch })?)?;
        self.refresh_epoch()?;
        self.destroy_old_versions(&[from], save)?;
        Ok(RotationReport { from, to, resumed, moved, skipped, batches, seconds: started.elapsed().as_secs_f64() })
    }

    /// Where the tenant's keys stand: its epoch and, during a rotation,
    /// the checkpoint's progress.
    ///
    /// # Errors
    /// As [`Client::refresh_epoch`]; a checkpoint that does not open.
    pub fn rotation_status(&mut self) -> Result<RotationStatus> {
        self.refresh_epoch()?;
        let documents = self.server_stats()?.documents;
        let keys = self.keys();
        let checkpoint = match keys.epoch.previous {
            Some(_) => self.load_checkpoint()?.map(|(_, c)| c).filter(|c| c.rotation == keys.epoch.rotation),
            None => None,
        };
        Ok(RotationStatus {
            epoch: keys.epoch,
            documents,
            moved: checkpoint.as_ref().map(|c| c.moved),
            position: checkpoint.as_ref().map(|c| (c.after, c.end)),
            keyring_versions: keys.keyring.versions(),
        })
    }

    /// Adds the next version to the keyring (or takes the one an
    /// interrupted start added), saves it, and moves the server's epoch.
    fn begin_rotation(&mut self, save: &mut dyn FnMut(&Keyring) -> Result<()>) -> Result<()> {
        let from = self.keys().epoch.current;
        let to = from.checked_add(1).ok_or_else(|| Error::Config("no key version after u32::MAX".into()))?;
        let mut ring = self.keyring();
        if ring.get(to).is_none() {
            let added = ring.add_version()?;
            if added != to {
                return Err(Error::Config(format!(
                    "the keyring holds versions {:?}, past the tenant's current version {from}: it is not this tenant's keyring",
                    ring.versions()
                )));
            }
        } else if ring.current_version() != to {
            return Err(Error::Config(format!(
                "the keyring holds version {to} but its current version is {}",
                ring.current_version()
            )));
        }
        // The new key is on disk before the server hears of it: a crash
        // from here on resumes with it.
        save(&ring)?;
        // The other enrolled devices get it before any message is under it.
        self.publish_to_devices(&ring)?;
        self.set_keyring(ring)?;
        let mut rotation = [0u8; 16];
        os_random(&mut rotation)?;
        let epoch = KeyEpoch { current: to, previous: Some(from), rotation };
        let keys = self.keys();
        let schema_tag = match &self.schema {
            Some(schema) => {
                Some(crate::blind::client::schema_tag(keys.master(to)?, &self.tenant, to, &schema.indexes)?)
            }
            None => None,
        };
        expect_ok(self.transport.call(&Request::BeginRotation { epoch, schema_tag })?)?;
        self.refresh_epoch()?;
        Ok(())
    }

    /// Removes retired versions from the keyring and saves it.
    fn destroy_old_versions(&mut self, versions: &[u32], save: &mut dyn FnMut(&Keyring) -> Result<()>) -> Result<()> {
        let mut ring = self.keyring();
        let mut changed = false;
        for v in versions {
            if ring.get(*v).is_some() && *v != ring.current_version() {
                ring.remove_version(*v)?;
                changed = true;
            }
        }
        if changed {
            save(&ring)?;
            // The keyrings sealed to the devices drop the old key too.
            self.publish_to_devices(&ring)?;
            self.set_keyring(ring)?;
        }
        Ok(())
    }

    /// Seals `ring` to every enrolled device of the account and the device
    /// directory under its current version, if the account has a directory
    /// (even an empty one: it must stay readable once the old key is gone).
    fn publish_to_devices(&self, ring: &Keyring) -> Result<()> {
        let instance = super::devices::DIRECTORY_INSTANCE.to_owned();
        let directory = match self.transport.call(&Request::GetClientState { instance })? {
            Response::ClientState(state) => state,
            other => return Err(unexpected(&other)),
        };
        if directory.is_some() {
            super::devices::publish_keyring(ring, &self.tenant, &self.transport)?;
        }
        Ok(())
    }

    /// Re-seals one page of documents under the new version and sends them
    /// with their postings. Returns (rewritten, already under the new version).
    fn rotate_batch(&self, epoch: &KeyEpoch, documents: &[crate::protocol::EncryptedDocument]) -> Result<(u64, u64)> {
        let keys = self.keys();
        if &keys.epoch != epoch || keys.versions.len() != 2 {
            return Err(Error::Config("the client's keys are not those of the rotation under way".into()));
        }
        let (new, old) = (&keys.versions[0], &keys.versions[1]);
        let opened: Vec<Option<(crate::protocol::EncryptedDocument, Terms)>> = documents
            .par_iter()
            .map(|d| {
                let id = d.public.doc_id;
                match old.cipher.open(d, id) {
                    Ok(m) => {
                        // Sealed again at the same size: a padded message stays in its bucket.
                        let sealed = new.cipher.seal_padded(id, &m, d.sealed.len() as u64)?;
                        Ok(Some((sealed, m.terms(&self.tokenizer))))
                    }
                    // Moved by an earlier run whose checkpoint was not stored.
                    Err(_) if new.cipher.open(d, id).is_ok() => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .collect::<Result<_>>()?;
        let already = opened.iter().filter(|o| o.is_none()).count() as u64;
        let moving: Vec<_> = opened.into_iter().flatten().collect();
        if moving.is_empty() {
            return Ok((0, already));
        }
        let indexed: Vec<(DocId, &Terms)> = moving.iter().map(|(d, t)| (d.public.doc_id, t)).collect();
        let postings =
            |keys: &super::VersionKeys| keys.indexer.as_ref().map(|i| i.postings(&indexed)).unwrap_or_default();
        let request = Request::RotateDocuments {
            epoch: *epoch,
            remove: postings(old),
            add: postings(new),
            documents: moving.into_iter().map(|(d, _)| d).collect(),
        };
        match self.transport.call(&request)? {
            Response::DocumentIds(ids) => Ok((ids.len() as u64, already)),
            other => Err(unexpected(&other)),
        }
    }

    /// The sealer of checkpoints under `version`.
    fn checkpoint_sealer(&self, version: u32) -> Result<StateFile> {
        StateFile::new(self.keys().master(version)?, &self.tenant, "rotation", "checkpoint", version)
    }

    /// The stored checkpoint and its slot version, if any: the sealing key
    /// version (u32 BE) and the sealed checkpoint.
    fn load_checkpoint(&self) -> Result<Option<(u64, Checkpoint)>> {
        let state = match self.transport.call(&Request::GetClientState { instance: CHECKPOINT_SLOT.into() })? {
            Response::ClientState(s) => s,
            other => return Err(unexpected(&other)),
        };
        let Some(VersionedState { version, sealed }) = state else { return Ok(None) };
        let bad = |reason: String| Error::StateFile { path: "<server: rotation checkpoint>".into(), reason };
        let Some((key_version, body)) = sealed.split_first_chunk::<4>() else {
            return Err(bad(format!("{} bytes, too short for a checkpoint", sealed.len())));
        };
        let key_version = u32::from_be_bytes(*key_version);
        if self.keys().keyring.get(key_version).is_none() {
            return Err(bad(format!("sealed under key version {key_version}, which this keyring does not hold")));
        }
        let checkpoint =
            self.checkpoint_sealer(key_version)?.open_versioned(body, version, "<server: rotation checkpoint>")?;
        Ok(Some((version, checkpoint)))
    }

    /// Stores the checkpoint as the slot's next version (compare-and-swap)
    /// and returns that version.
    fn put_checkpoint(&self, checkpoint: &Checkpoint, slot_version: u64) -> Result<u64> {
        let version = slot_version + 1;
        let mut sealed = checkpoint.to.to_be_bytes().to_vec();
        sealed.extend(self.checkpoint_sealer(checkpoint.to)?.seal_versioned(checkpoint, version)?);
        match self.transport.call(&Request::PutClientState { instance: CHECKPOINT_SLOT.into(), version, sealed }) {
            Ok(r) => expect_ok(r).map(|()| version),
            Err(Error::Server { code: 409, .. }) => Err(Error::Conflict(
                "another device moved this rotation's checkpoint on: a second `sseek rotate` is running; let one finish".into(),
            )),
            Err(e) => Err(e),
        }
    }

    /// The checkpoint to continue from: this rotation's, or a fresh one
    /// (none yet, or one of an earlier rotation). One naming another
    /// rotation of the same versions (another store's, copied here) is
    /// refused and left in place.
    fn start_checkpoint(&self, epoch: &KeyEpoch) -> Result<(u64, Checkpoint)> {
        let (from, to) = (epoch.previous.unwrap_or(epoch.current), epoch.current);
        let stored = self.load_checkpoint()?;
        let slot_version = stored.as_ref().map_or(0, |(v, _)| *v);
        match stored {
            Some((v, c)) if c.rotation == epoch.rotation && c.from == from && c.to == to => return Ok((v, c)),
            Some((_, c)) if c.to >= to => {
                return Err(Error::StateFile {
                    path: "<server: rotation checkpoint>".into(),
                    reason: format!(
                        "the checkpoint belongs to rotation {} (version {} to {}), not to this store's rotation {} \
                         (version {from} to {to}): copied from another store? Left in place",
                        hex::encode(c.rotation),
                        c.from,
                        c.to,
                        hex::encode(epoch.rotation)
                    ),
                });
            }
            _ => {}
        }
        let end = match self.transport.call(&Request::ReserveDocumentIds { count: 0 })? {
            Response::DocumentIdRange { first, .. } => first,
            other => return Err(unexpected(&other)),
        };
        let fresh =
            Checkpoint { rotation: epoch.rotation, from, to, end, after: None, moved: 0, skipped: 0, walked: false };
        let version = self.put_checkpoint(&fresh, slot_version)?;
        Ok((version, fresh))
    }
}
