//! Opening a database: URL handling, connection pools per backend, SQLite pragmas, migrations
//! and the write-transaction helper every multi-statement write goes through.

use std::path::Path;

use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, Executor, SqlSafeStr, Transaction};

use crate::DbError;
use crate::group::{Begin, GroupWriter, Job};
use crate::util::new_id;

/// Which engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the database: cheap to clone (it wraps connection pools).
#[derive(Clone)]
pub struct Db {
    pub(crate) backend: Backend,
    /// Plain reads. On PostgreSQL the same pool as `write`.
    pub(crate) read: AnyPool,
    /// Writes and read-then-write transactions. On SQLite one connection, because SQLite has a
    /// single writer anyway and queueing in the pool is cheaper than busy-waiting on the lock.
    pub(crate) write: AnyPool,
    /// The hot writes share group transactions (see `group`).
    pub(crate) group: GroupWriter,
    /// PostgreSQL only: the URL, to open the dedicated LISTEN connection (see `notify`).
    pub(crate) pg_url: Option<std::sync::Arc<str>>,
    /// Seals secret config values (see `secrets`); without one, storing a secret is refused.
    pub(crate) vault: Option<std::sync::Arc<VaultSlot>>,
    /// Executions this process created without awaiting the commit (see `pending`).
    pub(crate) pending: std::sync::Arc<crate::pending::PendingCreates>,
}

/// Loads the master keys again (from their key file) when a stored secret names a key this
/// process does not have yet: `weft keys rotate`, run beside a serving node, adds one.
pub type VaultLoader = Box<dyn Fn() -> Result<weft_vault::Vault, String> + Send + Sync>;

pub(crate) struct VaultSlot {
    current: std::sync::RwLock<std::sync::Arc<weft_vault::Vault>>,
    reload: Option<VaultLoader>,
    /// When the loader was last asked for keys added since (see [`Db::sealing_vault`]).
    checked: std::sync::Mutex<std::time::Instant>,
}

/// How stale the keys a process seals with may be: a node sealing a secret reloads its key
/// file when it last did longer ago than this, so a rotation made beside it (`weft keys
/// rotate`) is followed within this time and the rotation's later re-wrap pass finds what the
/// node sealed under the old key meanwhile.
pub const KEY_RECHECK: std::time::Duration = std::time::Duration::from_secs(2);

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("backend", &self.backend).finish_non_exhaustive()
    }
}

/// Migrations, in order: (version, description, SQLite SQL, PostgreSQL SQL). Embedded at
/// compile time; adding one means adding a file to both `migrations/` folders and a line here.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "schedules",
        include_str!("../migrations/sqlite/0002_schedules.sql"),
        include_str!("../migrations/postgres/0002_schedules.sql"),
    ),
    (
        3,
        "flow_control",
        include_str!("../migrations/sqlite/0003_flow_control.sql"),
        include_str!("../migrations/postgres/0003_flow_control.sql"),
    ),
    (
        4,
        "retention",
        include_str!("../migrations/sqlite/0004_retention.sql"),
        include_str!("../migrations/postgres/0004_retention.sql"),
    ),
    (
        5,
        "state",
        include_str!("../migrations/sqlite/0005_state.sql"),
        include_str!("../migrations/postgres/0005_state.sql"),
    ),
    (
        6,
        "queue_modes",
        include_str!("../migrations/sqlite/0006_queue_modes.sql"),
        include_str!("../migrations/postgres/0006_queue_modes.sql"),
    ),
    (
        7,
        "poll_state",
        include_str!("../migrations/sqlite/0007_poll_state.sql"),
        include_str!("../migrations/postgres/0007_poll_state.sql"),
    ),
    (
        8,
        "leases",
        include_str!("../migrations/sqlite/0008_leases.sql"),
        include_str!("../migrations/postgres/0008_leases.sql"),
    ),
    (
        9,
        "components",
        include_str!("../migrations/sqlite/0009_components.sql"),
        include_str!("../migrations/postgres/0009_components.sql"),
    ),
    (
        10,
        "component_pins",
        include_str!("../migrations/sqlite/0010_component_pins.sql"),
        include_str!("../migrations/postgres/0010_component_pins.sql"),
    ),
    (
        11,
        "instance_secrets",
        include_str!("../migrations/sqlite/0011_instance_secrets.sql"),
        include_str!("../migrations/postgres/0011_instance_secrets.sql"),
    ),
    (
        12,
        "master_key_checks",
        include_str!("../migrations/sqlite/0012_master_key_checks.sql"),
        include_str!("../migrations/postgres/0012_master_key_checks.sql"),
    ),
    (
        13,
        "oauth",
        include_str!("../migrations/sqlite/0013_oauth.sql"),
        include_str!("../migrations/postgres/0013_oauth.sql"),
    ),
    (
        14,
        "connection_source",
        include_str!("../migrations/sqlite/0014_connection_source.sql"),
        include_str!("../migrations/postgres/0014_connection_source.sql"),
    ),
    (
        15,
        "drop_executions_due",
        include_str!("../migrations/sqlite/0015_drop_executions_due.sql"),
        include_str!("../migrations/postgres/0015_drop_executions_due.sql"),
    ),
];

