//! The streaming backup file format: a writer, a reader and a verifier.
//!
//! Layout (integers little-endian):
//! - header: `SSEEKBAK`, u16 [`FORMAT_VERSION`], u32 length and postcard [`BackupInfo`];
//! - chunks: u32 payload length (never 0), payload, SHA-256 over (chunk index as u64 || payload),
//!   so a damaged or moved chunk is caught. A payload is a run of records: table tag u8 (position
//!   in [`Table::ALL`]), u32 key length, key, u32 value length, value. A record never spans chunks;
//! - trailer: u32 0, u32 length and postcard counts (chunks, entries and key+value bytes per
//!   table), then SHA-256 of every byte before it. Nothing may follow.
//!
//! Both sides hold about one chunk in memory. The module knows nothing of stores: a backup feeds
//! entries from a snapshot to [`BackupWriter`]; a restore calls [`verify`] first, so that a bad
//! file writes nothing, then reads again with [`BackupReader`], which re-checks every chunk.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Table;
use crate::{Error, Result};

/// The backup format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
const MAGIC: &[u8; 8] = b"SSEEKBAK";
/// Records are gathered into chunks of about this many bytes.
const CHUNK_SIZE: usize = 1 << 20;
/// Largest encoded record (tag, lengths, key and value). Since a chunk holds at most
/// `max(chunk size, one record)`, it is also the largest payload a reader accepts.
const MAX_RECORD: usize = 64 << 20;
/// Tag and the two lengths of a record.
const RECORD_OVERHEAD: usize = 9;
/// Caps of the postcard header and trailer, far above what they need.
const MAX_INFO: usize = 64 << 10;
const MAX_TRAILER: usize = 1 << 10;

/// Where a backup comes from; stored in its header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupInfo {
    /// When the backup was taken, in milliseconds since the Unix epoch.
    pub created_unix_ms: u64,
    /// The kind of store it was taken from, e.g. `"redb"` or `"postgres"`.
    pub source: String,
}

/// What a finished or fully read backup holds. Per-table arrays are in [`Table::ALL`] order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// The header of the backup.
    pub info: BackupInfo,
    /// Number of chunks.
    pub chunks: u64,
    /// Entries per table.
    pub entries: [u64; 4],
    /// Key plus value bytes per table.
    pub bytes: [u64; 4],
    /// Size of the whole file.
    pub file_bytes: u64,
    /// The SHA-256 at the end of the file, over every byte before it.
    pub sha256: [u8; 32],
}

impl BackupSummary {
    /// Entries of all tables.
    pub fn total_entries(&self) -> u64 {
        self.entries.iter().sum()
    }

    /// Entries of one table.
    pub fn entries_of(&self, t: Table) -> u64 {
        self.entries[t.index()]
    }
}

/// The counts after the last chunk, checked against what the reader saw.
#[derive(Debug, Serialize, Deserialize)]
struct BackupTrailer {
    chunks: u64,
    entries: [u64; 4],
    bytes: [u64; 4],
}

fn chunk_sum(index: u64, payload: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(index.to_le_bytes());
    h.update(payload);
    h.finalize().into()
}

fn len_u32(len: usize) -> Result<[u8; 4]> {
    u32::try_from(len)
        .map(u32::to_le_bytes)
        .map_err(|_| Error::Backup(format!("length {len} does not fit the backup format")))
}

/// Decodes a postcard value that must use every byte given.
fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> std::result::Result<T, String> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(format!("{} unexpected bytes after it", rest.len())),
        Err(e) => Err(e.to_string()),
    }
}

/// A buffered sink that hashes and counts everything written.
struct HashingWriter<W: Write> {
    inner: BufWriter<W>,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.inner
            .write_all(bytes)
            .map_err(|e| Error::Backup(format!("writing backup at byte {}: {e}", self.count)))?;
        self.hasher.update(bytes);
        self.count += bytes.len() as u64;
        Ok(())
    }
}

