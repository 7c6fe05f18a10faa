//! `botgate encrypt` / `botgate decrypt`: the platform's cipher, for debugging.

use std::io::Read;

use anyhow::{Context, Result, anyhow, bail};
use botgate::Credentials;
use botgate::crypto::wxbiz::WxCipher;
use botgate::platform::feishu;
use botgate::secret::Secret;
use serde_json::json;

use crate::{Outcome, input};

/// Arguments of `botgate encrypt`.
#[derive(clap::Args, Debug)]
pub struct EncryptArgs {
    #[command(flatten)]
    bot: input::BotSource,
    /// The plaintext (default: read standard input).
    text: Option<String>,
    /// Seal for this receive id instead of the one in the credentials (WXBizMsgCrypt family).
    #[arg(long)]
    receive_id: Option<String>,
}

/// Arguments of `botgate decrypt`.
#[derive(clap::Args, Debug)]
pub struct DecryptArgs {
    #[command(flatten)]
    bot: input::BotSource,
    /// The base64 ciphertext (default: read standard input).
    ciphertext: Option<String>,
    /// Print {"plaintext","receive_id"} as JSON.
    #[arg(long)]
    json: bool,
}

enum Keys {
    Feishu([u8; 32]),
    Wx(WxCipher, String),
}

fn keys(creds: &Credentials) -> Result<Keys> {
    let set = |s: &Option<Secret>| s.as_ref().filter(|s| !s.is_blank()).map(|s| s.expose().to_owned());
    let (key_field, key, id) = match creds {
        Credentials::Feishu(c) => {
            let k = set(&c.encrypt_key).ok_or_else(|| anyhow!("feishu credentials need encrypt_key"))?;
            return Ok(Keys::Feishu(feishu::derive_key(&k)));
        }
        Credentials::Dingtalk(c) => ("aes_key", set(&c.aes_key), c.receive_id.clone().or(c.app_key.clone())),
        Credentials::Wechat(c) => ("encoding_aes_key", set(&c.encoding_aes_key), c.app_id.clone()),
        Credentials::Wecom(c) => ("encoding_aes_key", set(&c.encoding_aes_key), c.corp_id.clone()),
    };
    let platform = creds.platform();
    let key = key.ok_or_else(|| anyhow!("{platform} credentials need {key_field}"))?;
    let cipher = WxCipher::from_encoding_aes_key(&key).map_err(|e| anyhow!("{key_field}: {e}"))?;
    Ok(Keys::Wx(cipher, id.unwrap_or_default()))
}

fn arg_or_stdin(arg: Option<String>) -> Result<String> {
    match arg {
        Some(a) => Ok(a),
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read standard input")?;
            Ok(s.trim_end_matches(['\n', '\r']).to_owned())
        }
    }
}

/// Runs `botgate encrypt`.
pub fn encrypt(args: EncryptArgs) -> Result<Outcome> {
    let creds = args.bot.load()?;
    let text = arg_or_stdin(args.text)?;
    let out = match keys(&creds)? {
        Keys::Feishu(k) => feishu::encrypt(&k, text.as_bytes()),
        Keys::Wx(c, id) => c.seal(text.as_bytes(), args.receive_id.as_deref().unwrap_or(&id)),
    };
    println!("{out}");
    Ok(Outcome::Ok)
}

/// Runs `botgate decrypt`.
pub fn decrypt(args: DecryptArgs) -> Result<Outcome> {
    let creds = args.bot.load()?;
    let ct = arg_or_stdin(args.ciphertext)?;
    let (plain, receive_id) = match keys(&creds)? {
        Keys::Feishu(k) => (
            feishu::decrypt(&k, &ct).map_err(|e| anyhow!("cannot decrypt: {e}"))?,
            None,
        ),
        Keys::Wx(c, expected) => {
            let opened = c.open(&ct).map_err(|e| anyhow!("cannot decrypt: {e}"))?;
            if !expected.is_empty() && opened.receive_id != expected {
                eprintln!(
                    "warning: sealed for receive id {:?}, the credentials say {:?}; the gateway would reject it",
                    opened.receive_id, expected
                );
            }
            (opened.message, Some(opened.receive_id))
        }
    };
    let plain = String::from_utf8(plain).map_err(|_| anyhow!("decrypted bytes are not UTF-8"))?;
    if args.json {
        println!("{}", json!({"plaintext": plain, "receive_id": receive_id}));
    } else {
        if let Some(id) = &receive_id {
            eprintln!("receive id: {id}");
        }
        println!("{plain}");
    }
    if plain.is_empty() && receive_id.is_none() {
        bail!("empty plaintext");
    }
    Ok(Outcome::Ok)
}
