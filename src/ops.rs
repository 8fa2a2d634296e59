//! Operator commands of the data lifecycle, for `sseek`: online backups
//! (`backup`, `backup verify`, `restore`), compaction (`compact`) and the
//! audit log (`audit verify`, `audit show`). They act on the server's store
//! and never need a key: everything they move is ciphertext, tokens and
//! counters. Tenant erasure is `sseek tenant erase`; the client's half of
//! the lifecycle (`export`, `forget`) needs the key and lives in the CLI.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::client::Endpoint;
use crate::server::audit;
use crate::store::{self, lifecycle};
use crate::{Error, Result};

/// Where a store is: its spec and PostgreSQL schema.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// `redb:PATH` or `postgres:URL` (for redb, while no server has the file open).
    #[arg(long)]
    pub store: String,
    /// PostgreSQL schema (postgres stores only).
    #[arg(long, default_value = "sseek")]
    pub pg_schema: String,
}

/// A store directly, or the store behind a running server (through its
/// operator routes, with the admin token).
#[derive(Args, Debug, Clone)]
pub struct StoreOrServer {
    /// `redb:PATH` or `postgres:URL` (a redb file held by a running server: use --server).
    #[arg(long, required_unless_present = "server", conflicts_with = "server")]
    pub store: Option<String>,
    /// PostgreSQL schema (postgres stores only).
    #[arg(long, default_value = "sseek")]
    pub pg_schema: String,
    /// A running `sseek serve` started with --admin-token.
    #[arg(long)]
    pub server: Option<String>,
    /// The server's admin token (default: $SSEEK_ADMIN_TOKEN).
    #[arg(long)]
    pub admin_token: Option<String>,
    /// For an https:// --server: trust the PEM certificates in this file.
    #[arg(long, requires = "server")]
    pub ca: Option<PathBuf>,
}

/// A secret from its flag, else from the environment variable `var` (which
/// keeps it out of `ps`); `None` if neither gives a non-empty value.
pub fn flag_or_env(flag: Option<String>, var: &str) -> Option<String> {
    flag.or_else(|| std::env::var(var).ok()).filter(|t| !t.is_empty())
}

/// Which of the two a [`StoreOrServer`] names, ready to use.
#[derive(Debug)]
pub enum Reached {
    /// The store, opened, and its spec.
    Store(Box<dyn store::Store>, String),
    /// The server's operator routes.
    Server(crate::client::Http),
}

impl StoreOrServer {
    /// Opens the store, or connects to the server with the admin token.
    ///
    /// # Errors
    /// [`Error::Config`] without a store, a server or (for a server) an admin token; store errors.
    pub fn reach(self) -> Result<Reached> {
        match (self.store, self.server) {
            (Some(spec), _) => Ok(Reached::Store(store::open(&spec, &self.pg_schema)?, spec)),
            (None, Some(url)) => {
                let token = flag_or_env(self.admin_token, "SSEEK_ADMIN_TOKEN").ok_or_else(|| {
                    Error::Config("--server needs the admin token: --admin-token or $SSEEK_ADMIN_TOKEN".into())
                })?;
                Ok(Reached::Server(Endpoint { url, token, ca: self.ca }.connect()?))
            }
            (None, None) => Err(Error::Config("give --store SPEC or --server URL".into())),
        }
    }
}

/// The operator commands.
#[derive(Subcommand, Debug)]
pub enum OpsCommand {
    /// Take an online, consistent backup of a whole store (`--store`), or of the store behind a running server (`--server` with its admin token); `sseek backup verify FILE` checks one.
    Backup(BackupArgs),
    /// Restore a backup into an empty store of any backend (checked first: a bad file writes nothing).
    Restore {
        /// The backup file.
        #[arg(long)]
        backup: PathBuf,
        /// The store.
        #[command(flatten)]
        target: StoreArgs,
    },
    /// Reclaim the space of deleted and erased rows: rewrite a redb file, VACUUM FULL a PostgreSQL schema.
    Compact {
        /// The store.
        #[command(flatten)]
        target: StoreArgs,
    },
    /// Check or print the server's audit log (operations, never content).
    Audit {
        /// What to do with it.
        #[command(subcommand)]
        command: AuditCommand,
    },
}

