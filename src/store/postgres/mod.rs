//! PostgreSQL backend: the real database for multi-user deployments. See
//! [`PostgresStore`] for the layout, threading model and semantics.
//!
//! The store type and its [`Store`] implementation live here; the rest is
//! split by job:
//!
//! - `connection`: the reader and writer connections, their prepared
//!   statements, reopening lost connections, and running async work from
//!   synchronous callers;
//! - `migrations`: the schema versions and applying the missing ones;
//! - `sql`: the text of every statement, key ranges and identifier quoting;
//! - `batch`: reducing a [`WriteBatch`] to its effect and applying it in one
//!   transaction (upserts or binary `COPY`).

mod batch;
mod connection;
mod errors;
mod migrations;
mod sql;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio_postgres::Config;

use self::batch::Plan;
use self::connection::{Inner, Reader, Writer, open_client, run_on};
use self::errors::{chain, pg, pg_table};
use self::sql::quote_ident;
use super::{ManyValues, SnapshotVisitor, Store, Table, TableStats, Visitor, WriteBatch, prefix_upper_bound};
use crate::{Error, Result};

/// Number of reader connections per store.
const READERS: usize = 2;

/// Maximum rows fetched per page by [`Store::scan_prefix`].
const SCAN_PAGE_ROWS: usize = 10_000;

/// Target bytes (keys plus values) per page of [`Store::scan_prefix`]; pages
/// shrink below `SCAN_PAGE_ROWS` rows when values are large.
const SCAN_PAGE_BYTES: usize = 16 << 20;

/// Rows of the first page of a scan: small, because many visitors stop early.
const SCAN_FIRST_PAGE_ROWS: usize = 64;

/// Worker threads of the store's runtime.
const RUNTIME_THREADS: usize = 2;

