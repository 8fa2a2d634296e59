//! The store conformance suite and PostgreSQL-specific checks against a live
//! server. The tests that need one are ignored by a plain `cargo test` (so a
//! machine without PostgreSQL lists them as ignored instead of passing them)
//! and run with `cargo test --tests -- --ignored postgres` and `SSEEK_PG_URL`
//! set (for example `postgres://postgres@127.0.0.1:5432/test`), as `.ci/run`
//! does; run without the URL they fail. Each store gets a schema of its own,
//! derived from the conformance suite's temp directory, and every schema a
//! test creates is dropped when it ends, even when it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use sseek::Error;
use sseek::store::{PostgresStore, Store, Table, WriteBatch, conformance};

// The WAL test reads the server's global WAL positions, which writes of
// the other PostgreSQL tests in this binary (run in parallel threads)
// would move: it holds this exclusively, the others shared.
use crate::common::PG_WAL_POSITIONS as WAL_POSITIONS;

/// The server URL from `SSEEK_PG_URL`. Panics without it: the caller is a
/// test that was asked to run against PostgreSQL, and a test that cannot do
/// its job must not pass.
fn pg_url() -> String {
    match std::env::var("SSEEK_PG_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "SSEEK_PG_URL is not set, so there is no PostgreSQL server to test against \
             (set it, e.g. SSEEK_PG_URL=postgres://postgres@127.0.0.1:5432/test)"
        ),
    }
}

/// Schemas created by one test, dropped when it ends (also on panic).
struct Schemas {
    url: String,
    names: Mutex<BTreeSet<String>>,
}

impl Schemas {
    fn new(url: &str) -> Self {
        Schemas { url: url.to_owned(), names: Mutex::new(BTreeSet::new()) }
    }

    /// A schema name of its own for `dir`: the same directory gives the same schema.
    fn for_dir(&self, dir: &Path) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        dir.hash(&mut h);
        self.named(format!("sseek_test_{:016x}", h.finish()))
    }

    /// Records `name` for cleanup and returns it.
    fn named(&self, name: String) -> String {
        self.names.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(name.clone());
        name
    }

    fn open(&self, schema: &str) -> PostgresStore {
        PostgresStore::connect(&self.url, schema).unwrap_or_else(|e| panic!("connect to schema {schema}: {e}"))
    }

    /// Drops every recorded schema with [`PostgresStore::drop_schema`], or
    /// with plain SQL where the store cannot open it (a schema of a newer
    /// version); returns the names that could not be dropped.
    fn drop_all(&self) -> Vec<String> {
        let names = std::mem::take(&mut *self.names.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let mut failed = Vec::new();
        for name in names {
            if PostgresStore::connect(&self.url, &name).and_then(PostgresStore::drop_schema).is_ok() {
                continue;
            }
            let sql = format!("drop schema if exists \"{name}\" cascade");
            if let Err(e) = try_raw_sql(&self.url, async move |c| c.batch_execute(&sql).await) {
                eprintln!("cannot drop test schema {name}: {e}");
                failed.push(name);
            }
        }
        failed
    }
}

impl Drop for Schemas {
    fn drop(&mut self) {
        // Reached with names left only when a test panicked before its own cleanup.
        self.drop_all();
    }
}

/// Runs SQL on a connection of the test's own, for checks the store's API does not offer.
fn try_raw_sql<T: Send + 'static>(
    url: &str,
    f: impl AsyncFnOnce(&tokio_postgres::Client) -> Result<T, tokio_postgres::Error>,
) -> Result<T, tokio_postgres::Error> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        let conn = tokio::spawn(connection);
        let out = f(&client).await;
        drop(client);
        let _ = conn.await;
        out
    })
}

/// [`try_raw_sql`], panicking on errors.
fn raw_sql<T: Send + 'static>(
    url: &str,
    f: impl AsyncFnOnce(&tokio_postgres::Client) -> Result<T, tokio_postgres::Error>,
) -> T {
    try_raw_sql(url, f).unwrap()
}

/// Names among `names` that still exist as schemas.
fn existing_schemas(url: &str, names: &[String]) -> Vec<String> {
    let names = names.to_vec();
    raw_sql(url, async move |c| {
        let rows = c.query("select nspname::text from pg_namespace where nspname = any($1)", &[&names]).await?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    })
}

