//! Sealing and opening: round trips, the text form, tampering with each part, the binding to
//! the associated data, and re-wrapping under a new master key.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use weft_vault::{Aad, Keyring, Sealed, Vault, VaultError};

/// A master key of 32 bytes `fill`, as base64.
fn key(fill: u8) -> String {
    STANDARD.encode([fill; 32])
}

/// A vault over `WEFT_MASTER_KEY=value`.
fn vault(value: &str) -> Vault {
    Vault::new(Keyring::from_env_value(value).unwrap())
}

fn aad() -> Aad {
    Aad::new("org_1", "connection:con_9", "api_key")
}

/// `sealed` with its text part `part` (2: wrapped data key, 3: encrypted data) replaced by
/// what `edit` makes of its decoded bytes.
fn edit_part(sealed: &Sealed, part: usize, edit: impl FnOnce(&mut Vec<u8>)) -> Sealed {
    let mut parts: Vec<String> = sealed.to_string().split('.').map(String::from).collect();
    let mut bytes = URL_SAFE_NO_PAD.decode(&parts[part]).unwrap();
    edit(&mut bytes);
    parts[part] = URL_SAFE_NO_PAD.encode(bytes);
    Sealed::parse(&parts.join(".")).unwrap()
}

/// `sealed` with one bit flipped in byte `byte` of text part `part`.
fn flip(sealed: &Sealed, part: usize, byte: usize) -> Sealed {
    edit_part(sealed, part, |bytes| bytes[byte] ^= 0x10)
}

/// `sealed` with its key id replaced.
fn with_key_id(sealed: &Sealed, key_id: &str) -> Sealed {
    let text = sealed.to_string();
    let rest = text.strip_prefix(&format!("v1.{}.", sealed.key_id())).unwrap();
    Sealed::parse(&format!("v1.{key_id}.{rest}")).unwrap()
}

#[test]
fn round_trips_empty_short_and_one_mebibyte_plaintexts() {
    let vault = vault(&key(1));
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    for plaintext in [&b""[..], b"s3cr3t-api-key", &big] {
        let sealed = vault.seal(plaintext, &aad()).unwrap();
        let reparsed = Sealed::parse(&sealed.to_string()).unwrap();
        assert_eq!(reparsed, sealed);
        assert_eq!(vault.open(&reparsed, &aad()).unwrap().as_slice(), plaintext);
    }
}

#[test]
fn two_seals_of_the_same_plaintext_differ_in_every_random_part() {
    let vault = vault(&key(1));
    let (a, b) = (vault.seal(b"same", &aad()).unwrap(), vault.seal(b"same", &aad()).unwrap());
    let (a, b) = (a.to_string(), b.to_string());
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    assert_eq!(a[..2], b[..2], "same version and key id");
    assert_ne!(a[2], b[2], "fresh data key and wrap nonce per value");
    assert_ne!(a[3], b[3], "fresh data key and data nonce per value");
}

#[test]
fn text_form_has_the_documented_layout() {
    let vault = vault(&format!("k1:{},k7:{}", key(1), key(7)));
    let sealed = vault.seal(b"hello", &aad()).unwrap();
    let text = sealed.to_string();
    let parts: Vec<&str> = text.split('.').collect();
    assert_eq!(parts.len(), 4);
    assert_eq!((parts[0], parts[1]), ("v1", "k7"));
    assert_eq!(sealed.key_id(), "k7");
    assert_eq!(parts[2].len(), 80, "base64url of 12 + 32 + 16 bytes, no padding");
    assert_eq!(URL_SAFE_NO_PAD.decode(parts[3]).unwrap().len(), 24 + 5 + 16);
    assert!(!text.contains('=') && !text.contains('+') && !text.contains('/'), "{text}");
    assert_eq!(text.parse::<Sealed>().unwrap(), sealed);
}

#[test]
fn a_flipped_bit_in_the_data_ciphertext_fails_to_decrypt() {
    let vault = vault(&key(1));
    let sealed = vault.seal(b"s3cr3t", &aad()).unwrap();
    for byte in [24, 24 + 5, 24 + 6 + 15] {
        let err = vault.open(&flip(&sealed, 3, byte), &aad()).unwrap_err();
        assert!(matches!(err, VaultError::Decrypt), "byte {byte}: {err:?}");
        assert!(err.to_string().contains("ciphertext or its nonce was altered"), "{err}");
    }
}

