//! Dialtone's store: Unified CM's administrator model on SQLite (default) or PostgreSQL.
//!
//! The only crate that knows SQL. One set of migrations runs on both databases through sqlx's
//! `Any` driver; queries use `$N` placeholders in ascending order, which both accept.
#![forbid(unsafe_code)]

pub mod bulk;
pub mod calendar;
pub mod calls;
pub mod catalogue;
pub mod directory;
pub mod em;
pub mod live;
pub mod parameters;
pub mod phones;
pub mod plan;
pub mod records;
pub mod secrets;
pub mod webdialer;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyConnection, AnyPool, Connection, Executor, Row};

pub use records::{ListPage, ListQuery, Val, WriteContext};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{field}: {message}")]
    Conflict { field: String, message: String },
    #[error("{message}")]
    InUse { message: String },
    #[error("no {resource} '{key}'")]
    NotFound { resource: &'static str, key: String },
    /// The database is too busy to take the request now (every connection in use): try again.
    #[error("the database is busy")]
    Busy,
    #[error("database: {0}")]
    Database(DatabaseError),
    #[error("migration: {0}")]
    Migration(String),
    #[error("internal: {0}")]
    Internal(String),
}

/// A database failure, kept whole for the store's own use (constraints); other crates see its
/// message only, so none of them depends on the database driver.
#[derive(Debug)]
pub struct DatabaseError(sqlx::Error);

impl std::fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        match e {
            sqlx::Error::PoolTimedOut => StoreError::Busy,
            e => StoreError::Database(DatabaseError(e)),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> StoreError {
        StoreError::Migration(e.to_string())
    }
}

impl StoreError {
    /// A constraint the database enforced after our own checks passed (a race between two
    /// writers): report it as the conflict it is rather than as a server fault.
    pub fn from_constraint(self) -> StoreError {
        if let StoreError::Database(DatabaseError(sqlx::Error::Database(db))) = &self {
            let msg = db.message().to_string();
            if db.is_unique_violation() {
                return StoreError::Conflict {
                    field: String::new(),
                    message: msg,
                };
            }
            if db.is_foreign_key_violation() {
                return StoreError::InUse { message: msg };
            }
        }
        self
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    ctx: WriteContext,
    /// SQLite has one writer. A transaction that reads and then writes fails with "database is
    /// locked" when another writer committed in between, so on SQLite this node's write
    /// transactions take turns (readers never wait: WAL).
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Counts committed configuration writes made through this handle (and its clones), so
    /// snapshots built from the store know when to rebuild.
    changes: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
    /// How far each snapshot that follows the store has got: the change each was last built
    /// from (see [`Store::applied`]).
    followers: std::sync::Arc<std::sync::Mutex<Vec<std::sync::Weak<std::sync::atomic::AtomicU64>>>>,
}

impl Store {
    /// Connect and bring the schema up to date. SQLite runs in WAL mode with foreign keys on.
    pub async fn open(url: &str, realm: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of(url)
            .ok_or_else(|| StoreError::Internal(format!("unsupported database URL '{url}'")))?;
        let (url, max) = match backend {
            Backend::Sqlite => {
                let sep = if url.contains('?') { '&' } else { '?' };
                let url = if url.contains("mode=") {
                    url.to_string()
                } else {
                    format!("{url}{sep}mode=rwc")
                };
                // SQLite has one writer; a small pool keeps readers concurrent.
                (url, 4)
            }
            Backend::Postgres => (url.to_string(), 16),
        };
        let opts = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Store {
            pool,
            backend,
            ctx: WriteContext {
                realm: realm.to_string(),
            },
            writer: Default::default(),
            changes: std::sync::Arc::new(tokio::sync::watch::channel(0).0),
            followers: Default::default(),
        })
    }

