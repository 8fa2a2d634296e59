//! Client half of Pi_bas / Pi_pack: per-keyword keys, setup, tokens, opening answers.

use rand::seq::SliceRandom;
use rayon::prelude::*;

use crate::keys::MasterKey;
use crate::keys::keyword::KeywordPrf;
use crate::primitives::prf::{Domain, PADDING_ID, Prf, decode_ids, encode_ids};
use crate::protocol::{DocId, EncryptedEntry, EntryLocation, SearchResult, SearchToken, SseDescriptor};
use crate::sse::registry::Scheme;
use crate::sse::{ENTRY_CHUNK, MultiMap, SchemeConfig, StaticScheme};
use crate::{Error, Result};

/// Default ids per entry of Pi_pack: 64 ids make a 256-byte value, one store
/// lookup per 64 results. See `papers/pack.md` for the measured trade-off.
pub const DEFAULT_BLOCK: u16 = 64;

/// The client half of Pi_bas (block 1) and Pi_pack (block B).
#[derive(Debug)]
pub struct PiBas {
    descriptor: SseDescriptor,
    prf: KeywordPrf,
    block: usize,
}

impl PiBas {
    /// Derives the instance key. `block` is 1 for Pi_bas.
    ///
    /// # Errors
    /// [`Error::Config`] for block 0; key label errors.
    pub fn new(master: &MasterKey, tenant: &str, config: &SchemeConfig, block: u16) -> Result<Self> {
        if block == 0 {
            return Err(Error::Config("Pi_pack block size must be at least 1".into()));
        }
        let scheme =
            if block == 1 && config.scheme == Scheme::PiBas.name() { Scheme::PiBas } else { Scheme::Pack }.name();
        let prf = KeywordPrf::new(master, tenant, scheme, &config.instance, "keyword", config.key_version)?;
        let descriptor = SseDescriptor {
            instance: config.instance.clone(),
            scheme: scheme.to_owned(),
            block,
            response_revealing: config.response_revealing,
            key_version: config.key_version,
        };
        Ok(PiBas { descriptor, prf, block: usize::from(block) })
    }

    pub(super) fn entries_of(&self, keyword: &[u8], ids: &[DocId]) -> Vec<EncryptedEntry> {
        let keys = self.prf.keys(keyword);
        let (label, value) = (Prf::new(&keys.first), Prf::new(&keys.second));
        self.entries_from(&label, &value, 0, ids)
    }

    /// The entries of `ids`, the first one at counter `first`
    /// (`ids` starts on a block boundary).
    fn entries_from(&self, label: &Prf, value: &Prf, first: u64, ids: &[DocId]) -> Vec<EncryptedEntry> {
        let blocks = ids.chunks(self.block);
        let labels = label.labels(first, blocks.len());
        blocks
            .zip(labels)
            .zip(first..)
            .map(|((ids, l), c)| {
                let mut v = encode_ids(ids, self.block);
                value.apply_keystream(Domain::Value, c, &mut v);
                EncryptedEntry { location: EntryLocation::Dictionary(l), value: v }
            })
            .collect()
    }

    /// The entries of a keyword larger than one request, [`ENTRY_CHUNK`]
    /// at a time, each piece encrypted on every core.
    fn send_large(
        &self,
        keyword: &[u8],
        ids: &[DocId],
        sink: &mut dyn FnMut(Vec<EncryptedEntry>) -> Result<()>,
    ) -> Result<()> {
        /// Blocks per parallel task.
        const TASK: usize = 4096;
        let keys = self.prf.keys(keyword);
        let (label, value) = (Prf::new(&keys.first), Prf::new(&keys.second));
        for (p, piece) in ids.chunks(ENTRY_CHUNK * self.block).enumerate() {
            let entries = piece
                .par_chunks(TASK * self.block)
                .enumerate()
                .flat_map_iter(|(t, ids)| {
                    let first = (p * ENTRY_CHUNK + t * TASK) as u64;
                    self.entries_from(&label, &value, first, ids)
                })
                .collect();
            sink(entries)?;
        }
        Ok(())
    }
}

impl StaticScheme for PiBas {
    fn descriptor(&self) -> &SseDescriptor {
        &self.descriptor
    }

    fn setup(&self, db: &MultiMap, sink: &mut dyn FnMut(Vec<EncryptedEntry>) -> Result<()>) -> Result<()> {
        if db.values().any(|ids| ids.contains(&PADDING_ID)) {
            return Err(Error::Config(format!("document id {PADDING_ID} is reserved for padding")));
        }
        // Groups of keywords of about ENTRY_CHUNK entries, each encrypted in parallel.
        let mut group: Vec<(&Vec<u8>, &Vec<DocId>)> = Vec::new();
        let mut group_entries = 0;
        let flush = |group: &mut Vec<(&Vec<u8>, &Vec<DocId>)>,
                     sink: &mut dyn FnMut(Vec<EncryptedEntry>) -> Result<()>| {
            if group.is_empty() {
                return Ok(());
            }
            let entries: Vec<EncryptedEntry> =
                group.par_iter().flat_map_iter(|(k, ids)| self.entries_of(k, ids)).collect();
            group.clear();
            sink(entries)
        };
        // Keywords in random order: the order of the requests must not
        // reveal a keyword's rank among the others once it is searched.
        let mut keywords: Vec<(&Vec<u8>, &Vec<DocId>)> = db.iter().collect();
        keywords.shuffle(&mut crate::sse::setup_rng()?);
        for (k, ids) in keywords {
            let n = ids.len().div_ceil(self.block);
            if group_entries + n > ENTRY_CHUNK && !group.is_empty() {
                flush(&mut group, sink)?;
                group_entries = 0;
            }
            if n > ENTRY_CHUNK {
                // One keyword larger than a request: send it in pieces.
                self.send_large(k, ids, sink)?;
                continue;
            }
            group.push((k, ids));
            group_entries += n;
        }
        flush(&mut group, sink)
    }

    fn token(&self, keyword: &[u8]) -> SearchToken {
        let keys = self.prf.keys(keyword);
        SearchToken::Dictionary {
            label_key: keys.first,
            value_key: self.descriptor.response_revealing.then_some(keys.second),
        }
    }

    fn resolve(&self, keyword: &[u8], result: SearchResult) -> Result<Vec<DocId>> {
        let mut ids = match result {
            SearchResult::Ids(ids) => ids,
            SearchResult::Values(values) => {
                let value = Prf::new(&self.prf.keys(keyword).second);
                let mut ids = Vec::with_capacity(values.len() * self.block);
                for (c, mut v) in values.into_iter().enumerate() {
                    value.apply_keystream(Domain::Value, c as u64, &mut v);
                    decode_ids(&v, &mut ids)?;
                }
                ids
            }
        };
        if !ids.is_sorted() {
            ids.sort_unstable();
        }
        ids.dedup();
        Ok(ids)
    }
}
