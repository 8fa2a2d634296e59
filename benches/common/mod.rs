//! Shared by the bench binaries: the environment line every run records.

/// Prints CPU model, core count, RUSTFLAGS, sseek version and commit, so a
/// result is never separated from the machine and build that produced it.
pub fn print_environment() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(|| "unknown".into(), |o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    eprintln!(
        "environment: cpu=\"{cpu}\" cores={cores} RUSTFLAGS=\"{flags}\" sseek={} commit={commit}",
        env!("CARGO_PKG_VERSION")
    );
}
