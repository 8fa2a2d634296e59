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
