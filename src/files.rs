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
