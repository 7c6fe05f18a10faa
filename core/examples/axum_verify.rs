//! botgate-core in a plain axum service: one route per bot, every request verified,
//! decrypted and normalized before your code sees it. The same code is the README's example.
//!
//! Run: `cargo run -p botgate-core --example axum_verify`, then send it a sample callback:
//! `cargo run -q -p botgate-cli -- event --platform feishu --credentials creds.json --format curl --url http://127.0.0.1:3000/feishu | sh`

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::any;
use botgate_core::inbound::{Accepted, Options, Request};
use botgate_core::{Credentials, Verifier};

/// Verifies one Feishu callback; answers the URL verification, hands events to `on_event`.
async fn feishu(
    State(verifier): State<Arc<Verifier>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let req = Request {
        method: method.as_str(),
        query: uri.query().unwrap_or(""),
        headers,
        body: &body,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    match verifier.verify(&req, now, &Options::default()) {
        Ok(Accepted::Verification(answer)) => (StatusCode::OK, answer.body),
        Ok(Accepted::Event { event, response, .. }) => {
            // Deduplicate on event.event_id, queue it, then acknowledge.
            println!("{} from {:?}: {:?}", event.event_type, event.sender_id, event.text);
            (StatusCode::OK, response.body)
        }
        Err(rejection) => {
            let r = rejection.response();
            (
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
                r.body,
            )
        }
    }
}

fn app() -> Result<Router, botgate_core::inbound::CredentialsError> {
    let credentials = Credentials::from_json(
        botgate_core::Platform::Feishu,
        &serde_json::json!({"encrypt_key": "your-encrypt-key", "verification_token": "your-token"}),
    )?;
    let verifier = Arc::new(Verifier::new(credentials)?);
    Ok(Router::new().route("/feishu", any(feishu)).with_state(verifier))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}/feishu", listener.local_addr()?);
    axum::serve(listener, app()?).await?;
    Ok(())
}
