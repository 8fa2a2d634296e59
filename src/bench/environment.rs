//! The machine and build a report came from.

use serde::Serialize;

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
    /// Git commit of the source tree (`+dirty` with uncommitted changes), or `unknown`.
    pub commit: String,
}

impl Environment {
    /// Reads the environment: what `benches/common` prints, as data.
    pub fn detect() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .arg("-C")
                .arg(env!("CARGO_MANIFEST_DIR"))
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        };
        let commit = match git(&["rev-parse", "--short", "HEAD"]) {
            Some(c) => {
                let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
                if dirty { format!("{c}+dirty") } else { c }
            }
            None => "unknown".into(),
        };
        Environment {
            cpu,
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            rustflags: std::env::var("RUSTFLAGS").unwrap_or_default(),
            profile: if cfg!(debug_assertions) { "debug" } else { "release" },
            version: env!("CARGO_PKG_VERSION"),
            commit,
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
