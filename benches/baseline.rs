//! Client-only baseline costs: what searching costs when the server only
//! stores ciphertext.
//!
//! Measures, on 2,000 synthetic messages over the in-process transport and
//! the memory store: a warm download-all search (decrypt and scan every held
//! message), a warm local-index search (plaintext bitmaps on the device), and
//! a cold device's first search (download everything, decrypt, index, answer)
//! for both variants. The raw AES-SIV open of one message is in `benches/blind.rs`
//! (`envelope/open_message`), the unit the scan pays per message.
//!
//! Run: `cargo bench --bench baseline` (`-- --quick` for a short run).

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group};
use sseek::baseline::{Baseline, BaselineMode};
use sseek::blind::default_index_specs;
use sseek::datasets::Synthetic;
use sseek::keys::MasterKey;
use sseek::query::Query;
use sseek::server::Server;
use sseek::store::MemoryStore;
use sseek::text::Tokenizer;
use sseek::transport::InProcess;

const MESSAGES: u64 = 2_000;

fn device(key: &MasterKey, server: &Arc<Server<MemoryStore>>, mode: BaselineMode) -> Baseline<InProcess<MemoryStore>> {
    Baseline::new(
        key,
        "bench",
        InProcess::new(Arc::clone(server), "bench"),
        Tokenizer::default(),
        default_index_specs(),
        mode,
    )
    .expect("device")
}

fn baselines(c: &mut Criterion) {
    let key = MasterKey::generate().expect("key");
    let server = Arc::new(Server::new(MemoryStore::new()));
    let msgs = Synthetic::new(3).generate(MESSAGES);
    device(&key, &server, BaselineMode::LocalIndex).upload(&msgs).expect("upload");
    let q = Query::term("body", &["the"]);
    let word = msgs[0]
        .terms(&Tokenizer::default())
        .get(&sseek::message::Field::Body)
        .and_then(|b| b.iter().next().map(str::to_owned));
    let q = word.map_or(q, |w| Query::term("body", &[&w]));

    let mut g = c.benchmark_group("baseline_2000_msgs");
    g.sample_size(10);
    g.throughput(Throughput::Elements(MESSAGES));
    for mode in [BaselineMode::DownloadAll, BaselineMode::LocalIndex] {
        let mut warm = device(&key, &server, mode);
        warm.search(&q).expect("warm up");
        g.bench_function(format!("{}_warm_search", mode.name()), |b| {
            b.iter(|| black_box(warm.search(black_box(&q)).expect("search")))
        });
        g.bench_function(format!("{}_cold_first_search", mode.name()), |b| {
            b.iter_batched(
                || device(&key, &server, mode),
                |mut d| black_box(d.search(&q).expect("search")),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, baselines);

fn main() {
    common::print_environment();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
