//! A byte scan of a directory for plaintext that must not be there.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Scans every file below `dir` for any of `needles` (case-insensitive ASCII),
/// returning `(file, needle)` for each hit. Used by the canary test and
/// available to users auditing a store directory.
///
/// # Errors
/// [`Error::Io`] if a file cannot be read.
pub fn scan_for_plaintext(dir: &Path, needles: &[&str]) -> Result<Vec<(PathBuf, String)>> {
    let lowered: Vec<Vec<u8>> = needles.iter().map(|n| n.to_ascii_lowercase().into_bytes()).collect();
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
            let p = entry.map_err(|e| Error::io(&d, e))?.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?.to_ascii_lowercase();
            for (needle, orig) in lowered.iter().zip(needles) {
                if !needle.is_empty() && bytes.windows(needle.len()).any(|w| w == needle.as_slice()) {
                    hits.push((p.clone(), (*orig).to_owned()));
                }
            }
        }
    }
    Ok(hits)
}
