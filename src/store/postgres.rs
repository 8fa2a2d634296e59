//! PostgreSQL backend: the real database for multi-user deployments. See
//! [`PostgresStore`] for the layout, threading model and semantics.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Config, NoTls, Statement};

use super::{ManyValues, Store, Table, TableStats, Visitor, WriteBatch, WriteOp};
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

/// Batches with at least this many puts (after collapsing) go through `COPY`.
const COPY_MIN_PUTS: usize = 256;

/// Batches with at least this many bytes of puts go through `COPY`.
const COPY_MIN_BYTES: usize = 1 << 20;

/// Worker threads of the store's runtime.
const RUNTIME_THREADS: usize = 2;

/// Default connect timeout when the URL does not set `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// First key of the advisory lock that serializes migrations ("sseek").
const MIGRATION_LOCK_CLASS: i32 = 0x7373_656b;

/// The schema versions this build knows, in order: version and SQL. `{s}` is
/// replaced by the quoted schema name.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "create table {s}.documents (key bytea primary key, value bytea not null);
     create table {s}.postings (key bytea primary key, value bytea not null);
     create table {s}.entries (key bytea primary key, value bytea not null);
     create table {s}.meta (key bytea primary key, value bytea not null);
     alter table {s}.documents alter column value set storage external;
     alter table {s}.postings alter column value set storage external;
     alter table {s}.entries alter column value set storage external;
     alter table {s}.meta alter column value set storage external;
     create table {s}.sseek_sync (id int2 primary key check (id = 1), syncs int8 not null);
     insert into {s}.sseek_sync values (1, 0);",
)];

/// The latest schema version this build knows.
fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |(v, _)| *v)
}

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
/// - Durability follows the trait, like redb: batches commit with
///   `synchronous_commit = off` (visible at once, atomic, but not yet flushed:
///   a server crash loses the latest unsynced batches whole, never part of
///   one). [`Store::sync`] commits one tiny transaction (a counter update) with
///   `synchronous_commit = on`; its WAL flush covers every earlier commit, so
///   everything written before is durable when it returns. If the writer
///   connection was lost between a write and the sync, `sync` says so with an
///   error instead of claiming durability.
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

/// What the tasks on the runtime share.
struct Inner {
    /// Connection settings of the writer and of the readers (they differ in
    /// `application_name` only, so that `pg_stat_activity` tells them apart).
    writer_config: Config,
    reader_config: Config,
    /// The schema name as given.
    schema: String,
    /// The schema name quoted as an SQL identifier.
    quoted: String,
    readers: Vec<Mutex<Arc<Reader>>>,
    next_reader: AtomicUsize,
    writer: tokio::sync::Mutex<Writer>,
}

/// A reader connection and its prepared statements, by [`Table::index`].
struct Reader {
    client: Client,
    tables: Vec<ReadStatements>,
}

struct ReadStatements {
    get: Statement,
    get_many: Statement,
    scan_bounded: Statement,
    scan_open: Statement,
    stats_bounded: Statement,
    stats_open: Statement,
}

/// The writer connection, its temp load table and its prepared statements.
struct Writer {
    client: Client,
    copy_in: Statement,
    tables: Vec<WriteStatements>,
    /// A batch was committed (asynchronously) since the last sync.
    unsynced: bool,
    /// The connection was lost with unsynced batches: the next sync fails.
    lost_unsynced: bool,
}

struct WriteStatements {
    upsert: Statement,
    upsert_loaded: Statement,
    delete: Statement,
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
        self.run(async move { inner.apply(plan).await })
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
        let upper = prefix_upper_bound(prefix);
        let mut lower = prefix.to_vec();
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

/// A batch reduced to its effect: per table, the keys to delete and the
/// entries to put, each key at most once.
struct Plan {
    deletes: Vec<Vec<Vec<u8>>>,
    puts: Vec<Vec<(Vec<u8>, Vec<u8>)>>,
    put_count: usize,
    put_bytes: usize,
}

impl Plan {
    fn new(batch: WriteBatch) -> Self {
        // Within one transaction only the last operation on a key is observable.
        let mut last: HashMap<(Table, Vec<u8>), Option<Vec<u8>>> = HashMap::with_capacity(batch.len());
        for op in batch.into_ops() {
            match op {
                WriteOp::Put { table, key, value } => last.insert((table, key), Some(value)),
                WriteOp::Delete { table, key } => last.insert((table, key), None),
            };
        }
        let mut plan = Plan {
            deletes: Table::ALL.iter().map(|_| Vec::new()).collect(),
            puts: Table::ALL.iter().map(|_| Vec::new()).collect(),
            put_count: 0,
            put_bytes: 0,
        };
        for ((table, key), value) in last {
            match value {
                Some(value) => {
                    plan.put_count += 1;
                    plan.put_bytes += key.len() + value.len();
                    plan.puts[table.index()].push((key, value));
                }
                None => plan.deletes[table.index()].push(key),
            }
        }
        plan
    }

