//! File system steps that make a write durable.

use std::path::Path;

use crate::{Error, Result};

/// Syncs the directory holding `path`, so that a file created or renamed
/// there survives a crash (the new name is on disk, not only its bytes).
///
/// # Errors
/// [`Error::Io`] naming the directory.
pub fn sync_parent(path: &Path) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))
}

/// Writes a secret file atomically: a new file beside `path` (mode 0600 on
/// Unix), written and synced, then put under its name, then the directory
/// synced; a crash leaves the old file or the new one, never a torn one.
/// Without `overwrite`, an existing file at `path` is an error and stays as
/// it was (the new name is linked, never renamed over it).
///
/// # Errors
/// [`Error::Io`], also for an existing file without `overwrite`; the
/// temporary file is removed then.
pub fn publish_secret(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // tempfile creates its files readable by their owner only.
    let mut tmp = tempfile::Builder::new().prefix(".sseek-new").tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    let persisted = if overwrite { tmp.persist(path) } else { tmp.persist_noclobber(path) };
    persisted.map_err(|e| Error::io(path, e.error))?;
    sync_parent(path)
}