/// Writes a backup entry by entry, holding at most one chunk in memory.
///
/// After an error the output is incomplete and the writer should be dropped.
///
/// ```
/// use sseek::store::Table;
/// use sseek::store::backup::{BackupInfo, BackupReader, BackupWriter};
///
/// let info = BackupInfo { created_unix_ms: 1_700_000_000_000, source: "redb".into() };
/// let mut writer = BackupWriter::new(Vec::new(), info.clone())?;
/// writer.entry(Table::Meta, b"schema", b"{}")?;
/// writer.entry(Table::Documents, b"doc/1", b"sealed bytes")?;
/// let (written, bytes) = writer.finish()?;
///
/// let reader = BackupReader::new(bytes.as_slice())?;
/// assert_eq!(reader.info(), &info);
/// let mut seen = Vec::new();
/// let read = reader.read_entries(&mut |table, key, value| {
///     seen.push((table, key.to_vec(), value.to_vec()));
///     Ok(())
/// })?;
/// assert_eq!(read, written);
/// assert_eq!(read.total_entries(), 2);
/// assert_eq!(seen[1], (Table::Documents, b"doc/1".to_vec(), b"sealed bytes".to_vec()));
/// # Ok::<(), sseek::Error>(())
/// ```
pub struct BackupWriter<W: Write> {
    out: HashingWriter<W>,
    info: BackupInfo,
    chunk: Vec<u8>,
    chunk_size: usize,
    chunks: u64,
    entries: [u64; 4],
    bytes: [u64; 4],
}

impl<W: Write> fmt::Debug for BackupWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupWriter")
            .field("info", &self.info)
            .field("chunks", &self.chunks)
            .field("bytes_written", &self.out.count)
            .finish_non_exhaustive()
    }
}

impl<W: Write> BackupWriter<W> {
    /// Starts a backup on `out` (buffered here) and writes its header.
    ///
    /// # Errors
    /// [`Error::Backup`] if writing fails or `info` is over 64 KiB encoded.
    pub fn new(out: W, info: BackupInfo) -> Result<Self> {
        Self::with_chunk_size(out, info, CHUNK_SIZE)
    }

    /// As [`BackupWriter::new`] with another chunk size (tests use tiny chunks).
    pub(crate) fn with_chunk_size(out: W, info: BackupInfo, chunk_size: usize) -> Result<Self> {
        let encoded = postcard::to_stdvec(&info).map_err(|e| Error::Backup(format!("encoding backup info: {e}")))?;
        if encoded.len() > MAX_INFO {
            return Err(Error::Backup(format!(
                "backup info of {} bytes is over the {MAX_INFO}-byte cap",
                encoded.len()
            )));
        }
        let out = HashingWriter { inner: BufWriter::new(out), hasher: Sha256::new(), count: 0 };
        let chunk_size = chunk_size.clamp(1, MAX_RECORD);
        let mut w = Self { out, info, chunk: Vec::new(), chunk_size, chunks: 0, entries: [0; 4], bytes: [0; 4] };
        w.out.put(MAGIC)?;
        w.out.put(&FORMAT_VERSION.to_le_bytes())?;
        w.out.put(&len_u32(encoded.len())?)?;
        w.out.put(&encoded)?;
        Ok(w)
    }

