//! The key file: created with mode 0600, refused when group or others may access it, refused
//! clearly when corrupt, rotated without losing old keys; and rotation end to end.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use weft_vault::{Aad, Keyring, Vault, VaultError};

fn aad() -> Aad {
    Aad::new("org_1", "connection:con_9", "api_key")
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap()
}

/// The directory's entries other than the key file: temporary files left behind.
fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        // The rotation lock stays (empty, 0600): removing it would race with a waiting rotation.
        .filter(|name| name != "master.key" && !(name == "master.key.lock" && mode(&dir.join(name)) == 0o600))
        .collect()
}

/// Writes `text` as a key file with mode 0600.
fn write_key_file(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn a_missing_key_file_is_created_with_mode_0600_and_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let keyring = Keyring::load_or_create_file(&path).unwrap();
    assert_eq!((keyring.current_id(), keyring.ids()), ("k1", vec!["k1"]));
    assert_eq!(mode(&path), 0o600);
    let file = json(&path);
    assert_eq!(file["current"], "k1");
    let keys = file["keys"].as_object().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(STANDARD.decode(keys["k1"].as_str().unwrap()).unwrap().len(), 32);
    assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
}

#[test]
fn a_loaded_key_file_gives_back_the_same_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let sealed = Vault::new(Keyring::load_or_create_file(&path).unwrap()).seal(b"s3cr3t", &aad()).unwrap();
    let before = fs::read(&path).unwrap();
    let again = Vault::new(Keyring::load_or_create_file(&path).unwrap());
    assert_eq!(again.open(&sealed, &aad()).unwrap().as_slice(), b"s3cr3t");
    assert_eq!(fs::read(&path).unwrap(), before, "loading does not rewrite the file");
}

#[test]
fn a_key_file_that_group_or_others_may_access_is_refused_naming_path_mode_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    Keyring::load_or_create_file(&path).unwrap();
    for bad in [0o644, 0o640, 0o604, 0o660, 0o700 | 0o001] {
        fs::set_permissions(&path, fs::Permissions::from_mode(bad)).unwrap();
        let err = Keyring::load_or_create_file(&path).unwrap_err();
        assert!(matches!(&err, VaultError::KeyFileMode { mode, .. } if *mode == bad), "{bad:o}: {err:?}");
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains(&format!("has mode {bad:04o}")), "{message}");
        assert!(message.contains(&format!("chmod 600 {}", path.display())), "{message}");
        assert!(matches!(Keyring::rotate_file(&path).unwrap_err(), VaultError::KeyFileMode { .. }));
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
    assert!(Keyring::load_or_create_file(&path).is_ok(), "owner-only read access is fine");
}