/// `sseek backup`: take one, or `verify` one.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    command: Option<BackupCommand>,
    /// What to back up.
    #[command(flatten)]
    source: StoreOrServer,
    /// The backup file to write (must not exist).
    #[arg(long, required_unless_present = "command")]
    out: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum BackupCommand {
    /// Check a backup file (every checksum, counts, the end) without restoring it.
    Verify {
        /// The backup file.
        file: PathBuf,
    },
}

/// `sseek audit ...`.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Walk the hash chain: a record removed, altered or reordered is an error.
    Verify {
        /// The store.
        #[command(flatten)]
        target: StoreArgs,
        /// Also require this head hash (hex, as an earlier verify printed it), which catches records cut from the end.
        #[arg(long)]
        expect_head: Option<String>,
    },
    /// Print records, oldest first.
    Show {
        /// The store.
        #[command(flatten)]
        target: StoreArgs,
        /// Only this tenant's records (by its pseudonym; an erased tenant has none).
        #[arg(long)]
        tenant: Option<String>,
        /// Only records from this time on: RFC 3339 (`2026-11-27T10:00:00Z`) or an age (`2h`, `7days`).
        #[arg(long)]
        since: Option<String>,
        /// Print at most this many records.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
}

/// Whether a command working on the store `spec` directly may write its
/// audit log: a redb file is locked against a running server, so the command
/// is its only writer; a PostgreSQL store may have a running server writing
/// the log (one writer only: run the command through `--server` to have it
/// audited).
pub fn may_audit(spec: &str) -> bool {
    spec.starts_with("redb:")
}

/// Appends an operator command's record to the audit log of the store
/// `spec` (no tenant: it concerns the whole store), if [`may_audit`].
fn audit_operator(spec: &str, store: &dyn store::Store, operation: &str, items_out: u64, bytes_out: u64) -> Result<()> {
    if !may_audit(spec) {
        eprintln!("note: {operation} on a PostgreSQL store is not in its audit log (a running server writes it)");
        return Ok(());
    }
    let log = audit::AuditLog::open(store)?;
    log.record(
        store,
        audit::AuditEvent { operation: operation.into(), items_out, bytes_out, status: 200, ..Default::default() },
    )?;
    log.flush(store)
}

/// A progress bar of bytes on stderr.
fn bytes_bar(len: u64) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {bytes_per_sec} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// Runs an operator command and prints its outcome.
///
/// # Errors
/// Store, I/O, backup and audit errors.
pub fn run_cli(command: OpsCommand) -> Result<()> {
    match command {
        OpsCommand::Backup(args) => backup(args),
        OpsCommand::Restore { backup, target } => {
            let store = store::open_unchecked(&target.store, &target.pg_schema)?;
            let pb = bytes_bar(0);
            let report = lifecycle::restore(&backup, &*store, Some(&pb))?;
            pb.finish_and_clear();
            audit_operator(
                &target.store,
                &*store,
                "Restore",
                report.summary.total_entries(),
                report.summary.file_bytes,
            )?;
            if report.cleared > 0 {
                println!("cleared {} entries of an unfinished restore", report.cleared);
            }
            let s = &report.summary;
            println!(
                "restored {} entries ({} documents, {} posting lists, {} SSE entries, {} metadata) into {}",
                s.total_entries(),
                s.entries[0],
                s.entries[1],
                s.entries[2],
                s.entries[3],
                store::describe(&target.store)
            );
            Ok(())
        }
        OpsCommand::Compact { target } => {
            let pb = bytes_bar(0);
            let r = lifecycle::compact(&target.store, &target.pg_schema, Some(&pb))?;
            pb.finish_and_clear();
            let store = store::open(&target.store, &target.pg_schema)?;
            audit_operator(&target.store, &*store, "Compact", 0, r.bytes_after)?;
            println!(
                "compacted {}: {} bytes before, {} after ({} reclaimed)",
                store::describe(&target.store),
                r.bytes_before,
                r.bytes_after,
                r.bytes_before.saturating_sub(r.bytes_after)
            );
            Ok(())
        }
        OpsCommand::Audit { command: AuditCommand::Verify { target, expect_head } } => {
            let store = store::open(&target.store, &target.pg_schema)?;
            let summary = audit::verify(&*store)?;
            let head = hex::encode(summary.head_hash);
            if let Some(expected) = expect_head
                && !expected.eq_ignore_ascii_case(&head)
            {
                return Err(Error::Audit(format!(
                    "head is {head}, expected {expected}: records were cut from the end"
                )));
            }
            println!("audit log verified: {} records, head {head}", summary.records);
            Ok(())
        }
        OpsCommand::Audit { command: AuditCommand::Show { target, tenant, since, limit } } => {
            let store = store::open(&target.store, &target.pg_schema)?;
            let tenant_ref = match &tenant {
                Some(name) => Some(audit::tenant_ref(&*store, name)?.ok_or_else(|| {
                    Error::NotFound(format!("tenant {name} has no audit records (never seen, or erased)"))
                })?),
                None => None,
            };
            let since = since.as_deref().map(parse_since).transpose()?;
            let mut shown = 0usize;
            audit::visit(&*store, tenant_ref, since, &mut |r| {
                println!("{}", r.to_line());
                shown += 1;
                Ok(shown < limit)
            })?;
            Ok(())
        }
    }
}