    /// Adds one entry of `table`. Empty keys and values are allowed.
    ///
    /// # Errors
    /// [`Error::Backup`] if the entry is over the 64 MiB record cap or writing fails.
    pub fn entry(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<()> {
        let size = RECORD_OVERHEAD.saturating_add(key.len()).saturating_add(value.len());
        if size > MAX_RECORD {
            return Err(Error::Backup(format!(
                "{} entry with a {}-byte key and a {}-byte value is over the {MAX_RECORD}-byte record cap",
                table.name(),
                key.len(),
                value.len()
            )));
        }
        // Records never span chunks: close the chunk rather than overfill it.
        if !self.chunk.is_empty() && self.chunk.len() + size > self.chunk_size {
            self.flush_chunk()?;
        }
        let slot = table.index();
        let tag = u8::try_from(slot).map_err(|_| Error::Backup(format!("table index {slot} is not a tag")))?;
        self.chunk.push(tag);
        self.chunk.extend_from_slice(&len_u32(key.len())?);
        self.chunk.extend_from_slice(key);
        self.chunk.extend_from_slice(&len_u32(value.len())?);
        self.chunk.extend_from_slice(value);
        self.entries[slot] += 1;
        self.bytes[slot] += (key.len() + value.len()) as u64;
        if self.chunk.len() >= self.chunk_size {
            self.flush_chunk()?;
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<()> {
        let sum = chunk_sum(self.chunks, &self.chunk);
        self.out.put(&len_u32(self.chunk.len())?)?;
        self.out.put(&self.chunk)?;
        self.out.put(&sum)?;
        self.chunks += 1;
        self.chunk.clear();
        // A lone huge record must not keep its buffer for the rest of the backup.
        self.chunk.shrink_to(self.chunk_size);
        Ok(())
    }

    /// Writes the last chunk and the trailer, flushes, returns the summary and the writer.
    ///
    /// # Errors
    /// [`Error::Backup`] if writing or flushing fails.
    pub fn finish(mut self) -> Result<(BackupSummary, W)> {
        if !self.chunk.is_empty() {
            self.flush_chunk()?;
        }
        let trailer = BackupTrailer { chunks: self.chunks, entries: self.entries, bytes: self.bytes };
        let encoded = postcard::to_stdvec(&trailer).map_err(|e| Error::Backup(format!("encoding trailer: {e}")))?;
        self.out.put(&0u32.to_le_bytes())?;
        self.out.put(&len_u32(encoded.len())?)?;
        self.out.put(&encoded)?;
        let sha256: [u8; 32] = self.out.hasher.clone().finalize().into();
        self.out.put(&sha256)?;
        let file_bytes = self.out.count;
        let mut out =
            self.out.inner.into_inner().map_err(|e| Error::Backup(format!("flushing backup: {}", e.error())))?;
        out.flush().map_err(|e| Error::Backup(format!("flushing backup: {e}")))?;
        let BackupTrailer { chunks, entries, bytes } = trailer;
        let summary = BackupSummary { info: self.info, chunks, entries, bytes, file_bytes, sha256 };
        Ok((summary, out))
    }
}

/// A buffered source that hashes everything read and knows its offset, for error messages.
struct HashingReader<R: Read> {
    inner: BufReader<R>,
    hasher: Sha256,
    offset: u64,
    /// The file, when known: named in errors.
    path: Option<PathBuf>,
}

impl<R: Read> HashingReader<R> {
    fn fail(&self, reason: String) -> Error {
        match &self.path {
            Some(p) => Error::Backup(format!("{}: {reason}", p.display())),
            None => Error::Backup(reason),
        }
    }

    fn io_error(&self, e: io::Error) -> Error {
        match &self.path {
            Some(p) => Error::io(p.clone(), e),
            None => Error::Backup(format!("reading backup at byte {}: {e}", self.offset)),
        }
    }

    /// Fills `buf`; `Ok(false)` if the input ends first.
    fn fill(&mut self, buf: &mut [u8]) -> Result<bool> {
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.hasher.update(&*buf);
                self.offset += buf.len() as u64;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(self.io_error(e)),
        }
    }

    fn exact(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        if self.fill(buf)? {
            Ok(())
        } else {
            Err(self.fail(format!("truncated: {what} at byte {} is cut short", self.offset)))
        }
    }

    fn u32(&mut self, what: &str) -> Result<usize> {
        let mut b = [0; 4];
        self.exact(&mut b, what)?;
        // Lossless on every target that can hold a 64 MiB chunk; anything else fails the caps.
        Ok(usize::try_from(u32::from_le_bytes(b)).unwrap_or(usize::MAX))
    }

    /// Reads `len` bytes (already checked against a cap) into `buf`, growing it only as data
    /// arrives, so a lying length on a short file allocates little.
    fn bytes(&mut self, buf: &mut Vec<u8>, len: usize, what: &str) -> Result<()> {
        buf.clear();
        let read = (&mut self.inner).take(len as u64).read_to_end(buf);
        read.map_err(|e| self.io_error(e))?;
        self.hasher.update(&*buf);
        self.offset += buf.len() as u64;
        if buf.len() < len {
            return Err(self.fail(format!("truncated: {what} of {len} bytes ends at byte {}", self.offset)));
        }
        Ok(())
    }
}

/// A callback of [`BackupReader::read_entries`]: gets table, key and value of one entry.
pub type EntryVisitor<'a> = dyn FnMut(Table, &[u8], &[u8]) -> Result<()> + 'a;

/// Reads a backup: the header on [`BackupReader::new`], then every entry in one pass.
pub struct BackupReader<R: Read> {
    src: HashingReader<R>,
    info: BackupInfo,
    buf: Vec<u8>,
}

impl<R: Read> fmt::Debug for BackupReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupReader")
            .field("info", &self.info)
            .field("offset", &self.src.offset)
            .field("path", &self.src.path)
            .finish_non_exhaustive()
    }
}

