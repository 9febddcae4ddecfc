//! `WEFT_MASTER_KEY`: one key or an `id:base64` list, every malformed case with its message,
//! and no key material in errors or `Debug` output.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use weft_vault::{Aad, Keyring, Vault, VaultError};

/// 32 key bytes whose base64 holds `+` and `/` (standard) or `-` and `_` (URL-safe).
const KEY: [u8; 32] = [
    0xfb, 0xff, 0xbf, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
    0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
];

fn aad() -> Aad {
    Aad::new("org_1", "connection:con_9", "api_key")
}

/// The error `WEFT_MASTER_KEY=value` gives, as text.
fn env_error(value: &str) -> String {
    match Keyring::from_env_value(value) {
        Err(err @ VaultError::MasterKeyEnv { .. }) => err.to_string(),
        other => panic!("{value:?}: expected a WEFT_MASTER_KEY error, got {other:?}"),
    }
}

#[test]
fn a_single_key_in_any_base64_flavour_is_env1() {
    let sealed = Vault::new(Keyring::from_env_value(&STANDARD.encode(KEY)).unwrap()).seal(b"s3cr3t", &aad()).unwrap();
    for text in [STANDARD.encode(KEY), STANDARD_NO_PAD.encode(KEY), URL_SAFE.encode(KEY), URL_SAFE_NO_PAD.encode(KEY)] {
        let keyring = Keyring::from_env_value(&format!("  {text}\n")).unwrap();
        assert_eq!((keyring.current_id(), keyring.ids()), ("env1", vec!["env1"]), "{text}");
        // Every spelling decodes to the same key: it opens what the others sealed.
        assert_eq!(Vault::new(keyring).open(&sealed, &aad()).unwrap().as_slice(), b"s3cr3t");
    }
}

#[test]
fn in_a_list_the_last_entry_is_current() {
    let (k1, k2) = (STANDARD.encode([1u8; 32]), URL_SAFE_NO_PAD.encode([2u8; 32]));
    let keyring = Keyring::from_env_value(&format!("k1:{k1}, k2 : {k2}")).unwrap();
    assert_eq!(keyring.ids(), ["k1", "k2"]);
    assert_eq!(keyring.current_id(), "k2");
    let keyring = Keyring::from_env_value(&format!("k2:{k2},k1:{k1}")).unwrap();
    assert_eq!(keyring.current_id(), "k1");
    let one = Keyring::from_env_value(&format!("primary:{k1}")).unwrap();
    assert_eq!((one.current_id(), one.ids()), ("primary", vec!["primary"]));
}

#[test]
fn a_single_key_moves_into_a_list_as_env1() {
    let single = STANDARD.encode([1u8; 32]);
    let sealed = Vault::new(Keyring::from_env_value(&single).unwrap()).seal(b"s3cr3t", &aad()).unwrap();
    assert_eq!(sealed.key_id(), "env1");
    let list = format!("env1:{single},k2:{}", STANDARD.encode([2u8; 32]));
    assert_eq!(
        Vault::new(Keyring::from_env_value(&list).unwrap()).open(&sealed, &aad()).unwrap().as_slice(),
        b"s3cr3t"
    );
}

#[test]
fn each_malformed_value_is_refused_naming_the_problem_without_key_material() {
    let (k1, k2) = (STANDARD.encode([1u8; 32]), STANDARD.encode([2u8; 32]));
    let short = STANDARD.encode([9u8; 16]);
    let long = STANDARD.encode([9u8; 33]);
    let cases = [
        (String::new(), "WEFT_MASTER_KEY: is empty"),
        ("  \n".into(), "WEFT_MASTER_KEY: is empty"),
        ("not*base64".into(), "the key is not valid base64"),
        (format!("{k1}+-"), "the key is not valid base64"),
        (short.clone(), "the key decodes to 16 bytes; a master key is 32 random bytes"),
        (long.clone(), "the key decodes to 33 bytes"),
        (format!("k1:{k1},k2:{short}"), "key `k2` decodes to 16 bytes"),
        (format!("k1:{k1},k2:%%%"), "key `k2` is not valid base64"),
        (format!(":{k1}"), "the key id of entry 1 is empty"),
        (format!("k1:{k1}, :{k2}"), "the key id of entry 2 is empty"),
        (format!("k1:{k1},k1:{k2}"), "key id `k1` appears more than once"),
        (format!("k1:{k1},{k2}"), "entry 2 has no `id:` prefix"),
        (format!("k1:{k1},"), "entry 2 is empty"),
        (format!("k1:{k1},,k2:{k2}"), "entry 2 is empty"),
        (format!("k.1:{k1}"), "the key id of entry 1 may only contain"),
        (format!("{k1}:{k2}"), "the key id of entry 1 is longer than 32 characters"),
    ];
    for (value, expected) in cases {
        let message = env_error(&value);
        assert!(message.contains(expected), "{value:?}: `{message}` should contain `{expected}`");
        for material in [&k1, &k2, &short, &long] {
            assert!(!message.contains(material.trim_end_matches('=')), "{value:?}: `{message}` shows key material");
        }
    }
}

#[test]
fn debug_output_shows_ids_only() {
    let (k1, k2) = (STANDARD.encode(KEY), URL_SAFE.encode([7u8; 32]));
    let keyring = Keyring::from_env_value(&format!("k1:{k1},k2:{k2}")).unwrap();
    let debug = format!("{keyring:?}");
    assert_eq!(debug, r#"Keyring { current: "k2", ids: ["k1", "k2"] }"#);
    let vault = format!("{:?}", Vault::new(keyring));
    for material in [&k1, &k2] {
        assert!(!vault.contains(material.as_str()) && !vault.contains(&material[..16]), "{vault}");
    }
    assert!(!format!("{:#?}", Keyring::from_env_value(&k1).unwrap()).contains(&k1[..16]));
}