fn backup(args: BackupArgs) -> Result<()> {
    if let Some(BackupCommand::Verify { file }) = args.command {
        let s = lifecycle::verify_backup(&file)?;
        println!(
            "backup {} verified: {} entries in {} chunks, {} bytes, from {} at unix ms {}, sha256 {}",
            file.display(),
            s.total_entries(),
            s.chunks,
            s.file_bytes,
            s.info.source,
            s.info.created_unix_ms,
            hex::encode(s.sha256)
        );
        return Ok(());
    }
    let out = args.out.ok_or_else(|| Error::Config("--out FILE is required".into()))?;
    let pb = bytes_bar(0);
    let summary = match args.source.reach()? {
        Reached::Store(store, spec) => {
            let source = spec.split(':').next().unwrap_or("store").to_owned();
            let summary = lifecycle::backup_to_file(&*store, &source, &out, Some(&pb))?;
            // After the snapshot: the backup does not hold its own record.
            audit_operator(&spec, &*store, "Backup", summary.total_entries(), summary.file_bytes)?;
            summary
        }
        Reached::Server(http) => lifecycle::download_backup(&|w| http.download_backup(w, Some(&pb)), &out)?,
    };
    pb.finish_and_clear();
    println!(
        "wrote backup {}: {} entries, {} bytes, sha256 {}",
        out.display(),
        summary.total_entries(),
        summary.file_bytes,
        hex::encode(summary.sha256)
    );
    Ok(())
}

/// A `--since` value: an RFC 3339 time or an age before now, as unix ms.
fn parse_since(text: &str) -> Result<u64> {
    let when = humantime::parse_rfc3339_weak(text).or_else(|_| {
        humantime::parse_duration(text)
            .map_err(|_| Error::Config(format!("--since {text:?}: not an RFC 3339 time nor an age like 2h")))
            .and_then(|age| {
                std::time::SystemTime::now()
                    .checked_sub(age)
                    .ok_or_else(|| Error::Config(format!("--since {text:?} is before 1970")))
            })
    })?;
    let ms = when.duration_since(std::time::UNIX_EPOCH).map_err(|_| Error::Config("--since before 1970".into()))?;
    Ok(u64::try_from(ms.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_and_ages() {
        assert_eq!(parse_since("1970-01-01T00:00:01Z").ok(), Some(1000));
        let an_hour_ago = parse_since("1h").unwrap_or(0);
        let now = u64::try_from(std::time::UNIX_EPOCH.elapsed().map(|d| d.as_millis()).unwrap_or(0)).unwrap_or(0);
        assert!(now - an_hour_ago >= 3_600_000 && now - an_hour_ago < 3_700_000);
        assert!(parse_since("yesterday-ish").is_err());
    }
}