/// Read connections for a SQLite file; reads run in parallel under WAL.
const SQLITE_READERS: u32 = 6;
const POSTGRES_CONNECTIONS: u32 = 16;
/// Group-commit writer tasks on PostgreSQL (each holds one of the connections while writing).
const POSTGRES_WRITERS: usize = 3;

impl Db {
    /// Opens `sqlite:///abs/path/weft.db` (the file is created if missing; `sqlite::memory:` gives
    /// a private in-memory database) or `postgres://…`, and runs pending migrations.
    pub async fn open(url: &str) -> Result<Db, DbError> {
        install_default_drivers();
        let db = if let Some(rest) = url.strip_prefix("sqlite:") {
            Self::open_sqlite(rest).await?
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::open_postgres(url).await?
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            return Err(DbError::Invalid(format!(
                "database URL scheme `{scheme}:` is not supported: use sqlite:///path/to/weft.db or postgres://…"
            )));
        };
        db.migrate().await?;
        Ok(db)
    }

    /// The same database, sealing secrets with `vault` (every node of a fleet needs the same
    /// master keys).
    pub fn with_vault(mut self, vault: weft_vault::Vault) -> Db {
        let current = std::sync::RwLock::new(std::sync::Arc::new(vault));
        let checked = std::sync::Mutex::new(std::time::Instant::now());
        self.vault = Some(std::sync::Arc::new(VaultSlot { current, reload: None, checked }));
        self
    }

    /// The same database, sealing secrets with the vault `load` gives, and loading it again
    /// when a stored secret names a master key it lacks (a rotation by another process).
    pub fn with_vault_loader(mut self, load: VaultLoader) -> Result<Db, DbError> {
        let vault = load().map_err(DbError::Secret)?;
        let current = std::sync::RwLock::new(std::sync::Arc::new(vault));
        let checked = std::sync::Mutex::new(std::time::Instant::now());
        self.vault = Some(std::sync::Arc::new(VaultSlot { current, reload: Some(load), checked }));
        Ok(self)
    }

    /// The master keys secrets are sealed with now.
    pub fn vault(&self) -> Option<std::sync::Arc<weft_vault::Vault>> {
        self.vault.as_ref().map(|s| s.current.read().expect("vault lock").clone())
    }

    /// The master keys to seal a new secret with: as [`Db::vault`], first loaded again from
    /// the key file when that was last done more than [`KEY_RECHECK`] ago, so a key a rotation
    /// made current is the one new secrets get.
    pub(crate) fn sealing_vault(&self) -> Option<std::sync::Arc<weft_vault::Vault>> {
        if let Some(slot) = &self.vault
            && slot.reload.is_some()
        {
            let due = {
                let mut checked = slot.checked.lock().expect("vault check lock");
                let due = checked.elapsed() >= KEY_RECHECK;
                if due {
                    *checked = std::time::Instant::now();
                }
                due
            };
            if due {
                self.reload_vault();
            }
        }
        self.vault()
    }

    /// Loads the master keys again; `true` when that gave keys this process did not have.
    pub(crate) fn reload_vault(&self) -> bool {
        let Some(slot) = &self.vault else { return false };
        let Some(load) = &slot.reload else { return false };
        match load() {
            Ok(vault) => {
                let mut current = slot.current.write().expect("vault lock");
                let known = current.keyring().ids().iter().map(|s| s.to_string()).collect::<Vec<_>>();
                let new = vault.keyring().ids().iter().any(|id| !known.iter().any(|k| k == id));
                if new {
                    tracing::info!(keys = ?vault.keyring().ids(), "master keys reloaded: a key was added");
                    *current = std::sync::Arc::new(vault);
                }
                new
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot reload the master keys");
                false
            }
        }
    }

