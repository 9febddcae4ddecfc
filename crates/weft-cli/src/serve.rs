//! `weft serve`, `weft migrate` and `weft token create`: open the database (running its
//! migrations), make sure the organization exists, and run the roles this process was asked
//! for: `api` (HTTP), `runner` (claims and drives executions), `scheduler`.

use anyhow::{Context, Result, bail};
use clap::Args;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use weft_api::{ApiConfig, AppState};
use weft_components::{EgressGuard, Registry};
use weft_db::Db;
use weft_model::Role;
use weft_worker::{Scheduler, SchedulerConfig, Worker, WorkerConfig};

/// Where the database is: a data directory (embedded SQLite) or a database URL.
#[derive(Args, Clone)]
pub struct DbArgs {
    /// Directory of the embedded SQLite database.
    #[arg(long, env = "WEFT_DATA_DIR", default_value = "./weft-data")]
    pub data_dir: PathBuf,
    /// Database URL (`postgres://…` or `sqlite://…`); overrides --data-dir.
    #[arg(long, env = "WEFT_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl DbArgs {
    /// Opens the database, sealing secrets with the master keys: `WEFT_MASTER_KEY` when set
    /// (every node of a fleet must have the same), else the data directory's key file, created
    /// (mode 0600) on first start.
    async fn open(&self) -> Result<Db> {
        let db = match &self.database_url {
            Some(url) => {
                Db::open(url).await.with_context(|| format!("cannot open the database at {}", redact_url(url)))?
            }
            None => Db::open_dir(&self.data_dir)
                .await
                .with_context(|| format!("cannot open the database in {}", self.data_dir.display()))?,
        };
        let db = match std::env::var("WEFT_MASTER_KEY") {
            Ok(v) if !v.trim().is_empty() => {
                db.with_vault(Vault::new(Keyring::from_env_value(&v).context("WEFT_MASTER_KEY")?))
            }
            // From the key file, read again when a secret names a key added since (a rotation).
            _ => {
                std::fs::create_dir_all(&self.data_dir)
                    .with_context(|| format!("cannot create the data directory {}", self.data_dir.display()))?;
                let file = self.key_file();
                let load = move || Keyring::load_or_create_file(&file).map(Vault::new).map_err(|e| e.to_string());
                db.with_vault_loader(Box::new(load))?
            }
        };
        db.check_master_keys(now_ms()).await?;
        Ok(db)
    }

    fn key_file(&self) -> PathBuf {
        self.data_dir.join("master.key")
    }
}

#[derive(Args)]
pub struct RotateArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Instances re-wrapped per database read.
    #[arg(long, default_value_t = 200)]
    batch: u32,
}

/// `weft keys rotate`: a new master key in the key file becomes current, and every stored secret's
/// data key is re-wrapped under it, in batches, while the server keeps running. With
/// `WEFT_MASTER_KEY`, the operator adds the new key (last in the list) to every node first; this
/// then only re-wraps.
pub async fn keys_rotate(args: RotateArgs) -> Result<()> {
    let from_env = std::env::var("WEFT_MASTER_KEY").is_ok_and(|v| !v.trim().is_empty());
    if !from_env {
        // Opening first creates the key file if there is none yet.
        args.db.open().await?;
        let id = Keyring::rotate_file(args.db.key_file())?;
        eprintln!("Added master key {id} to {} (now current).", args.db.key_file().display());
    }
    let db = args.db.open().await?;
    let Some(vault) = db.vault() else { anyhow::bail!("no master key is configured") };
    let current = vault.keyring().current_id().to_string();
    let old: Vec<String> = vault.keyring().ids().iter().filter(|id| **id != current).map(|id| id.to_string()).collect();
    // Nodes running beside this command seal with the old key until they notice the new one
    // (within KEY_RECHECK): passes repeat, a little longer apart than that, until none is left.
    let settle = weft_db::KEY_RECHECK + std::time::Duration::from_secs(1);
    let mut total = db.rewrap_secrets(args.batch).await?;
    if !from_env {
        tokio::time::sleep(settle).await;
        total += db.rewrap_secrets(args.batch).await?;
    }
    let mut left = 0;
    for _ in 0..5 {
        left = 0;
        for id in &old {
            left += db.secrets_under_key(id).await?;
        }
        if left == 0 {
            break;
        }
        tokio::time::sleep(settle).await;
        total += db.rewrap_secrets(args.batch).await?;
    }
    eprintln!("Re-wrapped the secrets of {total} instance(s) and OAuth record(s) under master key {current}.");
    if left == 0 {
        eprintln!("Nothing is left under the older master keys ({}).", old.join(", "));
        Ok(())
    } else {
        anyhow::bail!(
            "{left} sealed value(s) are still under older master keys: a node may not have the new key; run again"
        )
    }
}

