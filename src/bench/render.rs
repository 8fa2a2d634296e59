//! The report as markdown and JSON, and the files `sseek bench` writes.

use std::path::Path;

use super::{BenchReport, ConjunctiveReport, Primitives, plot};
use crate::{Error, Result};

impl BenchReport {
    /// The report as markdown: environment, primitives, one table per point,
    /// crossovers and slopes.
    pub fn to_markdown(&self) -> String {
        let e = &self.environment;
        let pr = &self.primitives;
        let mut s = format!(
            "# sseek bench\n\n`{}`\n\nenvironment: {}\n\nstore: {:?}; raw primitives this run: HMAC-SHA256 (32 B) {:.0} ns, AES-256 block {:.1} ns, AES-256-SIV 1 KiB {:.0} ns, AES-256-GCM 1 KiB {:.0} ns, AES-256-GCM-SIV 1 KiB {:.0} ns, Ristretto255 fixed-base multiplication {:.1} µs, variable-base {:.1} µs, compression {:.1} µs; {} mismatches against the oracle; {:.0} s in total.\n",
            self.command,
            e.line(),
            self.store,
            pr.hmac_sha256_ns,
            pr.aes_block_ns,
            pr.aes_siv_1kib_ns,
            pr.aes_gcm_1kib_ns,
            pr.aes_gcm_siv_1kib_ns,
            pr.ristretto_fixed_base_ns / 1e3,
            pr.ristretto_variable_base_ns / 1e3,
            pr.ristretto_compress_ns / 1e3,
            self.mismatches,
            self.seconds
        );
        self.push_targets(&mut s);
        for p in &self.points {
            s.push_str(&format!(
                "\n## {} ({} messages, {} pairs, {} keywords)\n\nkeyword extraction {:.2} s; sealed documents {:.0} B/message; peak RSS so far {:.0} MiB; point took {:.1} s.\n\n",
                p.dataset,
                p.messages,
                p.pairs,
                p.keywords,
                p.extract_seconds,
                p.document_bytes_per_message,
                p.peak_rss_bytes as f64 / 1048576.0,
                p.seconds
            ));
            s.push_str("| scheme | setup µs/msg | setup µs/pair | queries | mismatches | mean query µs | µs/result | ÷ HMAC | bytes out/in per query | round trips | server index B/msg | client bytes | cold first result s | cold bytes in | update µs/msg | update µs/entry |\n");
            s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for r in &p.schemes {
                let opt = |v: Option<f64>| v.map_or("-".to_owned(), |x| format!("{x:.2}"));
                s.push_str(&format!(
                    "| {} | {:.2} | {:.3} | {} | {} | {:.0} | {:.3} | {:.1} | {:.0} / {:.0} | {:.1} | {:.1} | {} | {:.4} | {} | {} | {} |\n",
                    r.name,
                    r.setup_us_per_message,
                    r.setup_us_per_pair,
                    r.queries,
                    r.mismatches,
                    r.mean_query_us,
                    r.us_per_result,
                    r.ratio_to_hmac,
                    r.bytes_sent_per_query,
                    r.bytes_received_per_query,
                    r.round_trips_per_query,
                    r.server_index_bytes_per_message,
                    r.client_bytes,
                    r.cold_first_result_seconds,
                    r.cold_bytes_received,
                    opt(r.update_us_per_message),
                    opt(r.update_us_per_entry),
                ));
            }
        }
        if !self.crossovers.is_empty() {
            s.push_str("\n## Where server-assisted search beats client-only (synthetic sweep)\n\n| scheme | baseline | metric | from messages | reading |\n|---|---|---|---:|---|\n");
            for c in &self.crossovers {
                s.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    c.scheme,
                    c.baseline,
                    c.metric,
                    c.messages.map_or("-".into(), |m| format!("{m:.0}")),
                    c.note
                ));
            }
        }
        if !self.slopes.is_empty() {
            s.push_str("\n## Growth of search cost per result (log-log slope over the synthetic sizes; 0 = flat)\n\n| scheme | slope |\n|---|---:|\n");
            for sl in &self.slopes {
                s.push_str(&format!("| {} | {:.3} |\n", sl.scheme, sl.log_log_slope));
            }
        }
        self.push_multimap(&mut s);
        self.push_latency(&mut s);
        if let Some(c) = &self.conjunctive {
            s.push_str(&c.to_markdown(&self.primitives));
        }
        s
    }

    /// The summary table: each measure next to its target.
    fn push_targets(&self, s: &mut String) {
        if self.targets.is_empty() {
            return;
        }
        s.push_str("\n## Measures and targets\n\nIn process (every request encoded and decoded), one run; memory rows on the in-memory store.\n\n| measure | value | target | met |\n|---|---|---|---|\n");
        for t in &self.targets {
            let met = match t.met {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            };
            s.push_str(&format!("| {} | {} | {} | {met} |\n", t.measure, t.value, t.target));
        }
    }

    /// Every scheme on the multimap corpora, and setup on 1 and 2 threads.
    fn push_multimap(&self, s: &mut String) {
        let Some(m) = &self.multimap else { return };
        s.push_str(&format!(
            "\n## SSE schemes on the keyword-multimap corpora ({} mismatches against the multimap)\n\n| corpus | store | scheme | documents | pairs | keywords | setup s | setup µs/pair | searches | results | search µs/result | ÷ HMAC | search p50 µs | update entries | update µs/entry | mismatches |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            m.mismatches
        ));
        for r in &m.results {
            s.push_str(&format!(
                "| {} | {:?} | {} | {} | {} | {} | {:.2} | {:.3} | {} | {} | {:.4} | {:.2} | {:.1} | {} | {} | {} |\n",
                r.corpus,
                r.store,
                r.scheme,
                r.documents,
                r.pairs,
                r.keywords,
                r.setup_seconds,
                r.setup_us_per_pair,
                r.searches,
                r.results,
                r.search_us_per_result,
                r.search_us_per_result * 1e3 / self.primitives.hmac_sha256_ns,
                r.search_p50_us,
                r.update_entries,
                r.update_us_per_entry.map_or("-".into(), |v| format!("{v:.2}")),
                r.mismatches
            ));
        }
        if !m.scaling.is_empty() {
            s.push_str(
                "\n| scheme | corpus | setup 1 thread s | setup 2 threads s | speedup |\n|---|---|---:|---:|---:|\n",
            );
            for sc in &m.scaling {
                s.push_str(&format!(
                    "| {} | {} | {:.2} | {:.2} | {:.2}x |\n",
                    sc.scheme, sc.corpus, sc.one_thread_seconds, sc.two_thread_seconds, sc.speedup
                ));
            }
        }
        if !m.slopes.is_empty() {
            s.push_str("\n| scheme | log-log slope of search µs/result on redb (first corpus, scaled) |\n|---|---:|\n");
            for sl in &m.slopes {
                s.push_str(&format!("| {} | {:.3} |\n", sl.scheme, sl.log_log_slope));
            }
        }
    }

    /// Blind-index latency and keyword extraction.
    fn push_latency(&self, s: &mut String) {
        if !self.blind_latency.is_empty() {
            s.push_str("\n## Blind index: newest 20 and all results (the demo's workload, redb)\n\n| corpus | messages | queries | newest 20 p50 / p95 ms | all results p50 / mean ms | µs per returned message | returned | mismatches |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
            for l in &self.blind_latency {
                s.push_str(&format!(
                    "| {} | {} | {} | {:.2} / {:.2} | {:.2} / {:.2} | {:.2} | {} | {} |\n",
                    l.corpus,
                    l.messages,
                    l.queries,
                    l.newest_p50_ms,
                    l.newest_p95_ms,
                    l.all_p50_ms,
                    l.all_mean_ms,
                    l.us_per_returned_message,
                    l.returned,
                    l.mismatches
                ));
            }
        }
        if let Some(k) = &self.keyword_extraction {
            s.push_str(&format!(
                "\nKeyword extraction on {} ({} bytes of subjects and bodies, one thread, best of 5, {}): {:.0} MB/s ({} of CPU time); the Unicode-segmenter reference {:.0} MB/s ({} of CPU time); {} texts differ.\n",
                k.corpus,
                k.bytes,
                k.measures,
                k.mb_per_s,
                k.cpu_mb_per_s.map_or_else(|| "unknown".to_owned(), |c| format!("{c:.0} MB/s")),
                k.reference_mb_per_s,
                k.reference_cpu_mb_per_s.map_or_else(|| "unknown".to_owned(), |c| format!("{c:.0} MB/s")),
                k.mismatches
            ));
        }
    }

    /// Writes `report.json`, `report.md` and the plots (SVG and PNG) into `dir`,
    /// creating it. Returns the files written.
    ///
    /// # Errors
    /// [`Error::Io`] and [`Error::Plot`].
    pub fn write_all(&self, dir: &Path) -> Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut files = Vec::new();
        let json = dir.join("report.json");
        self.write_json(&json)?;
        files.push(json);
        let md = dir.join("report.md");
        std::fs::write(&md, self.to_markdown()).map_err(|e| Error::io(&md, e))?;
        files.push(md);
        if !self.points.is_empty() {
            files.extend(plot::write_plots(self, dir)?);
        }
        Ok(files)
    }

    /// Writes the report as pretty JSON.
    ///
    /// # Errors
    /// [`Error::Io`].
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| Error::Config(e.to_string()))?;
        std::fs::write(path, text).map_err(|e| Error::io(path, e))
    }
}

