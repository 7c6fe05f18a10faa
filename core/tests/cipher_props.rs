//! Property tests: encryption then decryption gives the message back, for random keys,
//! receive ids and messages, multi-byte text and lengths around block boundaries.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use botgate_core::crypto::{self, wxbiz::WxCipher};
use botgate_core::platform::feishu;
use proptest::prelude::*;

fn encoding_aes_key() -> impl Strategy<Value = String> {
    proptest::array::uniform32(any::<u8>()).prop_map(|k| crypto::b64(&k)[..43].to_owned())
}

fn message() -> impl Strategy<Value = String> {
    prop_oneof![
        // lengths around the 16/32-byte block boundaries
        (0usize..100).prop_map(|n| "a".repeat(n)),
        ".{0,200}",
        "[\u{4e00}-\u{9fa5}\u{1F600}-\u{1F64F}]{0,80}",
    ]
}

proptest! {
    #[test]
    fn wxbiz_round_trip(key in encoding_aes_key(), receive_id in "[a-zA-Z0-9_]{0,40}", msg in message()) {
        let c = WxCipher::from_encoding_aes_key(&key).unwrap();
        let sealed = c.seal(msg.as_bytes(), &receive_id);
        prop_assert_eq!(c.open_for(&sealed, &receive_id).unwrap(), msg.as_bytes());
        let opened = c.open(&sealed).unwrap();
        prop_assert_eq!(opened.receive_id, receive_id);
    }

    #[test]
    fn feishu_round_trip(encrypt_key in ".{1,64}", msg in message()) {
        let key = feishu::derive_key(&encrypt_key);
        let sealed = feishu::encrypt(&key, msg.as_bytes());
        prop_assert_eq!(feishu::decrypt(&key, &sealed).unwrap(), msg.as_bytes());
    }

    #[test]
    fn pkcs7_any_block(len in 0usize..200, block in 1u8..=32) {
        let mut v = vec![0xAB; len];
        crypto::pkcs7_pad(&mut v, block);
        prop_assert_eq!(v.len() % usize::from(block), 0);
        prop_assert_eq!(crypto::pkcs7_unpad(&v, block).unwrap(), len);
    }

    #[test]
    fn wxbiz_open_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let c = WxCipher::from_encoding_aes_key("EFljIXvm9kT++RHoTgMYsmI1iAwk8fkKF1XDkEdS7kE").unwrap();
        let _ = c.open(&crypto::b64(&data));
    }
}
