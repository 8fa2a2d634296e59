//! `sseek device ...`: several devices per account, for the CLI. A new
//! device makes a key pair (`init`) and shows its public key; a device
//! holding the keyring enrolls it (`enroll`), which seals the keyring to
//! it on the server; the new device then writes the keyring to a file
//! (`open`). `list` shows the enrolled devices, `revoke` removes one and rotates
//! the account's keys, so the device cannot read what comes after. The library half is [`crate::client::devices`].

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use crate::client::rotation::{ROTATION_BATCH, RotationOptions};
use crate::client::{Client, Endpoint, devices};
use crate::keys::Keyring;
use crate::keys::device::{DeviceKeyPair, DevicePublicKey, Fingerprint};
use crate::protocol::transport::Transport;
use crate::server::{InProcess, Server};
use crate::store::{self, RedbStore, Store};
use crate::text::Tokenizer;
use crate::{Error, Result};

/// Where the account is: a store (with a tenant) or a running server (the
/// token's tenant).
#[derive(Args, Debug, Clone)]
pub struct Account {
    /// `redb:PATH`, `postgres:URL`, or a store directory as `sseek index --store` takes.
    #[arg(long, required_unless_present = "server", conflicts_with = "server")]
    pub store: Option<String>,
    /// PostgreSQL schema (postgres stores only).
    #[arg(long, default_value = "sseek")]
    pub pg_schema: String,
    /// Tenant name (with --store; a server takes the token's).
    #[arg(long, default_value = "default")]
    pub tenant: String,
    /// A running `sseek serve`.
    #[arg(long)]
    pub server: Option<String>,
    /// API token for --server (default: $SSEEK_TOKEN).
    #[arg(long)]
    pub token: Option<String>,
    /// For an https:// --server: trust the PEM certificates in this file.
    #[arg(long, requires = "server")]
    pub ca: Option<PathBuf>,
}

/// An account reached: the transport, the tenant, and the in-process
/// server whose audit log is flushed at the end.
struct Reached {
    transport: Box<dyn Transport>,
    tenant: String,
    server: Option<Arc<Server<Box<dyn Store>>>>,
}

impl Account {
    fn reach(self) -> Result<Reached> {
        if let Some(url) = self.server {
            let token = crate::ops::flag_or_env(self.token, "SSEEK_TOKEN")
                .ok_or_else(|| Error::Config("--server needs an API token: --token or $SSEEK_TOKEN".into()))?;
            let http = Endpoint { url, token, ca: self.ca }.connect()?;
            let tenant = http.tenant()?;
            return Ok(Reached { transport: Box::new(http), tenant, server: None });
        }
        let spec = self.store.ok_or_else(|| Error::Config("give --store SPEC or --server URL".into()))?;
        let (store, audited): (Box<dyn Store>, bool) = if spec.starts_with("redb:") || spec.starts_with("postgres:") {
            (store::open(&spec, &self.pg_schema)?, crate::ops::may_audit(&spec))
        } else {
            (Box::new(RedbStore::open(&PathBuf::from(&spec).join("server.redb"))?), true)
        };
        let server = if audited { Server::new(store) } else { Server::new(store).without_audit() };
        let server = Arc::new(server);
        let transport = Box::new(InProcess::new(Arc::clone(&server), &self.tenant));
        Ok(Reached { transport, tenant: self.tenant, server: Some(server) })
    }
}

impl Reached {
    fn finish(&self) -> Result<()> {
        Self::flush(self.server.as_deref())
    }

    /// Writes the in-process server's buffered audit records, if there is one.
    fn flush(server: Option<&Server<Box<dyn Store>>>) -> Result<()> {
        server.map_or(Ok(()), Server::flush_audit)
    }
}

/// `sseek device ...`.
#[derive(Subcommand, Debug)]
pub enum DeviceCommand {
    /// On a new device: create its key pair (X25519) and print its fingerprint and public key.
    Init {
        /// Where to write the device key (must not exist; mode 0600).
        #[arg(long)]
        device_key: PathBuf,
    },
    /// On a device holding the keyring: enroll another device by its public key (seals the keyring to it on the server).
    Enroll {
        /// The account's keyring file.
        #[arg(long)]
        key: PathBuf,
        /// The new device's public key (64 hex digits, as `sseek device init` printed).
        #[arg(long)]
        public: String,
        /// A name for it (`phone`, `laptop`).
        #[arg(long)]
        name: String,
        /// Where the account is.
        #[command(flatten)]
        account: Account,
    },
    /// On an enrolled device: open the keyring sealed to it and write it to a key file.
    Open {
        /// This device's key file (from `sseek device init`).
        #[arg(long)]
        device_key: PathBuf,
        /// The keyring file to write (atomically).
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing --out file.
        #[arg(long)]
        force: bool,
        /// Where the account is.
        #[command(flatten)]
        account: Account,
    },
    /// List the enrolled devices (name, fingerprint, enrollment time).
    List {
        /// The account's keyring file.
        #[arg(long)]
        key: PathBuf,
        /// Where the account is.
        #[command(flatten)]
        account: Account,
    },
    /// Revoke a device: remove its sealed keyring and its directory entry, then rotate the account's keys (the device still knows the keys it held).
    Revoke {
        /// The device's fingerprint (as `sseek device list` prints it).
        fingerprint: String,
        /// The account's keyring file.
        #[arg(long)]
        key: PathBuf,
        /// Where the account is.
        #[command(flatten)]
        account: Account,
        /// Only revoke; do not rotate the keys now (run `sseek rotate` soon: until then the device can still read what is added).
        #[arg(long)]
        no_rotate: bool,
    },
}