    /// Creates `dir` if needed and opens (or creates) `<dir>/weft.db`.
    pub async fn open_dir(dir: &Path) -> Result<Db, DbError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| DbError::Invalid(format!("cannot create data directory {}: {e}", dir.display())))?;
        let file = std::path::absolute(dir.join("weft.db"))
            .map_err(|e| DbError::Invalid(format!("cannot resolve data directory {}: {e}", dir.display())))?;
        let file = file
            .to_str()
            .ok_or_else(|| DbError::Invalid(format!("data directory path {} is not valid UTF-8", dir.display())))?;
        // The SQLite driver percent-decodes the path, so escape what would end or alter it.
        let escaped = file.replace('%', "%25").replace('?', "%3F").replace('#', "%23");
        Self::open(&format!("sqlite://{escaped}")).await
    }

    /// Which engine this database runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database answers (for readiness probes).
    pub async fn ping(&self) -> Result<(), DbError> {
        self.read.execute("SELECT 1").await?;
        Ok(())
    }

    /// `rest` is the URL after `sqlite:`.
    async fn open_sqlite(rest: &str) -> Result<Db, DbError> {
        let (path, params) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let path = path.trim_start_matches("//");
        let has_param = |name: &str| params.is_some_and(|q| q.split('&').any(|kv| kv.split('=').next() == Some(name)));
        let memory =
            path.is_empty() || path == ":memory:" || params.is_some_and(|q| q.split('&').any(|kv| kv == "mode=memory"));

        if memory {
            // A named in-memory database that lives as long as its one connection: the pool
            // must never close it (idle timeout / max lifetime), or the data would vanish.
            let url = format!("sqlite:file:{}?mode=memory", new_id("weft_memory"));
            let pool = AnyPoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect(&url)
                .await?;
            let group = GroupWriter::start(pool.clone(), Begin::Immediate, 1);
            return Ok(Db {
                backend: Backend::Sqlite,
                read: pool.clone(),
                write: pool,
                group,
                pg_url: None,
                vault: None,
                pending: Default::default(),
            });
        }

        let url = if has_param("mode") {
            format!("sqlite://{path}?{}", params.unwrap_or_default())
        } else {
            match params {
                Some(q) if !q.is_empty() => format!("sqlite://{path}?{q}&mode=rwc"),
                _ => format!("sqlite://{path}?mode=rwc"),
            }
        };
        // synchronous=NORMAL is per connection; with WAL it keeps every commit safe from a
        // process crash (a power loss may drop the last commits) and makes commits cheap.
        // foreign_keys=ON and busy_timeout=5s are the driver's defaults.
        let options = || {
            AnyPoolOptions::new().after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute("PRAGMA synchronous = NORMAL").await?;
                    Ok(())
                })
            })
        };
        let write = options().max_connections(1).connect(&url).await?;
        // WAL is a property of the file (persisted), so set it once before the readers connect.
        write.execute("PRAGMA journal_mode = WAL").await?;
        let read = options().max_connections(SQLITE_READERS).connect(&url).await?;
        let group = GroupWriter::start(write.clone(), Begin::Immediate, 1);
        Ok(Db { backend: Backend::Sqlite, read, write, group, pg_url: None, vault: None, pending: Default::default() })
    }

    async fn open_postgres(url: &str) -> Result<Db, DbError> {
        let pool = AnyPoolOptions::new().max_connections(POSTGRES_CONNECTIONS).connect(url).await?;
        let group = GroupWriter::start(pool.clone(), Begin::Plain, POSTGRES_WRITERS);
        Ok(Db {
            backend: Backend::Postgres,
            read: pool.clone(),
            write: pool,
            group,
            pg_url: Some(url.into()),
            vault: None,
            pending: Default::default(),
        })
    }

    /// Applies pending migrations (idempotent; on PostgreSQL serialized across nodes by the
    /// migrator's advisory lock).
    async fn migrate(&self) -> Result<(), DbError> {
        let migrations = MIGRATIONS
            .iter()
            .map(|&(version, description, sqlite, postgres)| {
                let sql = match self.backend {
                    Backend::Sqlite => sqlite,
                    Backend::Postgres => postgres,
                };
                Migration::new(version, description.into(), MigrationType::Simple, sql.into_sql_str(), false)
            })
            .collect();
        Migrator::with_migrations(migrations).run(&self.write).await?;
        Ok(())
    }

    /// Runs a re-runnable write in the next group transaction of this process.
    pub(crate) async fn write_job(&self, job: Job) -> Result<(), DbError> {
        self.group.write(job).await
    }

    /// Starts a write transaction. On SQLite `BEGIN IMMEDIATE` takes the write lock up front: a
    /// deferred transaction that reads first and writes later can fail with SQLITE_BUSY when
    /// another process wrote in between, and no busy timeout can resolve that.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Any>, DbError> {
        Ok(match self.backend {
            Backend::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.write.begin().await?,
        })
    }
}
