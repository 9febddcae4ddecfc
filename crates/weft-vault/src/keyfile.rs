//! The master key file: `{"current": "k1", "keys": {"k1": "<base64>"}}`, created on first use
//! with mode 0600, refused when its group or others may access it, and rotated by rewriting it
//! whole through a temporary file in the same directory (never a half-written key file).

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use zeroize::Zeroizing;

use crate::VaultError;
use crate::keyring::{Keyring, MasterKey, check_key_id, decode_key, random_key};

/// The permission bits a key file is created with, and the only ones (with fewer) it may have.
const FILE_MODE: u32 = 0o600;

impl Keyring {
    /// Loads the key file at `path`, or creates it with one fresh key `k1` if there is none.
    ///
    /// A new file is written to a temporary file in the same directory (created with mode 0600,
    /// `create_new`), synced, and then published under `path` by a hard link, which — unlike a
    /// rename — fails if another process created `path` meanwhile; that process's file is then
    /// loaded instead, so two first starts never end up with different keys.
    ///
    /// # Errors
    /// - [`VaultError::KeyFileMode`] if the file grants any access to its group or others
    ///   (`mode & 0o077 != 0`), naming the path, the mode and `chmod 600 <path>`;
    /// - [`VaultError::KeyFile`] if it is not valid (JSON, ids, base64, key lengths, `current`);
    /// - [`VaultError::Io`] if it cannot be read or created.
    pub fn load_or_create_file(path: impl AsRef<Path>) -> Result<Keyring, VaultError> {
        let path = path.as_ref();
        if let Some(keyring) = read_key_file(path)? {
            return Ok(keyring);
        }
        let keyring = Keyring::new(vec![("k1".to_owned(), random_key()?)], "k1").expect("k1 is in the ring");
        match write_key_file(path, &keyring, Publish::CreateNew) {
            Ok(()) => Ok(keyring),
            Err(e) if matches!(&e, VaultError::Io { source, .. } if source.kind() == io::ErrorKind::AlreadyExists) => {
                read_key_file(path)?.ok_or(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Adds a fresh random key to the key file at `path` and makes it current, keeping every
    /// older key (values wrapped under them still open; [`crate::Vault::rewrap`] moves them to
    /// the new key). The new id is `k<n>`, one past the highest `k<number>` id in the file.
    /// The file is rewritten whole, mode 0600, through a synced temporary file renamed over it.
    /// Returns the new key's id.
    ///
    /// Rotations of one file are serialized by an exclusive lock on `<path>.lock` (the key file
    /// itself is replaced by each rotation, so it cannot carry the lock): two at once both add
    /// their key, one after the other.
    ///
    /// # Errors
    /// As [`Keyring::load_or_create_file`], and [`VaultError::Io`] (not found) if there is no
    /// key file at `path`.
    pub fn rotate_file(path: impl AsRef<Path>) -> Result<String, VaultError> {
        let path = path.as_ref();
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| io_error(&lock_path, e))?;
        // Held until `lock` is dropped at the end of this call.
        lock.lock().map_err(|e| io_error(&lock_path, e))?;
        let Some(keyring) = read_key_file(path)? else {
            return Err(io_error(path, io::Error::new(io::ErrorKind::NotFound, "no key file to rotate")));
        };
        let next =
            keyring.ids().iter().filter_map(|id| id.strip_prefix('k')?.parse::<u64>().ok()).max().unwrap_or(0) + 1;
        let id = format!("k{next}");
        let mut keys = keyring.entries().to_vec();
        keys.push((id.clone(), random_key()?));
        let rotated = Keyring::new(keys, &id).expect("the new key is in the ring");
        write_key_file(path, &rotated, Publish::Replace)?;
        Ok(id)
    }
}

/// How a written temporary file takes the key file's place.
#[derive(Clone, Copy)]
enum Publish {
    /// Hard link: fails with `AlreadyExists` if the key file exists.
    CreateNew,
    /// Rename: replaces the key file.
    Replace,
}

/// Reads and checks the key file, or `None` if there is none.
fn read_key_file(path: &Path) -> Result<Option<Keyring>, VaultError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path, e)),
    };
    // Checked on the open file, so it is the mode of exactly what is read.
    let meta = file.metadata().map_err(|e| io_error(path, e))?;
    if !meta.is_file() {
        return Err(file_error(path, "is not a regular file".into()));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(VaultError::KeyFileMode { path: path.to_owned(), mode });
    }
    let mut text = Zeroizing::new(String::with_capacity(usize::try_from(meta.len()).unwrap_or(0) + 1));
    file.read_to_string(&mut text).map_err(|e| io_error(path, e))?;
    parse_key_file(&text).map(Some).map_err(|problem| file_error(path, problem))
}

/// The JSON shape of the key file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileJson {
    current: String,
    keys: KeyEntries,
}