#[derive(Args)]
pub struct KeyStatusArgs {
    #[command(flatten)]
    db: DbArgs,
}

/// `weft keys status`: each master key and how many sealed values it holds.
pub async fn keys_status(args: KeyStatusArgs) -> Result<()> {
    let db = args.db.open().await?;
    let Some(vault) = db.vault() else { anyhow::bail!("no master key is configured") };
    let current = vault.keyring().current_id().to_string();
    for id in vault.keyring().ids() {
        let n = db.secrets_under_key(id).await?;
        let mark = if id == current { " (current)" } else { "" };
        println!("{id}{mark}: {n} sealed record(s)");
    }
    Ok(())
}

use weft_vault::{Keyring, Vault};

fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServeRole {
    Api,
    Runner,
    Scheduler,
}

#[derive(Args)]
pub struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on.
    #[arg(long, env = "WEFT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Base URL webhook URLs are built on (default: http://<listen address>).
    #[arg(long, env = "WEFT_PUBLIC_URL")]
    public_url: Option<String>,
    /// Roles this process runs (repeatable); default all.
    #[arg(long = "role", value_enum)]
    roles: Vec<ServeRole>,
    /// Address ranges components may reach although private (e.g. 127.0.0.1/32); also
    /// WEFT_EGRESS_ALLOW, comma-separated.
    #[arg(long = "egress-allow", env = "WEFT_EGRESS_ALLOW", value_delimiter = ',')]
    egress_allow: Vec<ipnet::IpNet>,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "WEFT_BODY_LIMIT", default_value_t = 32 << 20)]
    body_limit: usize,
    /// Seed the reference example, a demo customer and instance, and print a curl that runs it.
    #[arg(long)]
    demo: bool,
    /// How long a runner's claim on an execution lasts without renewal; after a crash, another
    /// runner resumes the execution once it has expired.
    #[arg(long, env = "WEFT_LEASE_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(100..))]
    lease_ms: u64,
    /// On shutdown (SIGTERM, Ctrl-C), how long a runner waits for executions in flight before
    /// it stops them and hands them back to the queue for another runner to resume.
    #[arg(long, env = "WEFT_DRAIN_TIMEOUT_MS", default_value_t = 25_000)]
    drain_timeout_ms: u64,
    /// How many executions a runner drives at once (more wait in the queue for this or another
    /// runner). Executions mostly wait on third-party APIs, so this is far above the core count.
    #[arg(long, env = "WEFT_RUNNER_CONCURRENCY", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    runner_concurrency: u32,
    /// Log format on stderr.
    #[arg(long, env = "WEFT_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Args)]
