//! What the load examples share: a server in a thread, percentiles.

#![allow(dead_code, clippy::unwrap_used, clippy::cast_possible_truncation, clippy::cast_sign_loss)]

use std::net::SocketAddr;
use std::sync::mpsc;

use sseek::server::http::{self, ServeOptions};
use sseek::store::Store;

/// The `p` quantile (0 to 1) of sorted values; 0 for none.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Starts `sseek serve`'s server on `store` in a thread, on a free loopback
/// port, with `opts` (its `listen` is replaced); returns its URL and a stopper.
pub(crate) fn start(store: Box<dyn Store>, opts: ServeOptions) -> (String, impl FnOnce()) {
    let (addr_tx, addr_rx) = mpsc::channel::<SocketAddr>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = std::thread::spawn(move || {
        let opts = ServeOptions { listen: "127.0.0.1:0".parse().unwrap(), ..opts };
        http::serve(store, opts, move |a| addr_tx.send(a).unwrap(), async move {
            let _ = stop_rx.await;
        })
        .unwrap();
    });
    let addr = addr_rx.recv().unwrap();
    (format!("http://{addr}"), move || {
        let _ = stop_tx.send(());
        handle.join().unwrap();
    })
}

/// Stores `msgs` through `client`, under a schema planned for them (25
/// false positives per query, 2 values per token, room to double), and
/// says how long it took.
pub(crate) fn load<T: sseek::transport::Transport>(
    client: &mut sseek::client::Client<T>,
    msgs: &[sseek::message::Message],
    label: &str,
) {
    use sseek::blind::{default_index_specs, planner::plan_for_corpus};
    let loaded = std::time::Instant::now();
    let terms = client.terms(msgs);
    let plans = plan_for_corpus(&terms, &default_index_specs(), 25.0, 2.0, 2.0);
    client.create_schema(plans.into_iter().map(|(d, _)| d).collect()).unwrap();
    client.add_messages_with_terms(msgs, &terms, None).unwrap();
    eprintln!("{label}: {} messages loaded in {:.1} s", msgs.len(), loaded.elapsed().as_secs_f64());
}