#[test]
#[ignore = "needs PostgreSQL: set SSEEK_PG_URL"]
fn postgres_store_conforms() {
    let _shared = WAL_POSITIONS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let url = pg_url();
    let schemas = Schemas::new(&url);
    let start = Instant::now();
    conformance::run_all(&|dir| schemas.open(&schemas.for_dir(dir)), true);
    let elapsed = start.elapsed();
    let created: Vec<String> = schemas.names.lock().unwrap().iter().cloned().collect();
    assert_eq!(created.len(), 11, "one schema per store directory of the suite");
    assert!(schemas.drop_all().is_empty(), "every test schema dropped");
    assert_eq!(existing_schemas(&url, &created), Vec::<String>::new(), "test schemas left behind");
    println!("postgres conformance: {} schemas, {:.2} s", created.len(), elapsed.as_secs_f64());
}

/// Large batches (the COPY path) mixed with deletes, scans across many pages,
/// prefixes ending in 0xff, get_many with repeated keys, a re-entrant visitor.
#[test]
#[ignore = "needs PostgreSQL: set SSEEK_PG_URL"]
fn postgres_large_batches_and_paged_scans() {
    let _shared = WAL_POSITIONS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let url = pg_url();
    let schemas = Schemas::new(&url);
    let s = schemas.open(&schemas.named(format!("sseek_test_pages_{}", std::process::id())));

    // 25,000 puts and 1,000 deletes of keys put earlier in the same batch.
    let n = 25_000u32;
    let mut b = WriteBatch::new();
    for i in 0..n {
        let mut k = b"p/".to_vec();
        k.extend_from_slice(&i.to_be_bytes());
        b.put(Table::Postings, k, i.to_le_bytes().repeat(4));
    }
    for i in (0..n).step_by(25) {
        let mut k = b"p/".to_vec();
        k.extend_from_slice(&i.to_be_bytes());
        b.delete(Table::Postings, k);
    }
    b.put(Table::Postings, b"q".to_vec(), b"outside the prefix".to_vec());
    let t = Instant::now();
    s.write(b).unwrap();
    println!("COPY batch of {} puts and {} deletes: {:.3} s", n + 1, n / 25, t.elapsed().as_secs_f64());

    let t = Instant::now();
    let mut seen = 0u32;
    let mut prev: Option<Vec<u8>> = None;
    s.scan_prefix(Table::Postings, b"p/", &mut |k, v| {
        assert!(k.starts_with(b"p/"));
        assert!(prev.as_deref().is_none_or(|p| p < k), "keys strictly increasing");
        let i = u32::from_be_bytes(k[2..].try_into().unwrap());
        assert_ne!(i % 25, 0, "deleted key visited");
        assert_eq!(v, i.to_le_bytes().repeat(4));
        prev = Some(k.to_vec());
        seen += 1;
        Ok(true)
    })
    .unwrap();
    assert_eq!(seen, n - n / 25, "full scan across pages");
    println!("scan of {seen} entries: {:.3} s", t.elapsed().as_secs_f64());

    // Stop in the middle of a later page.
    let mut visited = 0;
    s.scan_prefix(Table::Postings, b"", &mut |_, _| {
        visited += 1;
        Ok(visited < 12_345)
    })
    .unwrap();
    assert_eq!(visited, 12_345);

    // Visitor errors come back as they are.
    let err = s.scan_prefix(Table::Postings, b"p/", &mut |_, _| Err(Error::Query("stop".into()))).unwrap_err();
    assert!(matches!(err, Error::Query(ref m) if m == "stop"), "{err}");

    let st = s.stats(Table::Postings, b"p/").unwrap();
    assert_eq!(st.entries, u64::from(n - n / 25));
    assert_eq!(st.bytes, st.entries * (6 + 16));
    assert_eq!(s.stats(Table::Postings, b"").unwrap().entries, st.entries + 1);
    assert_eq!(s.stats(Table::Documents, b"").unwrap(), Default::default());

    // Prefixes with 0xff bytes: the upper bound must carry.
    let mut b = WriteBatch::new();
    for k in [&[0xffu8][..], &[0xff, 0x00], &[0xff, 0xff, 0x01], &[0x01, 0xff], &[0x01, 0xff, 0xff], &[0x02]] {
        b.put(Table::Meta, k.to_vec(), k.to_vec());
    }
    s.write(b).unwrap();
    let keys = |prefix: &[u8]| {
        let mut out = Vec::new();
        s.scan_prefix(Table::Meta, prefix, &mut |k, _| {
            out.push(k.to_vec());
            Ok(true)
        })
        .unwrap();
        out
    };
    assert_eq!(keys(&[0xff]), vec![vec![0xff], vec![0xff, 0x00], vec![0xff, 0xff, 0x01]]);
    assert_eq!(keys(&[0xff, 0xff]), vec![vec![0xff, 0xff, 0x01]]);
    assert_eq!(keys(&[0x01, 0xff]), vec![vec![0x01, 0xff], vec![0x01, 0xff, 0xff]]);
    assert_eq!(s.stats(Table::Meta, &[0x01]).unwrap().entries, 2);

    // get_many: asked order, repeated keys, missing keys.
    let got = s.get_many(Table::Meta, &[vec![0x02], vec![0x7f], vec![0xff], vec![0x02]]).unwrap();
    assert_eq!(got, vec![Some(vec![0x02]), None, Some(vec![0xff]), Some(vec![0x02])]);
    assert_eq!(s.get_many(Table::Meta, &[]).unwrap(), Vec::<Option<Vec<u8>>>::new());

    // The visitor may call the store: no connection is held while it runs.
    let mut inner_reads = 0;
    s.scan_prefix(Table::Meta, &[0xff], &mut |k, _| {
        assert_eq!(s.get(Table::Meta, k)?.as_deref(), Some(k));
        inner_reads += 1;
        Ok(true)
    })
    .unwrap();
    assert_eq!(inner_reads, 3);

    // A failing batch (a key too long for the btree) leaves nothing behind.
    let mut b = WriteBatch::new();
    b.put(Table::Entries, b"fine".to_vec(), b"1".to_vec());
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let incompressible: Vec<u8> = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect();
    b.put(Table::Entries, incompressible, b"2".to_vec());
    let err = s.write(b).unwrap_err();
    assert!(matches!(err, Error::Store(_)), "{err}");
    assert_eq!(s.get(Table::Entries, b"fine").unwrap(), None, "failed batch applied partly");
    assert_eq!(s.schema_version().unwrap(), 1);

    drop(s);
    assert!(schemas.drop_all().is_empty());
}

