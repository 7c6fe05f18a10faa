//! The callback Lambda function's handler: an API Gateway HTTP API (v2) request in, the
//! platform's answer out. The flow itself is [`botgate::callback::handle`], shared with
//! `botgate serve` and the tests.

use botgate::callback::{self, Deps};
use botgate::inbound::Request as InboundRequest;
use botgate::reload::{Live, Reloader};
use lambda_http::{Body, Error, Request, RequestExt, Response};

/// Handles one invocation. Bad input is an `Ok` response with a 4xx, never an `Err`.
pub async fn handler(deps: &Deps, req: Request) -> Result<Response<Body>, Error> {
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let headers: Vec<(&str, &str)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let inbound = InboundRequest {
        method: req.method().as_str(),
        query: req.uri().query().unwrap_or(""),
        headers,
        body: req.body().as_ref(),
    };
    // API Gateway's request id is the trace id (an X-Ray trace header, when present, wins).
    let trace_id = match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(c)) => c.request_id.clone(),
        _ => None,
    }
    .unwrap_or_else(|| request_id.clone());
    let r = callback::handle_traced(deps, req.uri().path(), &inbound, &request_id, &trace_id).await;
    Ok(Response::builder()
        .status(r.status)
        .header("content-type", r.content_type)
        .body(Body::Text(r.body))?)
}

/// Handles one invocation on the live configuration: first, once the refresh interval has
/// passed, the configuration's source is checked and a new valid configuration swapped in
/// ([`botgate::reload`]).
pub async fn handle_live(
    live: &Live<Deps>,
    reloader: Option<&Reloader>,
    req: Request,
) -> Result<Response<Body>, Error> {
    if let Some(r) = reloader {
        let now_ms = live.get().clock.now_ms();
        r.refresh(live, now_ms).await;
    }
    handler(&live.get(), req).await
}