    fn use_copy(&self) -> bool {
        self.put_count >= COPY_MIN_PUTS || self.put_bytes >= COPY_MIN_BYTES
    }
}

impl Inner {
    /// The next reader connection, reopened first if it was closed.
    async fn reader(&self) -> Result<Arc<Reader>> {
        let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
        let current = Arc::clone(&self.readers[i].lock().unwrap_or_else(PoisonError::into_inner));
        if !current.client.is_closed() {
            return Ok(current);
        }
        let fresh = Arc::new(Reader::open(&self.reader_config, &self.quoted).await?);
        *self.readers[i].lock().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&fresh);
        Ok(fresh)
    }

    /// The writer connection, locked, reopened first if it was closed.
    async fn writer(&self) -> Result<tokio::sync::MutexGuard<'_, Writer>> {
        let mut w = self.writer.lock().await;
        if w.client.is_closed() {
            let lost = w.unsynced || w.lost_unsynced;
            *w = Writer::open(&self.writer_config, &self.quoted).await?;
            w.lost_unsynced = lost;
        }
        Ok(w)
    }

    /// Applies a batch plan in one transaction.
    async fn apply(&self, plan: Plan) -> Result<()> {
        let use_copy = plan.use_copy();
        let mut guard = self.writer().await?;
        let Writer { client, copy_in, tables, unsynced, .. } = &mut *guard;
        // Dropping `tx` without commit (on any error below) rolls it back.
        let tx = client.transaction().await.map_err(pg("begin a write transaction"))?;
        for (table, keys) in Table::ALL.into_iter().zip(&plan.deletes) {
            if !keys.is_empty() {
                tx.execute(&tables[table.index()].delete, &[keys]).await.map_err(pg_table("delete", table))?;
            }
        }
        if use_copy {
            let sink = tx.copy_in(&*copy_in).await.map_err(pg("start COPY of a batch"))?;
            let writer = BinaryCopyInWriter::new(sink, &[Type::INT2, Type::BYTEA, Type::BYTEA]);
            let mut writer = std::pin::pin!(writer);
            for (table, puts) in Table::ALL.into_iter().zip(&plan.puts) {
                let tag = table_tag(table);
                for (k, v) in puts {
                    writer.as_mut().write(&[&tag, k, v]).await.map_err(pg_table("COPY", table))?;
                }
            }
            writer.as_mut().finish().await.map_err(pg("finish COPY of a batch"))?;
            for (table, puts) in Table::ALL.into_iter().zip(&plan.puts) {
                if !puts.is_empty() {
                    tx.execute(&tables[table.index()].upsert_loaded, &[])
                        .await
                        .map_err(pg_table("upsert (COPY)", table))?;
                }
            }
        } else {
            for (table, puts) in Table::ALL.into_iter().zip(&plan.puts) {
                if puts.is_empty() {
                    continue;
                }
                let keys: Vec<&[u8]> = puts.iter().map(|(k, _)| k.as_slice()).collect();
                let values: Vec<&[u8]> = puts.iter().map(|(_, v)| v.as_slice()).collect();
                tx.execute(&tables[table.index()].upsert, &[&keys, &values])
                    .await
                    .map_err(pg_table("upsert", table))?;
            }
        }
        tx.commit().await.map_err(pg("commit a batch"))?;
        *unsynced = true;
        Ok(())
    }
}

