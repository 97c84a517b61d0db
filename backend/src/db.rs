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

/// Connections in a SQLite pool (one writes at a time; WAL lets the others read meanwhile).
pub const SQLITE_POOL_SIZE: u32 = 4;

/// Connections in a PostgreSQL pool.
pub const POSTGRES_POOL_SIZE: u32 = 10;

/// A connection pool and the dialect it speaks.
#[derive(Debug, Clone)]
pub struct Db {
    /// The pool.
    pub pool: AnyPool,
    /// Its dialect.
    pub dialect: Dialect,
}

/// Connects to `url`. SQLite files are created if missing and put in WAL mode; every connection
/// commits durably (SQLite `synchronous = FULL`, PostgreSQL `synchronous_commit = on`).
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
        .max_connections(match dialect {
            Dialect::Sqlite => SQLITE_POOL_SIZE,
            Dialect::Postgres => POSTGRES_POOL_SIZE,
        })
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                match dialect {
                    // FULL: a commit is synced before it returns, so an acknowledged webhook
                    // survives power loss (NORMAL in WAL mode may lose the last commits).
                    Dialect::Sqlite => {
                        conn.execute(
                            "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL",
                        )
                        .await?;
                    }
                    // PostgreSQL's default, stated so a server-wide `off` cannot weaken it.
                    Dialect::Postgres => {
                        conn.execute("SET synchronous_commit = on").await?;
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every pooled SQLite connection syncs each commit: `PRAGMA synchronous` reads 2 (FULL).
    #[tokio::test]
    async fn every_pooled_sqlite_connection_commits_durably() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("durable.db").display());
        let db = connect(&url).await.expect("connect");
        let mut held = Vec::new();
        for _ in 0..SQLITE_POOL_SIZE {
            let mut conn = db.pool.acquire().await.expect("acquire");
            let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut *conn)
                .await
                .expect("pragma");
            assert_eq!(level, 2, "PRAGMA synchronous on a pooled connection");
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut *conn)
                .await
                .expect("pragma");
            assert_eq!(mode, "wal");
            held.push(conn);
        }
        assert_eq!(
            db.pool.size(),
            SQLITE_POOL_SIZE,
            "the test held every connection of the pool"
        );
    }
}
