//! Accounts: OAuth tokens encrypted at rest, and the webhook URLs with their per-account secret.

use axum::http::StatusCode;
use rulebook::store::{
    accounts::{self, OAuthTokens},
    token_cipher::TokenCipher,
    StoreError,
};
use secrecy::{ExposeSecret, SecretString};

use crate::helpers::{spawn_app, Backend, ACCOUNT, ADMIN, MEMBER, START_MS};

crate::on_both_databases!(
    oauth_tokens_are_stored_encrypted_and_read_back,
    hook_urls_are_stable_until_rotated,
);

async fn oauth_tokens_are_stored_encrypted_and_read_back(backend: Backend) {
    let app = spawn_app(backend).await;
    accounts::ensure_account(app.db(), ACCOUNT, "acme", START_MS)
        .await
        .expect("account");
    let tokens = OAuthTokens {
        access_token: SecretString::from("access-PLAINTEXT-1"),
        refresh_token: SecretString::from("refresh-PLAINTEXT-2"),
        expires_at: START_MS + 86_400_000,
    };

    accounts::save_oauth_tokens(app.db(), &app.state.cipher, ACCOUNT, &tokens)
        .await
        .expect("save");

    let raw: (String, String) = {
        let row = sqlx::query(
            "SELECT oauth_access_token, oauth_refresh_token FROM accounts WHERE account_id = $1",
        )
        .bind(ACCOUNT)
        .fetch_one(&app.db().pool)
        .await
        .expect("row");
        (sqlx::Row::get(&row, 0), sqlx::Row::get(&row, 1))
    };
    assert!(
        !raw.0.contains("PLAINTEXT") && !raw.1.contains("PLAINTEXT"),
        "{raw:?}"
    );
    let loaded = accounts::load_oauth_tokens(app.db(), &app.state.cipher, ACCOUNT)
        .await
        .expect("load")
        .expect("some");
    assert_eq!(loaded.access_token.expose_secret(), "access-PLAINTEXT-1");
    assert_eq!(loaded.refresh_token.expose_secret(), "refresh-PLAINTEXT-2");
    assert_eq!(loaded.expires_at, START_MS + 86_400_000);

    let other_key = TokenCipher::from_base64_key(&SecretString::from(
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ))
    .expect("key");
    assert!(matches!(
        accounts::load_oauth_tokens(app.db(), &other_key, ACCOUNT).await,
        Err(StoreError::Cipher(_))
    ));
}

async fn hook_urls_are_stable_until_rotated(backend: Backend) {
    let app = spawn_app(backend).await;

    let (first, dp) = app.given_webhook_path(ADMIN).await;
    let (again, _) = app.given_webhook_path(ADMIN).await;
    let rotated = app.rotate_hook_secret(ADMIN).await.expect(StatusCode::OK);

    assert!(
        first.starts_with(&format!("/hooks/kommo/{ACCOUNT}/")),
        "{first}"
    );
    assert!(dp.starts_with(&format!("/hooks/dp/{ACCOUNT}/")), "{dp}");
    assert_eq!(first, again);
    assert_ne!(
        rotated["kommo_webhook_url"]
            .as_str()
            .map(|u| u.ends_with(&first)),
        Some(true)
    );
    app.post_hook(
        &first,
        b"leads%5Badd%5D%5B0%5D%5Bid%5D=1",
        "application/x-www-form-urlencoded",
        &[],
    )
    .await
    .expect_problem(StatusCode::UNAUTHORIZED, "hook_unauthorized");
    app.hook_urls(MEMBER)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "admin_required");
}
