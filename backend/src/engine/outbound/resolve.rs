//! Name resolution for "send webhook": the only resolver the webhook client has, so the addresses
//! it checks are the addresses the client connects to.
//!
//! A check before the request followed by the client's own lookup would ask DNS twice, and a name
//! whose second answer is an internal address (DNS rebinding) would pass. Here the client resolves
//! through [`Guarded`], which refuses the whole answer when any address in it is refused, and
//! hands the client only the addresses it checked.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::addresses::{special_range, SpecialRange};

/// Why a webhook target was not reached before any connection.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TargetError {
    /// The host resolves to an address webhooks may not reach.
    #[error("{host} resolves to {addr}, in {range}")]
    Refused {
        /// The host.
        host: String,
        /// The refused address.
        addr: IpAddr,
        /// The special-purpose range it is in.
        range: &'static SpecialRange,
    },
    /// The host does not resolve.
    #[error("{0} does not resolve")]
    Unresolved(String),
}

/// Which addresses may be reached: `Err` names the range that forbids one.
pub type Check = fn(IpAddr) -> Result<(), &'static SpecialRange>;

/// Only public addresses: none of [`super::addresses::SPECIAL_RANGES`].
pub fn public_only(ip: IpAddr) -> Result<(), &'static SpecialRange> {
    match special_range(ip) {
        Some(range) => Err(range),
        None => Ok(()),
    }
}

/// Any address (the override for tests and sandboxes with a local receiver).
pub fn any_address(_: IpAddr) -> Result<(), &'static SpecialRange> {
    Ok(())
}

/// Checks one address of `host`.
pub fn check_address(host: &str, addr: IpAddr, check: Check) -> Result<(), TargetError> {
    check(addr).map_err(|range| TargetError::Refused {
        host: host.to_owned(),
        addr,
        range,
    })
}

/// The system's resolver (getaddrinfo, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(system_lookup(name.as_str().to_owned()))
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn system_lookup(host: String) -> Result<Addrs, BoxError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
    Ok(Box::new(addrs.into_iter()))
}

/// A resolver that passes on an answer only when every address in it passes `check`.
pub struct Guarded {
    inner: Arc<dyn Resolve>,
    check: Check,
}

impl Guarded {
    /// Guards `inner` with `check`.
    pub fn new(inner: Arc<dyn Resolve>, check: Check) -> Self {
        Self { inner, check }
    }
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(checked_lookup(self.inner.resolve(name), host, self.check))
    }
}

async fn checked_lookup(answer: Resolving, host: String, check: Check) -> Result<Addrs, BoxError> {
    let unresolved = || TargetError::Unresolved(host.clone());
    let addrs: Vec<SocketAddr> = answer.await.map_err(|_| unresolved())?.collect();
    if addrs.is_empty() {
        return Err(unresolved().into());
    }
    for addr in &addrs {
        check_address(&host, addr.ip(), check)?;
    }
    Ok(Box::new(addrs.into_iter()))
}

/// The [`TargetError`] somewhere in the causes of a client error, if the resolver refused.
pub fn target_error(err: &(dyn std::error::Error + 'static)) -> Option<TargetError> {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(found) = e.downcast_ref::<TargetError>() {
            return Some(found.clone());
        }
        cause = e.source();
    }
    None
}
