//! Store-wide operations of the data lifecycle: online backups, restore
//! into any backend, and compaction that leaves no erased byte behind.
//!
//! - [`backup`] streams a [`Store::snapshot`] into the checksummed format of
//!   [`super::backup`]: one point in time, taken while writers go on, in
//!   constant memory.
//! - [`restore`] checks the whole file first (a bad file writes nothing),
//!   then loads it into an empty store of any backend in bounded batches. A
//!   marker key ([`RESTORE_MARKER`]) is written first and removed by the
//!   last batch, so a restore cut short is refused by [`super::open`] and
//!   redone (not resumed) by the next `restore`.
//! - [`compact`] gives the space of deleted rows back: a redb file is
//!   rewritten into a fresh file that replaces it (redb's own compaction
//!   moves pages but may leave freed pages' old bytes in the file); a
//!   PostgreSQL schema gets `VACUUM FULL`, which rewrites each table into
//!   new files.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use indicatif::ProgressBar;

use super::backup::{BackupInfo, BackupReader, BackupSummary, BackupWriter, verify_file};
use super::{PostgresStore, RESTORE_MARKER, RedbStore, Store, Table, WriteBatch};
use crate::files::sync_parent;
use crate::{Error, Result};

/// Bytes of keys and values per store batch when loading a store.
const LOAD_BATCH_BYTES: usize = 16 << 20;

/// Streams a consistent snapshot of `store` into `out` in the backup format
/// (`source` names the backend in the header, for people). Progress counts
/// bytes of keys and values.
///
/// ```
/// use sseek::store::{MemoryStore, Store, Table, WriteBatch, lifecycle};
/// let store = MemoryStore::new();
/// let mut b = WriteBatch::new();
/// b.put(Table::Documents, b"k".to_vec(), b"sealed".to_vec());
/// store.write(b)?;
/// let mut file = Vec::new();
/// let summary = lifecycle::backup(&store, "memory", &mut file, None)?;
/// assert_eq!(summary.total_entries(), 1);
/// let copy = MemoryStore::new();
/// lifecycle::restore_from_bytes(&file, &copy, None)?;
/// assert_eq!(copy.get(Table::Documents, b"k")?.as_deref(), Some(&b"sealed"[..]));
/// # Ok::<(), sseek::Error>(())
/// ```
///
/// # Errors
/// Store errors; write errors of `out`.
pub fn backup(
    store: &dyn Store,
    source: &str,
    out: impl Write,
    progress: Option<&ProgressBar>,
) -> Result<BackupSummary> {
    let created_unix_ms =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut writer = BackupWriter::new(out, BackupInfo { created_unix_ms, source: source.to_owned() })?;
    store.snapshot(&mut |table, key, value| {
        // A store that is itself mid-restore is refused at open; never copy the marker.
        if !(table == Table::Meta && key == RESTORE_MARKER) {
            writer.entry(table, key, value)?;
        }
        if let Some(pb) = progress {
            pb.inc((key.len() + value.len()) as u64);
        }
        Ok(true)
    })?;
    Ok(writer.finish()?.0)
}

/// [`backup`] into a new file at `path`: written beside it under a
/// temporary name, synced, then renamed, so `path` is either absent or a
/// complete backup. Refuses to overwrite.
///
/// # Errors
/// [`Error::Config`] if `path` exists; I/O and store errors.
pub fn backup_to_file(
    store: &dyn Store,
    source: &str,
    path: &Path,
    progress: Option<&ProgressBar>,
) -> Result<BackupSummary> {
    publish(path, |file, _| backup(store, source, BufWriter::new(file), progress))
}

/// Creates `path` as a complete file or not at all: `fill` writes it under
/// a temporary name beside it, which is synced and then renamed (the
/// directory synced too); on any error the temporary file is removed.
/// Refuses to overwrite.
fn publish(path: &Path, fill: impl FnOnce(&File, &Path) -> Result<BackupSummary>) -> Result<BackupSummary> {
    if path.exists() {
        return Err(Error::Config(format!("{} exists; not overwriting", path.display())));
    }
    let tmp = sibling(path, "partial");
    let outcome = (|| {
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let summary = fill(&file, &tmp)?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        sync_parent(path)?;
        Ok(summary)
    })();
    if outcome.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    outcome
}