/// A schema migrated by a newer build is refused, not touched.
#[test]
#[ignore = "needs PostgreSQL: set SSEEK_PG_URL"]
fn postgres_refuses_a_newer_schema() {
    let _shared = WAL_POSITIONS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let url = pg_url();
    let schemas = Schemas::new(&url);
    let name = schemas.named(format!("sseek_test_newer_{}", std::process::id()));
    drop(schemas.open(&name));
    let quoted = format!("\"{name}\"");
    raw_sql(&url, async move |c| c.execute(&format!("insert into {quoted}.sseek_migrations values (99)"), &[]).await);
    let err = PostgresStore::connect(&url, &name).unwrap_err();
    assert!(matches!(err, Error::Store(ref m) if m.contains("version 99")), "{err}");
    assert!(schemas.drop_all().is_empty());
    assert!(existing_schemas(&url, &[name]).is_empty());
}

/// Connections the server drops are reopened on their next use, and a sync
/// after the writer lost unsynced batches reports it instead of claiming durability.
#[test]
#[ignore = "needs PostgreSQL: set SSEEK_PG_URL"]
fn postgres_survives_lost_connections() {
    let _shared = WAL_POSITIONS.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let url = pg_url();
    let schemas = Schemas::new(&url);
    let name = schemas.named(format!("sseek_test_lost_{}", std::process::id()));
    let s = schemas.open(&name);
    let mut b = WriteBatch::new();
    b.put(Table::Meta, b"k1".to_vec(), b"1".to_vec());
    s.write(b).unwrap();
    s.sync().unwrap();
    s.sync().unwrap();
    let mut b = WriteBatch::new();
    b.put(Table::Meta, b"k2".to_vec(), b"2".to_vec());
    s.write(b).unwrap();

    let apps = vec![format!("sseek writer {name}"), format!("sseek reader {name}")];
    let killed: Vec<String> = raw_sql(&url, async move |c| {
        let rows = c
            .query(
                "select application_name::text from pg_stat_activity \
                 where application_name = any($1) and pg_terminate_backend(pid) order by 1",
                &[&apps],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    });
    assert_eq!(killed.len(), 3, "one writer and two readers: {killed:?}");
    // Let the store's connection tasks see the server close the sockets.
    std::thread::sleep(std::time::Duration::from_millis(500));

    for _ in 0..3 {
        assert_eq!(s.get(Table::Meta, b"k1").unwrap().as_deref(), Some(&b"1"[..]), "reader reopened");
    }
    assert_eq!(s.get_many(Table::Meta, &[b"k2".to_vec()]).unwrap(), vec![Some(b"2".to_vec())]);
    let err = s.sync().unwrap_err();
    assert!(matches!(err, Error::Store(ref m) if m.contains("lost")), "{err}");
    s.sync().unwrap();
    let mut b = WriteBatch::new();
    b.put(Table::Meta, b"k3".to_vec(), b"3".to_vec());
    s.write(b).unwrap();
    s.sync().unwrap();
    assert_eq!(s.stats(Table::Meta, b"k").unwrap().entries, 3);
    drop(s);
    assert!(schemas.drop_all().is_empty());
}

/// A batch is durable when `write` returns: the server's WAL flush position
/// has passed the end of the batch before any `sync` (with asynchronous
/// commits it trails by up to `wal_writer_delay`). `sync` still flushes and
/// counts one transaction per call after writes.
#[test]
#[ignore = "needs PostgreSQL: set SSEEK_PG_URL"]
fn postgres_writes_and_syncs_flush_the_wal() {
    let _exclusive = WAL_POSITIONS.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    let url = pg_url();
    let schemas = Schemas::new(&url);
    let name = schemas.named(format!("sseek_test_sync_{}", std::process::id()));
    let s = schemas.open(&name);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    });
    let lsn = |sql: &str| -> i64 {
        rt.block_on(async { client.query_one(&format!("select ({sql} - '0/0'::pg_lsn)::int8"), &[]).await.unwrap() })
            .get(0)
    };
    let (mut write_us, mut sync_us) = (0u128, 0u128);
    for round in 0u32..20 {
        let mut b = WriteBatch::new();
        b.put(Table::Entries, round.to_be_bytes().to_vec(), vec![5; 300]);
        let t = Instant::now();
        s.write(b).unwrap();
        write_us += t.elapsed().as_micros();
        let written = lsn("pg_current_wal_insert_lsn()");
        let flushed = lsn("pg_current_wal_flush_lsn()");
        assert!(flushed >= written, "round {round}: write acknowledged with WAL flushed to {flushed} < {written}");
        let t = Instant::now();
        s.sync().unwrap();
        sync_us += t.elapsed().as_micros();
        let flushed = lsn("pg_current_wal_flush_lsn()");
        assert!(flushed >= written, "round {round}: sync returned with WAL flushed to {flushed} < {written}");
    }
    s.sync().unwrap(); // nothing written since: no transaction at all
    let quoted = format!("\"{name}\"");
    let syncs: i64 = rt
        .block_on(async { client.query_one(&format!("select syncs from {quoted}.sseek_sync"), &[]).await.unwrap() })
        .get(0);
    assert_eq!(syncs, 20, "one flushing transaction per sync after writes");
    println!("small batch: write {} us, sync {} us (means of 20)", write_us / 20, sync_us / 20);
    drop(client);
    drop(s);
    assert!(schemas.drop_all().is_empty());
}

/// Bad connection strings, unreachable servers and bad schema names are errors, not panics.
#[test]
fn postgres_connect_errors() {
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/test?connect_timeout=2", "x").unwrap_err();
    assert!(matches!(err, Error::Store(ref m) if m.contains("connect")), "{err}");
    let err = PostgresStore::connect("postgres://[not a url", "x").unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1/test", "").unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1/test", &"s".repeat(64)).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}
