//! The ids (`jti`) of disposable tokens already used, so that a token is accepted once. Shared by
//! every process on the database; a row lives until its token expires (after that the verifier
//! refuses the token anyway) and is then pruned.

use crate::db::Db;

/// Records the first use of the token `jti`, which expires at `expires_at` (Unix seconds).
/// `false` when it was seen before: a replay.
pub async fn first_use(db: &Db, jti: &str, expires_at: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO seen_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING",
    )
    .bind(jti)
    .bind(expires_at)
    .execute(&db.pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets the tokens that expired before `before` (Unix seconds) and returns how many.
pub async fn prune(db: &Db, before: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM seen_tokens WHERE expires_at < $1")
        .bind(before)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}
