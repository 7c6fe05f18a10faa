//! Feishu's cryptography: the AES key derived from the Encrypt Key, the `encrypt` field's
//! cipher, the request signature, and the custom group bot's signature.

use crate::crypto::{self, CipherError};

/// The AES key Feishu derives from an Encrypt Key: SHA-256 of it.
pub fn derive_key(encrypt_key: &str) -> [u8; 32] {
    crypto::sha256(&[encrypt_key.as_bytes()])
}

/// Decrypts the `encrypt` field: base64, IV in the first 16 bytes, AES-256-CBC, PKCS#7/16.
pub fn decrypt(key: &[u8; 32], encrypt_b64: impl AsRef<[u8]>) -> Result<Vec<u8>, CipherError> {
    let mut raw = crypto::b64_decode(encrypt_b64)?;
    if raw.len() < 32 {
        return Err(CipherError::Length(raw.len().saturating_sub(16)));
    }
    let (iv, body) = raw.split_at_mut(16);
    crypto::aes256_cbc_decrypt(key, iv, body)?;
    let len = crypto::pkcs7_unpad(body, 16)?;
    raw.truncate(16 + len);
    raw.drain(..16);
    Ok(raw)
}

/// Encrypts a payload the way Feishu does (random IV first, PKCS#7/16), as base64.
pub fn encrypt(key: &[u8; 32], plaintext: &[u8]) -> String {
    let iv = crypto::random_bytes::<16>();
    let mut buf = plaintext.to_vec();
    crypto::pkcs7_pad(&mut buf, 16);
    if crypto::aes256_cbc_encrypt(key, &iv, &mut buf).is_err() {
        return String::new();
    }
    let mut out = iv.to_vec();
    out.extend_from_slice(&buf);
    crypto::b64(&out)
}

/// `X-Lark-Signature`: hex SHA-256 of `timestamp + nonce + encrypt_key + body`.
pub fn signature(timestamp: &str, nonce: &str, encrypt_key: &str, body: &[u8]) -> String {
    hex::encode(crypto::sha256(&[
        timestamp.as_bytes(),
        nonce.as_bytes(),
        encrypt_key.as_bytes(),
        body,
    ]))
}

/// The custom group bot signature: base64(HMAC-SHA256(key = `timestamp + "\n" + secret`,
/// message = empty)), with `timestamp` in seconds. Sent in the body as `timestamp` and `sign`.
pub fn webhook_sign(secret: &str, timestamp_secs: i64) -> String {
    let key = format!("{timestamp_secs}\n{secret}");
    crypto::b64(&crypto::hmac_sha256(key.as_bytes(), b""))
}
