//! What the demo reports: per query class, per SSE variant, and in all,
//! printed for people and serialized for machines.

use serde::Serialize;

use crate::blind::planner::Plan;

/// Results for one index or one boolean query class.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkloadReport {
    /// Index name (`body`, `from+day`, ...) or query class (`and`, `or`).
    pub name: String,
    /// Token length in bits (indexes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bits: Option<u8>,
    /// The planner's figures (indexes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// Server bytes of this index's posting lists (indexes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_bytes: Option<u64>,
    /// Distinct tokens stored (indexes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Queries run.
    pub queries: usize,
    /// Queries whose result differed from the oracle.
    pub mismatches: usize,
    /// Exact results over all queries.
    pub results: u64,
    /// Candidates the server returned over all queries.
    pub candidates: u64,
    /// Candidates the client dropped as false positives.
    pub false_positives_filtered: u64,
    /// Mean end-to-end time per query (tokens, server, decrypt, filter), microseconds.
    pub mean_query_us: f64,
    /// Median time per query, microseconds.
    pub p50_query_us: f64,
    /// Mean bytes sent per query.
    pub bytes_sent_per_query: f64,
    /// Mean bytes received per query.
    pub bytes_received_per_query: f64,
}

/// Results for one SSE scheme variant over the whole workload.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SchemeReport {
    /// Variant name: `pibas`, `pack`, `2lev`, `2lev-rh`, `mitra`, `diana`, ...
    pub name: String,
    /// Registered scheme name.
    pub scheme: String,
    /// Whether the index was built by updates (dynamic scheme) or one setup.
    pub dynamic: bool,
    /// Whether the server opens results (response-revealing).
    pub response_revealing: bool,
    /// Ids per entry or block.
    pub block: u16,
    /// (keyword, document) pairs indexed.
    pub pairs: u64,
    /// Seconds to encrypt the multimap (or run all updates), send and store it.
    pub setup_seconds: f64,
    /// Setup time per pair, microseconds.
    pub setup_us_per_pair: f64,
    /// Entries stored on the server (dictionary entries and array blocks).
    pub entries: u64,
    /// Server bytes of the entries (keys and values).
    pub index_bytes: u64,
    /// Queries run (the same workload as the blind indexes).
    pub queries: usize,
    /// Queries whose result differed from the oracle (must be 0).
    pub mismatches: usize,
    /// Results over all queries.
    pub results: u64,
    /// Mean end-to-end time per query, microseconds.
    pub mean_query_us: f64,
    /// Total query time divided by total results, microseconds.
    pub us_per_result: f64,
    /// Mean round trips per query (a boolean query searches each term).
    pub round_trips_per_query: f64,
    /// Mean bytes sent per query.
    pub bytes_sent_per_query: f64,
    /// Mean bytes received per query.
    pub bytes_received_per_query: f64,
}

/// The demo's report (written by `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    /// Dataset name.
    pub dataset: String,
    /// Documents indexed.
    pub documents: usize,
    /// Documents deleted before the queries (see `DemoOptions::delete_fraction`).
    pub deleted: usize,
    /// With `DemoOptions::rotate`: messages re-sealed and re-indexed under
    /// key version 2 before the queries.
    pub rotated: Option<u64>,
    /// Files or records skipped as malformed.
    pub skipped: usize,
    /// Queries run in total.
    pub queries: usize,
    /// Mismatches against the oracle in total (must be 0).
    pub mismatches: usize,
    /// False positives filtered in total.
    pub false_positives_filtered: u64,
    /// Store backend and location.
    pub store: String,
    /// Seconds to extract keywords, seal, compute tokens, upload and index
    /// everything (planning the token lengths is not included).
    pub setup_seconds: f64,
    /// Sealed document bytes on the server.
    pub document_bytes: u64,
    /// Posting-list bytes on the server, all indexes.
    pub index_bytes: u64,
    /// One entry per index.
    pub indexes: Vec<WorkloadReport>,
    /// AND and OR query classes.
    pub boolean: Vec<WorkloadReport>,
    /// One entry per SSE scheme variant, on the same workload.
    pub sse: Vec<SchemeReport>,
    /// Both client-only baselines (`baseline-download`, `baseline-local`) on the same workload.
    pub baselines: Vec<crate::baseline::BaselineReport>,
}

impl DemoReport {
    /// The report as a markdown table.
    pub fn to_markdown(&self) -> String {
        let mut s = format!(
            "sseek demo: {} documents from {} ({} skipped{}), store {}\nsetup {:.2} s, documents {} bytes, blind indexes {} bytes\n\n",
            self.documents,
            self.dataset,
            self.skipped,
            if self.deleted > 0 { format!(", {} deleted before the queries", self.deleted) } else { String::new() }
                + &self.rotated.map_or_else(String::new, |n| {
                    format!(", keys rotated to version 2 before the queries ({n} messages moved, every SSE instance rebuilt)")
                }),
            self.store,
            self.setup_seconds,
            self.document_bytes,
            self.index_bytes
        );
        s.push_str("| index / class | bits | values/token | queries | mismatches | results | false positives filtered | index bytes | mean query µs | p50 µs | bytes out/in per query |\n");
        s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for r in self.indexes.iter().chain(&self.boolean) {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.0} / {:.0} |\n",
                r.name,
                r.bits.map_or("-".into(), |b| b.to_string()),
                r.plan.map_or("-".into(), |p| format!("{:.1}", p.values_per_token)),
                r.queries,
                r.mismatches,
                r.results,
                r.false_positives_filtered,
                r.index_bytes.map_or("-".into(), |b| b.to_string()),
                r.mean_query_us,
                r.p50_query_us,
                r.bytes_sent_per_query,
                r.bytes_received_per_query
            ));
        }
        if !self.sse.is_empty() {
            s.push_str("\n| SSE scheme | setup s | µs/pair | entries | index bytes | queries | mismatches | results | mean query µs | µs/result | round trips/query | bytes out/in per query |\n");
            s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for r in &self.sse {
                s.push_str(&format!(
                    "| {} | {:.2} | {:.3} | {} | {} | {} | {} | {} | {:.0} | {:.3} | {:.2} | {:.0} / {:.0} |\n",
                    r.name,
                    r.setup_seconds,
                    r.setup_us_per_pair,
                    r.entries,
                    r.index_bytes,
                    r.queries,
                    r.mismatches,
                    r.results,
                    r.mean_query_us,
                    r.us_per_result,
                    r.round_trips_per_query,
                    r.bytes_sent_per_query,
                    r.bytes_received_per_query
                ));
            }
        }
        s.push_str(&crate::baseline::markdown(&self.baselines));
        s.push_str(&format!(
            "\ntotal: {} queries, {} mismatches, {} false positives filtered\n",
            self.queries, self.mismatches, self.false_positives_filtered
        ));
        s
    }
}