/// Checks a backup file without restoring it (see [`super::backup`]).
///
/// # Errors
/// [`Error::Backup`] naming the first problem; I/O errors.
pub fn verify_backup(path: &Path) -> Result<BackupSummary> {
    verify_file(path)
}

/// Saves a backup that `fetch` streams (from a server) into a new file at
/// `path`: written under a temporary name, checked whole, then renamed, so
/// `path` is either absent or a complete, verified backup.
///
/// # Errors
/// [`Error::Config`] if `path` exists; `fetch`'s errors; [`Error::Backup`]
/// if what arrived does not verify (a stream cut short, say).
pub fn download_backup(fetch: &dyn Fn(&mut dyn Write) -> Result<u64>, path: &Path) -> Result<BackupSummary> {
    publish(path, |file, tmp| {
        let mut out = BufWriter::new(file);
        fetch(&mut out)?;
        out.flush().map_err(|e| Error::io(tmp, e))?;
        drop(out);
        verify_file(tmp)
    })
}

/// What [`restore`] did.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    /// The backup's summary (checked before anything was written).
    pub summary: BackupSummary,
    /// Entries of an earlier, unfinished restore that were cleared first.
    pub cleared: u64,
}

/// Writes entries into a store in batches of about [`LOAD_BATCH_BYTES`].
struct Loader<'a> {
    store: &'a dyn Store,
    batch: WriteBatch,
    bytes: usize,
}

impl<'a> Loader<'a> {
    fn new(store: &'a dyn Store) -> Self {
        Loader { store, batch: WriteBatch::new(), bytes: 0 }
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8], progress: Option<&ProgressBar>) -> Result<()> {
        self.batch.put(table, key.to_vec(), value.to_vec());
        self.bytes += key.len() + value.len();
        if let Some(pb) = progress {
            pb.inc((key.len() + value.len()) as u64);
        }
        if self.bytes >= LOAD_BATCH_BYTES {
            self.store.write(std::mem::take(&mut self.batch))?;
            self.bytes = 0;
        }
        Ok(())
    }

    /// Writes what is left, with `last` (ops of the final batch) after it.
    fn finish(mut self, last: impl FnOnce(&mut WriteBatch)) -> Result<()> {
        last(&mut self.batch);
        self.store.write(self.batch)
    }
}

/// Checks the backup at `path`, then loads it into `store`, which must be
/// empty (or hold only a restore that did not finish, which is cleared
/// first). Progress counts bytes of keys and values.
///
/// # Errors
/// [`Error::Backup`] for a bad file (nothing written); [`Error::Conflict`]
/// for a store with data; store errors (then the store holds the marker
/// and is refused until a restore completes).
pub fn restore(path: &Path, store: &dyn Store, progress: Option<&ProgressBar>) -> Result<RestoreReport> {
    let summary = verify_file(path)?;
    restore_checked(summary, store, progress, || {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        BackupReader::new(BufReader::new(file))
    })
}

/// [`restore`] from a backup held in memory.
///
/// # Errors
/// As [`restore`].
pub fn restore_from_bytes(bytes: &[u8], store: &dyn Store, progress: Option<&ProgressBar>) -> Result<RestoreReport> {
    restore_checked(super::backup::verify(bytes)?, store, progress, || BackupReader::new(bytes))
}

/// The restore of a backup already checked once: prepares the target, then
/// loads what `reader` reads (which must be the same file).
fn restore_checked<R: std::io::Read>(
    summary: BackupSummary,
    store: &dyn Store,
    progress: Option<&ProgressBar>,
    reader: impl FnOnce() -> Result<BackupReader<R>>,
) -> Result<RestoreReport> {
    let cleared = prepare_target(store)?;
    load(reader()?, &summary, store, progress)?;
    Ok(RestoreReport { summary, cleared })
}