#[test]
fn a_corrupt_key_file_is_refused_naming_the_problem_without_key_material() {
    let k1 = STANDARD.encode([1u8; 32]);
    let short = STANDARD.encode([1u8; 31]);
    let cases = [
        (String::new(), "is not a valid key file (EOF while parsing"),
        ("garbage".into(), "is not a valid key file (expected value at line 1 column 1)"),
        (format!(r#"{{"current": "k1", "keys": {{"k1": "{k1}""#), "is not a valid key file (EOF while parsing"),
        (format!(r#"{{"keys": {{"k1": "{k1}"}}}}"#), "missing field `current`"),
        (r#"{"current": "k1"}"#.into(), "missing field `keys`"),
        (format!(r#"{{"current": "k1", "keys": {{"k1": "{k1}"}}, "extra": 1}}"#), "unknown field `extra`"),
        (r#"{"current": "k1", "keys": {}}"#.into(), "has no keys"),
        (
            format!(r#"{{"current": "k2", "keys": {{"k1": "{k1}"}}}}"#),
            "`current` names `k2`, which is not among the keys (k1)",
        ),
        (format!(r#"{{"current": "", "keys": {{"k1": "{k1}"}}}}"#), "`current`: the key id is empty"),
        (r#"{"current": "k1", "keys": {"k1": "%%%"}}"#.into(), "key `k1` is not valid base64"),
        (format!(r#"{{"current": "k1", "keys": {{"k1": "{short}"}}}}"#), "key `k1` decodes to 31 bytes"),
        (
            format!(r#"{{"current": "k1", "keys": {{"k1": "{k1}", "k1": "{k1}"}}}}"#),
            "the key id `k1` appears more than once",
        ),
        (format!(r#"{{"current": "k1", "keys": {{"k 1": "{k1}"}}}}"#), "the key id of entry 1 may only contain"),
        (r#"{"current": "k1", "keys": {"k1": 5}}"#.into(), "invalid type: integer `5`, expected a string"),
        (format!(r#"{{"current": "k1", "keys": "{k1}"}}"#), "a string where another type was expected at line 1"),
        (format!(r#""{k1}""#), "a string where another type was expected at line 1"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    for (text, expected) in cases {
        write_key_file(&path, &text);
        let err = Keyring::load_or_create_file(&path).unwrap_err();
        assert!(matches!(err, VaultError::KeyFile { .. }), "{text}: {err:?}");
        let message = err.to_string();
        assert!(message.starts_with(&format!("key file {}: ", path.display())), "{message}");
        assert!(message.contains(expected), "{text}: `{message}` should contain `{expected}`");
        assert!(!message.contains(&k1[..20]) && !message.contains(&short[..20]), "{message} shows key material");
        assert_eq!(fs::read_to_string(&path).unwrap(), text, "a corrupt file is left as it is");
    }
}

#[test]
fn rotate_file_keeps_old_keys_and_switches_current() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let first = Keyring::load_or_create_file(&path).unwrap();
    let k1 = json(&path)["keys"]["k1"].clone();

    assert_eq!(Keyring::rotate_file(&path).unwrap(), "k2");
    assert_eq!(mode(&path), 0o600);
    let file = json(&path);
    assert_eq!(file["current"], "k2");
    assert_eq!(file["keys"]["k1"], k1, "the old key is kept as it was");
    assert_ne!(file["keys"]["k2"], k1);
    let rotated = Keyring::load_or_create_file(&path).unwrap();
    assert_eq!((rotated.current_id(), rotated.ids()), ("k2", vec!["k1", "k2"]));

    assert_eq!(Keyring::rotate_file(&path).unwrap(), "k3");
    let again = Keyring::load_or_create_file(&path).unwrap();
    assert_eq!((again.current_id(), again.ids()), ("k3", vec!["k1", "k2", "k3"]));
    assert_eq!(mode(&path), 0o600);
    assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));

    // Values sealed before the rotations still open.
    let sealed = Vault::new(first).seal(b"s3cr3t", &aad()).unwrap();
    assert_eq!(Vault::new(again).open(&sealed, &aad()).unwrap().as_slice(), b"s3cr3t");
}

#[test]
fn rotate_file_numbers_past_the_highest_k_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let (a, b) = (STANDARD.encode([1u8; 32]), STANDARD.encode([2u8; 32]));
    write_key_file(&path, &format!(r#"{{"current": "k9", "keys": {{"legacy": "{a}", "k9": "{b}"}}}}"#));
    assert_eq!(Keyring::rotate_file(&path).unwrap(), "k10");
    let keyring = Keyring::load_or_create_file(&path).unwrap();
    assert_eq!((keyring.current_id(), keyring.ids()), ("k10", vec!["legacy", "k9", "k10"]));
}

#[test]
fn rotating_a_missing_key_file_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let err = Keyring::rotate_file(&path).unwrap_err();
    assert!(matches!(&err, VaultError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound));
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    assert!(!path.exists());
}

#[test]
fn a_key_file_in_a_missing_directory_fails_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("master.key");
    let err = Keyring::load_or_create_file(&path).unwrap_err();
    assert!(matches!(err, VaultError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[test]
fn concurrent_first_starts_agree_on_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let keyrings: Vec<Keyring> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| Keyring::load_or_create_file(&path).unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let sealed = Vault::new(keyrings[0].clone()).seal(b"s3cr3t", &aad()).unwrap();
    for keyring in keyrings {
        assert_eq!(Vault::new(keyring).open(&sealed, &aad()).unwrap().as_slice(), b"s3cr3t");
    }
    assert!(leftovers(dir.path()).is_empty(), "{:?}", leftovers(dir.path()));
}

#[test]
fn rotation_end_to_end_rewraps_and_retires_the_old_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let sealed = Vault::new(Keyring::load_or_create_file(&path).unwrap()).seal(b"s3cr3t", &aad()).unwrap();
    assert_eq!(sealed.key_id(), "k1");

    assert_eq!(Keyring::rotate_file(&path).unwrap(), "k2");
    let vault = Vault::new(Keyring::load_or_create_file(&path).unwrap());
    assert_eq!(vault.keyring().current_id(), "k2");
    let rewrapped = vault.rewrap(&sealed, &aad()).unwrap();
    assert_eq!(rewrapped.key_id(), "k2");
    assert_eq!(vault.open(&rewrapped, &aad()).unwrap().as_slice(), b"s3cr3t");

    // A vault that no longer has k1 (here: k2 alone, through WEFT_MASTER_KEY).
    let k2 = json(&path)["keys"]["k2"].as_str().unwrap().to_owned();
    let without_k1 = Vault::new(Keyring::from_env_value(&format!("k2:{k2}")).unwrap());
    assert_eq!(without_k1.open(&rewrapped, &aad()).unwrap().as_slice(), b"s3cr3t");
    let err = without_k1.open(&sealed, &aad()).unwrap_err();
    assert!(matches!(&err, VaultError::UnknownKey { key_id, .. } if key_id == "k1"), "{err:?}");
    assert!(
        err.to_string().contains("sealed under master key `k1`, which is not in the keyring (it has: k2)"),
        "{err}"
    );
}

#[test]
fn concurrent_rotations_each_add_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    Keyring::load_or_create_file(&path).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || Keyring::rotate_file(&path).unwrap())
        })
        .collect();
    let mut ids: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    ids.sort_by_key(|id| id[1..].parse::<u32>().unwrap());
    assert_eq!(ids, (2..=9).map(|n| format!("k{n}")).collect::<Vec<_>>(), "each rotation got its own id");
    let ring = Keyring::load_or_create_file(&path).unwrap();
    assert_eq!(ring.ids().len(), 9, "no rotation dropped another's key: {:?}", ring.ids());
    assert_eq!(ring.current_id(), "k9");
}