impl<R: Read> BackupReader<R> {
    /// Reads and checks the header of a backup from `input` (buffered here).
    ///
    /// # Errors
    /// [`Error::Backup`] if `input` is not an sseek backup, is of another format version, has a
    /// bad header or cannot be read.
    pub fn new(input: R) -> Result<Self> {
        Self::open(input, None)
    }

    fn open(input: R, path: Option<PathBuf>) -> Result<Self> {
        let mut src = HashingReader { inner: BufReader::new(input), hasher: Sha256::new(), offset: 0, path };
        let mut magic = [0; 8];
        if !src.fill(&mut magic)? || magic != *MAGIC {
            return Err(src.fail("not an sseek backup (it does not start with \"SSEEKBAK\")".into()));
        }
        let mut version = [0; 2];
        src.exact(&mut version, "format version")?;
        let version = u16::from_le_bytes(version);
        if version != FORMAT_VERSION {
            return Err(src.fail(format!("backup format version {version}; this build reads version {FORMAT_VERSION}")));
        }
        let len = src.u32("header length")?;
        if len > MAX_INFO {
            return Err(src.fail(format!("header length {len} at byte 10 is over the {MAX_INFO}-byte cap")));
        }
        let mut buf = Vec::new();
        src.bytes(&mut buf, len, "header")?;
        let info = decode(&buf).map_err(|e| src.fail(format!("bad header at byte 14: {e}")))?;
        Ok(Self { src, info, buf })
    }

    /// The header of the backup.
    pub fn info(&self) -> &BackupInfo {
        &self.info
    }

