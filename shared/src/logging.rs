//! Log lines as the functions write them: one JSON object per line, the event's fields at
//! the top level, and the `trace` span's `trace_id` under `span` (so Logs Insights finds
//! every line of one event with `filter span.trace_id = "..."`). The level comes from
//! `AWS_LAMBDA_LOG_LEVEL` (the template's `LogLevel`), else `RUST_LOG`, else INFO.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The filter: `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`.
pub fn filter() -> EnvFilter {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    EnvFilter::try_new(level.to_ascii_lowercase()).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The JSON subscriber writing to `writer` (tests install it for a scope).
pub fn json<W>(writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_env_filter(filter())
        .with_writer(writer)
        .finish()
}

/// Installs [`json`] for the whole process. Returns false when a subscriber was already
/// installed.
pub fn init_json<W>(writer: W) -> bool
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing::subscriber::set_global_default(json(writer)).is_ok()
}

/// The functions' logging: JSON lines on standard output.
pub fn init() {
    init_json(std::io::stdout);
}
