//! The client's time: token expiry and the server's clock offset are read from an injected [`Clock`],
//! so the embedding service shares its own (and tests move it). This module is the crate's only
//! reader of the wall clock.

/// The current time, unix seconds.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now_unix(&self) -> i64;
}

/// The wall clock: the default of a client built without one.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one reader of the wall clock
    fn now_unix(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}