#[test]
fn a_flipped_bit_in_the_data_nonce_fails_to_decrypt() {
    let vault = vault(&key(1));
    let sealed = vault.seal(b"s3cr3t", &aad()).unwrap();
    for byte in [0, 23] {
        let err = vault.open(&flip(&sealed, 3, byte), &aad()).unwrap_err();
        assert!(matches!(err, VaultError::Decrypt), "byte {byte}: {err:?}");
    }
}

#[test]
fn a_flipped_bit_in_the_wrapped_data_key_fails_to_unwrap() {
    let vault = vault(&key(1));
    let sealed = vault.seal(b"s3cr3t", &aad()).unwrap();
    for byte in [12, 12 + 31, 12 + 32 + 15] {
        let err = vault.open(&flip(&sealed, 2, byte), &aad()).unwrap_err();
        assert!(matches!(&err, VaultError::KeyUnwrap { key_id } if key_id == "env1"), "byte {byte}: {err:?}");
        assert!(err.to_string().contains("wrapped under master key `env1` failed authentication"), "{err}");
    }
}

#[test]
fn a_flipped_bit_in_the_wrap_nonce_fails_to_unwrap() {
    let vault = vault(&key(1));
    let sealed = vault.seal(b"s3cr3t", &aad()).unwrap();
    for byte in [0, 11] {
        let err = vault.open(&flip(&sealed, 2, byte), &aad()).unwrap_err();
        assert!(matches!(err, VaultError::KeyUnwrap { .. }), "byte {byte}: {err:?}");
    }
}

#[test]
fn a_key_id_changed_to_an_absent_key_fails_naming_it() {
    let vault = vault(&format!("k1:{},k2:{}", key(1), key(2)));
    let sealed = vault.seal(b"s3cr3t", &aad()).unwrap();
    let err = vault.open(&with_key_id(&sealed, "k9"), &aad()).unwrap_err();
    assert!(matches!(&err, VaultError::UnknownKey { key_id, .. } if key_id == "k9"), "{err:?}");
    assert!(err.to_string().contains("master key `k9`, which is not in the keyring (it has: k1, k2)"), "{err}");
}

#[test]
fn a_key_id_changed_to_another_name_of_the_same_key_fails_to_unwrap() {
    // The same key material under two ids: only the binding of the id to the wrap tells them apart.
    let vault = vault(&format!("old:{},new:{}", key(3), key(3)));
    let sealed = vault.seal(b"s3cr3t", &aad()).unwrap();
    assert_eq!(sealed.key_id(), "new");
    let err = vault.open(&with_key_id(&sealed, "old"), &aad()).unwrap_err();
    assert!(matches!(&err, VaultError::KeyUnwrap { key_id } if key_id == "old"), "{err:?}");
}

#[test]
fn encrypted_data_moved_under_another_values_wrapped_key_fails_to_decrypt() {
    let vault = vault(&key(1));
    let (a, b) = (vault.seal(b"first", &aad()).unwrap(), vault.seal(b"second", &aad()).unwrap());
    let data_of_b = b.to_string().rsplit('.').next().unwrap().to_owned();
    let mut parts: Vec<String> = a.to_string().split('.').map(String::from).collect();
    parts[3] = data_of_b;
    let spliced = Sealed::parse(&parts.join(".")).unwrap();
    assert!(matches!(vault.open(&spliced, &aad()).unwrap_err(), VaultError::Decrypt));
}

#[test]
fn a_value_opened_with_another_records_fields_or_organizations_aad_fails() {
    let vault = vault(&key(1));
    let sealed = vault.seal(b"s3cr3t", &aad()).unwrap();
    for other in [
        Aad::new("org_1", "connection:con_8", "api_key"),
        Aad::new("org_1", "connection:con_9", "client_secret"),
        Aad::new("org_2", "connection:con_9", "api_key"),
        Aad::new("org_1", "instance:con_9", "api_key"),
    ] {
        let err = vault.open(&sealed, &other).unwrap_err();
        assert!(matches!(err, VaultError::KeyUnwrap { .. }), "{other:?}: {err:?}");
        assert!(err.to_string().contains("belongs to another organization, owner or field"), "{err}");
    }
    assert_eq!(vault.open(&sealed, &aad()).unwrap().as_slice(), b"s3cr3t");
}

