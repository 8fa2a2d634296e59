//! Schema versions of the PostgreSQL store and applying the missing ones at
//! connect time.

use tokio_postgres::Client;

use super::errors::{chain, pg};
use crate::{Error, Result};

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

/// Creates the schema if missing and applies the migrations it lacks, in one
/// transaction under an advisory lock (concurrent connectors wait, then find
/// the work done).
pub(super) async fn migrate(client: &mut Client, schema: &str) -> Result<()> {
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
