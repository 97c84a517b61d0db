//! `rulebook account …`: connecting a private integration's account with a long-lived token, and
//! listing the accounts.
//!
//! The token is read from the environment (`KOMMO_LONG_LIVED_TOKEN`) or a file, never from the
//! command line, where every user of the machine could read it in `ps`.

use std::{path::PathBuf, sync::Arc};

use clap::Subcommand;
use secrecy::SecretString;

use crate::{
    clock::SystemClock, config::Settings, connect, db, startup::AppState, store::accounts,
};

/// The environment variable holding a long-lived token.
pub const TOKEN_ENV: &str = "KOMMO_LONG_LIVED_TOKEN";

/// What to do with accounts.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Connect a private integration's account with a long-lived token (from the environment
    /// variable KOMMO_LONG_LIVED_TOKEN or --token-file), store it encrypted and subscribe the
    /// account's webhook to this backend.
    Connect {
        /// The Kommo account id.
        #[arg(long)]
        account_id: i64,
        /// The account's subdomain (`acme` for acme.kommo.com).
        #[arg(long)]
        subdomain: String,
        /// Where the account's API lives, if not at https://{subdomain}.kommo.com (the emulator).
        #[arg(long)]
        kommo_base_url: Option<String>,
        /// A file holding the token (instead of the environment variable).
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// List the accounts this backend knows.
    List,
}

/// Runs an account command against the configured database.
pub async fn run(settings: Settings, command: AccountCommand) -> anyhow::Result<()> {
    let pool = db::connect(&settings.database_url).await?;
    db::migrate(&pool).await?;
    match command {
        AccountCommand::Connect {
            account_id,
            subdomain,
            kommo_base_url,
            token_file,
        } => {
            let token = read_token(token_file.as_deref())?;
            let state = AppState::new(pool, settings, Arc::new(SystemClock))?;
            let connected = connect::connect_with_long_lived_token(
                &state,
                account_id,
                &subdomain,
                kommo_base_url.as_deref(),
                &token,
            )
            .await?;
            println!(
                "connected account {} ({}) at {}; its webhook is subscribed",
                connected.account_id, connected.subdomain, connected.base_url
            );
        }
        AccountCommand::List => {
            let list = accounts::list_accounts(&pool).await?;
            println!(
                "{:<12} {:<24} {:<10} kommo api",
                "account", "subdomain", "tokens"
            );
            for account in list {
                println!(
                    "{:<12} {:<24} {:<10} {}",
                    account.account_id,
                    account.subdomain,
                    if account.connected { "stored" } else { "none" },
                    account
                        .kommo_base_url
                        .unwrap_or_else(|| format!("https://{}.kommo.com", account.subdomain))
                );
            }
        }
    }
    Ok(())
}

/// The token from `file`, else from the environment; surrounding whitespace is dropped.
fn read_token(file: Option<&std::path::Path>) -> anyhow::Result<SecretString> {
    let text = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the token file {}: {e}", path.display()))?,
        None => std::env::var(TOKEN_ENV).map_err(|_| {
            anyhow::anyhow!("set {TOKEN_ENV} to the long-lived token, or pass --token-file")
        })?,
    };
    let token = text.trim();
    if token.is_empty() {
        anyhow::bail!("the long-lived token is empty");
    }
    Ok(SecretString::from(token.to_owned()))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::read_token;

    #[test]
    fn a_token_file_is_read_trimmed_and_an_empty_one_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("token");
        std::fs::write(&path, "  eyJ.token.sig\n").expect("write");
        assert_eq!(
            read_token(Some(&path)).expect("read").expose_secret(),
            "eyJ.token.sig"
        );
        std::fs::write(&path, "\n").expect("write");
        assert!(read_token(Some(&path)).is_err());
        let missing = read_token(Some(&dir.path().join("nope"))).expect_err("missing file");
        assert!(missing.to_string().contains("cannot read the token file"));
    }
}
