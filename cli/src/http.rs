//! The HTTP server of `botgate serve`, with the limits a public listener needs: a timeout
//! for a request's headers (half-open and slow clients), for the whole request (slow
//! bodies, slow handlers), for an idle keep-alive connection, a cap on open connections,
//! and a graceful shutdown that stops accepting and lets requests in flight finish.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use botgate::settings::ServeSettings;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// Answers 408 when the request (its body included) is not done within `limit`.
async fn request_timeout(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request_timeout").into_response(),
    }
}

/// `router` with the request timeout of `limits`.
pub fn with_request_timeout(router: Router, limits: &ServeSettings) -> Router {
    let limit = Duration::from_secs(limits.request_timeout_secs);
    router.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        request_timeout(limit, req, next)
    }))
}

/// What a connection is doing, for its idle timeout.
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    last_ms: AtomicI64,
}

fn now_ms() -> i64 {
    botgate::clock::Clock::now_ms(&botgate::clock::SystemClock)
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits up to the grace
/// period for open connections. Connections past `max_connections` are closed at once.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeSettings,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let router = with_request_timeout(router, &limits);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, max = limits.max_connections, "connection refused: too many open connections");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let activity = Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicI64::new(now_ms()),
        });
        let tracked = activity.clone();
        let svc = tower_service_fn(router.clone(), tracked);
        let mut stop = stop_rx.clone();
        let header_timeout = Duration::from_secs(limits.header_read_timeout_secs);
        let idle_ms = i64::try_from(limits.idle_timeout_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(tcp), TowerToHyperService::new(svc));
            tokio::pin!(conn);
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut closing = false;
            loop {
                tokio::select! {
                    result = conn.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(%peer, error = %e, "connection ended");
                        }
                        break;
                    }
                    _ = tick.tick(), if !closing => {
                        let idle = activity.in_flight.load(Ordering::SeqCst) == 0
                            && now_ms() - activity.last_ms.load(Ordering::SeqCst) > idle_ms;
                        if idle {
                            closing = true;
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                    _ = stop.changed(), if !closing => {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(permit);
        });
    }
    let _ = stop_tx.send(true);
    let grace = Duration::from_secs(limits.shutdown_grace_secs);
    if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
        .await
        .is_err()
    {
        tracing::warn!(
            open = tasks.len(),
            "shutdown: closing the connections still open after the grace period"
        );
        tasks.abort_all();
    }
    Ok(())
}

/// The router as a tower service that records each request's start and end.
fn tower_service_fn(router: Router, activity: Arc<Activity>) -> Tracked {
    Tracked { router, activity }
}

/// A router that tells its connection when it is busy.
#[derive(Clone)]
struct Tracked {
    router: Router,
    activity: Arc<Activity>,
}

impl tower_service::Service<hyper::Request<hyper::body::Incoming>> for Tracked {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let mut router = self.router.clone();
        let activity = self.activity.clone();
        activity.in_flight.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            let response = tower_service::Service::call(&mut router, req.map(axum::body::Body::new)).await;
            activity.last_ms.store(now_ms(), Ordering::SeqCst);
            activity.in_flight.fetch_sub(1, Ordering::SeqCst);
            response
        })
    }
}