    /// Hold this while a write transaction runs (a no-op on PostgreSQL).
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite => Some(self.writer.lock().await),
            Backend::Postgres => None,
        }
    }

    /// Watch committed configuration changes (the value counts them).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub(crate) fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Committed configuration changes so far.
    pub fn change_count(&self) -> u64 {
        *self.changes.borrow()
    }

    /// The change every snapshot following the store has taken in (built from, or tried to
    /// and kept its previous value): once this reaches [`Store::change_count`], every
    /// committed change is in effect. Tests wait on it instead of sleeping.
    pub fn applied(&self) -> u64 {
        let mut followers = self.followers.lock().expect("followers");
        followers.retain(|f| f.strong_count() > 0);
        followers
            .iter()
            .filter_map(|f| f.upgrade())
            .map(|f| f.load(std::sync::atomic::Ordering::SeqCst))
            .min()
            .unwrap_or_else(|| self.change_count())
    }

    /// A snapshot that follows the store reports its progress through the returned counter.
    pub(crate) fn follower(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        let progress = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        self.followers
            .lock()
            .expect("followers")
            .push(std::sync::Arc::downgrade(&progress));
        progress
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn write_context(&self) -> &WriteContext {
        &self.ctx
    }

    /// Whether the database answers (for `/ready`).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Run `f` in one transaction: all of it is committed, or none of it.
    pub async fn transaction<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        F: for<'c> FnOnce(
            &'c mut AnyConnection,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'c>,
        >,
    {
        let _turn = self.write_turn().await;
        let mut conn = self.pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let out = f(&mut tx).await;
        match out {
            Ok(v) => {
                tx.commit().await?;
                self.changed();
                Ok(v)
            }
            Err(e) => {
                tx.rollback().await?;
                Err(e.from_constraint())
            }
        }
    }

    pub async fn create(
        &self,
        res: &'static catalogue::Resource,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, StoreError> {
        let ctx = self.ctx.clone();
        let body = body.clone();
        self.transaction(move |c| {
            Box::pin(async move { records::create(c, &ctx, res, &body).await })
        })
        .await
    }

    pub async fn update(
        &self,
        res: &'static catalogue::Resource,
        key: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, StoreError> {
        let ctx = self.ctx.clone();
        let body = body.clone();
        let key = key.to_string();
        self.transaction(move |c| {
            Box::pin(async move { records::update(c, &ctx, res, &key, &body).await })
        })
        .await
    }

    pub async fn delete(
        &self,
        res: &'static catalogue::Resource,
        key: &str,
    ) -> Result<(), StoreError> {
        let key = key.to_string();
        self.transaction(move |c| Box::pin(async move { records::delete(c, res, &key).await }))
            .await
    }

    pub async fn get(
        &self,
        res: &'static catalogue::Resource,
        key: &str,
    ) -> Result<serde_json::Value, StoreError> {
        let mut conn = self.pool.acquire().await?;
        records::get(&mut conn, res, key).await
    }

    pub async fn list(
        &self,
        res: &'static catalogue::Resource,
        q: &ListQuery,
    ) -> Result<ListPage, StoreError> {
        let mut conn = self.pool.acquire().await?;
        records::list(&mut conn, res, q).await
    }

    // -----------------------------------------------------------------------------------------
    // Application users and API tokens

    /// The stored password hash and roles of an application user.
    pub async fn application_user_auth(
        &self,
        user_id: &str,
    ) -> Result<Option<(String, Option<String>, Vec<String>)>, StoreError> {
        let row = records::query_with(
            "SELECT id, password_hash FROM application_user WHERE user_id = $1",
            &[Val::Text(user_id.into())],
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get(0)?;
        let hash: Option<String> = row.try_get(1)?;
        let roles = self.roles_of(&id).await?;
        Ok(Some((id, hash, roles)))
    }

    async fn roles_of(&self, app_user_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(records::query_with(
            "SELECT value FROM application_user_roles WHERE owner_id = $1 ORDER BY position",
            &[Val::Text(app_user_id.into())],
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect())
    }

    /// How many application users hold `role`.
    pub async fn count_with_role(&self, role: &str) -> Result<i64, StoreError> {
        let row = records::query_with(
            "SELECT COUNT(*) FROM application_user_roles WHERE value = $1",
            &[Val::Text(role.into())],
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get(0)?)
    }

    /// Store a bearer token for an application user; returns the token to hand out.
    pub async fn issue_token(
        &self,
        app_user_id: &str,
        lifetime: Duration,
    ) -> Result<(String, i64), StoreError> {
        let (token, digest) = secrets::new_token();
        let now = now_ms();
        let expires = now + lifetime.as_millis() as i64;
        records::query_with(
            "INSERT INTO api_token (token_hash, application_user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            &[
                Val::Text(digest),
                Val::Text(app_user_id.into()),
                Val::Int(now),
                Val::Int(expires),
            ],
        )
        .execute(&self.pool)
        .await?;
        Ok((token, expires))
    }

    /// The application user (user ID and roles) a live token belongs to.
    pub async fn token_user(
        &self,
        token: &str,
    ) -> Result<Option<(String, Vec<String>)>, StoreError> {
        let row = records::query_with(
            "SELECT a.id, a.user_id FROM api_token t JOIN application_user a ON a.id = t.application_user_id WHERE t.token_hash = $1 AND t.expires_at > $2",
            &[Val::Text(secrets::token_digest(token)), Val::Int(now_ms())],
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get(0)?;
        let user: String = row.try_get(1)?;
        let roles = self.roles_of(&id).await?;
        Ok(Some((user, roles)))
    }

    pub async fn revoke_token(&self, token: &str) -> Result<bool, StoreError> {
        let done = records::query_with(
            "DELETE FROM api_token WHERE token_hash = $1",
            &[Val::Text(secrets::token_digest(token))],
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether any end user exists (demo data is loaded only into an empty database).
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM end_user")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)? == 0)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What the registrar needs to know of a device, found by its digest user name.
#[derive(Debug, Clone)]
pub struct DeviceCredentials {
    pub device: String,
    pub ha1_md5: Option<String>,
    pub ha1_sha256: Option<String>,
    /// The directory numbers of its line appearances, in button order.
    pub lines: Vec<String>,
}

impl Store {
    /// The device whose digest user name (or, without one, whose device name) is `user`.
    pub async fn device_credentials(
        &self,
        user: &str,
    ) -> Result<Option<DeviceCredentials>, StoreError> {
        let row = records::query_with(
            "SELECT id, name, digest_ha1_md5, digest_ha1_sha256 FROM device \
             WHERE digest_user = $1 OR (digest_user IS NULL AND name = $1)",
            &[Val::Text(user.into())],
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get(0)?;
        let lines = records::query_with(
            "SELECT dn.pattern FROM line_appearance la \
             JOIN directory_number dn ON dn.id = la.directory_number_id \
             WHERE la.device_id = $1 ORDER BY la.line_index",
            &[Val::Text(id)],
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
        Ok(Some(DeviceCredentials {
            device: row.try_get(1)?,
            ha1_md5: row.try_get(2)?,
            ha1_sha256: row.try_get(3)?,
            lines,
        }))
    }
}
