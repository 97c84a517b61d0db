//! What the backend's benchmarks share: a fresh database of either dialect, settings, peak RSS and
//! writing the flat JSON result file that `cargo xtask bench` reads.

#![allow(dead_code)] // Each benchmark uses part of this module.

use std::path::PathBuf;

use rulebook::{config::Settings, db};
use serde_json::{json, Value};
use sqlx::{Connection, Executor};

/// A database created for one benchmark run and removed afterwards.
pub struct BenchDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    postgres_name: Option<String>,
}

fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

impl BenchDatabase {
    /// A new SQLite file in a temp directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        Self {
            url,
            _dir: Some(dir),
            postgres_name: None,
        }
    }

    /// A new database on the PostgreSQL server at `TEST_POSTGRES_URL`.
    pub async fn postgres() -> Self {
        let admin = postgres_admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {admin}: {e}"));
        let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create bench database");
        let mut url = url::Url::parse(&admin).expect("URL");
        url.set_path(&name);
        Self {
            url: url.to_string(),
            _dir: None,
            postgres_name: Some(name),
        }
    }

    /// Connects and migrates.
    pub async fn connect(&self) -> db::Db {
        let db = db::connect(&self.url).await.expect("connect");
        db::migrate(&db).await.expect("migrate");
        db
    }

    /// Drops the PostgreSQL database (the SQLite directory goes with `self`).
    pub async fn remove(self) {
        if let Some(name) = &self.postgres_name {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                let _ = conn
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await;
            }
        }
    }
}

/// Settings for a benchmark app on `database_url`.
pub fn settings(database_url: &str) -> Settings {
    figment::Figment::new()
        .merge(figment::providers::Serialized::defaults(json!({
            "bind": "127.0.0.1:0",
            "database_url": database_url,
            "public_url": "http://127.0.0.1",
            "kommo_client_id": "bench-client",
            "kommo_client_secret": "bench-secret",
            "cors_origin_suffixes": [],
            "cors_extra_origins": [],
            "token_leeway_s": 5,
        })))
        .extract()
        .expect("bench settings")
}

/// The process's peak resident set size in MB (VmHWM).
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| (kb / 1024.0 * 10.0).round() / 10.0)
}

/// Writes `result` to `RULEBOOK_BENCH_OUT`, or `target/bench/<name>.json` under the workspace root.
pub fn write_result(name: &str, result: &Value) {
    let path = std::env::var_os("RULEBOOK_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
                .join("bench")
                .join(format!("{name}.json"))
        });
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("bench output directory");
    }
    std::fs::write(&path, serde_json::to_string_pretty(result).expect("json"))
        .expect("write bench result");
    println!("wrote {}", path.display());
}
