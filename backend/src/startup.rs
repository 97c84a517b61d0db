//! Builds the application (state, router, listener) and serves it until a shutdown signal.

use std::{future::Future, net::SocketAddr, sync::Arc};

use axum::{
    http::{header, HeaderName, HeaderValue, Method},
    Router,
};
use tokio::net::TcpListener;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    trace::TraceLayer,
};

use crate::{
    auth::TokenVerifier,
    clock::{SharedClock, SystemClock},
    config::Settings,
    db,
    engine::Engine,
    http::{
        self,
        throttle::{AddressThrottle, InboundThrottle},
    },
    ingest::commit::Ingest,
    jobs,
    queue::{worker::Worker, Queue, QueueSettings},
    store::token_cipher::TokenCipher,
};

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub db: db::Db,
    /// Verifies disposable tokens.
    pub verifier: Arc<TokenVerifier>,
    /// The settings the process started with.
    pub settings: Arc<Settings>,
    /// The time, injected so tests can move it.
    pub clock: SharedClock,
    /// The durable job queue.
    pub queue: Queue,
    /// Stores incoming events, group-committed, and enqueues their processing.
    pub ingest: Ingest,
    /// Seals and opens OAuth tokens at rest.
    pub cipher: Arc<TokenCipher>,
    /// The rule engine: evaluation and actions through the Kommo client.
    pub engine: Arc<Engine>,
    /// The per-account cap on inbound webhooks and trigger links.
    pub inbound_throttle: Arc<InboundThrottle>,
    /// The per-address cap on OAuth callbacks.
    pub oauth_throttle: Arc<AddressThrottle>,
}

impl AppState {
    /// The state over a connected, migrated `db`, timed by `clock`.
    pub fn new(db: db::Db, settings: Settings, clock: SharedClock) -> anyhow::Result<Self> {
        // Metrics recorded from here on reach `/metrics`.
        crate::telemetry::metrics();
        let cipher = Arc::new(TokenCipher::from_base64_key(
            &settings.token_encryption_key,
        )?);
        let queue = Queue::new(
            db.clone(),
            clock.clone(),
            QueueSettings::from_settings(&settings),
        );
        let engine = Engine::new(
            db.clone(),
            clock.clone(),
            queue.clone(),
            cipher.clone(),
            &settings,
        )?;
        let inbound_throttle = Arc::new(InboundThrottle::new(settings.inbound_requests_per_minute));
        let oauth_throttle = Arc::new(AddressThrottle::new(
            settings.oauth_callbacks_per_minute,
            settings.trusted_proxy_hops,
        ));
        Ok(Self {
            db,
            verifier: Arc::new(TokenVerifier::new(&settings)),
            settings: Arc::new(settings),
            clock,
            ingest: Ingest::new(queue.clone()),
            queue,
            cipher,
            engine: Arc::new(engine),
            inbound_throttle,
            oauth_throttle,
        })
    }
}

/// A bound, migrated application, ready to serve.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    worker: Worker,
    worker_count: usize,
}

impl Application {
    /// Connects to the database, applies migrations, builds the router and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = db::connect(&settings.database_url).await?;
        db::migrate(&db).await?;
        let listener = TcpListener::bind(settings.bind).await?;
        let state = AppState::new(db, settings, Arc::new(SystemClock))?;
        let worker = Worker::new(state.queue.clone(), jobs::registry(&state.engine));
        Ok(Self {
            listener,
            router: router(state.clone()),
            worker,
            worker_count: state.settings.worker_count,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(addr = %self.listener.local_addr()?, "rulebook listening");
        // Workers and the API run side by side; on shutdown the API drains first, then the workers
        // finish the job in hand (an interrupted job is claimed again when its lease runs out).
        let (stop_workers, stopped) = tokio::sync::watch::channel(false);
        let workers: Vec<_> = (0..self.worker_count.max(1))
            .map(|_| {
                let mut stopped = stopped.clone();
                let worker = self.worker.clone();
                tokio::spawn(worker.run(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                }))
            })
            .collect();
        // The peer address is what the OAuth callback's per-address cap keys on.
        let served = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        let _ = stop_workers.send(true);
        for worker in workers {
            let _ = worker.await;
        }
        served?;
        Ok(())
    }
}

/// The full router with its middleware, for a given state.
pub fn router(state: AppState) -> Router {
    with_middleware(http::router(&state), state)
}

/// `routes` with the middleware every route runs under: a handler that panics answers an opaque
/// 500 problem+json (`CatchPanicLayer`), CORS, and the request span.
pub fn with_middleware(routes: Router<AppState>, state: AppState) -> Router {
    let cors = cors_layer(&state.settings);
    routes
        .with_state(state)
        .layer(CatchPanicLayer::custom(http::ApiError::for_panic))
        .layer(cors)
        .layer(TraceLayer::new_for_http().make_span_with(
            |request: &axum::http::Request<axum::body::Body>| {
                // The path only, with the secrets of hook URLs redacted: URLs must not leak into logs.
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    path = %http::redact_secret_path(request.uri().path()),
                )
            },
        ))
}

/// CORS for Kommo account pages (`https://<sub>.kommo.com`) and configured extra origins, allowing the
/// `X-Auth-Token` header that `$authorizedAjax` adds.
fn cors_layer(settings: &Settings) -> CorsLayer {
    let suffixes = settings.cors_origin_suffixes.clone();
    let extra = settings.cors_extra_origins.clone();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin
                .to_str()
                .is_ok_and(|o| origin_allowed(o, &suffixes, &extra))
        }))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            HeaderName::from_static(crate::auth::AUTH_HEADER),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// Whether a browser origin may call us: an exact extra origin, or `https://` on an allowed host suffix.
pub fn origin_allowed(origin: &str, suffixes: &[String], extra: &[String]) -> bool {
    if extra.iter().any(|e| e.trim_end_matches('/') == origin) {
        return true;
    }
    let Some(host) = origin.strip_prefix("https://") else {
        return false;
    };
    let host = host.split(':').next().unwrap_or(host);
    suffixes
        .iter()
        .any(|s| host.ends_with(s.as_str()) && host.len() > s.len())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::origin_allowed;

    #[test]
    fn kommo_account_origins_are_allowed_and_lookalikes_are_not() {
        let suffixes = vec![".kommo.com".to_string()];
        let extra = vec!["http://127.0.0.1:8090".to_string()];
        assert!(origin_allowed("https://acme.kommo.com", &suffixes, &extra));
        assert!(origin_allowed("http://127.0.0.1:8090", &suffixes, &extra));
        assert!(!origin_allowed("http://acme.kommo.com", &suffixes, &extra));
        assert!(!origin_allowed(
            "https://kommo.com.evil.io",
            &suffixes,
            &extra
        ));
        assert!(!origin_allowed("https://evilkommo.com", &suffixes, &extra));
        assert!(!origin_allowed("https://.kommo.com", &suffixes, &extra));
    }
}
