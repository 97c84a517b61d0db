//! The database: one `sqlx::AnyPool` over SQLite (embedded default, WAL) or PostgreSQL (production).
//!
//! SQL shared by both dialects uses `$1` placeholders, which both accept. Each dialect has its own
//! migrations directory, because DDL differs; their schemas must stay equivalent.

use std::str::FromStr;
use std::time::Duration;

use sqlx::{
    any::{install_default_drivers, AnyPoolOptions},
    migrate::Migrator,
    sqlite::SqliteConnectOptions,
    AnyPool, ConnectOptions, Executor,
};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which SQL dialect a pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: the embedded default.
    Sqlite,
    /// PostgreSQL: production and scale-out.
    Postgres,
}

impl Dialect {
    /// The dialect of a `DATABASE_URL`.
    pub fn of_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres)
        } else {
            anyhow::bail!("DATABASE_URL must start with sqlite: or postgres://")
        }
    }
}

/// A connection pool and the dialect it speaks.
#[derive(Debug, Clone)]
pub struct Db {
    /// The pool.
    pub pool: AnyPool,
    /// Its dialect.
    pub dialect: Dialect,
}

/// Connects to `url`. SQLite files are created if missing and put in WAL mode.
pub async fn connect(url: &str) -> anyhow::Result<Db> {
    install_default_drivers();
    let dialect = Dialect::of_url(url)?;
    if dialect == Dialect::Sqlite {
        // Create the file (and check the URL) before the Any driver opens it.
        let opts = SqliteConnectOptions::from_str(url)?.create_if_missing(true);
        let mut conn = opts.connect().await?;
        conn.execute("PRAGMA journal_mode = WAL").await?;
    }
    let pool = AnyPoolOptions::new()
        .max_connections(if dialect == Dialect::Sqlite { 4 } else { 10 })
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                if dialect == Dialect::Sqlite {
                    conn.execute("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL")
                        .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await?;
    Ok(Db { pool, dialect })
}

/// Applies the migrations of the pool's dialect.
pub async fn migrate(db: &Db) -> anyhow::Result<()> {
    let migrator = match db.dialect {
        Dialect::Sqlite => &SQLITE_MIGRATIONS,
        Dialect::Postgres => &POSTGRES_MIGRATIONS,
    };
    migrator.run(&db.pool).await?;
    Ok(())
}

/// Checks that the database answers.
pub async fn ping(db: &Db) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(&db.pool).await.map(|_| ())
}
