//! Checking an outbound URL before botgate sends to it: the platforms' API bases, a bot's
//! `api_base`, group-bot webhooks and forward endpoints. Parsed with the `url` crate (the
//! WHATWG rules browsers use), so `http://localhost:9@127.0.0.1/` is seen for what it is.
//!
//! Allowed: `https://` to any host; `http://` only to this machine (`localhost`,
//! `127.0.0.0/8`, `[::1]`), for local development and tests. Refused: other schemes, user
//! info (`user:pass@`), and URLs without a host.

use url::{Host, Url};

/// A URL botgate may send to, or why not.
pub fn check(text: &str) -> Result<Url, String> {
    let url = Url::parse(text.trim()).map_err(|e| format!("not a URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user name or password (`user@host`)".into());
    }
    let host = url.host().ok_or("has no host")?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&host) => Ok(url),
        "http" => Err("must be https:// (http:// only to this machine: localhost, 127.0.0.1, [::1])".into()),
        other => Err(format!("scheme `{other}` is not allowed: use https://")),
    }
}

/// True for this machine's names and addresses.
fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => ip.is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_here() {
        assert!(check("https://open.feishu.cn").is_ok());
        assert!(check("https://example.com/hook?x=1").is_ok());
        assert!(check("http://127.0.0.1:8080/x").is_ok());
        assert!(check("http://localhost/x").is_ok());
        assert!(check("http://[::1]:9/x").is_ok());
        assert!(check("http://example.com/hook").is_err());
        assert!(check("http://127.0.0.1.evil.com/x").is_err());
        assert!(check("ftp://example.com").is_err());
        assert!(check("file:///etc/passwd").is_err());
        assert!(check("not a url").is_err());
    }

    #[test]
    fn user_info_is_refused() {
        // The host is 127.0.0.1 and `localhost:9` is a user name and password: refused
        // rather than read as "localhost".
        let e = check("http://localhost:9@127.0.0.1:18500/x").unwrap_err();
        assert!(e.contains("user name"), "{e}");
        assert!(check("https://user@example.com/").is_err());
        assert!(check("https://:pw@example.com/").is_err());
    }
}
