//! Helpers of the tests that run the `weft` binary: run a command, a scratch directory, and a
//! `weft serve` child process on a free port.

#![allow(dead_code)]

pub mod fleet;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Generous: a debug binary on a loaded 2-core machine may be slow to open the database.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Runs the `weft` binary with `args` and only the `WEFT_*` variables of `env` (those of the
/// test's own environment are removed so a developer's settings cannot leak in); returns the
/// exit code, stdout and stderr.
pub fn weft(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_weft"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("WEFT_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd.args(args).envs(env.iter().copied()).stdin(Stdio::null()).output().expect("weft runs");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("weft prints UTF-8");
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

/// A fresh scratch directory under cargo's per-target temp dir (no tempfile crate needed).
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `weft serve`; dropping it kills the process, so a failed assertion leaves no
/// server behind.
pub struct Server {
    child: Child,
    pub url: String,
    output: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `weft serve` on a free port with `args` and waits until it listens.
    pub fn start(data_dir: &Path, args: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weft"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("WEFT_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .args(["serve", "--data-dir", data_dir.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("weft serve starts");
        let output = Arc::new(Mutex::new(String::new()));
        let mut stdout = child.stdout.take().unwrap();
        let log = output.clone();
        thread::spawn(move || {
            let mut text = String::new();
            let _ = stdout.read_to_string(&mut text);
            log.lock().unwrap().push_str(&text);
        });
        // Stderr is read line by line until the address shows, then drained so the server
        // never blocks on a full pipe.
        let (tx, rx) = channel();
        let stderr = child.stderr.take().unwrap();
        let log = output.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock().unwrap().push_str(&format!("{line}\n"));
                if let Some(url) = line.strip_prefix("Weft is listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let url = match rx.recv_timeout(STARTUP_TIMEOUT) {
            Ok(url) => url,
            Err(RecvTimeoutError::Timeout) => {
                panic!("weft serve did not listen within {STARTUP_TIMEOUT:?}:\n{}", output.lock().unwrap())
            }
            Err(RecvTimeoutError::Disconnected) => panic!("weft serve exited:\n{}", output.lock().unwrap()),
        };
        assert!(!url.ends_with(":0"), "the server must print the port it bound: {url}");
        Server { child, url, output }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if thread::panicking() {
            eprintln!("--- weft serve output ---\n{}", self.output.lock().unwrap());
        }
    }
}