#[test]
fn the_aad_encoding_is_unambiguous() {
    let (a, b) = (Aad::new("org", "a:b", "c"), Aad::new("org", "a", "b:c"));
    assert_ne!(a.as_bytes(), b.as_bytes());
    assert_ne!(Aad::new("ab", "", "c").as_bytes(), Aad::new("a", "b", "c").as_bytes());
    let vault = vault(&key(1));
    let sealed = vault.seal(b"s3cr3t", &a).unwrap();
    assert!(matches!(vault.open(&sealed, &b).unwrap_err(), VaultError::KeyUnwrap { .. }));
    assert_eq!((a.organization(), a.owner(), a.field()), ("org", "a:b", "c"));
}

#[test]
fn parsing_garbage_names_what_is_wrong() {
    let good = vault(&key(1)).seal(b"x", &aad()).unwrap().to_string();
    let parts: Vec<&str> = good.split('.').collect();
    let (wrapped, data) = (parts[2], parts[3]);
    let cases = [
        (String::new(), "expected 4 parts separated by `.`"),
        ("hello".into(), "found 1"),
        (format!("v1.k1.{wrapped}"), "found 3"),
        (format!("v1.k1.{wrapped}.{data}.extra"), "found 5"),
        (format!("v2.k1.{wrapped}.{data}"), "unsupported version `v2`"),
        (format!("v1..{wrapped}.{data}"), "the key id is empty"),
        (format!("v1.k/1.{wrapped}.{data}"), "the key id may only contain"),
        (format!("v1.k1.{}.{data}", "!".repeat(80)), "wrapped data key (part 3) is not unpadded base64url"),
        (format!("v1.k1.{wrapped}=.{data}"), "wrapped data key (part 3) is not unpadded base64url"),
        (format!("v1.k1.{}.{data}", &wrapped[..76]), "wrapped data key (part 3) is 57 bytes, expected 60"),
        (format!("v1.k1.{wrapped}.{}", "*".repeat(60)), "encrypted data (part 4) is not unpadded base64url"),
        (format!("v1.k1.{wrapped}.{}", &data[..52]), "encrypted data (part 4) is 39 bytes, shorter than"),
    ];
    for (text, expected) in cases {
        let err = Sealed::parse(&text).unwrap_err();
        assert!(matches!(err, VaultError::Malformed { .. }), "{text}: {err:?}");
        assert!(err.to_string().contains(expected), "{text}: `{err}` should contain `{expected}`");
    }
}

#[test]
fn rewrap_moves_a_value_to_the_current_key_without_touching_its_data() {
    let old = vault(&format!("k1:{}", key(1)));
    let sealed = old.seal(b"s3cr3t", &aad()).unwrap();
    let rotated = vault(&format!("k1:{},k2:{}", key(1), key(2)));
    let rewrapped = rotated.rewrap(&sealed, &aad()).unwrap();
    assert_eq!(rewrapped.key_id(), "k2");
    let data = |s: &Sealed| s.to_string().rsplit('.').next().unwrap().to_owned();
    assert_eq!(data(&rewrapped), data(&sealed), "the encrypted data is unchanged");
    assert_eq!(rotated.open(&rewrapped, &aad()).unwrap().as_slice(), b"s3cr3t");

    let only_k2 = vault(&format!("k2:{}", key(2)));
    assert_eq!(only_k2.open(&rewrapped, &aad()).unwrap().as_slice(), b"s3cr3t");
    let err = only_k2.open(&sealed, &aad()).unwrap_err();
    assert!(matches!(&err, VaultError::UnknownKey { key_id, .. } if key_id == "k1"), "{err:?}");
    assert!(err.to_string().contains("`k1`"), "{err}");
}

#[test]
fn rewrap_checks_the_aad() {
    let vault = vault(&format!("k1:{},k2:{}", key(1), key(2)));
    let sealed = vault.seal(b"s3cr3t", &aad()).unwrap();
    let other = Aad::new("org_2", "connection:con_9", "api_key");
    assert!(matches!(vault.rewrap(&sealed, &other).unwrap_err(), VaultError::KeyUnwrap { .. }));
}

#[test]
fn debug_output_shows_no_ciphertext() {
    let sealed = vault(&key(1)).seal(b"s3cr3t", &aad()).unwrap();
    let debug = format!("{sealed:?}");
    assert_eq!(debug, r#"Sealed { key_id: "env1", ciphertext_len: 6, .. }"#);
}
