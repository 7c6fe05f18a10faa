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

/// The longest a configuration check may take inside an invocation: it runs beside the
/// request (which is answered on the configuration it started with), so the answer stays
/// within Feishu's 3 s even when S3 is slow; a check cut short is tried again after the
/// refresh interval.
pub const RELOAD_BUDGET: std::time::Duration = std::time::Duration::from_millis(2_000);

/// Handles one invocation on the live configuration. Once the refresh interval has passed,
/// the configuration's source is checked beside the request, and a new valid
/// configuration is swapped in for the requests after it ([`botgate::reload`]).
pub async fn handle_live(
    live: &Live<Deps>,
    reloader: Option<&Reloader>,
    req: Request,
) -> Result<Response<Body>, Error> {
    let current = live.get();
    let check = async {
        if let Some(r) = reloader
            && tokio::time::timeout(RELOAD_BUDGET, r.refresh(live, current.clock.now_ms()))
                .await
                .is_err()
        {
            tracing::warn!(uri = %r.uri(), "configuration check cut short to answer in time; tried again later");
        }
    };
    let (response, ()) = tokio::join!(handler(&current, req), check);
    response
}
