//! Request counters, latency histograms and connection gauges, rendered as
//! Prometheus text. Everything here is a counter kept as requests pass: a
//! scrape reads no table, so scraping costs the same on any store size.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Default)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is +Inf.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(&'static str, u16), u64>,
    latency: BTreeMap<&'static str, Histogram>,
}

/// The server's metrics. Routes are labelled by their template (a fixed set),
/// never by the raw path, so label cardinality stays bounded.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    in_flight: AtomicI64,
    connections: AtomicI64,
    connections_refused: AtomicU64,
}

/// An open connection, counted until dropped.
#[derive(Debug)]
pub struct OpenConnection<'a>(&'a Metrics);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// Empty metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks a request as started; [`Metrics::record`] ends it.
    pub fn start(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an open connection until the guard is dropped.
    pub fn connection_opened(&self) -> OpenConnection<'_> {
        self.connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection(self)
    }

    /// Counts a connection closed at once because the connection cap was reached.
    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a finished request.
    pub fn record(&self, route: &'static str, status: u16, seconds: f64) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        // A poisoned lock only means another request panicked mid-update; the counters stay usable.
        let mut inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *inner.requests.entry((route, status)).or_default() += 1;
        let h = inner.latency.entry(route).or_default();
        let slot = BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(BUCKETS.len());
        h.counts[slot] += 1;
        h.sum += seconds;
        h.count += 1;
    }

    /// Prometheus text exposition of the counters, histograms and gauges.
    pub fn render(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut s = String::new();
        // Writing to a String cannot fail.
        let _ = writeln!(s, "# HELP sseek_http_requests_total HTTP requests by route template and status.");
        let _ = writeln!(s, "# TYPE sseek_http_requests_total counter");
        for ((route, status), n) in &inner.requests {
            let _ = writeln!(s, "sseek_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        let _ = writeln!(s, "# HELP sseek_http_request_duration_seconds Request latency by route template.");
        let _ = writeln!(s, "# TYPE sseek_http_request_duration_seconds histogram");
        for (route, h) in &inner.latency {
            let mut cumulative = 0;
            for (i, le) in BUCKETS.iter().enumerate() {
                cumulative += h.counts[i];
                let _ = writeln!(
                    s,
                    "sseek_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ =
                writeln!(s, "sseek_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(s, "sseek_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(s, "sseek_http_request_duration_seconds_count{{route=\"{route}\"}} {}", h.count);
        }
        let _ = writeln!(s, "# HELP sseek_http_requests_in_flight Requests being served.");
        let _ = writeln!(s, "# TYPE sseek_http_requests_in_flight gauge");
        let _ = writeln!(s, "sseek_http_requests_in_flight {}", self.in_flight.load(Ordering::Relaxed));
        let _ = writeln!(s, "# HELP sseek_http_connections_open Open client connections.");
        let _ = writeln!(s, "# TYPE sseek_http_connections_open gauge");
        let _ = writeln!(s, "sseek_http_connections_open {}", self.connections.load(Ordering::Relaxed));
        let _ = writeln!(
            s,
            "# HELP sseek_http_connections_refused_total Connections closed at once: the connection cap was reached."
        );
        let _ = writeln!(s, "# TYPE sseek_http_connections_refused_total counter");
        let _ =
            writeln!(s, "sseek_http_connections_refused_total {}", self.connections_refused.load(Ordering::Relaxed));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = Metrics::new();
        for secs in [0.0001, 0.003, 20.0] {
            m.start();
            m.record("/v1/rpc", 200, secs);
        }
        m.start();
        m.record("/v1/rpc", 401, 0.0001);
        let open = m.connection_opened();
        m.connection_refused();
        assert!(m.render().contains("sseek_http_connections_open 1"));
        drop(open);
        let text = m.render();
        assert!(text.contains("sseek_http_requests_total{route=\"/v1/rpc\",status=\"200\"} 3"));
        assert!(text.contains("sseek_http_requests_total{route=\"/v1/rpc\",status=\"401\"} 1"));
        assert!(text.contains("le=\"0.0005\"} 2"));
        assert!(text.contains("le=\"0.005\"} 3"));
        assert!(text.contains("le=\"+Inf\"} 4"));
        assert!(text.contains("sseek_http_requests_in_flight 0"));
        assert!(text.contains("sseek_http_connections_open 0"));
        assert!(text.contains("sseek_http_connections_refused_total 1"));
    }
}
