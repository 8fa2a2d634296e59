//! Load on a Redis Cluster store: ingest and lookup throughput, how evenly
//! entries and requests spread over the masters, and (with `--check-acks`)
//! whether every acknowledged write survives nodes killed during the run.
//!
//! ```sh
//! scripts/redis-cluster.sh start 3 --base-port 7000
//! cargo run --release --example redis_cluster_scale -- redis://127.0.0.1:7000 20000 4
//! # durability: write for 60 s while you SIGKILL and restart a node
//! cargo run --release --example redis_cluster_scale -- redis://127.0.0.1:7000 0 4 --check-acks 60
//! ```
//!
//! Arguments: the node list (as in the `redis-cluster:` spec), the number of
//! SSE-like entries to write (random 32-byte labels under one tenant, 64-byte
//! values, batches of 500), the number of client threads. Lookups are
//! batches of 16 random labels (`get_many`), as a search fetches a keyword's
//! entries. The namespace is fresh and removed at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::cast_precision_loss)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use sseek::store::{RedisClusterStore, Store, Table, WriteBatch};

fn label(tenant: &[u8], i: u64) -> Vec<u8> {
    // Labels are PRF outputs in sseek; a keyed hash of the index stands in.
    let mut key = tenant.to_vec();
    key.extend_from_slice(&sha_of(i));
    key
}

fn sha_of(i: u64) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(i.to_le_bytes()).into()
}

/// Per-master `cmdstat_evalsha`/`cmdstat_eval` calls and key counts.
fn node_stats(masters: &[(String, u16)]) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    for (host, port) in masters {
        let mut c = redis::Client::open(format!("redis://{host}:{port}")).unwrap().get_connection().unwrap();
        let info: String = redis::cmd("INFO").arg("commandstats").query(&mut c).unwrap();
        let calls: u64 = info
            .lines()
            .filter(|l| l.starts_with("cmdstat_"))
            .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
            .sum();
        let keys: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        out.insert(format!("{host}:{port}"), (calls, keys));
    }
    out
}

/// Bytes of memory the masters use in all (`used_memory`).
fn used_memory(masters: &[(String, u16)]) -> u64 {
    let mut out = 0;
    for (host, port) in masters {
        let mut c = redis::Client::open(format!("redis://{host}:{port}")).unwrap().get_connection().unwrap();
        let info: String = redis::cmd("INFO").arg("memory").query(&mut c).unwrap();
        out += info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
    }
    out
}

fn reset_stats(masters: &[(String, u16)]) {
    for (host, port) in masters {
        let mut c = redis::Client::open(format!("redis://{host}:{port}")).unwrap().get_connection().unwrap();
        let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
    }
}

fn balance(values: &[u64]) -> String {
    let max = values.iter().copied().max().unwrap_or(0) as f64;
    let mean = values.iter().sum::<u64>() as f64 / values.len().max(1) as f64;
    format!("max/mean {:.2} ({values:?})", if mean > 0.0 { max / mean } else { 0.0 })
}