/// The `keys` object in file order, duplicates refused, values wiped when dropped.
struct KeyEntries(Vec<(String, Zeroizing<String>)>);

impl<'de> Deserialize<'de> for KeyEntries {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<KeyEntries, D::Error> {
        deserializer.deserialize_map(KeyEntriesVisitor)
    }
}

struct KeyEntriesVisitor;

impl<'de> Visitor<'de> for KeyEntriesVisitor {
    type Value = KeyEntries;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object mapping key ids to base64 keys")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyEntries, A::Error> {
        let mut entries: Vec<(String, Zeroizing<String>)> = Vec::new();
        while let Some(id) = map.next_key::<String>()? {
            let key = Zeroizing::new(map.next_value::<String>()?);
            if entries.iter().any(|(seen, _)| *seen == id) {
                let shown = if check_key_id(&id).is_ok() { format!("`{id}`") } else { "of an entry".into() };
                return Err(de::Error::custom(format!("the key id {shown} appears more than once")));
            }
            entries.push((id, key));
        }
        Ok(KeyEntries(entries))
    }
}

/// Parses and checks the key file's text; the error is a problem statement without key material.
fn parse_key_file(text: &str) -> Result<Keyring, String> {
    let json: KeyFileJson = serde_json::from_str(text).map_err(|e| {
        // serde_json quotes a string found where another type was expected: that string could be
        // a key, so such messages are replaced by one that names only the position.
        let detail = if e.is_data() && e.to_string().contains("string \"") {
            format!("a string where another type was expected at line {} column {}", e.line(), e.column())
        } else {
            e.to_string()
        };
        format!(
            "is not a valid key file ({detail}); expected \
             {{\"current\": \"<key id>\", \"keys\": {{\"<key id>\": \"<base64 key>\", …}}}}"
        )
    })?;
    if json.keys.0.is_empty() {
        return Err("has no keys".into());
    }
    let mut keys = Vec::with_capacity(json.keys.0.len());
    for (n, (id, key)) in json.keys.0.iter().enumerate() {
        check_key_id(id).map_err(|problem| format!("the key id of entry {} {problem}", n + 1))?;
        keys.push((id.clone(), decode_key(key).map_err(|problem| format!("key `{id}` {problem}"))?));
    }
    let ids = keys.iter().map(|(id, _): &(String, MasterKey)| id.as_str()).collect::<Vec<_>>().join(", ");
    let current = json.current;
    match check_key_id(&current) {
        Err(problem) => Err(format!("`current`: the key id {problem}")),
        Ok(()) => Keyring::new(keys, &current)
            .ok_or_else(|| format!("`current` names `{current}`, which is not among the keys ({ids})")),
    }
}

/// The key file's text; built in a buffer that is wiped when dropped.
fn render_key_file(keyring: &Keyring) -> Zeroizing<String> {
    let entries = keyring.entries();
    // Sized up front so that the buffer never reallocates and leaves a copy behind.
    let mut text = Zeroizing::new(String::with_capacity(64 + entries.len() * (2 * 32 + 64)));
    // Ids are `[A-Za-z0-9_-]` and base64 needs no escaping: the JSON can be written directly.
    let _ = write!(text, "{{\n  \"current\": \"{}\",\n  \"keys\": {{", keyring.current_id());
    for (n, (id, key)) in entries.iter().enumerate() {
        let _ = write!(text, "{}\n    \"{id}\": \"", if n == 0 { "" } else { "," });
        STANDARD.encode_string(key.as_ref(), &mut text);
        text.push('"');
    }
    text.push_str("\n  }\n}\n");
    text
}

/// Writes `keyring` to a temporary file beside `path` (mode 0600, `create_new`), syncs it,
/// publishes it under `path`, and syncs the directory so that the new name is durable too.
fn write_key_file(path: &Path, keyring: &Keyring, publish: Publish) -> Result<(), VaultError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name() else {
        return Err(file_error(path, "is not a file path".into()));
    };
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| VaultError::Random(e.to_string()))?;
    let suffix = random.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    let tmp = dir.join(format!(".{}.{suffix}.tmp", name.to_string_lossy()));
    let mut file =
        OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(&tmp).map_err(|e| io_error(&tmp, e))?;
    let written = (|| {
        file.write_all(render_key_file(keyring).as_bytes())?;
        file.sync_all()?;
        drop(file);
        match publish {
            Publish::CreateNew => fs::hard_link(&tmp, path),
            Publish::Replace => fs::rename(&tmp, path),
        }
    })();
    // After a rename the temporary name is gone; after a link (or a failure) it is removed.
    let _ = fs::remove_file(&tmp);
    written.map_err(|e| io_error(path, e))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io_error(dir, e))
}

fn file_error(path: &Path, problem: String) -> VaultError {
    VaultError::KeyFile { path: path.to_owned(), problem }
}

fn io_error(path: &Path, source: io::Error) -> VaultError {
    VaultError::Io { path: PathBuf::from(path), source }
}