pub struct TokenArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Role of the new token.
    #[arg(long, default_value = "admin")]
    role: Role,
    /// What the token is for.
    #[arg(long)]
    name: Option<String>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("WEFT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

pub async fn token_create(args: TokenArgs) -> Result<()> {
    let db = args.db.open().await?;
    let (org, _) = db.ensure_organization("default", now_ms()).await?;
    let name = args.name.unwrap_or_else(|| format!("{} token (cli)", args.role.name()));
    let (_, token) = db.create_token(&org.id, &name, args.role, now_ms()).await?;
    println!("{token}");
    Ok(())
}

/// Applies pending migrations and exits (`weft serve` does so too; this lets a deployment
/// migrate once, before rolling out new nodes).
pub async fn migrate(args: MigrateArgs) -> Result<()> {
    args.db.open().await?;
    eprintln!("The database is up to date.");
    Ok(())
}

pub async fn serve(args: ServeArgs) -> Result<()> {
    init_tracing(args.log_format);
    let roles = if args.roles.is_empty() {
        vec![ServeRole::Api, ServeRole::Runner, ServeRole::Scheduler]
    } else {
        args.roles.clone()
    };
    let db = args.db.open().await?;
    let (org, created) = db.ensure_organization("default", now_ms()).await?;
    // Only the api role takes the port: several runners may share a machine.
    let listener = if roles.contains(&ServeRole::Api) {
        Some(
            tokio::net::TcpListener::bind(args.listen)
                .await
                .with_context(|| format!("cannot listen on {}", args.listen))?,
        )
    } else {
        None
    };
    let addr = match &listener {
        Some(l) => l.local_addr()?,
        None => args.listen,
    };
    // The address this process is reached at from this machine: with `--listen 0.0.0.0:…`
    // (as in a container) a URL naming 0.0.0.0 is not one a client or the egress guard accepts.
    let local = local_address(addr);
    let local_url = format!("http://{local}");
    let public_url = args.public_url.clone().unwrap_or_else(|| local_url.clone());
    let mut egress = args.egress_allow.clone();
    if args.demo {
        // The demo's "customer API" is served by this process on loopback.
        egress.push(ipnet::IpNet::from(local.ip()));
    }
    let egress = EgressGuard::new(egress);
    let registry = Arc::new(Registry::builtin(egress.clone()));
    let node_id = format!("node-{}-{}", std::process::id(), &uuid_suffix());
    let mut worker_cfg = WorkerConfig::new(node_id);
    worker_cfg.lease = std::time::Duration::from_millis(args.lease_ms);
    worker_cfg.drain_timeout = std::time::Duration::from_millis(args.drain_timeout_ms);
    worker_cfg.concurrency = args.runner_concurrency as usize;
    // Custom components are told their instance's webhook URLs (to register callbacks).
    worker_cfg.public_url = Some(public_url.clone());
    // Custom components: the same egress policy as built-in HTTP; compiled code cached beside
    // the data (or in ./weft-data when the database is PostgreSQL).
    worker_cfg.wasm = weft_wasm::WasmHostConfig {
        cache_dir: Some(args.db.data_dir.join("component-cache")),
        egress,
        ..Default::default()
    };
    let worker = Worker::new(db.clone(), registry, worker_cfg);
    if created {
        let (_, token) = db.create_token(&org.id, "first owner token", Role::Owner, now_ms()).await?;
        eprintln!("Created the organization. Owner API token (shown once, keep it):\n  {token}");
    }
    let demo =
        if args.demo { Some(crate::demo::seed(&db, &org.id, &worker, &public_url, &local_url).await?) } else { None };

    // Secrets written before they were sealed (an older Weft) are sealed now, in the background.
    {
        let w = worker.clone();
        tokio::spawn(async move {
            match w.seal_plain_secrets().await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(instances = n, "sealed secret config values stored in plaintext by an older Weft")
                }
                Err(e) => tracing::warn!(error = %e, "could not seal secret config values stored in plaintext"),
            }
        });
    }
    let shutdown = shutdown_signal();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    if roles.contains(&ServeRole::Runner) {
        let w = worker.clone();
        let mut rx = stop_rx.clone();
        tasks.spawn(async move {
            w.run_loop(async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await;
        });
    }
    let state = AppState::new(db.clone(), worker.clone(), {
        let mut c = ApiConfig::new(public_url.clone());
        c.body_limit = args.body_limit;
        c.demo_fulfilment = args.demo;
        // Without the runner role, accepted executions go to the fleet's runners.
        c.run_locally = roles.contains(&ServeRole::Runner);
        c
    });
    if roles.contains(&ServeRole::Scheduler) {
        let scheduler = Scheduler::new(db.clone(), worker.clone(), SchedulerConfig::default());
        let mut rx = stop_rx.clone();
        tasks.spawn(async move {
            scheduler
                .run(async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await;
        });
    }
    if let Some(listener) = listener {
        let mut rx = stop_rx.clone();
        let st = state.clone();
        tasks.spawn(async move {
            let stop = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            if let Err(e) = weft_api::serve(listener, st, stop).await {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
        tracing::info!(%addr, "listening");
        eprintln!("Weft is listening on http://{addr}");
    }
    if let Some(d) = demo {
        d.print();
    }
    shutdown.await;
    tracing::info!("shutting down: draining");
    state.set_ready(false);
    let _ = stop_tx.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    // The runner hands back what it could not finish within its drain timeout; this bound only
    // catches a shutdown that hangs past that (slow HTTP clients, an unreachable database).
    let bound = std::time::Duration::from_millis(args.drain_timeout_ms) + std::time::Duration::from_secs(5);
    if tokio::time::timeout(bound, drain).await.is_err() {
        bail!("shutdown did not finish within {}s; leases still held expire and other runners resume", bound.as_secs());
    }
    Ok(())
}

/// `addr` with an unspecified IP (`0.0.0.0`, `::`) replaced by the loopback address of the same
/// family: where a process on this machine connects to reach the listener.
fn local_address(addr: SocketAddr) -> SocketAddr {
    let ip: IpAddr = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(ip) if ip.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

fn uuid_suffix() -> String {
    let mut b = [0u8; 4];
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_address_replaces_unspecified_ips_with_loopback() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(local_address(addr("0.0.0.0:8080")), addr("127.0.0.1:8080"));
        assert_eq!(local_address(addr("[::]:8080")), addr("[::1]:8080"));
        assert_eq!(local_address(addr("192.168.1.5:80")), addr("192.168.1.5:80"));
        assert_eq!(local_address(addr("127.0.0.1:41221")), addr("127.0.0.1:41221"));
    }
}
