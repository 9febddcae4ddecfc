//! `crypto.*` against published test vectors (RFC 1321, FIPS 180, RFC 4231, RFC 2202).

use serde_json::{Value, json};
use weft_components::{ActionContext, EgressGuard, Registry};
use weft_model::{ErrorKind, StepError};

async fn check(action: &str, input: Value) -> Result<Value, StepError> {
    Registry::builtin(EgressGuard::default()).run(action, input, &ActionContext::new("e", "s")).await
}

#[tokio::test]
async fn hashes_match_known_vectors() {
    let table = [
        ("md5", "", "hex", "d41d8cd98f00b204e9800998ecf8427e"),
        ("md5", "abc", "hex", "900150983cd24fb0d6963f7d28e17f72"),
        ("sha1", "abc", "hex", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("sha256", "abc", "hex", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("sha256", "", "hex", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (
            "sha512",
            "abc",
            "hex",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
        ("md5", "abc", "base64", "kAFQmDzST7DWlj99KOF/cg=="),
        ("sha256", "abc", "base64", "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="),
    ];
    for (algorithm, value, encoding, want) in table {
        let out =
            check("crypto.hash", json!({"algorithm": algorithm, "value": value, "encoding": encoding})).await.unwrap();
        assert_eq!(out, json!(want), "{algorithm}({value:?}) as {encoding}");
    }
    // hex is the default encoding.
    assert_eq!(
        check("crypto.hash", json!({"algorithm": "md5", "value": "abc"})).await.unwrap(),
        json!("900150983cd24fb0d6963f7d28e17f72")
    );
}

#[tokio::test]
async fn hmacs_match_rfc_4231_and_2202() {
    let key1 = "0b".repeat(20);
    let table = [
        // RFC 4231 test case 1 (key 0x0b × 20, "Hi There").
        (
            "sha256",
            key1.as_str(),
            "hex",
            "Hi There",
            "hex",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            "sha512",
            key1.as_str(),
            "hex",
            "Hi There",
            "hex",
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
        ),
        // RFC 4231 test case 2 (key "Jefe").
        (
            "sha256",
            "Jefe",
            "utf8",
            "what do ya want for nothing?",
            "hex",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            "sha512",
            "Jefe",
            "utf8",
            "what do ya want for nothing?",
            "hex",
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ),
        (
            "sha256",
            "Jefe",
            "utf8",
            "what do ya want for nothing?",
            "base64",
            "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=",
        ),
        // RFC 2202 test cases 1 and 2 (HMAC-SHA1).
        ("sha1", key1.as_str(), "hex", "Hi There", "hex", "b617318655057264e28bc0b6fb378c8ef146be00"),
        ("sha1", "Jefe", "utf8", "what do ya want for nothing?", "hex", "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"),
        // The key 0x0b × 20 written in base64.
        (
            "sha256",
            "CwsLCwsLCwsLCwsLCwsLCwsLCws=",
            "base64",
            "Hi There",
            "hex",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
    ];
    for (algorithm, key, key_encoding, value, encoding, want) in table {
        let input = json!({"algorithm": algorithm, "key": key, "key_encoding": key_encoding, "value": value, "encoding": encoding});
        assert_eq!(check("crypto.hmac", input.clone()).await.unwrap(), json!(want), "{input}");
    }
    let e = check("crypto.hmac", json!({"algorithm": "md5", "key": "k", "value": "v"})).await.unwrap_err();
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::Input, "algorithm: expected one of sha1, sha256, sha512, got 'md5'")
    );
    let e = check("crypto.hmac", json!({"algorithm": "sha256", "key": "zz", "key_encoding": "hex", "value": "v"}))
        .await
        .unwrap_err();
    assert!(e.message.starts_with("key: not valid hex"), "{}", e.message);
}

#[tokio::test]
async fn uuids() {
    for (input, version) in [(json!({}), 4), (json!({"version": 4}), 4), (json!({"version": "7"}), 7)] {
        let out = check("crypto.uuid", input).await.unwrap();
        let s = out.as_str().unwrap();
        assert_eq!(s.len(), 36, "{s}");
        assert_eq!(s.as_bytes()[14], b'0' + version, "{s}");
    }
    let a = check("crypto.uuid", json!({})).await.unwrap();
    let b = check("crypto.uuid", json!({})).await.unwrap();
    assert_ne!(a, b);
    let e = check("crypto.uuid", json!({"version": 5})).await.unwrap_err();
    assert_eq!(e.message, "version: expected one of 4, 7, got '5'");
}

#[tokio::test]
async fn base64_round_trips() {
    let text = "héllo wörld?>";
    let table = [
        (json!({"value": text}), "aMOpbGxvIHfDtnJsZD8+"),
        (json!({"value": text, "url_safe": true}), "aMOpbGxvIHfDtnJsZD8-"),
        (json!({"value": "ab"}), "YWI="),
        (json!({"value": "ab", "url_safe": true}), "YWI"),
    ];
    for (input, want) in table {
        assert_eq!(check("crypto.base64_encode", input.clone()).await.unwrap(), json!(want), "{input}");
    }
    for (value, url_safe, want) in [
        ("aMOpbGxvIHfDtnJsZD8+", false, text),
        ("aMOpbGxvIHfDtnJsZD8-", true, text),
        ("YWI=", false, "ab"),
        ("YWI", false, "ab"),
        ("YWI", true, "ab"),
    ] {
        let out = check("crypto.base64_decode", json!({"value": value, "url_safe": url_safe})).await.unwrap();
        assert_eq!(out, json!(want), "{value}");
    }
    let e = check("crypto.base64_decode", json!({"value": "!!"})).await.unwrap_err();
    assert!(e.message.starts_with("value: not valid base64"), "{}", e.message);
    let e = check("crypto.base64_decode", json!({"value": "/wCA"})).await.unwrap_err();
    assert_eq!(e.message, "value: the decoded bytes are not UTF-8 text");
}
