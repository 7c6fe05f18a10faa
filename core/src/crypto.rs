//! Cryptographic building blocks shared by the platforms: digests, HMAC, constant-time
//! comparison, AES-256-CBC without padding, and PKCS#7 with a configurable block size.
//!
//! Each platform's scheme is assembled from these in its own module; the WXBizMsgCrypt
//! cipher used by WeChat, WeCom and DingTalk lives in [`wxbiz`].

pub mod wxbiz;

use aes::Aes256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

/// Why a ciphertext could not be turned back into a message.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CipherError {
    /// The ciphertext is not valid standard base64.
    #[error("ciphertext is not valid base64")]
    Base64,
    /// The ciphertext length is zero or not a multiple of the AES block.
    #[error("ciphertext length {0} is not a positive multiple of 16")]
    Length(usize),
    /// The PKCS#7 padding is absent or inconsistent (wrong key, or tampered data).
    #[error("bad PKCS#7 padding (wrong key or tampered ciphertext)")]
    Padding,
    /// The decrypted frame is shorter than its own length prefix says.
    #[error("decrypted frame is truncated or its length prefix runs past the buffer")]
    Frame,
    /// The receive id appended to the message is not the configured one.
    #[error("receive id does not match the configured one")]
    ReceiveId,
    /// A key has the wrong size or encoding.
    #[error("bad key: {0}")]
    Key(&'static str),
    /// The decrypted message is not UTF-8.
    #[error("decrypted message is not UTF-8")]
    Utf8,
}

/// Compares two byte strings in constant time (for equal lengths).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// SHA-256 of the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// SHA-1 of the concatenation of `parts`.
pub fn sha1(parts: &[&[u8]]) -> [u8; 20] {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// The WXBizMsgCrypt-family signature: hex SHA-1 of the parts sorted byte-wise and joined.
pub fn sorted_sha1_hex(parts: &mut [&str]) -> String {
    parts.sort_unstable();
    let bytes: Vec<&[u8]> = parts.iter().map(|p| p.as_bytes()).collect();
    hex::encode(sha1(&bytes))
}

/// Checks a hex SHA-1 signature against the sorted-join signature of `parts`, in constant time.
/// Upper- and lower-case hex are both accepted.
pub fn verify_sorted_sha1(given_hex: &str, parts: &mut [&str]) -> bool {
    let mut given = [0u8; 20];
    if hex::decode_to_slice(given_hex.trim(), &mut given).is_err() {
        return false;
    }
    parts.sort_unstable();
    let mut h = Sha1::new();
    for p in parts.iter() {
        h.update(p.as_bytes());
    }
    let expected: [u8; 20] = h.finalize().into();
    ct_eq(&given, &expected)
}

/// HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so construction cannot fail.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Standard base64 with padding.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard base64 with padding.
pub fn b64_decode(text: impl AsRef<[u8]>) -> Result<Vec<u8>, CipherError> {
    STANDARD
        .decode(text.as_ref().trim_ascii())
        .map_err(|_| CipherError::Base64)
}

/// AES-256-CBC decryption of whole blocks, without removing padding.
pub fn aes256_cbc_decrypt(key: &[u8; 32], iv: &[u8], data: &mut [u8]) -> Result<(), CipherError> {
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return Err(CipherError::Length(data.len()));
    }
    let dec = cbc::Decryptor::<Aes256>::new_from_slices(key, iv)
        .map_err(|_| CipherError::Key("AES-256 key must be 32 bytes and IV 16 bytes"))?;
    let len = data.len();
    dec.decrypt_padded::<NoPadding>(data)
        .map_err(|_| CipherError::Length(len))?;
    Ok(())
}

/// AES-256-CBC encryption of whole blocks (the caller pads).
pub fn aes256_cbc_encrypt(key: &[u8; 32], iv: &[u8], data: &mut [u8]) -> Result<(), CipherError> {
    if !data.len().is_multiple_of(16) {
        return Err(CipherError::Length(data.len()));
    }
    let enc = cbc::Encryptor::<Aes256>::new_from_slices(key, iv)
        .map_err(|_| CipherError::Key("AES-256 key must be 32 bytes and IV 16 bytes"))?;
    let len = data.len();
    enc.encrypt_padded::<NoPadding>(data, len)
        .map_err(|_| CipherError::Length(len))?;
    Ok(())
}

/// Appends PKCS#7 padding for `block` (1..=255) bytes.
pub fn pkcs7_pad(buf: &mut Vec<u8>, block: u8) {
    let block = usize::from(block.max(1));
    let pad = block - buf.len() % block;
    // `pad` is in 1..=block <= 255.
    let byte = u8::try_from(pad).unwrap_or(u8::MAX);
    buf.resize(buf.len() + pad, byte);
}

/// Validates and strips PKCS#7 padding whose value must lie in `1..=max_pad`.
/// Every pad byte is checked; the result is the unpadded length.
pub fn pkcs7_unpad(buf: &[u8], max_pad: u8) -> Result<usize, CipherError> {
    let Some(&last) = buf.last() else {
        return Err(CipherError::Padding);
    };
    let pad = usize::from(last);
    if last == 0 || last > max_pad || pad > buf.len() {
        return Err(CipherError::Padding);
    }
    let tail = &buf[buf.len() - pad..];
    if tail.iter().any(|&b| b != last) {
        return Err(CipherError::Padding);
    }
    Ok(buf.len() - pad)
}

/// `n` random bytes from the operating system's generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::fill(&mut out[..]);
    out
}

/// A random alphanumeric string of `len` characters (for nonces).
pub fn random_nonce(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    rand::fill(&mut bytes[..]);
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkcs7_round_trip_and_rejections() {
        for len in 0..70 {
            let mut v = vec![7u8; len];
            pkcs7_pad(&mut v, 32);
            assert_eq!(v.len() % 32, 0);
            assert_eq!(pkcs7_unpad(&v, 32), Ok(len));
        }
        assert_eq!(pkcs7_unpad(&[], 32), Err(CipherError::Padding));
        assert_eq!(pkcs7_unpad(&[1, 2, 0], 32), Err(CipherError::Padding));
        assert_eq!(pkcs7_unpad(&[3, 2, 3], 32), Err(CipherError::Padding));
        assert_eq!(pkcs7_unpad(&[17; 32], 16), Err(CipherError::Padding));
        assert_eq!(pkcs7_unpad(&[33; 33], 32), Err(CipherError::Padding));
    }

    #[test]
    fn sorted_sha1_matches_wechat_docs_shape() {
        let mut parts = ["b", "a", "c"];
        assert_eq!(sorted_sha1_hex(&mut parts), hex::encode(sha1(&[b"abc"])));
        assert!(verify_sorted_sha1(
            &sorted_sha1_hex(&mut ["x", "y"]).to_uppercase(),
            &mut ["y", "x"]
        ));
    }

    #[test]
    fn cbc_rejects_partial_blocks() {
        let key = [1u8; 32];
        let mut data = vec![0u8; 15];
        assert_eq!(
            aes256_cbc_decrypt(&key, &[0; 16], &mut data),
            Err(CipherError::Length(15))
        );
        assert_eq!(aes256_cbc_decrypt(&key, &[0; 16], &mut []), Err(CipherError::Length(0)));
    }
}