/// Default connect timeout when the URL does not set `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A [`Store`] in a PostgreSQL schema: the real database for multi-user
/// deployments.
///
/// # Layout
/// Everything lives in one PostgreSQL schema chosen at [`PostgresStore::connect`]
/// (several stores, tenants or test runs can share a database). The schema holds
/// one table per [`Table`] (`documents`, `postings`, `entries`, `meta`), each
/// `key bytea primary key, value bytea not null`, and `sseek_migrations`, the
/// versions applied so far (and `sseek_sync`, a one-row counter that
/// [`Store::sync`] updates). Migrations run at connect time, serialized between
/// concurrent connectors by an advisory lock; a schema migrated by a newer build
/// is refused rather than touched. Values are ciphertext, so their column is
/// stored without TOAST compression (`storage external`): compressing random
/// bytes only costs CPU.
///
/// `bytea` compares byte by byte, so PostgreSQL's key order is the order of
/// Rust byte slices, and every lookup (get, get_many, prefix scan) is a scan
/// of the primary-key index. Keys are limited by the btree entry size (about
/// 2.7 kB); longer keys are refused with [`Error::Store`]. sseek's keys are
/// tenant, id and token prefixes, tens of bytes.
///
/// # Sync over async
/// [`Store`] is synchronous and tokio-postgres is async. Each store owns a small
/// tokio runtime (two worker threads) that drives its connections; every call
/// runs its query as a task on that runtime and blocks the calling thread until
/// the answer arrives. Callers inside an async runtime (the axum server) must
/// call the store from `tokio::task::spawn_blocking`: a call made directly on an
/// async worker thread does not panic, but it blocks that worker for the
/// duration of the query.
///
/// # Connections
/// One writer connection (behind an async mutex: batches are serialized) and
/// two reader connections used round-robin; tokio-postgres pipelines
/// concurrent queries on each of them. A connection found closed is reopened on
/// its next use, so a database restart costs the calls in flight, not the store.
///
/// # Semantics
/// - [`Store::write`] is one transaction. Operations on the same key collapse
///   to the last one before anything is sent (the result of applying them in
///   order); then deletes go as one `delete ... = any($1)` per table and puts
///   as one upsert per table: `unnest` of two arrays for small batches, binary
///   `COPY` into a session temp table followed by `insert ... select ... on
///   conflict` for large ones. Either way the batch is atomic.
/// - [`Store::get_many`] is one statement, hence one snapshot.
/// - [`Store::scan_prefix`] pages through the key range (keyset pagination,
///   at most 10,000 rows and about 16 MiB per page, the first page 64 rows) and holds no connection while the visitor runs, so the visitor may
///   call the store again. Each page is its own snapshot: keys are visited once
///   each and in order, but a batch committed during the scan may be visible in
///   later pages only.
/// - Durability: like redb, a batch is durable when [`Store::write`]
///   returns. The writer session commits with `synchronous_commit = on`, so
///   each commit waits for its WAL flush (PostgreSQL flushes the WAL of
///   concurrent commits together). [`Store::sync`] still commits one tiny
///   transaction (a counter update) with `synchronous_commit = on`, and says
///   so with an error if the writer connection was lost, instead of claiming
///   durability.
///
/// # Open design
/// The documents table keeps the key/value shape of the other backends. A
/// deployment that wants server-side, non-encrypted metadata next to sealed
/// documents (tenant, size, arrival time: for quotas or retention) would add
/// it as a separate column in a later migration; the migration table exists so
/// that such a change lands in place on existing databases.
///
/// # Example
///
/// ```no_run
/// use sseek::store::{PostgresStore, Store, Table, WriteBatch};
///
/// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/test", "sseek")?;
/// let mut batch = WriteBatch::new();
/// batch.put(Table::Meta, b"schema".to_vec(), b"v1".to_vec());
/// store.write(batch)?;
/// assert_eq!(store.get(Table::Meta, b"schema")?.as_deref(), Some(&b"v1"[..]));
/// # Ok::<(), sseek::Error>(())
/// ```
pub struct PostgresStore {
    /// `Some` until drop, which shuts it down without blocking.
    runtime: Option<Runtime>,
    inner: Arc<Inner>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL (and its password) is deliberately left out.
        f.debug_struct("PostgresStore")
            .field("schema", &self.inner.schema)
            .field("hosts", &self.inner.reader_config.get_hosts())
            .field("dbname", &self.inner.reader_config.get_dbname())
            .field("readers", &self.inner.readers.len())
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        // Never blocks, so dropping a store inside an async context is safe.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (a `postgres://` URL or a key=value
    /// connection string, without TLS), creates `schema` if missing, applies
    /// the migrations it lacks and prepares the statements.
    ///
    /// The URL's `connect_timeout` applies (10 s if it sets none).
    ///
    /// ```no_run
    /// use sseek::store::PostgresStore;
    ///
    /// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/test", "tenant_42")?;
    /// assert_eq!(store.schema(), "tenant_42");
    /// # Ok::<(), sseek::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] for an unparsable URL or an empty or over-long schema
    /// name; [`Error::Store`] if the server cannot be reached, refuses the
    /// login or the migrations, or the schema was migrated by a newer sseek.
    pub fn connect(url: &str, schema: &str) -> Result<Self> {
        if schema.is_empty() || schema.len() > 63 || schema.contains('\0') {
            return Err(Error::Config(format!(
                "PostgreSQL schema name must be 1 to 63 bytes without NUL, got {} bytes",
                schema.len()
            )));
        }
        let mut config: Config =
            url.parse().map_err(|e| Error::Config(format!("invalid PostgreSQL connection string: {}", chain(&e))))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let role_config = |role: &str| {
            let mut c = config.clone();
            if c.get_application_name().is_none() {
                // PostgreSQL truncates it to 63 bytes.
                c.application_name(format!("sseek {role} {schema}"));
            }
            c
        };
        let (writer_config, reader_config) = (role_config("writer"), role_config("reader"));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RUNTIME_THREADS)
            .thread_name("sseek-pg")
            .enable_all()
            .build()
            .map_err(|e| Error::Store(format!("cannot start the PostgreSQL runtime: {e}")))?;
        let quoted = quote_ident(schema);
        let opened = {
            let (writer_config, reader_config, quoted) = (writer_config.clone(), reader_config.clone(), quoted.clone());
            run_on(&runtime, async move {
                let writer = Writer::open(&writer_config, &quoted).await?;
                let mut readers = Vec::with_capacity(READERS);
                for _ in 0..READERS {
                    readers.push(Mutex::new(Arc::new(Reader::open(&reader_config, &quoted).await?)));
                }
                Ok((writer, readers))
            })
        };
        let (writer, readers) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                // Not a plain drop: that would panic inside an async context.
                runtime.shutdown_background();
                return Err(e);
            }
        };
        Ok(PostgresStore {
            runtime: Some(runtime),
            inner: Arc::new(Inner {
                writer_config,
                reader_config,
                schema: schema.to_owned(),
                quoted,
                readers,
                next_reader: AtomicUsize::new(0),
                writer: tokio::sync::Mutex::new(writer),
            }),
        })
    }

    /// The PostgreSQL schema holding this store's tables.
    ///
    /// ```no_run
    /// # let store = sseek::store::PostgresStore::connect("postgres://postgres@127.0.0.1/test", "s")?;
    /// println!("tables live in schema {}", store.schema());
    /// # Ok::<(), sseek::Error>(())
    /// ```
    pub fn schema(&self) -> &str {
        &self.inner.schema
    }

    /// The schema version of the store's tables (the latest migration applied).
    ///
    /// ```no_run
    /// # let store = sseek::store::PostgresStore::connect("postgres://postgres@127.0.0.1/test", "s")?;
    /// assert!(store.schema_version()? >= 1);
    /// # Ok::<(), sseek::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Store`] on a database failure.
    pub fn schema_version(&self) -> Result<i32> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            let r = inner.reader().await?;
            let sql = format!("select coalesce(max(version), 0) from {}.sseek_migrations", inner.quoted);
            let row = r.client.query_one(&sql, &[]).await.map_err(pg("read the schema version"))?;
            row.try_get::<_, i32>(0).map_err(pg("read the schema version"))
        })
    }

    /// Drops the store's schema with all its tables and data, then closes the
    /// store. For tests and for removing a tenant; there is no undo.
    ///
    /// ```no_run
    /// let store = sseek::store::PostgresStore::connect("postgres://postgres@127.0.0.1/test", "scratch")?;
    /// store.drop_schema()?;
    /// # Ok::<(), sseek::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Store`] on a database failure; then the schema may still exist.
    pub fn drop_schema(self) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            let w = inner.writer().await?;
            let sql = format!("drop schema if exists {} cascade", inner.quoted);
            w.client.batch_execute(&sql).await.map_err(pg("drop the schema"))
        })
    }

    /// Bytes the store's tables take on disk, with their indexes and TOAST
    /// tables (`pg_total_relation_size`).
    ///
    /// # Errors
    /// [`Error::Store`] on a database failure.
    pub fn size_bytes(&self) -> Result<u64> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            let r = inner.reader().await?;
            let names: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
            let row = r
                .client
                .query_one(
                    "select coalesce(sum(pg_total_relation_size(c.oid)), 0)::int8 from pg_class c
                     join pg_namespace n on n.oid = c.relnamespace
                     where n.nspname = $1 and c.relname = any($2) and c.relkind = 'r'",
                    &[&inner.schema, &names],
                )
                .await
                .map_err(pg("measure the tables"))?;
            let bytes: i64 = row.try_get(0).map_err(pg("measure the tables"))?;
            Ok(u64::try_from(bytes).unwrap_or(0))
        })
    }

    /// Rewrites every table of the store with `VACUUM FULL` (and `ANALYZE`):
    /// the space of deleted rows goes back to the operating system, and
    /// their bytes are no longer in the table's files. Each table is locked
    /// (reads and writes wait) while it is rewritten.
    ///
    /// # Errors
    /// [`Error::Store`] on a database failure.
    pub fn vacuum_full(&self) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            let w = inner.writer().await?;
            for table in Table::ALL {
                // One statement per call: VACUUM cannot run inside a transaction block.
                let sql = format!("vacuum (full, analyze) {}.{}", inner.quoted, table.name());
                w.client.batch_execute(&sql).await.map_err(pg_table("vacuum", table))?;
            }
            Ok(())
        })
    }

    /// Runs `fut` on the store's runtime and waits for its answer.
    fn run<T: Send + 'static>(&self, fut: impl Future<Output = Result<T>> + Send + 'static) -> Result<T> {
        match &self.runtime {
            Some(rt) => run_on(rt, fut),
            None => Err(Error::Store("PostgreSQL store is closed".into())),
        }
    }

    /// Fetches one page of a prefix scan: at most `limit` rows from `lower` on.
    fn scan_page(
        &self,
        table: Table,
        lower: Vec<u8>,
        upper: Option<Vec<u8>>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            let r = inner.reader().await?;
            let st = &r.tables[table.index()];
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = match &upper {
                Some(upper) => r.client.query(&st.scan_bounded, &[&lower, upper, &limit]).await,
                None => r.client.query(&st.scan_open, &[&lower, &limit]).await,
            }
            .map_err(pg_table("scan", table))?;
            rows.iter()
                .map(|row| {
                    let k: Vec<u8> = row.try_get(0).map_err(pg_table("scan", table))?;
                    let v: Vec<u8> = row.try_get(1).map_err(pg_table("scan", table))?;
                    Ok((k, v))
                })
                .collect()
        })
    }
}

