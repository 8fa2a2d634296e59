//! A tiny `sseek bench` through the library API: every scheme and both
//! baselines report every measured field, answers equal the oracle, and the
//! plots are written as SVG and PNG.

use sseek::bench::{self, BenchOptions, StoreKind};

#[test]
fn tiny_bench_reports_every_scheme_with_zero_mismatches() {
    let opts = BenchOptions {
        sizes: vec![300, 600],
        datasets: Vec::new(),
        store: StoreKind::Memory,
        progress: false,
        ..BenchOptions::quick()
    };
    let report = bench::run(&opts).unwrap();
    assert_eq!(report.mismatches, 0);
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    for field in ["cpu", "cores", "rustflags", "version", "commit"] {
        assert!(json["environment"].get(field).is_some(), "environment.{field}");
    }
    assert!(json["primitives"]["hmac_sha256_ns"].as_f64().unwrap() > 0.0);
    let points = json["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    for p in points {
        assert!(p["peak_rss_bytes"].as_u64().is_some());
        let schemes = p["schemes"].as_array().unwrap();
        let names: Vec<&str> = schemes.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(names.len(), bench::scheme_names().len(), "{names:?}");
        for want in bench::scheme_names() {
            assert!(names.contains(&want.as_str()), "{want} missing from {names:?}");
        }
        for s in schemes {
            let name = s["name"].as_str().unwrap();
            assert_eq!(s["mismatches"], 0, "{name}");
            assert!(s["queries"].as_u64().unwrap() >= 3, "{name}");
            for f in [
                "setup_us_per_message",
                "setup_us_per_pair",
                "mean_query_us",
                "us_per_result",
                "ratio_to_hmac",
                "bytes_sent_per_query",
                "bytes_received_per_query",
                "round_trips_per_query",
                "server_index_bytes_per_message",
                "client_bytes",
                "cold_first_result_seconds",
            ] {
                assert!(s[f].as_f64().is_some_and(|v| v >= 0.0), "{name}.{f} = {}", s[f]);
            }
            let dynamic = matches!(s["kind"].as_str(), Some("sse-dynamic" | "blind" | "baseline"));
            assert_eq!(s.get("update_us_per_message").is_some(), dynamic, "{name}");
        }
        let local = schemes.iter().find(|s| s["name"] == "baseline-local").unwrap();
        assert!(local["client_bytes"].as_u64().unwrap() > 0 && local["cold_bytes_received"].as_u64().unwrap() > 0);
    }
    assert!(!report.crossovers.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let files = report.write_all(dir.path()).unwrap();
    for name in [
        "report.json",
        "report.md",
        "search_latency.png",
        "crossover.svg",
        "bytes_per_query.png",
        "setup_throughput.svg",
    ] {
        let f = files.iter().find(|f| f.ends_with(name)).unwrap_or_else(|| panic!("{name} not written"));
        assert!(std::fs::metadata(f).unwrap().len() > 1000, "{name} too small");
    }
    // PNG signature: the bitmap backend encoded a real image.
    let png = std::fs::read(dir.path().join("crossover.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

/// A tiny `sseek bench --corpus zipf-sparse,zipf-dense,...`: small Zipf
/// multimaps under the real names, a scaled copy, blind-index latency and
/// keyword extraction on small synthetic corpora. Every target row exists,
/// and every answer equals the multimap or the oracle.
#[test]
fn tiny_multimap_bench_reports_every_target_row() {
    use sseek::datasets::{ZIPF_DENSE, ZIPF_SPARSE, ZipfMultimap};
    let opts = BenchOptions {
        sizes: Vec::new(),
        datasets: Vec::new(),
        store: StoreKind::Memory,
        progress: false,
        multimaps: vec![
            (ZIPF_SPARSE.into(), ZipfMultimap { messages: 1_500, keywords_per_message: 5, vocabulary: 1_000, seed: 1 }),
            (ZIPF_DENSE.into(), ZipfMultimap { messages: 800, keywords_per_message: 18, vocabulary: 100, seed: 1 }),
        ],
        multimap_scaled: Some(3_000),
        blind_latency: vec!["synthetic:300:1".into()],
        keyword_corpus: Some("synthetic:200:1".into()),
        ..BenchOptions::quick()
    };
    let report = bench::run(&opts).unwrap();
    assert_eq!(report.mismatches, 0);
    assert!(report.points.is_empty());
    let m = report.multimap.as_ref().unwrap();
    assert_eq!(m.mismatches, 0);
    let variants = sseek::demo::SSE_VARIANTS;
    // Two corpora in two stores, plus the scaled corpus on redb, per variant.
    assert_eq!(m.results.len(), variants.len() * 5);
    for r in &m.results {
        assert_eq!(r.mismatches, 0, "{r:?}");
        assert!(r.pairs > 0 && r.results > 0 && r.search_us_per_result > 0.0 && r.setup_us_per_pair > 0.0, "{r:?}");
        assert_eq!(r.update_us_per_entry.is_some(), r.kind == "sse-dynamic", "{r:?}");
        if r.kind == "sse-dynamic" {
            assert!(r.update_entries > 0, "{r:?}");
        }
    }
    // Setup on 1 and 2 threads, per variant, on both corpora.
    assert_eq!(m.scaling.len(), variants.len() * 2);
    assert!(m.scaling.iter().all(|s| s.speedup > 0.0));
    for corpus in [ZIPF_SPARSE, ZIPF_DENSE] {
        assert_eq!(m.scaling.iter().filter(|s| s.corpus == corpus).count(), variants.len(), "{corpus}");
    }
    assert_eq!(m.slopes.len(), variants.len());
    let measures: Vec<&str> = report.targets.iter().map(|t| t.measure.as_str()).collect();
    for v in variants {
        for want in [format!("{v} search, per result, sparse / dense"), format!("{v} setup, per pair, sparse / dense")]
        {
            assert!(measures.iter().any(|m| m.starts_with(&want)), "{want} missing from {measures:?}");
        }
        assert!(measures.iter().any(|m| m.starts_with(&format!("{v} setup on 2 threads vs 1"))), "{v}");
        assert!(measures.iter().any(|m| m.starts_with(&format!("{v} on redb"))), "{v}");
    }
    for want in ["mitra update, per entry", "diana update, per entry", "raw HMAC-SHA256", "raw AES-256, one block"] {
        assert!(measures.iter().any(|m| m.starts_with(want)), "{want} missing from {measures:?}");
    }
    for want in ["blind index, newest 20 p50", "blind index, all results, per returned message", "keyword extraction"] {
        assert!(measures.iter().any(|m| m.starts_with(want)), "{want} missing from {measures:?}");
    }
    let mitra = report.targets.iter().find(|t| t.measure.starts_with("mitra search")).unwrap();
    assert!(mitra.target.contains("0.1") && mitra.met.is_some(), "{mitra:?}");
    let latency = &report.blind_latency[0];
    assert!(latency.queries > 10 && latency.returned > 0 && latency.mismatches == 0, "{latency:?}");
    let k = report.keyword_extraction.as_ref().unwrap();
    assert!(k.mb_per_s > 0.0 && k.mismatches == 0);
    let md = report.to_markdown();
    assert!(md.contains("| measure | value | target | met |") && md.contains("keyword-multimap corpora"));
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["targets"].as_array().is_some_and(|t| t.len() == report.targets.len()));
    assert!(json["multimap"]["results"].as_array().is_some_and(|r| !r.is_empty()));
    assert!(json["primitives"]["aes_block_ns"].as_f64().is_some_and(|v| v > 0.0));
    let dir = tempfile::tempdir().unwrap();
    let files = report.write_all(dir.path()).unwrap();
    assert!(files.iter().any(|f| f.ends_with("report.md")));
}

/// A tiny `sseek bench --conjunctive 300`: OXT and per-term AND on 2Lev
/// answer every conjunction like the intersection of the lists, and every
/// field is filled and consistent (bytes follow the s-term, costs are
/// given in fixed-base multiplications of the same run).
#[test]
fn tiny_conjunctive_bench_matches_the_intersections() {
    let opts = BenchOptions {
        sizes: Vec::new(),
        datasets: Vec::new(),
        store: StoreKind::Memory,
        progress: false,
        conjunctive: vec![300],
        ..BenchOptions::quick()
    };
    let report = bench::run(&opts).unwrap();
    assert_eq!(report.mismatches, 0);
    assert!(report.points.is_empty());
    assert!(report.primitives.ristretto_fixed_base_ns > 0.0);
    assert!(report.primitives.ristretto_variable_base_ns > 0.0 && report.primitives.ristretto_compress_ns > 0.0);
    let c = report.conjunctive.as_ref().unwrap();
    assert_eq!((c.mismatches, c.points.len()), (0, 1));
    let p = &c.points[0];
    assert_eq!(p.messages, 300);
    assert!(p.pairs > 1_000 && p.keywords > 100, "{p:?}");
    let schemes: Vec<&str> = p.setups.iter().map(|s| s.scheme.as_str()).collect();
    assert_eq!(schemes, ["oxt", "2lev"]);
    for s in &p.setups {
        assert!(s.setup_seconds > 0.0 && s.setup_us_per_pair > 0.0 && s.setup_pair_in_fixed_base_mults > 0.0, "{s:?}");
        assert!(s.index_bytes > 0 && s.index_bytes_per_pair > 0.0, "{s:?}");
    }
    // OXT stores an XSet label per pair on top of its TSet: more bytes than 2Lev.
    assert!(p.setups[0].index_bytes > p.setups[1].index_bytes);
    let names: Vec<&str> = p.conjunctions.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["rare+common", "medium+common", "common+top", "rare+medium+top"]);
    for r in &p.conjunctions {
        assert_eq!(r.mismatches, 0, "{r:?}");
        assert_eq!(r.s_term, *r.lists.iter().min().unwrap(), "{r:?}");
        assert!(r.result <= r.s_term && r.s_term > 0, "{r:?}");
        // One 32-byte xtoken per s-term entry and x-term at least.
        assert!(r.oxt.bytes_sent >= (32 * r.s_term * (r.lists.len() - 1)) as u64, "{r:?}");
        assert!(r.oxt.bytes_received > 0 && r.and_2lev.bytes_sent > 0 && r.and_2lev.bytes_received > 0, "{r:?}");
        assert!(r.oxt.round_trips > 0 && r.and_2lev.round_trips > 0, "{r:?}");
        assert!(r.oxt.median_ms > 0.0 && r.and_2lev.median_ms > 0.0, "{r:?}");
        assert!(r.oxt_us_per_s_term_entry > 0.0 && r.oxt_entry_in_fixed_base_mults > 0.0, "{r:?}");
    }
    assert_eq!(p.conjunctions[3].lists.len(), 3);
    let md = report.to_markdown();
    assert!(md.contains("OXT conjunctions next to per-term AND on 2Lev") && md.contains("| rare+medium+top |"));
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["conjunctive"]["points"][0]["conjunctions"][0]["and_2lev"]["median_ms"].as_f64().is_some());
    assert!(json["primitives"]["ristretto_fixed_base_ns"].as_f64().is_some());
}