/// Refuses a store with data; clears one holding only an unfinished
/// restore; then writes the marker. Returns the entries cleared.
fn prepare_target(store: &dyn Store) -> Result<u64> {
    let unfinished = store.get(Table::Meta, RESTORE_MARKER)?.is_some();
    let mut cleared = 0;
    if unfinished {
        cleared = store.delete_prefixes(&Table::ALL.map(|t| (t, Vec::new())), WriteBatch::new())?;
    } else {
        let mut empty = true;
        store.snapshot(&mut |_, _, _| {
            empty = false;
            Ok(false)
        })?;
        if !empty {
            return Err(Error::Conflict("the target store holds data; restore into an empty store".into()));
        }
    }
    let mut marker = WriteBatch::new();
    marker.put(Table::Meta, RESTORE_MARKER.to_vec(), Vec::new());
    store.write(marker)?;
    Ok(cleared)
}

/// Loads the entries of a checked backup in bounded batches; the last
/// batch removes the marker.
fn load<R: std::io::Read>(
    reader: BackupReader<R>,
    expected: &BackupSummary,
    store: &dyn Store,
    progress: Option<&ProgressBar>,
) -> Result<()> {
    let mut loader = Loader::new(store);
    let read = reader.read_entries(&mut |table, key, value| loader.put(table, key, value, progress))?;
    // The file was checked once already; it must not have changed since.
    if read.sha256 != expected.sha256 {
        return Err(Error::Backup("the backup file changed while it was restored".into()));
    }
    loader.finish(|last| {
        last.delete(Table::Meta, RESTORE_MARKER.to_vec());
    })
}

/// Bytes a compaction found and left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactReport {
    /// Size before: the redb file, or the schema's tables with their indexes and TOAST.
    pub bytes_before: u64,
    /// Size after.
    pub bytes_after: u64,
}

/// Compacts the store of `spec` (`redb:PATH` or `postgres:URL`, see
/// [`super::open`]): a redb file is rewritten into a fresh file that
/// replaces it (the server must not hold it open); a PostgreSQL schema's
/// tables get `VACUUM FULL` (each table is locked while it is rewritten).
///
/// # Errors
/// [`Error::Config`] for an unknown spec; store and I/O errors (a failed
/// redb rewrite leaves the original file as it was).
pub fn compact(spec: &str, pg_schema: &str, progress: Option<&ProgressBar>) -> Result<CompactReport> {
    if let Some(path) = spec.strip_prefix("redb:") {
        compact_redb(Path::new(path), progress)
    } else if let Some(url) = spec.strip_prefix("postgres:") {
        let store = PostgresStore::connect(url, pg_schema)?;
        let bytes_before = store.size_bytes()?;
        store.vacuum_full()?;
        Ok(CompactReport { bytes_before, bytes_after: store.size_bytes()? })
    } else if spec.starts_with("redis-cluster:") {
        // Redis frees a deleted key's memory at once; the AOF is rewritten by the nodes themselves.
        Err(Error::Config(
            "a redis-cluster store needs no compaction (use BGREWRITEAOF on each node to shrink its AOF)".into(),
        ))
    } else {
        Err(Error::Config("store must be redb:PATH or postgres:URL".into()))
    }
}

fn compact_redb(path: &Path, progress: Option<&ProgressBar>) -> Result<CompactReport> {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).map_err(|e| Error::io(p, e));
    if !path.exists() {
        return Err(Error::Config(format!("no redb store at {}", path.display())));
    }
    let bytes_before = size(path)?;
    let tmp = sibling(path, "compacting");
    let _ = std::fs::remove_file(&tmp);
    let copied = (|| {
        let source = RedbStore::open(path)?;
        let target = RedbStore::open(&tmp)?;
        let mut loader = Loader::new(&target);
        source.snapshot(&mut |table, key, value| loader.put(table, key, value, progress).map(|()| true))?;
        // Each write is a durable commit: the new file is on disk when this returns.
        loader.finish(|_| {})
    })();
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    sync_parent(path)?;
    Ok(CompactReport { bytes_before, bytes_after: size(path)? })
}

/// `path` with `.{tag}` appended to its file name.
fn sibling(path: &Path, tag: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".{tag}"));
    path.with_file_name(name)
}
