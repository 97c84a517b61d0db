//! Authentication of incoming requests by the secrets in their URLs. Kommo signs neither account
//! webhooks nor digital-pipeline requests, so the per-account secret in the path is the proof.
//! An unknown account and a wrong secret get the same answer.

use super::digital_pipeline;
use crate::{
    db::Db,
    store::{accounts, receivers, rules, secrets::secrets_match, trigger_links, StoreError},
};

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum HookAuthError {
    /// The URL's secret does not match (or names nothing).
    #[error("the URL's secret does not match")]
    BadSecret,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks the secret of an account webhook or digital-pipeline URL.
pub async fn account_hook(db: &Db, account_id: i64, presented: &str) -> Result<(), HookAuthError> {
    match accounts::webhook_secret(db, account_id).await? {
        Some(stored) if secrets_match(presented, &stored) => Ok(()),
        _ => Err(HookAuthError::BadSecret),
    }
}

/// Splits a `{id}-{secret}` token.
pub(crate) fn split_token(token: &str) -> Option<(i64, &str)> {
    let (id, secret) = token.split_once('-')?;
    Some((id.parse().ok()?, secret))
}

/// Checks an inbound hook key (`{rule_id}-{secret}`) and returns the rule it addresses.
pub async fn inbound_hook(db: &Db, account_id: i64, hook_key: &str) -> Result<i64, HookAuthError> {
    let (rule_id, presented) = split_token(hook_key).ok_or(HookAuthError::BadSecret)?;
    match rules::inbound_hook_secret(db, account_id, rule_id).await? {
        Some(stored) if secrets_match(presented, &stored) => Ok(rule_id),
        _ => Err(HookAuthError::BadSecret),
    }
}

/// Checks the secret of a receiver's URL (`r{receiver_id}-{secret}`).
pub async fn receiver(
    db: &Db,
    account_id: i64,
    receiver_id: i64,
    presented: &str,
) -> Result<(), HookAuthError> {
    match receivers::secret(db, account_id, receiver_id).await? {
        Some(stored) if secrets_match(presented, &stored) => Ok(()),
        _ => Err(HookAuthError::BadSecret),
    }
}

/// Checks the DP key a digital-pipeline action carries and returns the rule it names. The key's
/// MAC proves it was made for that rule of this account; a rule deleted since is still accepted,
/// so that its action fails with a note in the debugger (the lead's runs) rather than unseen.
pub async fn dp_key(db: &Db, account_id: i64, key: &str) -> Result<i64, HookAuthError> {
    let Some(secret) = accounts::webhook_secret(db, account_id).await? else {
        return Err(HookAuthError::BadSecret);
    };
    digital_pipeline::rule_of_key(&secret, account_id, key).ok_or(HookAuthError::BadSecret)
}

/// A trigger link whose token checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedLink {
    /// The tenant.
    pub account_id: i64,
    /// The rule it triggers.
    pub rule_id: i64,
    /// The link.
    pub link_id: i64,
    /// Where the click is sent on to.
    pub target_url: Option<String>,
}

/// Checks a trigger-link token (`{link_id}-{secret}`).
pub async fn trigger_link(db: &Db, token: &str) -> Result<AuthenticatedLink, HookAuthError> {
    let (link_id, presented) = split_token(token).ok_or(HookAuthError::BadSecret)?;
    match trigger_links::find_link(db, link_id).await? {
        Some(link) if secrets_match(presented, &link.secret) => Ok(AuthenticatedLink {
            account_id: link.account_id,
            rule_id: link.rule_id,
            link_id,
            target_url: link.target_url,
        }),
        _ => Err(HookAuthError::BadSecret),
    }
}

#[cfg(test)]
mod tests {
    use super::split_token;

    #[test]
    fn tokens_split_into_an_id_and_a_secret() {
        assert_eq!(split_token("12-abc-def"), Some((12, "abc-def")));
        assert_eq!(split_token("x-abc"), None);
        assert_eq!(split_token("12"), None);
        assert_eq!(split_token(""), None);
    }
}