fn check_acks(store: &Arc<RedisClusterStore>, threads: u64, seconds: u64) {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (store, acked, errors) = (Arc::clone(store), Arc::clone(&acked), Arc::clone(&errors));
            std::thread::spawn(move || {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let id = t << 40 | n;
                    n += 1;
                    let mut b = WriteBatch::new();
                    for part in 0u8..4 {
                        let mut key = id.to_be_bytes().to_vec();
                        key.push(part);
                        b.put(Table::Entries, key, id.to_le_bytes().to_vec());
                    }
                    match store.write(b) {
                        Ok(()) => acked.lock().unwrap().push(id),
                        Err(e) => {
                            if errors.fetch_add(1, Ordering::Relaxed) % 50 == 0 {
                                eprintln!("write error (expected while a node is down): {e}");
                            }
                            std::thread::sleep(Duration::from_millis(100));
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let mut lost = 0u64;
    let mut torn = 0u64;
    for chunk in acked.chunks(200) {
        let keys: Vec<Vec<u8>> = chunk
            .iter()
            .flat_map(|id| {
                (0u8..4).map(move |p| {
                    let mut k = id.to_be_bytes().to_vec();
                    k.push(p);
                    k
                })
            })
            .collect();
        let values = loop {
            match store.get_many(Table::Entries, &keys) {
                Ok(v) => break v,
                Err(e) => {
                    eprintln!("verify read failed, retrying: {e}");
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        };
        for (i, id) in chunk.iter().enumerate() {
            let present =
                values[i * 4..i * 4 + 4].iter().filter(|v| v.as_deref() == Some(&id.to_le_bytes()[..])).count();
            match present {
                4 => {}
                0 => lost += 1,
                _ => torn += 1,
            }
        }
    }
    println!(
        "acknowledged batches: {}, write errors: {}, lost: {lost}, half present: {torn}",
        acked.len(),
        errors.load(Ordering::Relaxed)
    );
    assert!(lost == 0 && torn == 0, "acknowledged writes lost");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: redis_cluster_scale NODES ENTRIES THREADS [--check-acks SECONDS]");
        std::process::exit(2);
    }
    let (nodes, entries, threads): (&str, u64, u64) = (&args[1], args[2].parse().unwrap(), args[3].parse().unwrap());
    let ns = format!("scale{}", std::process::id());
    let store = Arc::new(RedisClusterStore::connect(nodes, &ns).unwrap());
    let masters = store.masters().unwrap();
    println!("{} masters, {} buckets, namespace {ns}", masters.len(), store.buckets());
    if let Some(pos) = args.iter().position(|a| a == "--check-acks") {
        let seconds = args.get(pos + 1).and_then(|s| s.parse().ok()).unwrap_or(60);
        check_acks(&store, threads, seconds);
        store.destroy().unwrap();
        return;
    }
    let tenant = b"tenant-one/".to_vec();

    reset_stats(&masters);
    let memory_before = used_memory(&masters);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let writers: Vec<_> = (0..threads)
        .map(|_| {
            let (store, next, tenant) = (Arc::clone(&store), Arc::clone(&next), tenant.clone());
            std::thread::spawn(move || {
                loop {
                    let from = next.fetch_add(500, Ordering::Relaxed);
                    if from >= entries {
                        break;
                    }
                    let mut b = WriteBatch::new();
                    for i in from..(from + 500).min(entries) {
                        b.put(Table::Entries, label(&tenant, i), vec![0x5a; 64]);
                    }
                    store.write(b).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let ingest = started.elapsed().as_secs_f64();
    let after_ingest = node_stats(&masters);
    let memory = used_memory(&masters).saturating_sub(memory_before);
    println!("memory: {:.0} bytes per entry (32-byte label, 64-byte value)", memory as f64 / entries.max(1) as f64);
    println!("ingest: {entries} entries in {ingest:.2} s = {:.0} entries/s", entries as f64 / ingest);

    reset_stats(&masters);
    let lookups = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let readers: Vec<_> = (0..threads)
        .map(|t| {
            let (store, lookups, tenant) = (Arc::clone(&store), Arc::clone(&lookups), tenant.clone());
            std::thread::spawn(move || {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(t);
                while started.elapsed() < Duration::from_secs(10) {
                    let keys: Vec<Vec<u8>> = (0..16).map(|_| label(&tenant, rng.random_range(0..entries))).collect();
                    let got = store.get_many(Table::Entries, &keys).unwrap();
                    assert!(got.iter().all(Option::is_some), "a written label is missing");
                    lookups.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for r in readers {
        r.join().unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let n = lookups.load(Ordering::Relaxed);
    let after_reads = node_stats(&masters);
    println!(
        "lookups: {n} batches of 16 labels in {secs:.2} s = {:.0} lookups/s, {:.0} labels/s",
        n as f64 / secs,
        n as f64 * 16.0 / secs
    );

    let per_master = store.entries_per_master().unwrap();
    let entry_counts: Vec<u64> = per_master.iter().map(|(_, n)| *n).collect();
    println!("entries per master: {}", balance(&entry_counts));
    let keys: Vec<u64> = after_ingest.values().map(|(_, k)| *k).collect();
    println!("redis keys per master (DBSIZE, with index and coordinator keys): {}", balance(&keys));
    let ingest_calls: Vec<u64> = after_ingest.values().map(|(c, _)| *c).collect();
    println!("commands per master during ingest: {}", balance(&ingest_calls));
    let read_calls: Vec<u64> = after_reads.values().map(|(c, _)| *c).collect();
    println!("commands per master during lookups: {}", balance(&read_calls));
    store.destroy().unwrap();
}
