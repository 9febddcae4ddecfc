//! The README quickstart run end to end as a test: `weft serve --demo` on a fresh data
//! directory, the `curl` it prints run as printed, the execution inspected with the client
//! commands, a graceful SIGTERM stop, and restarts on the same data directory that reuse the demo
//! instance. It also pins the README's commands, so the test breaks if the README drifts.

mod common;

use common::{scratch_dir, weft};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Generous: a debug binary on a loaded 2-core machine may be slow to open the database.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// The server promises to drain and exit within 30 s of SIGTERM.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// What the README says the demo curl answers.
const DEMO_ANSWER: &str = r#"{"order":"A-1001","total":110,"forwarded":true}"#;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A `weft serve` child process. Its stdout lines arrive on a channel; stdout and stderr are
/// also kept whole for failure messages. Dropping it kills the process (a failed assertion must
/// not leave a server behind).
struct Server {
    child: Child,
    lines: Receiver<String>,
    output: Arc<Mutex<String>>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weft"));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("WEFT_") {
                cmd.env_remove(key);
            }
        }
        let mut child = cmd
            .arg("serve")
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("weft serve starts");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = channel();
        let stdout = child.stdout.take().unwrap();
        let log = output.clone();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                log.lock().unwrap().push_str(&format!("[stdout] {line}\n"));
                let _ = tx.send(line);
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let log = output.clone();
        thread::spawn(move || {
            // Drained continuously so the server never blocks on a full pipe.
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                log.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Server { child, lines, output }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Stdout lines up to and including the first that `done` accepts.
    fn read_until(&self, done: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let last = done(&line);
                    seen.push(line);
                    if last {
                        return seen;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no complete demo block within {STARTUP_TIMEOUT:?}; output so far:\n{}", self.output())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("weft serve closed its stdout early; output:\n{}", self.output())
                }
            }
        }
    }

    /// Sends SIGTERM (with the `kill` command: no signal crate needed) and waits for the exit.
    fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(status.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "weft serve did not exit within {SHUTDOWN_TIMEOUT:?} of SIGTERM; output:\n{}",
                self.output()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What `weft serve --demo` prints.
#[derive(Debug)]
struct DemoBlock {
    instance_id: String,
    token: String,
    webhook_url: String,
    /// The `curl …` line, without its indent.
    curl: String,
    /// The `WEFT_URL=… WEFT_TOKEN=… weft execution list` line.
    list_hint: String,
}

impl DemoBlock {
    /// The server's base URL: the webhook URL up to `/hooks/`.
    fn base_url(&self) -> &str {
        let (base, _) = self.webhook_url.split_once("/hooks/").expect("webhook URL has /hooks/");
        base
    }

    fn env(&self) -> [(&'static str, &str); 2] {
        [("WEFT_URL", self.base_url()), ("WEFT_TOKEN", self.token.as_str())]
    }
}

/// Starts `weft serve --demo` and reads the demo block from its stdout.
fn start_demo(data_dir: &Path, listen: &str) -> (Server, DemoBlock) {
    let server = Server::start(&["--demo", "--data-dir", data_dir.to_str().unwrap(), "--listen", listen]);
    let lines = server.read_until(|l| l.contains("weft execution list"));
    let find = |prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|rest| rest.trim().to_string())
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in the demo block:\n{}", lines.join("\n")))
    };
    let ready = find("Demo ready: integration order-sync v1 deployed for customer `demo` as instance ");
    let block = DemoBlock {
        instance_id: ready.strip_suffix('.').unwrap_or(&ready).to_string(),
        token: find("API token (admin): "),
        webhook_url: find("Webhook URL:"),
        curl: format!("curl {}", find("  curl ")),
        list_hint: format!("WEFT_URL={}", find("  WEFT_URL=")),
    };
    assert!(block.instance_id.starts_with("ins_"), "{block:?}");
    assert!(block.token.starts_with("weft_"), "{block:?}");
    (server, block)
}

