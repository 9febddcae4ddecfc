//! Master keys end to end with the `weft` binary: `weft serve` creates the data directory's key
//! file (mode 0600) and seals an instance's secret with it; `weft keys rotate`, run while the
//! server keeps serving, adds a key and re-wraps the secret; the server picks the new key up by
//! itself and the instance keeps working. A node with other master keys, and a key file others
//! can read, are refused.

mod common;

use common::{Server, scratch_dir, weft};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;

const SECRET: &str = "sk_live_rotate_me_0123456789";

const YAML: &str = r#"
key: keyed
name: Keyed
config:
  - page: Auth
    vars:
      - key: api_key
        type: secret
        required: true
flows:
  - key: check
    trigger:
      manual: {}
    steps:
      - key: len
        transform: "{{ config.api_key | length }}"
    result: "{{ steps.len.output }}"
"#;

fn ok(env: &[(&str, &str)], args: &[&str]) -> String {
    let (code, out, err) = weft(args, env);
    assert_eq!(code, 0, "weft {args:?} failed\nstdout:\n{out}\nstderr:\n{err}");
    out
}

/// Runs the instance's flow and returns its result (the secret's length, as the flow saw it).
fn check(env: &[(&str, &str)], instance: &str) -> Value {
    let out = ok(env, &["instance", "run", instance, "check", "--payload", "{}", "--wait", "--json"]);
    let e: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(e["status"], "succeeded", "{e}");
    e["result"].clone()
}

/// Whether any of the database's files holds `needle`.
fn stored(data: &std::path::Path, needle: &str) -> bool {
    ["weft.db", "weft.db-wal"].iter().any(|f| {
        let bytes = std::fs::read(data.join(f)).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

#[test]
fn rotating_the_master_key_while_serving() {
    let scratch = scratch_dir("keys");
    let data = scratch.join("data");
    let data_arg = data.to_str().unwrap();
    let token = ok(&[], &["token", "create", "--data-dir", data_arg]).trim().to_string();
    let key_file = data.join("master.key");
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);

    let server = Server::start(&data, &[]);
    let env = [("WEFT_URL", server.url.as_str()), ("WEFT_TOKEN", token.as_str())];
    let yaml = scratch.join("keyed.yaml");
    std::fs::write(&yaml, YAML).unwrap();
    ok(&env, &["integration", "import", yaml.to_str().unwrap()]);
    ok(&env, &["integration", "publish", "keyed"]);
    ok(&env, &["customer", "create", "--name", "Acme", "--external-id", "acme"]);
    let deployed = ok(
        &env,
        &[
            "instance",
            "deploy",
            "--integration",
            "keyed",
            "--customer",
            "ext:acme",
            "--config",
            &format!("api_key={SECRET}"),
            "--json",
        ],
    );
    let instance: Value = serde_json::from_str(&deployed).unwrap();
    let id = instance["id"].as_str().unwrap().to_string();
    assert_eq!(check(&env, &id), SECRET.len());
    assert!(stored(&data, "acme"), "the scan sees stored data");
    assert!(!stored(&data, SECRET), "the secret is stored in plaintext");

    // Rotate while the server runs, keeps sealing new secrets (deploys in a loop) and runs
    // executions that read one: a second key, current, and every secret re-wrapped under it or
    // sealed with it, none lost.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let deploying = {
        let (stop, env, id) = (stop.clone(), env.map(|(k, v)| (k, v.to_string())), id.clone());
        std::thread::spawn(move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let config = format!("api_key={SECRET}-{n}");
                let args =
                    ["instance", "deploy", "--integration", "keyed", "--customer", "ext:acme", "--config", &config];
                ok(&env, &args);
                // Executions keep reading the first instance's secret throughout.
                assert_eq!(check(&env, &id), SECRET.len());
                n += 1;
            }
            n
        })
    };
    let (code, out, err) = weft(&["keys", "rotate", "--data-dir", data_arg], &[]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let deployed_meanwhile = deploying.join().unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("Added master key k2") && err.contains("Nothing is left under the older master keys (k1)"),
        "{err}"
    );
    assert!(deployed_meanwhile > 0, "deploys ran during the rotation");
    let status = ok(&[], &["keys", "status", "--data-dir", data_arg]);
    assert!(
        status.contains("k1: 0 sealed record(s)")
            && status.contains(&format!("k2 (current): {} sealed record(s)", deployed_meanwhile + 1)),
        "{status}"
    );
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
    assert_eq!(file["current"], "k2");
    assert_eq!(file["keys"].as_object().unwrap().len(), 2, "the old key is kept");
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    // The running server meets a secret under a key it did not load, reloads, and carries on.
    assert_eq!(check(&env, &id), SECRET.len());
    // Nothing is left to re-wrap.
    let (code, _, err) = weft(&["keys", "rotate", "--data-dir", data_arg], &[]);
    assert_eq!(code, 0, "{err}");
    drop(server);

    // A node with a key file of its own (same database, other data directory) is refused
    // before it can seal anything the others cannot read.
    let other = scratch.join("other-node");
    let url = format!("sqlite://{}", data.join("weft.db").display());
    let (code, _, err) = weft(&["token", "create", "--database-url", &url, "--data-dir", other.to_str().unwrap()], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("master key `k1`") && err.contains("same master keys"), "{err}");

    // A key file others can read is refused, naming the file and the fix.
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, err) = weft(&["token", "create", "--data-dir", data_arg], &[]);
    assert_ne!(code, 0);
    assert!(err.contains("master.key") && err.contains("chmod 600"), "{err}");
}