impl Reader {
    async fn open(config: &Config, schema: &str) -> Result<Self> {
        let client = open_client(config).await?;
        let mut tables = Vec::with_capacity(Table::ALL.len());
        for table in Table::ALL {
            let sql = read_sql(schema, table);
            let prep = |sql: String| {
                let client = &client;
                async move { client.prepare(&sql).await.map_err(pg_table("prepare", table)) }
            };
            tables.push(ReadStatements {
                get: prep(sql.get).await?,
                get_many: prep(sql.get_many).await?,
                scan_bounded: prep(sql.scan_bounded).await?,
                scan_open: prep(sql.scan_open).await?,
                stats_bounded: prep(sql.stats_bounded).await?,
                stats_open: prep(sql.stats_open).await?,
            });
        }
        Ok(Reader { client, tables })
    }
}

impl Writer {
    /// Opens the writer connection: migrates the schema, creates the session's
    /// temp load table, prepares the write statements.
    async fn open(config: &Config, schema: &str) -> Result<Self> {
        let mut client = open_client(config).await?;
        migrate(&mut client, schema).await?;
        client
            .batch_execute(
                "set synchronous_commit = off;
                 create temp table if not exists sseek_load
                     (tbl int2 not null, key bytea not null, value bytea not null) on commit delete rows;",
            )
            .await
            .map_err(pg("set up the writer session"))?;
        let copy_in = client
            .prepare("copy pg_temp.sseek_load (tbl, key, value) from stdin (format binary)")
            .await
            .map_err(pg("prepare COPY"))?;
        let mut tables = Vec::with_capacity(Table::ALL.len());
        for table in Table::ALL {
            let sql = write_sql(schema, table);
            let prep = |sql: String| {
                let client = &client;
                async move { client.prepare(&sql).await.map_err(pg_table("prepare", table)) }
            };
            tables.push(WriteStatements {
                upsert: prep(sql.upsert).await?,
                upsert_loaded: prep(sql.upsert_loaded).await?,
                delete: prep(sql.delete).await?,
            });
        }
        Ok(Writer { client, copy_in, tables, unsynced: false, lost_unsynced: false })
    }
}

