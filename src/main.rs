//! The `sseek` command line: parse, call the library, print.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use sseek::blind::{default_index_specs, planner::plan_for_corpus};
use sseek::client::{Client, Endpoint};
use sseek::demo::{self, DemoOptions};
use sseek::keys::{Keyring, MasterKey, WrapParams};
use sseek::query::Query;
use sseek::server::Server;
use sseek::store::RedbStore;
use sseek::text::Tokenizer;
use sseek::transport::{InProcess, Transport};
use sseek::{Error, Result, datasets};

#[derive(Parser)]
#[command(
    name = "sseek",
    version,
    about = "Encrypted search: blind indexes and SSE, measured against a plaintext oracle"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure every scheme and both client-only baselines across corpus sizes: JSON, markdown and plots.
    Bench(sseek::bench::BenchArgs),
    /// Run leakage-abuse attacks on the recorded server view of real schemes: recovery with its spread, countermeasure costs; JSON, a markdown report (LEAKAGE.md) and cost-versus-recovery plots.
    Attack(sseek::leakage::report::AttackArgs),
    /// Encrypt a corpus, build blind indexes and every SSE scheme in the embedded store, run a query workload and check it against a plaintext index.
    Demo {
        /// `spamassassin` (shipped), `synthetic:N[:SEED]`, a directory of mail files, a .jsonl or a .tar.gz.
        #[arg(long, default_value = datasets::SPAMASSASSIN)]
        dataset: String,
        /// Keep the store in this (empty) directory instead of a temporary one.
        #[arg(long)]
        store: Option<PathBuf>,
        /// Write the report as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Seed of the query workload.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Expected false positives per query the token-length planner allows.
        #[arg(long, default_value_t = 25.0)]
        fp_budget: f64,
        /// Single-value queries per index.
        #[arg(long, default_value_t = 40)]
        queries: usize,
        /// SSE variants to run next to the blind indexes, comma-separated
        /// (pibas, pack, 2lev, 2lev-rh, mitra, diana, pack-rh, oxt); `none` for blind indexes only.
        #[arg(long, default_value = "pibas,pack,2lev,2lev-rh,mitra,diana")]
        schemes: String,
        /// Delete this share of the messages (0 to 1, at random) after every index is built and before the queries; the oracle leaves them out.
        #[arg(long, default_value_t = 0.0)]
        delete_fraction: f64,
        /// Rotate the keys after every index is built and before the queries: messages and blind indexes move to key version 2, every SSE instance is rebuilt under it.
        #[arg(long)]
        rotate: bool,
        /// Run against a running `sseek serve` at this URL instead of an embedded store.
        #[arg(long, conflicts_with = "store")]
        server: Option<String>,
        /// API token for --server (default: $SSEEK_TOKEN).
        #[arg(long)]
        token: Option<String>,
        /// For an https:// --server: trust the PEM certificates in this file instead of the system roots.
        #[arg(long, requires = "server")]
        ca: Option<PathBuf>,
    },
    /// Serve the HTTP API (blind indexes, every SSE scheme, documents) for all tenants of a store.
    Serve {
        /// `redb:PATH` (database file), `postgres:URL` or `redis-cluster:redis://HOST:PORT,...` (shared by several servers).
        #[arg(long)]
        store: String,
        /// PostgreSQL schema holding the tables, or the key namespace of a redis-cluster store.
        #[arg(long, default_value = "sseek")]
        pg_schema: String,
        /// Address to listen on; port 0 picks a free port (the address is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Largest accepted request body in bytes.
        #[arg(long, default_value_t = sseek::server::http::DEFAULT_MAX_BODY)]
        max_body: usize,
        /// Record the server's view (what it receives and answers, for leakage analysis and `sseek attack`) as JSON lines into this file.
        #[arg(long)]
        record_view: Option<PathBuf>,
        /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Seconds a connection may take to send a request head, or sit idle between requests, before it is closed.
        #[arg(long, default_value_t = 10)]
        header_timeout: u64,
        /// Seconds one request may take, body upload and store work included (then 408).
        #[arg(long, default_value_t = 60)]
        request_timeout: u64,
        /// Open connections at most; more are closed at once.
        #[arg(long, default_value_t = 1024)]
        max_connections: usize,
        /// Requests handled at once; more wait within their deadline.
        #[arg(long, default_value_t = 64)]
        max_in_flight: usize,
        /// MiB the request bodies in flight may take once decoded (each is charged 32 times its size); more wait.
        #[arg(long, default_value_t = 2048)]
        memory_budget_mib: usize,
        /// Serve GET /metrics to holders of this bearer token (default: $SSEEK_METRICS_TOKEN; unset: /metrics is off).
        #[arg(long)]
        metrics_token: Option<String>,
        /// Serve the operator routes (online backup, tenant erasure) to holders of this bearer token (default: $SSEEK_ADMIN_TOKEN; unset: off).
        #[arg(long)]
        admin_token: Option<String>,
        /// Requests per second each tenant may make (bursts of as many); more get 429 with Retry-After. 0: unlimited.
        #[arg(long, default_value_t = 0)]
        tenant_rate: u32,
        /// Stored bytes each tenant may hold (keys and values); writes beyond get 429. 0: unlimited.
        #[arg(long, default_value_t = 0)]
        tenant_quota_bytes: u64,
    },
    /// Manage tenants of a server store.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Create a new master key file.
    Keygen {
        /// Where to write the key (must not exist).
        #[arg(long)]
        key: PathBuf,
    },
    /// Rewrite a key file of the old format (one key) as a keyring (key file version 2), in place and atomically; old files keep working without it.
    UpgradeKey {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Export the master key wrapped under a passphrase (read from $SSEEK_PASSPHRASE or the first line of stdin).
    ExportKey {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
        /// Where to write the backup.
        #[arg(long)]
        out: PathBuf,
    },
    /// Import a passphrase-wrapped backup into a new key file.
    ImportKey {
        /// The backup file.
        #[arg(long)]
        backup: PathBuf,
        /// Where to write the key (must not exist).
        #[arg(long)]
        key: PathBuf,
    },
    /// Encrypt and index your own messages into a store directory or a server.
    Index {
        #[command(flatten)]
        target: Target,
        /// A directory of mail files, a .jsonl or a .tar.gz.
        #[arg(long)]
        dataset: String,
        /// Plan token lengths for this many times today's data (new stores only).
        #[arg(long, default_value_t = 4.0)]
        growth: f64,
        /// Expected false positives per query the planner allows (new stores only).
        #[arg(long, default_value_t = 25.0)]
        fp_budget: f64,
    },
    /// Delete messages by id from a store or a server, with their blind-index entries.
    Delete {
        #[command(flatten)]
        target: Target,
        /// The message ids (as `sseek search` prints them).
        #[arg(required = true)]
        ids: Vec<u32>,
    },
    /// Write every message of your account, decrypted, to a JSONL file (right of access); `sseek index --dataset FILE` takes it back.
    Export {
        #[command(flatten)]
        target: Target,
        /// The JSONL file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Rotate the account's keys to a new version without downtime, or resume a rotation that stopped: new messages go under the new version at once, every message is sealed and indexed again under it in batches (a checkpoint after each), searches meanwhile ask both versions, and at the end the old key is removed from the key file.
    Rotate {
        #[command(flatten)]
        target: Target,
        /// Only show where the keys stand (epoch, progress), change nothing.
        #[arg(long)]
        status: bool,
        /// Print the report (or the status) as JSON.
        #[arg(long)]
        json: bool,
        /// Messages per batch (one transaction and one checkpoint each).
        #[arg(long, default_value_t = sseek::client::rotation::ROTATION_BATCH)]
        batch: u32,
    },
    /// Destroy a key file (crypto-shredding: whatever it sealed, in the store or in old backups, can no longer be opened).
    Forget {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
        /// Required: this cannot be undone (passphrase backups made with export-key still open the data; destroy them too).
        #[arg(long)]
        yes: bool,
    },
    #[command(flatten)]
    Ops(sseek::ops::OpsCommand),
    /// Several devices per account: a key pair per device, the keyring sealed to each (HPKE) on the server.
    Device {
        #[command(subcommand)]
        command: sseek::device_cli::DeviceCommand,
    },
    /// Search a store or a server: `body:word AND (from:a@b.c OR day:2002-08-22)`.
    Search {
        #[command(flatten)]
        target: Target,
        /// Messages to print (0: ids only).
        #[arg(long, default_value_t = 10)]
        show: usize,
        /// Only the N newest matches (highest ids), newest first: fetches and decrypts only as many candidates as they need. Default: all matches, oldest first.
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
        /// The query.
        query: String,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create an API token for a tenant (created on first token) and print it once; only its hash is stored.
    Add {
        /// Tenant name: letters, digits, '.', '_', '-'.
        name: String,
        /// `redb:PATH` or `postgres:URL` (for redb, while no server has the file open).
        #[arg(long)]
        store: String,
        /// PostgreSQL schema (postgres stores only).
        #[arg(long, default_value = "sseek")]
        pg_schema: String,
    },
    /// Erase a tenant: every row it owns (documents, index entries, schema, SSE instances, counters) and its API tokens, in one transaction. Run `sseek compact` after it to reclaim the space.
    Erase {
        /// The tenant name.
        name: String,
        /// Where the tenant is.
        #[command(flatten)]
        target: sseek::ops::StoreOrServer,
    },
}

/// Where a client command's messages are: a local store directory, or a
/// running `sseek serve`; and the key that opens them.
#[derive(clap::Args)]
struct Target {
    /// The key file.
    #[arg(long)]
    key: PathBuf,
    /// Store directory (created if missing).
    #[arg(long, required_unless_present = "server", conflicts_with = "server")]
    store: Option<PathBuf>,
    /// A running `sseek serve` (the tenant is the token's).
    #[arg(long)]
    server: Option<String>,
    /// API token for --server (default: $SSEEK_TOKEN).
    #[arg(long)]
    token: Option<String>,
    /// For an https:// --server: trust the PEM certificates in this file instead of the system roots.
    #[arg(long, requires = "server")]
    ca: Option<PathBuf>,
    /// Tenant name (with --store; a server takes the token's).
    #[arg(long, default_value = "default")]
    tenant: String,
}

impl Target {
    /// A client of this target: over HTTP to the server (then the tenant is
    /// the token's), or in process over the store directory.
    fn open(self) -> Result<Client<Box<dyn Transport>>> {
        let ring = Keyring::load(&self.key)?;
        let client = if let Some(url) = self.server {
            let http = Endpoint { url, token: token(self.token)?, ca: self.ca }.connect()?;
            let tenant = http.tenant()?;
            Client::connect_keyring(&ring, &tenant, Box::new(http) as Box<dyn Transport>, Tokenizer::default())?
        } else {
            let store = self.store.ok_or_else(|| Error::Config("give --store DIR or --server URL".into()))?;
            let server = Arc::new(Server::new(RedbStore::open(&store.join("server.redb"))?));
            let transport: Box<dyn Transport> = Box::new(InProcess::new(server, &self.tenant));
            Client::connect_keyring(&ring, &self.tenant, transport, Tokenizer::default())?
        };
        // A rotation elsewhere may replace the key file while this runs.
        Ok(client.with_key_file(self.key))
    }
}

/// The API token from the flag or `$SSEEK_TOKEN` (which keeps it out of `ps`).
fn token(flag: Option<String>) -> Result<String> {
    sseek::ops::flag_or_env(flag, "SSEEK_TOKEN")
        .ok_or_else(|| Error::Config("--server needs an API token: --token or $SSEEK_TOKEN".into()))
}

fn passphrase() -> Result<String> {
    if let Ok(p) = std::env::var("SSEEK_PASSPHRASE") {
        return Ok(p);
    }
    eprintln!("passphrase (one line on stdin):");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| Error::io("<stdin>", e))?;
    let p = line.trim_end_matches(['\n', '\r']).to_owned();
    if p.is_empty() {
        return Err(Error::Config("empty passphrase".into()));
    }
    Ok(p)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Demo {
            dataset,
            store,
            json,
            seed,
            fp_budget,
            queries,
            schemes,
            delete_fraction,
            rotate,
            server,
            token: token_flag,
            ca,
        } => {
            let schemes: Vec<String> = if schemes == "none" {
                Vec::new()
            } else {
                schemes.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
            };
            for s in &schemes {
                demo::variant_config(s)?;
            }
            let opts = DemoOptions {
                dataset,
                store_dir: store,
                seed,
                max_false_positives: fp_budget,
                queries_per_index: queries,
                schemes,
                delete_fraction,
                rotate,
                ..Default::default()
            };
            let report = match server {
                Some(url) => {
                    let corpus = datasets::load(&opts.dataset)?;
                    demo::run_remote(&opts, corpus, &Endpoint { url, token: token(token_flag)?, ca })?
                }
                None => demo::run(&opts)?,
            };
            println!("{}", report.to_markdown());
            if let Some(path) = json {
                let text = serde_json::to_string_pretty(&report).map_err(|e| Error::Config(e.to_string()))?;
                std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
                println!("wrote {}", path.display());
            }
            if report.mismatches > 0 {
                eprintln!("error: {} queries disagree with the plaintext oracle", report.mismatches);
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Bench(args) => {
            if !sseek::bench::run_cli(&args)? {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Attack(args) => {
            sseek::leakage::report::run_cli(&args)?;
        }
        Command::Keygen { key } => {
            let ring = Keyring::generate()?;
            ring.save(&key)?;
            println!("wrote key {} (keyring, version 1) to {}", ring.current().key_id(), key.display());
        }
        Command::UpgradeKey { key } => {
            let ring = Keyring::load(&key)?;
            ring.replace(&key)?;
            println!(
                "{} is a keyring (key file version 2): versions {:?}, current {}",
                key.display(),
                ring.versions(),
                ring.current_version()
            );
        }
        Command::ExportKey { key, out } => {
            let ring = Keyring::load(&key)?;
            if ring.versions().len() > 1 {
                return Err(Error::Config(
                    "this keyring holds several versions; a passphrase backup holds one key (finish the rotation first)"
                        .into(),
                ));
            }
            let k = ring.current();
            let text = k.export_wrapped(&passphrase()?, WrapParams::default())?;
            if out.exists() {
                return Err(Error::Config(format!("{} exists; not overwriting", out.display())));
            }
            std::fs::write(&out, text).map_err(|e| Error::io(&out, e))?;
            println!("wrote backup of key {} to {}", k.key_id(), out.display());
        }
        Command::ImportKey { backup, key } => {
            let text = std::fs::read_to_string(&backup).map_err(|e| Error::io(&backup, e))?;
            let k = MasterKey::import_wrapped(&text, &passphrase()?)?;
            Keyring::from_master(k.clone()).save(&key)?;
            println!("restored key {} to {}", k.key_id(), key.display());
        }
        Command::Serve {
            store,
            pg_schema,
            listen,
            max_body,
            record_view,
            tls_cert,
            tls_key,
            header_timeout,
            request_timeout,
            max_connections,
            max_in_flight,
            memory_budget_mib,
            metrics_token,
            admin_token,
            tenant_rate,
            tenant_quota_bytes,
        } => {
            tracing_subscriber::fmt().with_writer(std::io::stderr).with_target(false).init();
            let store = sseek::store::open(&store, &pg_schema)?;
            let observer = match &record_view {
                Some(path) => {
                    let recorder: Arc<dyn sseek::protocol::observer::BoundaryObserver> =
                        Arc::new(sseek::leakage::Recorder::to_file(path)?);
                    eprintln!("recording the server view to {}", path.display());
                    Some(recorder)
                }
                None => None,
            };
            let limits = sseek::server::http::Limits {
                header_timeout: Duration::from_secs(header_timeout),
                request_timeout: Duration::from_secs(request_timeout),
                max_connections,
                max_in_flight,
                memory_budget: memory_budget_mib << 20,
            };
            let tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => Some(sseek::server::http::TlsFiles { cert, key }),
                _ => None,
            };
            let metrics_token = sseek::ops::flag_or_env(metrics_token, "SSEEK_METRICS_TOKEN");
            let admin_token = sseek::ops::flag_or_env(admin_token, "SSEEK_ADMIN_TOKEN");
            let scheme = if tls.is_some() { "https" } else { "http" };
            let opts = sseek::server::http::ServeOptions {
                listen,
                max_body,
                limits,
                tls,
                metrics_token,
                admin_token,
                tenant_rate: std::num::NonZeroU32::new(tenant_rate),
                tenant_quota_bytes: Some(tenant_quota_bytes).filter(|b| *b > 0),
                observer,
            };
            sseek::server::http::serve(
                store,
                opts,
                |addr| {
                    // Tests and scripts read this line to find an ephemeral port.
                    println!("listening on {scheme}://{addr}");
                    let _ = std::io::Write::flush(&mut std::io::stdout());
                },
                sseek::server::http::shutdown_signal(),
            )?;
        }
        Command::Tenant { command: TenantCommand::Add { name, store, pg_schema } } => {
            let store = sseek::store::open(&store, &pg_schema)?;
            let token = sseek::server::http::auth::add_token(&*store, &name)?;
            eprintln!("API token for tenant {name} (shown once; only its hash is stored):");
            println!("{token}");
        }
        Command::Tenant { command: TenantCommand::Erase { name, target } } => {
            let report = match target.reach()? {
                sseek::ops::Reached::Store(store, spec) => {
                    let server = if sseek::ops::may_audit(&spec) {
                        Server::new(store)
                    } else {
                        Server::new(store).without_audit()
                    };
                    let report = server.erase_tenant(&name)?;
                    server.flush_audit()?;
                    serde_json::to_value(report).map_err(|e| Error::Config(e.to_string()))?
                }
                sseek::ops::Reached::Server(http) => http.erase_tenant(&name)?,
            };
            println!(
                "erased tenant {name}: {} rows, {} API tokens; run `sseek compact` to reclaim the space",
                report["rows"], report["tokens"]
            );
        }
        Command::Export { target, out } => {
            if out.exists() {
                return Err(Error::Config(format!("{} exists; not overwriting", out.display())));
            }
            let client = target.open()?;
            let file = std::fs::File::create_new(&out).map_err(|e| Error::io(&out, e))?;
            let mut w = std::io::BufWriter::new(file);
            let pb = indicatif::ProgressBar::new(0);
            let n = client.export(&mut w, Some(&pb));
            pb.finish_and_clear();
            let n = n.inspect_err(|_| {
                let _ = std::fs::remove_file(&out);
            })?;
            println!("exported {n} messages to {}", out.display());
        }
        Command::Rotate { target, status, json, batch } => {
            let key = target.key.clone();
            let mut client = target.open()?;
            if status {
                let st = client.rotation_status()?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&st).map_err(|e| Error::Protocol(e.to_string()))?);
                } else {
                    match (st.epoch.previous, st.position) {
                        (Some(from), Some((after, end))) => println!(
                            "rotating from key version {from} to {}: {} of {} messages moved, walk at id {} of {end}",
                            st.epoch.current,
                            st.moved.unwrap_or(0),
                            st.documents,
                            after.map_or_else(|| "-".to_owned(), |a| a.to_string()),
                        ),
                        (Some(from), None) => {
                            println!("rotating from key version {from} to {}: not walked yet", st.epoch.current)
                        }
                        (None, _) => {
                            println!("at rest at key version {} ({} messages)", st.epoch.current, st.documents)
                        }
                    }
                    println!("key file holds versions {:?}", st.keyring_versions);
                }
                return Ok(ExitCode::SUCCESS);
            }
            let progress = if json { indicatif::ProgressBar::hidden() } else { indicatif::ProgressBar::new(0) };
            let options = sseek::client::rotation::RotationOptions { batch, progress: Some(progress.clone()) };
            let report = client.rotate(&mut |ring: &Keyring| ring.replace(&key), &options);
            progress.finish_and_clear();
            let report = report?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report).map_err(|e| Error::Protocol(e.to_string()))?);
            } else {
                println!(
                    "{} key version {} to {}: {} messages sealed and indexed again, {} already moved, in {:.2} s",
                    if report.resumed { "resumed and finished the rotation from" } else { "rotated from" },
                    report.from,
                    report.to,
                    report.moved,
                    report.skipped,
                    report.seconds
                );
                println!("version {} is removed from {}", report.from, key.display());
            }
        }
        Command::Forget { key, yes } => {
            if !yes {
                return Err(Error::Config("forget destroys the key for good; run again with --yes to confirm".into()));
            }
            let id = MasterKey::destroy_file(&key)?;
            println!("destroyed key {id} ({}); data it sealed can no longer be opened", key.display());
        }
        Command::Ops(command) => sseek::ops::run_cli(command)?,
        Command::Device { command } => sseek::device_cli::run_cli(command)?,
        Command::Index { target, dataset, growth, fp_budget } => {
            let corpus = datasets::load(&dataset)?;
            for e in corpus.skipped.iter().take(10) {
                eprintln!("skipped: {e}");
            }
            if corpus.skipped.len() > 10 {
                eprintln!("skipped {} more", corpus.skipped.len() - 10);
            }
            let mut client = target.open()?;
            let terms = client.terms(&corpus.messages);
            if client.schema().is_none() {
                let plans = plan_for_corpus(&terms, &default_index_specs(), fp_budget, 2.0, growth);
                for (d, p) in &plans {
                    println!(
                        "index {:<10} {:>2} bits, {:.1} values/token, ~{:.1} false positives/query",
                        d.name, d.bits, p.values_per_token, p.expected_false_positives
                    );
                }
                client.create_schema(plans.into_iter().map(|(d, _)| d).collect())?;
            }
            let pb = indicatif::ProgressBar::new(corpus.messages.len() as u64);
            let ids = client.add_messages_with_terms(&corpus.messages, &terms, Some(&pb))?;
            pb.finish_and_clear();
            println!(
                "indexed {} messages as ids {}..{} ({} skipped)",
                ids.len(),
                ids.start,
                ids.end,
                corpus.skipped.len()
            );
        }
        Command::Delete { target, ids } => {
            let mut client = target.open()?;
            let deleted = client.delete_messages(&ids)?;
            let missing: Vec<u32> = ids.iter().filter(|id| deleted.binary_search(id).is_err()).copied().collect();
            println!(
                "deleted {} message(s){}",
                deleted.len(),
                if missing.is_empty() { String::new() } else { format!("; no message under {missing:?}") }
            );
        }
        Command::Search { target, show, limit, query } => {
            let tenant = target.tenant.clone();
            let client = target.open()?;
            if client.schema().is_none() {
                return Err(Error::Config(format!("nothing indexed for tenant {tenant}")));
            }
            let q = Query::parse(&query, client.specs(), client.tokenizer())?;
            let out = match limit {
                Some(n) => {
                    let out = client.search_newest(&q, n)?;
                    println!(
                        "{} newest results ({} candidates, {} fetched, {} false positives filtered) for {q}",
                        out.ids.len(),
                        out.candidates,
                        out.fetched,
                        out.false_positives
                    );
                    out
                }
                None => {
                    let out = client.search(&q)?;
                    println!(
                        "{} results ({} candidates, {} false positives filtered) for {q}",
                        out.ids.len(),
                        out.candidates,
                        out.false_positives
                    );
                    out
                }
            };
            for (id, m) in out.messages.iter().take(show) {
                let preview: String = m.body.chars().take(100).collect::<String>().replace(['\n', '\r'], " ");
                println!("#{id} {} | {} | {} | {preview}", m.date, m.from, m.subject);
            }
            if show == 0 {
                println!("{:?}", out.ids);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
