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