/// What a revocation leaves to do, printed after it.
pub const ROTATE_AFTER_REVOKE: &str = "the revoked device still knows every key it held: \
     rotate the account's keys now (a new keyring version, re-seal and re-index), \
     then publish the new keyring to the remaining devices";

/// Runs a device command and prints its outcome: results on stdout, notes on stderr.
///
/// # Errors
/// As the library functions of [`crate::client::devices`]; key file and
/// I/O errors; [`Error::Config`] for a bad public key or fingerprint, or an
/// existing --out without --force.
pub fn run_cli(command: DeviceCommand) -> Result<()> {
    match command {
        DeviceCommand::Init { device_key } => {
            let pair = DeviceKeyPair::generate()?;
            pair.save(&device_key)?;
            eprintln!("wrote device key {} (keep it on this device only)", device_key.display());
            println!("fingerprint {}", pair.fingerprint());
            println!("public key  {}", pair.public_key().to_hex());
            eprintln!(
                "on a device holding the keyring: sseek device enroll --key KEYRING --public {} --name NAME ...",
                pair.public_key().to_hex()
            );
        }
        DeviceCommand::Enroll { key, public, name, account } => {
            let keyring = Keyring::load(&key)?;
            let public = DevicePublicKey::from_hex(&public)?;
            let at = account.reach()?;
            let entry = devices::enroll(&keyring, &at.tenant, &at.transport, &name, public)?;
            at.finish()?;
            println!("enrolled {:?} with fingerprint {} for tenant {}", entry.name, entry.fingerprint, at.tenant);
            eprintln!(
                "compare: the new device must show fingerprint {}, and after `sseek device open` account key {}",
                entry.fingerprint,
                keyring.current().key_id()
            );
        }
        DeviceCommand::Open { device_key, out, force, account } => {
            if out.exists() && !force {
                return Err(Error::Config(format!("{} exists; not overwriting (--force replaces it)", out.display())));
            }
            let pair = DeviceKeyPair::load(&device_key)?;
            let at = account.reach()?;
            let keyring = devices::open_keyring(&pair, &at.tenant, &at.transport)?;
            at.finish()?;
            crate::files::publish_secret(&out, &keyring.to_file_bytes(), force)?;
            println!(
                "wrote keyring {} (versions {:?}, current {}, account key {})",
                out.display(),
                keyring.versions(),
                keyring.current_version(),
                keyring.current().key_id()
            );
            eprintln!("compare the account key with the one `sseek device enroll` printed");
        }
        DeviceCommand::List { key, account } => {
            let keyring = Keyring::load(&key)?;
            let at = account.reach()?;
            let entries = devices::list(&keyring, &at.tenant, &at.transport)?;
            at.finish()?;
            println!("{} device(s)", entries.len());
            for e in &entries {
                let when = humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(e.enrolled_at),
                );
                println!("{}  {}  enrolled {when}  {}", e.fingerprint, e.name, e.public_key.to_hex());
            }
        }
        DeviceCommand::Revoke { fingerprint, key, account, no_rotate } => {
            let fingerprint = Fingerprint::parse(&fingerprint)?;
            let keyring = Keyring::load(&key)?;
            let Reached { transport, tenant, server } = account.reach()?;
            let entry = devices::revoke(&keyring, &tenant, &transport, &fingerprint)?;
            println!("revoked {:?} ({}): its sealed keyring and directory entry are removed", entry.name, fingerprint);
            if no_rotate {
                eprintln!("next: {ROTATE_AFTER_REVOKE}");
            } else {
                // The device still knows every key it held: what comes
                // after must be under a key it never saw.
                let mut client =
                    Client::connect_keyring(&keyring, &tenant, transport, Tokenizer::default())?.with_key_file(&key);
                let progress = indicatif::ProgressBar::new(0);
                let options = RotationOptions { batch: ROTATION_BATCH, progress: Some(progress.clone()) };
                let report = client.rotate(&mut |ring: &Keyring| ring.replace(&key), &options);
                progress.finish_and_clear();
                let report = report?;
                println!(
                    "rotated the account's keys from version {} to {}: {} messages sealed and indexed again; \
                     the remaining devices hold the new keyring",
                    report.from, report.to, report.moved
                );
            }
            Reached::flush(server.as_deref())?;
        }
    }
    Ok(())
}
