//! A per-account cap on the entry points anyone on the internet can call once they know a URL:
//! inbound webhooks and trigger links. A leaked URL or a misbehaving form then cannot flood the
//! inbox, the queue and, through the rules, the account's Kommo rate limit. Kommo's own webhooks
//! and digital-pipeline requests are not capped: Kommo paces them, and refusing one loses an event.
//! The cap holds per process (with several processes on PostgreSQL, each has its own).
//!
//! The OAuth callback, which makes us call Kommo, is capped per client address instead
//! ([`AddressThrottle`]); [`client_address`] says who the client is behind trusted proxies.

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
};

use axum::{extract::ConnectInfo, http::request::Parts};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::error::{ApiError, ApiResult};

/// The per-account limiter of inbound calls.
#[derive(Debug)]
pub struct InboundThrottle {
    limiter: Option<DefaultKeyedRateLimiter<i64>>,
    per_minute: u32,
}

impl InboundThrottle {
    /// `per_minute` calls per account and minute, as a burst refilled evenly; 0 means no limit.
    pub fn new(per_minute: u32) -> Self {
        Self {
            limiter: NonZeroU32::new(per_minute)
                .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))),
            per_minute,
        }
    }

    /// Admits one call for `account_id`, or answers 429.
    pub fn check(&self, account_id: i64) -> ApiResult<()> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&account_id).map_err(|_| {
            ApiError::too_many_requests(
                "too_many_requests",
                format!(
                    "This account's webhooks and links take {} calls a minute; try again shortly.",
                    self.per_minute
                ),
            )
        })
    }
}

/// The per-address limiter of OAuth callbacks.
#[derive(Debug)]
pub struct AddressThrottle {
    limiter: Option<DefaultKeyedRateLimiter<Option<IpAddr>>>,
    per_minute: u32,
    trusted_proxy_hops: usize,
}

impl AddressThrottle {
    /// `per_minute` calls per client address and minute, as a burst refilled evenly; 0 means no
    /// limit. The address is read behind `trusted_proxy_hops` proxies ([`client_address`]).
    pub fn new(per_minute: u32, trusted_proxy_hops: usize) -> Self {
        Self {
            limiter: NonZeroU32::new(per_minute)
                .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n))),
            per_minute,
            trusted_proxy_hops,
        }
    }

    /// Admits one call from the client of `parts`, or answers 429. Requests whose address cannot
    /// be known (no peer address, as in-process tests) share one allowance.
    pub fn check(&self, parts: &Parts) -> ApiResult<()> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let client = client_address(peer, &forwarded, self.trusted_proxy_hops);
        limiter.check_key(&client).map_err(|_| {
            ApiError::too_many_requests(
                "too_many_requests",
                format!(
                    "This address may complete {} connections a minute; try again shortly.",
                    self.per_minute
                ),
            )
        })
    }
}

/// The client's address: with no trusted proxy, the connection's peer (`X-Forwarded-For` is
/// ignored, as the client writes it); behind `hops` proxies that each append the address they saw,
/// the entry `hops` from the end of `X-Forwarded-For`. A header too short for the hops (the request
/// went round the proxies) or unreadable falls back to the peer.
pub fn client_address(peer: Option<IpAddr>, forwarded_for: &str, hops: usize) -> Option<IpAddr> {
    if hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = forwarded_for
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    entries
        .len()
        .checked_sub(hops)
        .and_then(|i| entries[i].parse::<IpAddr>().ok())
        .or(peer)
}

#[cfg(test)]
mod tests {
    use super::{client_address, InboundThrottle};

    #[test]
    fn the_client_address_is_the_peer_unless_trusted_proxies_forward_it() {
        let peer = Some("10.0.0.9".parse().expect("ip"));
        let ip = |s: &str| Some(s.parse().expect("ip"));
        assert_eq!(
            client_address(peer, "203.0.113.7", 0),
            peer,
            "no proxy: the header is the client's own word"
        );
        assert_eq!(client_address(peer, "203.0.113.7", 1), ip("203.0.113.7"));
        assert_eq!(
            client_address(peer, "1.2.3.4, 203.0.113.7, 10.0.0.2", 2),
            ip("203.0.113.7"),
            "a forged first entry is skipped"
        );
        assert_eq!(client_address(peer, "", 1), peer, "round the proxy");
        assert_eq!(client_address(peer, "garbage", 1), peer);
        assert_eq!(client_address(None, "", 0), None);
    }

    #[test]
    fn each_account_has_its_own_burst_and_zero_means_no_limit() {
        let throttle = InboundThrottle::new(2);
        assert!(throttle.check(1).is_ok());
        assert!(throttle.check(1).is_ok());
        assert!(
            throttle.check(1).is_err(),
            "the third call within the minute"
        );
        assert!(throttle.check(2).is_ok(), "another account is not affected");
        let open = InboundThrottle::new(0);
        assert!((0..10_000).all(|_| open.check(1).is_ok()));
    }
}
