//! "Send webhook" against local receivers, in a process of its own: one test measures the
//! process's memory and another changes its environment, so they run one at a time and nothing
//! else runs beside them. No storage is involved: the answer is read before anything is stored.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{Arc, Mutex},
};

use domain::rule::HttpMethod;
use rulebook::engine::outbound::{send, OutboundConfig, WebhookRequest, MAX_RESPONSE_BYTES};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    sync::mpsc,
};

/// Held by each test for its whole run.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const MIB: u64 = 1024 * 1024;

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Starts a new peak: the kernel sets the peak resident size (VmHWM) to the current one.
fn reset_peak() -> u64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak resident size");
    let rss = status_kib("VmRSS");
    assert!(
        status_kib("VmHWM") <= rss + 256,
        "the peak was reset to the current size"
    );
    rss
}

/// How far the peak resident size rose above `base`, in bytes.
fn peak_growth(base_kib: u64) -> u64 {
    status_kib("VmHWM").saturating_sub(base_kib) * 1024
}

/// A receiver that answers every connection 200 with a declared length taken from the request's
/// path (`/<bytes>`), streams that many bytes from one 64 KiB buffer, so it never holds the
/// answer, and reports how many bytes it wrote before the client hung up.
async fn streaming_receiver() -> (u16, mpsc::UnboundedReceiver<u64>) {
    let listener = TcpListener::bind((LOOPBACK, 0)).await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (report, reports) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let report = report.clone();
            tokio::spawn(async move {
                let mut request = vec![0u8; 8192];
                let mut read = 0;
                while !request[..read].windows(4).any(|w| w == b"\r\n\r\n") && read < request.len()
                {
                    match socket.read(&mut request[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => read += n,
                    }
                }
                let text = String::from_utf8_lossy(&request[..read]);
                let total: u64 = text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|path| path.trim_start_matches('/').parse().ok())
                    .unwrap_or(0);
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {total}\r\n\r\n"
                );
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let piece = vec![b'x'; 64 * 1024];
                let mut sent = 0u64;
                while sent < total {
                    let n = (piece.len() as u64).min(total - sent) as usize;
                    if socket.write_all(&piece[..n]).await.is_err() {
                        break;
                    }
                    sent += n as u64;
                }
                let _ = report.send(sent);
            });
        }
    });
    (port, reports)
}

fn get(url: String) -> WebhookRequest {
    WebhookRequest {
        method: HttpMethod::Get,
        url,
        headers: Vec::new(),
        body: Vec::new(),
        idempotency_key: None,
    }
}

fn local_receivers() -> OutboundConfig {
    OutboundConfig {
        allow_private_targets: true,
        ..OutboundConfig::default()
    }
}

#[test]
fn a_200_mib_webhook_answer_grows_memory_by_under_5_mb() {
    let _alone = one_at_a_time();
    runtime().block_on(async {
        let (port, mut reports) = streaming_receiver().await;
        let config = local_receivers();
        let answer_of = |bytes: u64| get(format!("http://127.0.0.1:{port}/{bytes}"));

        // The same path once with a small answer, so what is set up once is not counted.
        let warm = send(&answer_of(MIB), &config).await.expect("warm-up");
        assert!(warm.truncated);
        reports.recv().await.expect("the warm-up answer ends");

        let total = 200 * MIB;
        let base = reset_peak();
        let answer = send(&answer_of(total), &config).await.expect("answer");
        let grown = peak_growth(base);
        assert_eq!(answer.status, 200);
        assert!(answer.truncated);
        assert_eq!(answer.vars["webhook_data"].len(), MAX_RESPONSE_BYTES);
        assert!(
            grown < 5 * MIB,
            "reading a {total}-byte answer grew the peak resident size by {grown} bytes"
        );
        let sent = reports.recv().await.expect("the receiver reports");
        assert!(
            sent < total / 4,
            "reading stopped at the cap, so the receiver could write only {sent} of {total} bytes"
        );

        // The meter sees a whole read: the same receiver's 32 MiB answer read at once.
        let whole = 32 * MIB;
        let base = reset_peak();
        let body = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client")
            .get(format!("http://127.0.0.1:{port}/{whole}"))
            .send()
            .await
            .expect("sent")
            .bytes()
            .await
            .expect("read");
        let grown = peak_growth(base);
        assert_eq!(body.len() as u64, whole);
        drop(body);
        assert!(
            grown > whole * 3 / 4,
            "a whole 32 MiB read shows in the peak ({grown} bytes)"
        );
    });
}

/// A receiver that counts requests and answers `{"via": name}`.
async fn counting_receiver(name: &'static str) -> (u16, Arc<Mutex<usize>>) {
    let hits = Arc::new(Mutex::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            *counted.lock().expect("lock") += 1;
            axum::Json(serde_json::json!({ "via": name }))
        }
    });
    let listener = TcpListener::bind((LOOPBACK, 0)).await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, hits)
}

const PROXY_VARIABLES: [&str; 6] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

#[test]
fn a_proxy_in_the_environment_is_not_used() {
    let _alone = one_at_a_time();
    runtime().block_on(async {
        let (proxy_port, proxied) = counting_receiver("proxy").await;
        let (port, direct) = counting_receiver("direct").await;
        for name in PROXY_VARIABLES {
            std::env::set_var(name, format!("http://127.0.0.1:{proxy_port}"));
        }
        std::env::remove_var("NO_PROXY");
        std::env::remove_var("no_proxy");
        let url = format!("http://localhost:{port}/hook");

        // A client that follows the environment goes through the proxy.
        let followed: serde_json::Value = reqwest::get(&url)
            .await
            .expect("sent")
            .json()
            .await
            .expect("json");
        let ours = send(&get(url), &local_receivers()).await;
        for name in PROXY_VARIABLES {
            std::env::remove_var(name);
        }
        assert_eq!(followed["via"], "proxy", "the environment names a proxy");
        assert_eq!(*proxied.lock().expect("lock"), 1);

        let ours = ours.expect("sent");
        assert_eq!(ours.vars["via"], "direct");
        assert_eq!(*direct.lock().expect("lock"), 1);
        assert_eq!(
            *proxied.lock().expect("lock"),
            1,
            "the webhook skipped the proxy"
        );
    });
}