    /// Calls `visit` for each entry in file order; the chunk's checksum is checked before any of
    /// its entries is visited. Returns the summary after checking the trailer and EOF.
    ///
    /// Entries of the chunks before a damaged one have been visited when the error is returned:
    /// a restore that must write nothing on a bad file calls [`verify`] first.
    ///
    /// # Errors
    /// [`Error::Backup`] naming the chunk or byte offset if the file is truncated, damaged,
    /// reordered, inconsistent with its trailer or followed by other bytes, or cannot be read;
    /// any error of `visit`, as returned.
    pub fn read_entries(self, visit: &mut EntryVisitor<'_>) -> Result<BackupSummary> {
        let Self { mut src, info, mut buf } = self;
        let (mut chunks, mut entries, mut bytes) = (0u64, [0u64; 4], [0u64; 4]);
        loop {
            let at = src.offset;
            let len = src.u32(&format!("chunk {chunks} length"))?;
            if len == 0 {
                break;
            }
            if len > MAX_RECORD {
                return Err(
                    src.fail(format!("chunk {chunks} at byte {at}: length {len} is over the {MAX_RECORD}-byte cap"))
                );
            }
            src.bytes(&mut buf, len, &format!("chunk {chunks}"))?;
            let mut sum = [0; 32];
            src.exact(&mut sum, &format!("checksum of chunk {chunks}"))?;
            if sum != chunk_sum(chunks, &buf) {
                return Err(
                    src.fail(format!("chunk {chunks} at byte {at}: checksum mismatch (chunk damaged or out of order)"))
                );
            }
            let mut rest = buf.as_slice();
            while !rest.is_empty() {
                let pos = buf.len() - rest.len();
                let (table, key, value, after) = parse_record(rest).map_err(|why| {
                    src.fail(format!("chunk {chunks} at byte {at}: record at payload offset {pos}: {why}"))
                })?;
                visit(table, key, value)?;
                entries[table.index()] += 1;
                bytes[table.index()] += (key.len() + value.len()) as u64;
                rest = after;
            }
            chunks += 1;
            buf.shrink_to(CHUNK_SIZE);
        }
        let at = src.offset - 4;
        let len = src.u32("trailer length")?;
        if len > MAX_TRAILER {
            return Err(src.fail(format!("trailer at byte {at}: length {len} is over the {MAX_TRAILER}-byte cap")));
        }
        src.bytes(&mut buf, len, "trailer")?;
        let expected: [u8; 32] = src.hasher.clone().finalize().into();
        let mut sha256 = [0; 32];
        src.exact(&mut sha256, "file checksum")?;
        if sha256 != expected {
            return Err(
                src.fail(format!("file checksum at byte {} does not match: the file is damaged", src.offset - 32))
            );
        }
        let trailer: BackupTrailer = decode(&buf).map_err(|e| src.fail(format!("bad trailer at byte {at}: {e}")))?;
        if trailer.chunks != chunks || trailer.entries != entries || trailer.bytes != bytes {
            return Err(src.fail(format!(
                "trailer at byte {at} disagrees with the data: it counts {} chunks, entries {:?}, bytes {:?}; \
                 read {chunks} chunks, entries {entries:?}, bytes {bytes:?}",
                trailer.chunks, trailer.entries, trailer.bytes
            )));
        }
        let file_bytes = src.offset;
        if src.fill(&mut [0])? {
            return Err(src.fail(format!("trailing bytes after the end of the backup at byte {file_bytes}")));
        }
        Ok(BackupSummary { info, chunks, entries, bytes, file_bytes, sha256 })
    }
}

type Record<'a> = (Table, &'a [u8], &'a [u8], &'a [u8]);

/// Splits one record off a checked payload: table, key, value and the rest.
fn parse_record(b: &[u8]) -> std::result::Result<Record<'_>, String> {
    let (&tag, b) = b.split_first().ok_or("empty record")?;
    let table = *Table::ALL.get(usize::from(tag)).ok_or_else(|| format!("bad table tag {tag}"))?;
    let (key, b) = field(b, "key")?;
    let (value, b) = field(b, "value")?;
    Ok((table, key, value, b))
}

fn field<'a>(b: &'a [u8], what: &str) -> std::result::Result<(&'a [u8], &'a [u8]), String> {
    let (len, b) = b.split_first_chunk::<4>().ok_or_else(|| format!("{what} length cut short"))?;
    let len = usize::try_from(u32::from_le_bytes(*len)).unwrap_or(usize::MAX);
    b.split_at_checked(len).ok_or_else(|| format!("{what} length {len} runs past the end of the chunk"))
}

/// Reads a whole backup and checks it without restoring.
///
/// # Errors
/// As [`BackupReader::new`] and [`BackupReader::read_entries`].
pub fn verify(input: impl Read) -> Result<BackupSummary> {
    BackupReader::new(input)?.read_entries(&mut |_, _, _| Ok(()))
}