impl Store for PostgresStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let inner = Arc::clone(&self.inner);
        let key = key.to_vec();
        self.run(async move {
            let r = inner.reader().await?;
            let row =
                r.client.query_opt(&r.tables[table.index()].get, &[&key]).await.map_err(pg_table("get", table))?;
            row.map(|row| row.try_get::<_, Vec<u8>>(0)).transpose().map_err(pg_table("get", table))
        })
    }

    fn get_many(&self, table: Table, keys: &[Vec<u8>]) -> ManyValues {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // Where each distinct key goes in the answer.
        let mut slots: HashMap<&[u8], Vec<usize>> = HashMap::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            slots.entry(k.as_slice()).or_default().push(i);
        }
        let distinct: Vec<Vec<u8>> = slots.keys().map(|k| k.to_vec()).collect();
        let inner = Arc::clone(&self.inner);
        let rows = self.run(async move {
            let r = inner.reader().await?;
            let rows = r
                .client
                .query(&r.tables[table.index()].get_many, &[&distinct])
                .await
                .map_err(pg_table("get_many", table))?;
            rows.iter()
                .map(|row| {
                    let k: Vec<u8> = row.try_get(0).map_err(pg_table("get_many", table))?;
                    let v: Vec<u8> = row.try_get(1).map_err(pg_table("get_many", table))?;
                    Ok((k, v))
                })
                .collect::<Result<Vec<_>>>()
        })?;
        let mut out: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
        for (k, v) in rows {
            let Some(positions) = slots.get(k.as_slice()) else {
                return Err(Error::Store(format!(
                    "PostgreSQL get_many on {}: answer holds a key not asked for",
                    table.name()
                )));
            };
            if let Some((last, rest)) = positions.split_last() {
                for &i in rest {
                    out[i] = Some(v.clone());
                }
                out[*last] = Some(v);
            }
        }
        Ok(out)
    }

    fn write(&self, batch: WriteBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let plan = Plan::new(batch);
        let inner = Arc::clone(&self.inner);
        self.run(async move { inner.apply(plan, &[]).await.map(drop) })
    }

    fn delete_prefixes(&self, prefixes: &[(Table, Vec<u8>)], batch: WriteBatch) -> Result<u64> {
        let plan = Plan::new(batch);
        let inner = Arc::clone(&self.inner);
        let prefixes = prefixes.to_vec();
        self.run(async move { inner.apply(plan, &prefixes).await })
    }

    fn snapshot(&self, visit: &mut SnapshotVisitor<'_>) -> Result<()> {
        // A connection of its own, in one repeatable-read transaction: every
        // page below reads the same snapshot, and the store's writer and
        // readers go on meanwhile.
        let config = self.inner.reader_config.clone();
        let client = Arc::new(self.run(async move {
            let client = open_client(&config).await?;
            client
                .batch_execute("begin isolation level repeatable read, read only")
                .await
                .map_err(pg("begin the snapshot"))?;
            Ok(client)
        })?);
        for table in Table::ALL {
            let sql_first =
                format!("select key, value from {}.{} order by key limit $1::int8", self.inner.quoted, table.name());
            let sql_next = format!(
                "select key, value from {}.{} where key > $1::bytea order by key limit $2::int8",
                self.inner.quoted,
                table.name()
            );
            let mut after: Option<Vec<u8>> = None;
            let mut limit = SCAN_FIRST_PAGE_ROWS;
            loop {
                let (c, first, next, from) = (Arc::clone(&client), sql_first.clone(), sql_next.clone(), after.clone());
                let page: Vec<(Vec<u8>, Vec<u8>)> = self.run(async move {
                    let n = i64::try_from(limit).unwrap_or(i64::MAX);
                    let rows = match &from {
                        Some(k) => c.query(&next, &[k, &n]).await,
                        None => c.query(&first, &[&n]).await,
                    }
                    .map_err(pg_table("snapshot", table))?;
                    rows.iter()
                        .map(|r| {
                            Ok((
                                r.try_get(0).map_err(pg_table("snapshot", table))?,
                                r.try_get(1).map_err(pg_table("snapshot", table))?,
                            ))
                        })
                        .collect()
                })?;
                let full = page.len() >= limit;
                let bytes: usize = page.iter().map(|(k, v)| k.len() + v.len()).sum();
                let rows = page.len();
                for (k, v) in page {
                    if !visit(table, &k, &v)? {
                        return Ok(());
                    }
                    after = Some(k);
                }
                if !full {
                    break;
                }
                limit = (SCAN_PAGE_BYTES / (bytes / rows.max(1)).max(1)).clamp(1, SCAN_PAGE_ROWS);
            }
        }
        // Dropping the client closes its connection, which ends the transaction.
        Ok(())
    }

    fn sync(&self) -> Result<()> {
        let inner = Arc::clone(&self.inner);
        self.run(async move {
            let mut w = inner.writer().await?;
            if std::mem::take(&mut w.lost_unsynced) {
                w.unsynced = false;
                return Err(Error::Store(
                    "PostgreSQL: the writer connection was lost after a write and before sync; \
                     the batches written since the previous sync may be lost"
                        .into(),
                ));
            }
            if !w.unsynced {
                return Ok(());
            }
            // A synchronous commit flushes the WAL up to its commit record, and
            // with it every commit before it, whichever session made it. Only a
            // transaction that wrote WAL commits synchronously (one that merely
            // took an xid does not), hence the update of a one-row table.
            let sql = format!(
                "begin; set local synchronous_commit = on; update {}.sseek_sync set syncs = syncs + 1; commit;",
                inner.quoted
            );
            w.client.batch_execute(&sql).await.map_err(pg("sync"))?;
            w.unsynced = false;
            Ok(())
        })
    }

    fn scan_prefix(&self, table: Table, prefix: &[u8], visit: &mut Visitor<'_>) -> Result<()> {
        self.scan_from(table, prefix, prefix, visit)
    }

    fn scan_from(&self, table: Table, prefix: &[u8], start: &[u8], visit: &mut Visitor<'_>) -> Result<()> {
        let upper = prefix_upper_bound(prefix);
        let mut lower = prefix.max(start).to_vec();
        let mut limit = SCAN_FIRST_PAGE_ROWS;
        loop {
            let page = self.scan_page(table, lower, upper.clone(), limit)?;
            let full = page.len() >= limit;
            let bytes: usize = page.iter().map(|(k, v)| k.len() + v.len()).sum();
            let rows = page.len();
            let mut next = None;
            for (k, v) in page {
                if !visit(&k, &v)? {
                    return Ok(());
                }
                next = Some(k);
            }
            match next {
                Some(mut last) if full => {
                    // The smallest key after `last`.
                    last.push(0);
                    lower = last;
                    let per_row = (bytes / rows.max(1)).max(1);
                    limit = (SCAN_PAGE_BYTES / per_row).clamp(1, SCAN_PAGE_ROWS);
                }
                _ => return Ok(()),
            }
        }
    }

    fn stats(&self, table: Table, prefix: &[u8]) -> Result<TableStats> {
        let inner = Arc::clone(&self.inner);
        let lower = prefix.to_vec();
        let upper = prefix_upper_bound(prefix);
        self.run(async move {
            let r = inner.reader().await?;
            let st = &r.tables[table.index()];
            let row = match &upper {
                Some(upper) => r.client.query_one(&st.stats_bounded, &[&lower, upper]).await,
                None => r.client.query_one(&st.stats_open, &[&lower]).await,
            }
            .map_err(pg_table("stats", table))?;
            let entries: i64 = row.try_get(0).map_err(pg_table("stats", table))?;
            let bytes: i64 = row.try_get(1).map_err(pg_table("stats", table))?;
            let non_negative = |n: i64| {
                u64::try_from(n)
                    .map_err(|_| Error::Store(format!("PostgreSQL stats on {}: negative count {n}", table.name())))
            };
            Ok(TableStats { entries: non_negative(entries)?, bytes: non_negative(bytes)? })
        })
    }
}
