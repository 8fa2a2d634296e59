//! The connections of a [`PostgresStore`](super::PostgresStore): one writer
//! and a few readers, each with its prepared statements, reopened when found
//! closed; and [`run_on`], which runs their async work for synchronous callers.

use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::runtime::Runtime;
use tokio_postgres::{Client, Config, NoTls, Statement};

use super::errors::{pg, pg_table};
use super::migrations::migrate;
use super::sql::{read_sql, write_sql};
use crate::store::Table;
use crate::{Error, Result};

/// A reader connection and its prepared statements, by [`Table::index`].
pub(super) struct Reader {
    pub(super) client: Client,
    pub(super) tables: Vec<ReadStatements>,
}

/// The read statements of one table.
pub(super) struct ReadStatements {
    pub(super) get: Statement,
    pub(super) get_many: Statement,
    pub(super) scan_bounded: Statement,
    pub(super) scan_open: Statement,
    pub(super) stats_bounded: Statement,
    pub(super) stats_open: Statement,
}

/// The writer connection, its temp load table and its prepared statements.
pub(super) struct Writer {
    pub(super) client: Client,
    pub(super) copy_in: Statement,
    pub(super) tables: Vec<WriteStatements>,
    /// A batch was committed (asynchronously) since the last sync.
    pub(super) unsynced: bool,
    /// The connection was lost with unsynced batches: the next sync fails.
    pub(super) lost_unsynced: bool,
}

/// The write statements of one table.
pub(super) struct WriteStatements {
    pub(super) upsert: Statement,
    pub(super) upsert_loaded: Statement,
    pub(super) delete: Statement,
}

impl Inner {
    /// The next reader connection, reopened first if it was closed.
    pub(super) async fn reader(&self) -> Result<Arc<Reader>> {
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
    pub(super) async fn writer(&self) -> Result<tokio::sync::MutexGuard<'_, Writer>> {
        let mut w = self.writer.lock().await;
        if w.client.is_closed() {
            let lost = w.unsynced || w.lost_unsynced;
            *w = Writer::open(&self.writer_config, &self.quoted).await?;
            w.lost_unsynced = lost;
        }
        Ok(w)
    }
}

impl Reader {
    pub(super) async fn open(config: &Config, schema: &str) -> Result<Self> {
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
    pub(super) async fn open(config: &Config, schema: &str) -> Result<Self> {
        let mut client = open_client(config).await?;
        migrate(&mut client, schema).await?;
        client
            .batch_execute(
                "set synchronous_commit = on;
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

/// Connects one client and spawns its connection task on the current runtime.
pub(super) async fn open_client(config: &Config) -> Result<Client> {
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
pub(super) fn run_on<T: Send + 'static>(
    rt: &Runtime,
    fut: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        // The receiver waits for this send; it cannot be gone.
        let _ = tx.send(fut.await);
    });
    rx.recv().map_err(|_| Error::Store("PostgreSQL task ended without an answer (runtime shutting down)".into()))?
}

/// What the tasks on the runtime share.
pub(super) struct Inner {
    /// Connection settings of the writer and of the readers (they differ in
    /// `application_name` only, so that `pg_stat_activity` tells them apart).
    pub(super) writer_config: Config,
    pub(super) reader_config: Config,
    /// The schema name as given.
    pub(super) schema: String,
    /// The schema name quoted as an SQL identifier.
    pub(super) quoted: String,
    pub(super) readers: Vec<Mutex<Arc<Reader>>>,
    pub(super) next_reader: AtomicUsize,
    pub(super) writer: tokio::sync::Mutex<Writer>,
}
