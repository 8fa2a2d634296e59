//! The machine and build a report came from: read once per process and
//! shared by `sseek bench`, `sseek attack` and the criterion benches.

use std::sync::OnceLock;

use serde::Serialize;

/// Commit recorded by `build.rs` at build time; `unknown` if the crate was
/// built without it (another build system).
const COMMIT: &str = match option_env!("SSEEK_COMMIT") {
    Some(c) => c,
    None => "unknown",
};

/// The machine and build a report came from.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    /// CPU model from `/proc/cpuinfo`.
    pub cpu: String,
    /// Cores available to this process.
    pub cores: usize,
    /// `RUSTFLAGS` of the environment at run time (empty if unset).
    pub rustflags: String,
    /// `release` or `debug` (debug assertions on).
    pub profile: &'static str,
    /// sseek version.
    pub version: &'static str,
    /// Git commit the binary was built from (`+dirty` with uncommitted
    /// changes), or `unknown` when built outside a git checkout.
    pub commit: String,
}

impl Environment {
    /// The environment of this process, read on first use.
    pub fn current() -> &'static Environment {
        static CURRENT: OnceLock<Environment> = OnceLock::new();
        CURRENT.get_or_init(Self::read)
    }

    /// Reads the environment: what `benches/common` prints, as data (a copy
    /// of [`Environment::current`]).
    pub fn detect() -> Self {
        Self::current().clone()
    }

    fn read() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        Environment {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            rustflags: std::env::var("RUSTFLAGS").unwrap_or_default(),
            profile: if cfg!(debug_assertions) { "debug" } else { "release" },
            version: env!("CARGO_PKG_VERSION"),
            commit: COMMIT.to_owned(),
        }
    }

    /// One line, as the criterion benches print it.
    pub fn line(&self) -> String {
        format!(
            "cpu=\"{}\" cores={} RUSTFLAGS=\"{}\" profile={} sseek={} commit={}",
            self.cpu, self.cores, self.rustflags, self.profile, self.version, self.commit
        )
    }
}

/// Peak resident memory of this process so far (`VmHWM`), bytes; 0 where
/// `/proc` is unavailable.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_comes_from_the_build() {
        let e = Environment::current();
        assert_eq!(e.commit, COMMIT);
        // A short hash, optionally `+dirty`, or `unknown` outside a checkout.
        let hash = e.commit.strip_suffix("+dirty").unwrap_or(&e.commit);
        assert!(hash == "unknown" || (hash.len() >= 4 && hash.chars().all(|c| c.is_ascii_hexdigit())), "{}", e.commit);
        assert!(e.line().ends_with(&format!("commit={}", e.commit)));
    }
}