/// Creates the schema if missing and applies the migrations it lacks, in one
/// transaction under an advisory lock (concurrent connectors wait, then find
/// the work done).
async fn migrate(client: &mut Client, schema: &str) -> Result<()> {
    let tx = client.transaction().await.map_err(pg("begin migrations"))?;
    match migrate_in(&tx, schema).await {
        Ok(()) => tx.commit().await.map_err(pg("commit migrations")),
        Err(e) => {
            // Explicitly, so that the server hears it before the connection goes.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// The body of [`migrate`], inside its transaction.
async fn migrate_in(tx: &tokio_postgres::Transaction<'_>, schema: &str) -> Result<()> {
    tx.execute("select pg_advisory_xact_lock($1, hashtext($2))", &[&MIGRATION_LOCK_CLASS, &schema])
        .await
        .map_err(pg("take the migration lock"))?;
    tx.batch_execute(&format!(
        "create schema if not exists {schema};
         create table if not exists {schema}.sseek_migrations
             (version int4 primary key, applied_at timestamptz not null default now());"
    ))
    .await
    .map_err(pg("create the schema"))?;
    let row = tx
        .query_one(&format!("select coalesce(max(version), 0) from {schema}.sseek_migrations"), &[])
        .await
        .map_err(pg("read the schema version"))?;
    let current: i32 = row.try_get(0).map_err(pg("read the schema version"))?;
    if current > latest_version() {
        return Err(Error::Store(format!(
            "PostgreSQL schema {schema} is at version {current}, newer than this build knows ({}): upgrade sseek",
            latest_version()
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(&sql.replace("{s}", schema))
            .await
            .map_err(|e| Error::Store(format!("PostgreSQL migration {version} failed: {}", chain(&e))))?;
        tx.execute(&format!("insert into {schema}.sseek_migrations (version) values ($1)"), &[version])
            .await
            .map_err(pg("record a migration"))?;
    }
    Ok(())
}

/// Connects one client and spawns its connection task on the current runtime.
async fn open_client(config: &Config) -> Result<Client> {
    let (client, connection) = config.connect(NoTls).await.map_err(pg("connect"))?;
    tokio::spawn(async move {
        // A failed connection shows as `Client::is_closed`; the store reopens it.
        let _ = connection.await;
    });
    Ok(client)
}

/// Runs `fut` as a task on `rt` and blocks the calling thread until it ends.
/// Works from any thread, including inside another async runtime (where it
/// blocks that runtime's worker: use `spawn_blocking` there).
fn run_on<T: Send + 'static>(rt: &Runtime, fut: impl Future<Output = Result<T>> + Send + 'static) -> Result<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        // The receiver waits for this send; it cannot be gone.
        let _ = tx.send(fut.await);
    });
    rx.recv().map_err(|_| Error::Store("PostgreSQL task ended without an answer (runtime shutting down)".into()))?
}

/// SQL text of the read statements of one table.
struct ReadSql {
    get: String,
    get_many: String,
    scan_bounded: String,
    scan_open: String,
    stats_bounded: String,
    stats_open: String,
}

fn read_sql(schema: &str, table: Table) -> ReadSql {
    let t = format!("{schema}.{}", table.name());
    let stats = format!("select count(*), coalesce(sum(length(key) + length(value)), 0)::int8 from {t}");
    ReadSql {
        get: format!("select value from {t} where key = $1"),
        get_many: format!("select key, value from {t} where key = any($1::bytea[])"),
        scan_bounded: format!(
            "select key, value from {t} where key >= $1::bytea and key < $2::bytea order by key limit $3::int8"
        ),
        scan_open: format!("select key, value from {t} where key >= $1::bytea order by key limit $2::int8"),
        stats_bounded: format!("{stats} where key >= $1::bytea and key < $2::bytea"),
        stats_open: format!("{stats} where key >= $1::bytea"),
    }
}

/// SQL text of the write statements of one table.
struct WriteSql {
    upsert: String,
    upsert_loaded: String,
    delete: String,
}

fn write_sql(schema: &str, table: Table) -> WriteSql {
    let t = format!("{schema}.{}", table.name());
    let conflict = "on conflict (key) do update set value = excluded.value";
    WriteSql {
        upsert: format!(
            "insert into {t} (key, value) select * from unnest($1::bytea[], $2::bytea[]) as b(key, value) {conflict}"
        ),
        upsert_loaded: format!(
            "insert into {t} (key, value) select key, value from pg_temp.sseek_load where tbl = {} {conflict}",
            table_tag(table)
        ),
        delete: format!("delete from {t} where key = any($1::bytea[])"),
    }
}

/// The `tbl` column value of a table's rows in the temp load table.
fn table_tag(table: Table) -> i16 {
    match table {
        Table::Documents => 0,
        Table::Postings => 1,
        Table::Entries => 2,
        Table::Meta => 3,
    }
}

/// The smallest key greater than every key starting with `prefix`, or `None`
/// if there is none (empty prefix, or only `0xff` bytes).
fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut upper = prefix.to_vec();
    while let Some(last) = upper.pop() {
        if last < u8::MAX {
            upper.push(last + 1);
            return Some(upper);
        }
    }
    None
}

/// Quotes an SQL identifier: double quotes, inner quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// An error and its sources, one line: tokio-postgres puts the server's
/// message in the source, not in the top-level text.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Maps a tokio-postgres error to [`Error::Store`] with what was being done.
fn pg(doing: &'static str) -> impl Fn(tokio_postgres::Error) -> Error {
    move |e| Error::Store(format!("PostgreSQL: cannot {doing}: {}", chain(&e)))
}

/// Like [`pg`], naming the table.
fn pg_table(doing: &'static str, table: Table) -> impl Fn(tokio_postgres::Error) -> Error {
    move |e| Error::Store(format!("PostgreSQL {doing} on {}: {}", table.name(), chain(&e)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn upper_bound_of_prefixes() {
        assert_eq!(prefix_upper_bound(b""), None);
        assert_eq!(prefix_upper_bound(b"b/"), Some(b"b0".to_vec()));
        assert_eq!(prefix_upper_bound(&[0x01, 0xff]), Some(vec![0x02]));
        assert_eq!(prefix_upper_bound(&[0x01, 0xfe, 0xff, 0xff]), Some(vec![0x01, 0xff]));
        assert_eq!(prefix_upper_bound(&[0xff, 0xff]), None);
        assert_eq!(prefix_upper_bound(&[0x00]), Some(vec![0x01]));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("plain"), "\"plain\"");
        assert_eq!(quote_ident("we\"ird; drop"), "\"we\"\"ird; drop\"");
    }

    #[test]
    fn plan_keeps_the_last_op_per_key() {
        let mut b = WriteBatch::new();
        b.put(Table::Meta, b"x".to_vec(), b"1".to_vec());
        b.delete(Table::Meta, b"x".to_vec());
        b.put(Table::Meta, b"y".to_vec(), b"1".to_vec());
        b.put(Table::Meta, b"y".to_vec(), b"2".to_vec());
        b.delete(Table::Entries, b"y".to_vec());
        b.put(Table::Entries, b"y".to_vec(), b"3".to_vec());
        let plan = Plan::new(b);
        assert_eq!(plan.deletes[Table::Meta.index()], vec![b"x".to_vec()]);
        assert_eq!(plan.puts[Table::Meta.index()], vec![(b"y".to_vec(), b"2".to_vec())]);
        assert_eq!(plan.puts[Table::Entries.index()], vec![(b"y".to_vec(), b"3".to_vec())]);
        assert!(plan.deletes[Table::Entries.index()].is_empty());
        assert_eq!(plan.put_count, 2);
        assert!(!plan.use_copy());
    }

    /// Every lookup statement runs as a scan of the primary-key index, also
    /// as a generic plan on a table of realistic size. Needs the server at
    /// `SSEEK_PG_URL` and fails without it.
    #[test]
    #[ignore = "needs PostgreSQL: set SSEEK_PG_URL"]
    fn lookups_scan_the_primary_key_index() {
        let url = std::env::var("SSEEK_PG_URL").expect("SSEEK_PG_URL is not set: no PostgreSQL server to test against");
        let schema = format!("sseek_explain_{}", std::process::id());
        let store = PostgresStore::connect(&url, &schema).expect("connect");
        let mut b = WriteBatch::new();
        for i in 0u32..20_000 {
            b.put(Table::Postings, i.to_be_bytes().to_vec(), vec![7; 32]);
        }
        store.write(b).expect("write");
        let q = quote_ident(&schema);
        let sql = read_sql(&q, Table::Postings);
        let plans = store
            .run(async move {
                let config: Config = url.parse().map_err(pg("parse"))?;
                let client = open_client(&config).await?;
                client
                    .batch_execute(&format!("analyze {q}.postings; set plan_cache_mode = force_generic_plan"))
                    .await
                    .map_err(pg("analyze"))?;
                let (k1, k2) = (r"'\x000001'::bytea", r"'\x000002'::bytea");
                let mut plans = Vec::new();
                for (name, text, args) in [
                    ("get", sql.get, k1.to_owned()),
                    ("get_many", sql.get_many, format!("array[{k1}, {k2}]")),
                    ("scan_bounded", sql.scan_bounded, format!("{k1}, {k2}, 10000")),
                    ("scan_open", sql.scan_open, format!("{k1}, 10000")),
                    ("stats_bounded", sql.stats_bounded, format!("{k1}, {k2}")),
                ] {
                    // A server-side prepared statement, so that EXPLAIN shows the generic plan.
                    client.batch_execute(&format!("prepare {name} as {text}")).await.map_err(pg("prepare"))?;
                    let mut plan = Vec::new();
                    for m in
                        client.simple_query(&format!("explain execute {name}({args})")).await.map_err(pg("explain"))?
                    {
                        if let tokio_postgres::SimpleQueryMessage::Row(row) = m {
                            plan.push(row.get(0).unwrap_or_default().to_owned());
                        }
                    }
                    plans.push((name, plan.join("\n")));
                }
                Ok(plans)
            })
            .expect("explain");
        store.drop_schema().expect("drop schema");
        for (name, plan) in plans {
            println!("{name}:\n{plan}");
            assert!(plan.contains("$1"), "{name}: not the generic plan:\n{plan}");
            // A plain or bitmap index scan of the primary key.
            assert!(
                plan.contains("Index Scan") && plan.contains("postings_pkey"),
                "{name}: no primary-key scan:\n{plan}"
            );
            assert!(!plan.contains("Seq Scan"), "{name} scans the table:\n{plan}");
        }
    }
}