/// Runs the printed curl line exactly as a user would paste it into a shell.
fn run_curl(curl: &str) -> String {
    let out = Command::new("sh").args(["-c", curl]).output().expect("sh runs");
    assert!(out.status.success(), "`{curl}` failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The `-d '…'` body of a curl line.
fn curl_body(curl: &str) -> &str {
    let start = curl.find("-d '").expect("curl has -d '…'") + 4;
    let len = curl[start..].find('\'').expect("closing quote");
    &curl[start..start + len]
}

/// Runs a client command that must succeed and returns its stdout.
fn ok(args: &[&str], env: &[(&str, &str)]) -> String {
    let (code, out, err) = weft(args, env);
    assert_eq!(code, 0, "weft {args:?} exited {code}\nstdout:\n{out}\nstderr:\n{err}");
    out
}

fn ok_json(args: &[&str], env: &[(&str, &str)]) -> Value {
    let out = ok(&[args, &["--json"]].concat(), env);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("weft {args:?} --json printed no JSON ({e}):\n{out}"))
}

fn execution_ids(env: &[(&str, &str)]) -> Vec<String> {
    let listing = ok_json(&["execution", "list"], env);
    listing["items"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn readme_names_the_commands_this_test_runs() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).expect("README.md at the repository root");
    for text in ["cargo run --release -p weft-cli -- serve --demo", "./scripts/test", DEMO_ANSWER] {
        assert!(readme.contains(text), "README.md no longer contains `{text}`");
    }
    assert!(workspace().join("scripts/test").is_file(), "README names ./scripts/test, which is missing");
    // The README's sample curl sends the same order the server prints.
    let readme_curl = readme.lines().find(|l| l.trim_start().starts_with("curl ")).expect("README shows the curl");
    let printed = r#"{"id":"A-1001","lines":[{"sku":"ab-1","qty":2,"price":30},{"sku":"cd-2","qty":1,"price":50}]}"#;
    assert_eq!(curl_body(readme_curl), printed);
}

#[test]
fn readme_quickstart_end_to_end() {
    let data = scratch_dir("quickstart");

    // 1. First start on a free port: the printed URLs carry the port actually bound.
    let (server, demo) = start_demo(&data, "127.0.0.1:0");
    let port: u16 = demo.base_url().rsplit(':').next().unwrap().parse().expect("URL has a port");
    assert_ne!(port, 0, "{demo:?}");
    assert_eq!(demo.list_hint, format!("WEFT_URL={} WEFT_TOKEN={} weft execution list", demo.base_url(), demo.token));
    assert_eq!(
        demo.curl,
        format!(
            "curl -s -X POST '{}' -H 'content-type: application/json' -d '{}'",
            demo.webhook_url,
            r#"{"id":"A-1001","lines":[{"sku":"ab-1","qty":2,"price":30},{"sku":"cd-2","qty":1,"price":50}]}"#
        )
    );

    // 2. The curl, run as printed, answers exactly what the README promises.
    assert_eq!(run_curl(&demo.curl), DEMO_ANSWER);

    // 3. The client commands see the execution.
    let env = demo.env();
    let listing = ok_json(&["execution", "list"], &env);
    let items = listing["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listing}");
    assert_eq!(items[0]["status"], "succeeded");
    assert_eq!(items[0]["instance_id"], demo.instance_id.as_str());
    assert_eq!(items[0]["flow"], "new-order");
    let id = items[0]["id"].as_str().unwrap().to_string();

    let shown = ok(&["execution", "show", &id], &env);
    assert!(shown.contains(&format!("ID           {id}\n")), "{shown}");
    assert!(shown.contains("Status       succeeded\n"), "{shown}");
    assert!(shown.contains("Trigger      webhook POST\n"), "{shown}");
    assert!(shown.contains("  forward        action     http.request  succeeded"), "{shown}");
    assert!(
        shown.contains("Result:\n  {\n    \"order\": \"A-1001\",\n    \"total\": 110,\n    \"forwarded\": true\n  }\n"),
        "{shown}"
    );
    let detail = ok_json(&["execution", "show", &id], &env);
    assert_eq!(detail["result"], json!({"order": "A-1001", "total": 110, "forwarded": true}));

    let logs = ok(&["execution", "logs", &id], &env);
    let call = format!("http.request: POST {}/demo/fulfilment/orders → 200", demo.base_url());
    assert!(logs.starts_with("AT  ") && logs.contains(&call), "{logs}");

    // 4. SIGTERM stops the server gracefully.
    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "weft serve exited with {status}");

    // 5. A restart on the same data directory and address reuses the demo instance: same
    //    webhook URL, the first execution still there, and the flow still runs.
    let (server, again) = start_demo(&data, &format!("127.0.0.1:{port}"));
    assert_eq!(again.instance_id, demo.instance_id);
    assert_eq!(again.webhook_url, demo.webhook_url);
    assert_eq!(execution_ids(&again.env()), vec![id.clone()]);
    // The first run's token stays valid across the restart.
    assert_eq!(execution_ids(&demo.env()), vec![id.clone()]);
    assert_eq!(run_curl(&again.curl), DEMO_ANSWER);
    assert_eq!(server.terminate().code(), Some(0));

    // 6. A restart on another address moves the demo's fulfilment route; the instance must
    //    follow it (same webhook token, new port) instead of calling the old port. Listening on
    //    all interfaces (as in a container), the printed URLs name loopback, not 0.0.0.0.
    let (server, moved) = start_demo(&data, "0.0.0.0:0");
    assert_eq!(moved.instance_id, demo.instance_id);
    assert!(moved.webhook_url.starts_with("http://127.0.0.1:"), "{moved:?}");
    let token_of = |url: &str| url.split_once("/hooks/").unwrap().1.to_string();
    assert_eq!(token_of(&moved.webhook_url), token_of(&demo.webhook_url));
    assert_eq!(run_curl(&moved.curl), DEMO_ANSWER);
    assert_eq!(execution_ids(&moved.env()).len(), 3);
    assert_eq!(server.terminate().code(), Some(0));

    let _ = std::fs::remove_dir_all(&data);
}
