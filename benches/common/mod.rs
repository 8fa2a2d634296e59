//! Shared by the bench binaries: the environment line every run records.

/// Prints CPU model, core count, RUSTFLAGS, profile, sseek version and commit
/// (from [`sseek::bench::Environment`], the same record `sseek bench` writes),
/// so a result is never separated from the machine and build that produced it.
pub(crate) fn print_environment() {
    eprintln!("environment: {}", sseek::bench::Environment::detect().line());
}
