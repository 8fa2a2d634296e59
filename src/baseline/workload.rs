//! Both baselines over the demo's query workload, and their rows of its report.

use serde::Serialize;

use super::{Baseline, BaselineMode};
use crate::Result;
use crate::keys::MasterKey;
use crate::message::IndexSpec;
use crate::protocol::DocId;
use crate::protocol::transport::Transport;
use crate::query::Query;
use crate::text::Tokenizer;

/// One baseline variant over a query workload, as the demo reports it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BaselineReport {
    /// `baseline-download` or `baseline-local`.
    pub name: String,
    /// Queries run (the first on a cold device, the rest warm).
    pub queries: usize,
    /// Answers that differed from the oracle (must be 0).
    pub mismatches: usize,
    /// Results over all queries.
    pub results: u64,
    /// Time from a cold device (nothing downloaded) to the first result, seconds.
    pub cold_first_result_seconds: f64,
    /// Bytes downloaded until that first result.
    pub cold_bytes_downloaded: u64,
    /// Client CPU seconds until that first result.
    pub cold_cpu_seconds: f64,
    /// Mean time per query on the warm device, microseconds.
    pub warm_mean_query_us: f64,
    /// Client CPU seconds over all queries, cold one included.
    pub cpu_seconds: f64,
    /// Bytes of the ciphertexts kept on the device.
    pub ciphertext_bytes: u64,
    /// Bytes of the local index (0 for download-all).
    pub index_bytes: u64,
}

/// Seconds of warm scanning after which the download-all variant in
/// [`run_workload`] skips the rest of the workload: each of its queries
/// decrypts the whole corpus (about a second for the shipped corpus), so the
/// full demo workload would take minutes. At least 3 queries always run.
pub const SCAN_BUDGET_SECONDS: f64 = 2.0;

/// Runs both baselines over a workload against a tenant already holding
/// the sealed documents of `master`: per variant, a new device (from
/// `connect`) answers the first query cold, then the rest warm (download-all:
/// within [`SCAN_BUDGET_SECONDS`]); every answer is compared with `expected`.
///
/// # Errors
/// Transport, server and decryption errors.
pub fn run_workload<T: Transport, F: Fn() -> Result<T>>(
    connect: F,
    key: (&MasterKey, u32),
    tenant: &str,
    specs: &[IndexSpec],
    queries: &[&Query],
    expected: &[Vec<DocId>],
) -> Result<Vec<BaselineReport>> {
    let mut out = Vec::new();
    for mode in BaselineMode::ALL {
        let mut dev = Baseline::at_version(key, tenant, connect()?, Tokenizer::default(), specs.to_vec(), mode)?;
        let mut r = BaselineReport { name: mode.name().into(), ..Default::default() };
        let mut warm_us = 0.0;
        for (i, (q, want)) in queries.iter().zip(expected).enumerate() {
            if mode == BaselineMode::DownloadAll && i >= 3 && warm_us / 1e6 > SCAN_BUDGET_SECONDS {
                break;
            }
            r.queries += 1;
            let t = std::time::Instant::now();
            let got = dev.search(q)?;
            let us = t.elapsed().as_secs_f64() * 1e6;
            if i == 0 {
                let s = dev.stats();
                r.cold_first_result_seconds = us / 1e6;
                r.cold_bytes_downloaded = s.bytes_downloaded;
                r.cold_cpu_seconds = s.cpu_seconds;
            } else {
                warm_us += us;
            }
            r.mismatches += usize::from(&got != want);
            r.results += got.len() as u64;
        }
        let s = dev.stats();
        r.warm_mean_query_us = warm_us / r.queries.saturating_sub(1).max(1) as f64;
        r.cpu_seconds = s.cpu_seconds;
        r.ciphertext_bytes = s.ciphertext_bytes;
        r.index_bytes = s.index_bytes;
        out.push(r);
    }
    Ok(out)
}

/// The baseline rows of the demo's markdown report.
pub fn markdown(reports: &[BaselineReport]) -> String {
    if reports.is_empty() {
        return String::new();
    }
    let mut s = String::from(
        "\n| client-only baseline | queries | mismatches | results | cold: first result s | cold: bytes downloaded | cold: CPU s | warm: mean query µs | CPU s (all queries) | device storage bytes (ciphertexts + index) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.3} | {} | {:.3} | {:.0} | {:.2} | {} + {} |\n",
            r.name,
            r.queries,
            r.mismatches,
            r.results,
            r.cold_first_result_seconds,
            r.cold_bytes_downloaded,
            r.cold_cpu_seconds,
            r.warm_mean_query_us,
            r.cpu_seconds,
            r.ciphertext_bytes,
            r.index_bytes
        ));
    }
    s
}
