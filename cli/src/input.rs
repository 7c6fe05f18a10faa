//! Reading the command line's input files: credentials, requests, the clock.

use std::path::Path;

use anyhow::{Context, Result, bail};
use botgate::Platform;
use serde_json::Value;

/// Reads a JSON file, naming it in errors.
pub fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

/// Loads a credentials object. Accepts the object itself, a `{"credentials": {...}}`
/// wrapper, or the test vectors file (picking the platform's entry).
pub fn credentials(path: &Path, platform: Platform) -> Result<Value> {
    let v = read_json(path)?;
    if let Some(list) = v.get("platforms").and_then(Value::as_array) {
        for p in list {
            if p.get("platform").and_then(Value::as_str) == Some(platform.as_str()) {
                return p
                    .get("credentials")
                    .cloned()
                    .context("vectors entry without credentials");
            }
        }
        bail!("{} has no credentials for {platform}", path.display());
    }
    if let Some(c) = v.get("credentials") {
        return Ok(c.clone());
    }
    if !v.is_object() {
        bail!("{} must hold a JSON object of credentials", path.display());
    }
    Ok(v)
}

/// The current Unix time in seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