impl ConjunctiveReport {
    /// The conjunctive section as markdown: per corpus size, both setups
    /// and every conjunction, each OXT cost also in fixed-base
    /// multiplications of `primitives` (those of the same run).
    pub fn to_markdown(&self, primitives: &Primitives) -> String {
        let fixed_us = primitives.ristretto_fixed_base_ns / 1e3;
        let mut out = String::new();
        out.push_str(&format!(
            "\n## OXT conjunctions next to per-term AND on 2Lev (in memory; {} mismatches against the intersection of the lists)\n\nOne Ristretto255 fixed-base multiplication this run: {fixed_us:.1} µs (\"× mult\" columns); median of {} interleaved runs per query.\n",
            self.mismatches, self.repetitions
        ));
        for p in &self.points {
            out.push_str(&format!(
                "\n### {} synthetic messages (seed {}, {} pairs, {} keywords; peak RSS so far {:.0} MiB; {:.0} s)\n\n| scheme | setup s | setup µs/pair | × mult | index MB | index B/pair |\n|---|---:|---:|---:|---:|---:|\n",
                p.messages,
                p.seed,
                p.pairs,
                p.keywords,
                p.peak_rss_bytes as f64 / 1048576.0,
                p.seconds
            ));
            for st in &p.setups {
                out.push_str(&format!(
                    "| {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.1} |\n",
                    st.scheme,
                    st.setup_seconds,
                    st.setup_us_per_pair,
                    st.setup_pair_in_fixed_base_mults,
                    st.index_bytes as f64 / 1e6,
                    st.index_bytes_per_pair
                ));
            }
            out.push_str("\n| conjunction | lists | s-term | result | oxt ms | 2lev AND ms | oxt µs/s-term entry | × mult | oxt bytes out/in | 2lev AND bytes out/in | mismatches |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for r in &p.conjunctions {
                let lists: Vec<String> = r.lists.iter().map(ToString::to_string).collect();
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {:.3} | {:.3} | {:.1} | {:.2} | {} / {} | {} / {} | {} |\n",
                    r.name,
                    lists.join(", "),
                    r.s_term,
                    r.result,
                    r.oxt.median_ms,
                    r.and_2lev.median_ms,
                    r.oxt_us_per_s_term_entry,
                    r.oxt_entry_in_fixed_base_mults,
                    r.oxt.bytes_sent,
                    r.oxt.bytes_received,
                    r.and_2lev.bytes_sent,
                    r.and_2lev.bytes_received,
                    r.mismatches
                ));
            }
        }
        out
    }
}