/// Same, for a file path (opens with a BufReader; errors name the path).
///
/// # Errors
/// [`Error::Io`] if the file cannot be opened or read; otherwise as [`verify`].
pub fn verify_file(path: &Path) -> Result<BackupSummary> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    BackupReader::open(file, Some(path.to_path_buf()))?.read_entries(&mut |_, _, _| Ok(()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::ops::Range;

    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};

    use super::*;

    type Entries = Vec<(Table, Vec<u8>, Vec<u8>)>;

    fn info() -> BackupInfo {
        BackupInfo { created_unix_ms: 1_700_000_000_000, source: "test".into() }
    }

    fn write(entries: &Entries, chunk_size: usize) -> (BackupSummary, Vec<u8>) {
        let mut w = BackupWriter::with_chunk_size(Vec::new(), info(), chunk_size).unwrap();
        for (t, k, v) in entries {
            w.entry(*t, k, v).unwrap();
        }
        w.finish().unwrap()
    }

    fn read(bytes: &[u8]) -> Result<(BackupSummary, Entries)> {
        let mut got = Vec::new();
        let s = BackupReader::new(bytes)?.read_entries(&mut |t, k, v| {
            got.push((t, k.to_vec(), v.to_vec()));
            Ok(())
        })?;
        Ok((s, got))
    }

    fn backup_err(bytes: &[u8]) -> String {
        match verify(bytes) {
            Err(Error::Backup(m)) => m,
            other => panic!("expected Error::Backup, got {other:?}"),
        }
    }

    /// `n` small entries cycling over the tables.
    fn small(n: usize, value_len: usize) -> Entries {
        (0..n)
            .zip(0u8..)
            .map(|(i, b)| (Table::ALL[i % 4], format!("k{i:04}").into_bytes(), vec![b; value_len]))
            .collect()
    }

    /// Byte ranges of the chunks (length, payload, checksum) of a backup, and where the trailer starts.
    fn chunk_ranges(b: &[u8]) -> (Vec<Range<usize>>, usize) {
        let u32_at = |at: usize| usize::try_from(u32::from_le_bytes(b[at..at + 4].try_into().unwrap())).unwrap();
        let (mut at, mut out) = (14 + u32_at(10), Vec::new());
        while u32_at(at) != 0 {
            out.push(at..at + 4 + u32_at(at) + 32);
            at = out.last().unwrap().end;
        }
        (out, at)
    }

    #[test]
    fn round_trip_of_random_entries_with_edge_cases() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut entries: Entries = (0..500)
            .map(|_| {
                let key = (0..rng.random_range(0..40)).map(|_| rng.random()).collect();
                let value = (0..rng.random_range(0..300)).map(|_| rng.random()).collect();
                (Table::ALL[rng.random_range(0..4)], key, value)
            })
            .collect();
        entries.insert(100, (Table::Meta, b"empty value".to_vec(), Vec::new()));
        entries.insert(200, (Table::Postings, Vec::new(), b"empty key".to_vec()));
        entries.insert(300, (Table::Documents, b"big".to_vec(), vec![0xA5; 3 << 20]));
        let (written, bytes) = write(&entries, CHUNK_SIZE);
        let (read_back, got) = read(&bytes).unwrap();
        assert_eq!(got, entries);
        assert_eq!(read_back, written);
        assert_eq!(written.file_bytes, bytes.len() as u64);
        assert_eq!(written.sha256[..], bytes[bytes.len() - 32..]);
        assert_eq!(written.chunks, 3, "small entries, the 3 MiB one alone, small entries");
        assert_eq!(written.total_entries(), 503);
        let docs = entries.iter().filter(|e| e.0 == Table::Documents).count() as u64;
        assert_eq!(written.entries_of(Table::Documents), docs);
        assert_eq!(verify(bytes.as_slice()).unwrap(), written);
    }

    #[test]
    fn empty_backup() {
        let (written, bytes) = write(&Vec::new(), CHUNK_SIZE);
        assert_eq!((written.chunks, written.total_entries(), written.bytes), (0, 0, [0; 4]));
        assert_eq!(read(&bytes).unwrap(), (written, Vec::new()));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let (written, bytes) = write(&small(6, 10), 64);
        assert_eq!(written.chunks, 3);
        assert!(chunk_ranges(&bytes).0.iter().all(|r| r.len() <= 4 + 64 + 32), "chunks stay within their size");
        for n in 0..bytes.len() {
            let m = backup_err(&bytes[..n]);
            assert!(m.contains("truncated") || m.contains("not an sseek backup"), "cut at {n}: {m}");
        }
    }

    #[test]
    fn every_bit_flip_is_detected() {
        let (_, bytes) = write(&small(40, 30), 256);
        assert!((1500..2500).contains(&bytes.len()), "{}", bytes.len());
        for bit in 0..bytes.len() * 8 {
            let mut damaged = bytes.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            backup_err(&damaged);
        }
    }

    #[test]
    fn bad_files_are_named() {
        let (_, bytes) = write(&small(6, 10), 64);
        let with = |at: usize, b: &[u8]| [&bytes[..at], b, &bytes[at + b.len()..]].concat();
        assert!(backup_err(&with(0, b"SSEEKBAX")).contains("not an sseek backup"));
        assert!(
            backup_err(&with(8, &2u16.to_le_bytes())).contains("backup format version 2; this build reads version 1")
        );
        assert!(backup_err(&[&bytes[..], b"x"].concat()).contains("trailing bytes"));
        let (chunks, _) = chunk_ranges(&bytes);
        let (c0, c1) = (&bytes[chunks[0].clone()], &bytes[chunks[1].clone()]);
        let swapped = [&bytes[..chunks[0].start], c1, c0, &bytes[chunks[1].end..]].concat();
        assert!(backup_err(&swapped).contains("chunk 0 at byte"), "{}", backup_err(&swapped));
        assert!(backup_err(&swapped).contains("out of order"));
    }

    #[test]
    fn bad_tags_big_chunks_and_wrong_counts_are_refused() {
        let (_, bytes) = write(&small(6, 10), 64);
        let (chunks, trailer_at) = chunk_ranges(&bytes);
        let header = &bytes[..chunks[0].start];
        let chunk = |payload: &[u8]| [&len_u32(payload.len()).unwrap(), payload, &chunk_sum(0, payload)].concat();
        let bad_tag = [header, &chunk(&[7, 0, 0, 0, 0, 0, 0, 0, 0])].concat();
        assert!(backup_err(&bad_tag).contains("bad table tag 7"));
        let huge = [header, &len_u32(MAX_RECORD + 1).unwrap()].concat();
        assert!(backup_err(&huge).contains("over the"));
        // A trailer that disagrees, under a recomputed file checksum.
        let trailer = BackupTrailer { chunks: 3, entries: [2, 2, 1, 2], bytes: [0; 4] };
        let encoded = postcard::to_stdvec(&trailer).unwrap();
        let mut forged = [&bytes[..trailer_at + 4], &len_u32(encoded.len()).unwrap(), &encoded].concat();
        forged.extend_from_slice(&Sha256::digest(&forged));
        assert!(backup_err(&forged).contains("trailer at byte"));
        let too_big = vec![0; MAX_RECORD];
        let mut w = BackupWriter::new(Vec::new(), info()).unwrap();
        assert!(matches!(w.entry(Table::Entries, b"k", &too_big), Err(Error::Backup(m)) if m.contains("record cap")));
    }

    #[test]
    fn verify_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.sseekbak");
        let (written, bytes) = write(&small(6, 10), 64);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(verify_file(&path).unwrap(), written);
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let err = verify_file(&path).unwrap_err().to_string();
        assert!(err.contains("b.sseekbak") && err.contains("truncated"), "{err}");
        assert!(matches!(verify_file(&dir.path().join("missing")), Err(Error::Io { .. })));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = verify(bytes.as_slice());
        }

        #[test]
        fn arbitrary_bytes_after_a_header_are_refused(tail in proptest::collection::vec(any::<u8>(), 0..600)) {
            let (_, bytes) = write(&Vec::new(), 64);
            let (_, trailer_at) = chunk_ranges(&bytes);
            prop_assert!(verify([&bytes[..trailer_at], &tail].concat().as_slice()).is_err());
        }
    }
}
