//! The built-in `crypto` component: hashes, HMACs, UUIDs and base64.
//!
//! Text inputs are hashed as their UTF-8 bytes. Digests come out as lower-case hex (default)
//! or standard base64. `crypto.hmac` takes its key as UTF-8 text, or hex/base64 with
//! `key_encoding`, since webhook secrets are often handed out in those forms.

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, general_purpose};
use hmac::{Hmac, Mac};
use md5::Md5;
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use weft_model::{ActionSpec, ErrorKind, InputType, StepError};

use crate::input::{Inputs, action, enum_of, input_error, spec};
use crate::{ActionContext, BoxFuture, Component};

pub struct CryptoComponent;

const HASHES: &[&str] = &["md5", "sha1", "sha256", "sha512"];
const HMACS: &[&str] = &["sha1", "sha256", "sha512"];
const ENCODINGS: &[&str] = &["hex", "base64"];
const KEY_ENCODINGS: &[&str] = &["utf8", "hex", "base64"];

/// Decoders that accept input with or without `=` padding.
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl CryptoComponent {
    fn specs() -> Vec<ActionSpec> {
        vec![
            action(
                "crypto.hash",
                "Hashes text. Output: the digest as a string.",
                vec![
                    spec("algorithm", enum_of(HASHES), true, "md5, sha1, sha256 or sha512."),
                    spec("value", InputType::String, true, "Text to hash (its UTF-8 bytes)."),
                    spec("encoding", enum_of(ENCODINGS), false, "Digest encoding: hex (default) or base64."),
                ],
            ),
            action(
                "crypto.hmac",
                "Computes an HMAC. Output: the MAC as a string.",
                vec![
                    spec("algorithm", enum_of(HMACS), true, "sha1, sha256 or sha512."),
                    spec("key", InputType::String, true, "The secret key."),
                    spec(
                        "key_encoding",
                        enum_of(KEY_ENCODINGS),
                        false,
                        "How the key is written: utf8 (default), hex or base64.",
                    ),
                    spec("value", InputType::String, true, "Text to authenticate (its UTF-8 bytes)."),
                    spec("encoding", enum_of(ENCODINGS), false, "MAC encoding: hex (default) or base64."),
                ],
            ),
            action(
                "crypto.uuid",
                "Generates a random UUID. Output: the UUID as a string.",
                vec![spec("version", InputType::Any, false, "4 (random, default) or 7 (time-ordered).")],
            ),
            action(
                "crypto.base64_encode",
                "Encodes text as base64. Output: a string.",
                vec![
                    spec("value", InputType::String, true, "Text to encode (its UTF-8 bytes)."),
                    spec(
                        "url_safe",
                        InputType::Boolean,
                        false,
                        "Use the URL-safe alphabet without padding (default false).",
                    ),
                ],
            ),
            action(
                "crypto.base64_decode",
                "Decodes base64 to text. Output: a string. Padding is optional.",
                vec![
                    spec("value", InputType::String, true, "base64 text."),
                    spec(
                        "url_safe",
                        InputType::Boolean,
                        false,
                        "The input uses the URL-safe alphabet (default false).",
                    ),
                ],
            ),
        ]
    }
}

impl Component for CryptoComponent {
    fn key(&self) -> &'static str {
        "crypto"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        CryptoComponent::specs()
    }

    fn run<'a>(
        &'a self,
        action: &'a str,
        input: Value,
        _cx: &'a ActionContext,
    ) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move { run_sync(action, input) })
    }
}

fn run_sync(action: &str, input: Value) -> Result<Value, StepError> {
    let Some(spec) = CryptoComponent::specs().into_iter().find(|s| s.name == action) else {
        return Err(StepError::new(ErrorKind::Input, format!("unknown action '{action}'")));
    };
    let inputs = Inputs::new(input, &spec)?;
    let out = match action {
        "crypto.hash" => {
            let algorithm = inputs.choice("algorithm", HASHES, None)?;
            let value = inputs.str("value")?.as_bytes();
            let digest = match algorithm {
                "md5" => Md5::digest(value).to_vec(),
                "sha1" => Sha1::digest(value).to_vec(),
                "sha256" => Sha256::digest(value).to_vec(),
                _ => Sha512::digest(value).to_vec(),
            };
            encode(&digest, inputs.choice("encoding", ENCODINGS, Some("hex"))?)
        }
        "crypto.hmac" => {
            let algorithm = inputs.choice("algorithm", HMACS, None)?;
            let key_text = inputs.str("key")?;
            let key = match inputs.choice("key_encoding", KEY_ENCODINGS, Some("utf8"))? {
                "hex" => hex::decode(key_text).map_err(|e| input_error("key", format!("not valid hex: {e}")))?,
                "base64" => STANDARD_LENIENT
                    .decode(key_text)
                    .map_err(|e| input_error("key", format!("not valid base64: {e}")))?,
                _ => key_text.as_bytes().to_vec(),
            };
            let value = inputs.str("value")?.as_bytes();
            let mac = match algorithm {
                "sha1" => hmac::<Hmac<Sha1>>(&key, value),
                "sha256" => hmac::<Hmac<Sha256>>(&key, value),
                _ => hmac::<Hmac<Sha512>>(&key, value),
            };
            encode(&mac, inputs.choice("encoding", ENCODINGS, Some("hex"))?)
        }
        "crypto.uuid" => match inputs.choice("version", &["4", "7"], Some("4"))? {
            "4" => uuid::Uuid::new_v4().to_string(),
            _ => uuid::Uuid::now_v7().to_string(),
        },
        "crypto.base64_encode" => {
            let value = inputs.str("value")?;
            if inputs.opt_bool("url_safe")?.unwrap_or(false) {
                URL_SAFE_NO_PAD.encode(value)
            } else {
                STANDARD.encode(value)
            }
        }
        _ => {
            let value = inputs.str("value")?.trim();
            let engine =
                if inputs.opt_bool("url_safe")?.unwrap_or(false) { URL_SAFE_LENIENT } else { STANDARD_LENIENT };
            let bytes = engine.decode(value).map_err(|e| input_error("value", format!("not valid base64: {e}")))?;
            String::from_utf8(bytes).map_err(|_| input_error("value", "the decoded bytes are not UTF-8 text"))?
        }
    };
    Ok(Value::String(out))
}

fn hmac<M: Mac + hmac::digest::KeyInit>(key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut mac = <M as hmac::digest::KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(value);
    mac.finalize().into_bytes().to_vec()
}

fn encode(bytes: &[u8], encoding: &str) -> String {
    match encoding {
        "base64" => general_purpose::STANDARD.encode(bytes),
        _ => hex::encode(bytes),
    }
}
