//! Records the git commit the crate is built from as `SSEEK_COMMIT`
//! (`abc1234`, `abc1234+dirty` with uncommitted changes to tracked files, or
//! `unknown` without git or outside a checkout), so every report names its
//! build without running git at run time, where the source tree may be gone.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    println!("cargo:rerun-if-changed=build.rs");
    let commit = commit(&dir).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=SSEEK_COMMIT={commit}");
}

/// The short commit of the checkout at `dir`, `+dirty` if tracked files
/// differ from it; `None` if `dir` is not a checkout or git is missing.
fn commit(dir: &Path) -> Option<String> {
    // `.git` of the crate itself (a directory, or a file in a worktree): a
    // crates tarball unpacked inside some other repository must not report
    // that repository's commit.
    if !dir.join(".git").exists() {
        return None;
    }
    let head = git(dir, &["rev-parse", "--short", "HEAD"])?;
    watch(dir);
    let dirty = git(dir, &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}+dirty") } else { head })
}

/// Reruns this script when the commit or the dirty state may have changed.
fn watch(dir: &Path) {
    // Git's own paths: in a worktree `.git` is a file and HEAD, the index
    // and the refs live elsewhere. A path that does not exist is not
    // watched, since Cargo would rerun the script on every build.
    let git_path = |p: &str| git(dir, &["rev-parse", "--git-path", p]).map(|p| dir.join(p));
    let mut paths: Vec<PathBuf> =
        ["HEAD", "index", "packed-refs", "logs/HEAD"].iter().filter_map(|p| git_path(p)).collect();
    // The branch HEAD points to (absent when detached; a loose file unless packed).
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        paths.extend(git_path(&branch));
    }
    // Edits to tracked files reach the index only when staged, so the files
    // the library is built from are watched too, to keep `+dirty` honest.
    paths.extend(["src", "assets", "Cargo.toml", "Cargo.lock"].iter().map(|p| dir.join(p)));
    for p in paths.iter().filter(|p| p.exists()) {
        println!("cargo:rerun-if-changed={}", p.display());
    }
}

/// Output of `git -C dir args`, trimmed, if git ran and succeeded.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
