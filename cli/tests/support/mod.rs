//! Helpers of the tests that run `botgate serve` (the real binary) and talk HTTP to it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::process::Child;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running `botgate serve`; killed when dropped.
pub struct Serve(pub Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request; returns the status and body (status 0 when it could not be made).
pub async fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    async fn once(port: u16, req: String) -> std::io::Result<String> {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(req.as_bytes()).await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok(out)
    }
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    match once(port, req).await {
        Ok(out) => {
            let status = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
            let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
            (status, body)
        }
        Err(_) => (0, String::new()),
    }
}
