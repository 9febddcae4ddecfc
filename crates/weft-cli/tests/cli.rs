//! The client commands of the `weft` binary against a real server: `weft serve` on a scratch
//! data directory and a free port, a token from `weft token create`, then customers,
//! integrations, instances and executions driven through the CLI as a user would, checking
//! both the human and the `--json` output and the documented exit codes (0 ok, 1 refused,
//! 2 usage, 3 unreachable, 4 authentication).
//!
//! The instance's "fulfilment API" is a tiny HTTP listener in this test; the server is started
//! with `--egress-allow 127.0.0.1/32` because its egress guard refuses loopback by default.

mod common;

use common::{Server, scratch_dir, weft};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long an asynchronously started execution may take to finish.
const EXECUTION_TIMEOUT: Duration = Duration::from_secs(20);

/// A port nothing listens on: bound, then released.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The customer's "fulfilment API": answers every request with `200 {"accepted": true}` and
/// records `METHOD PATH` and the body of each.
struct Fulfilment {
    url: String,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Fulfilment {
    fn start() -> Fulfilment {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                answer(stream, &seen);
            }
        });
        Fulfilment { url, requests }
    }

    fn requests(&self) -> Vec<(String, Value)> {
        self.requests.lock().unwrap().clone()
    }
}

/// Reads one HTTP/1.1 request (head and `content-length` body), records it in `seen`, then
/// answers it. Recording first means that once the flow has its answer, the test sees the request.
fn answer(stream: TcpStream, seen: &Mutex<Vec<(String, Value)>>) -> Option<()> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut words = request_line.split_whitespace();
    let target = format!("{} {}", words.next()?, words.next()?);
    seen.lock().unwrap().push((target, serde_json::from_slice(&body).unwrap_or(Value::Null)));
    let reply = r#"{"accepted":true}"#;
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
        reply.len()
    );
    reader.get_mut().write_all(response.as_bytes()).ok()
}

/// A server plus a token: runs client commands with `WEFT_URL`/`WEFT_TOKEN` set.
struct Client<'a> {
    url: &'a str,
    token: &'a str,
}

impl Client<'_> {
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        weft(args, &[("WEFT_URL", self.url), ("WEFT_TOKEN", self.token)])
    }

    /// A command that must succeed, print nothing on stderr; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!((code, err.as_str()), (0, ""), "weft {args:?} failed\nstdout:\n{out}");
        out
    }

    /// The same with `--json`, parsed.
    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(&[args, &["--json"]].concat());
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("weft {args:?} --json printed no JSON ({e}):\n{out}"))
    }

    /// A command that must fail with `code`, print nothing on stdout; returns its stderr.
    fn fails(&self, code: i32, args: &[&str]) -> String {
        let (actual, out, err) = self.run(args);
        assert_eq!((actual, out.as_str()), (code, ""), "weft {args:?}: expected exit {code}\nstderr:\n{err}");
        assert!(err.ends_with('\n') && !err.trim().is_empty(), "weft {args:?}: stderr {err:?}");
        err
    }

    /// Polls `execution show` until the execution has finished; returns it.
    fn finished(&self, id: &str) -> Value {
        let deadline = Instant::now() + EXECUTION_TIMEOUT;
        loop {
            let e = self.json(&["execution", "show", id]);
            if matches!(e["status"].as_str(), Some("succeeded" | "failed" | "canceled")) {
                return e;
            }
            assert!(Instant::now() < deadline, "execution {id} did not finish within {EXECUTION_TIMEOUT:?}: {e}");
            thread::sleep(Duration::from_millis(50));
        }
    }
}

fn string(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("expected a string, found {v}")).to_string()
}

/// The order of the README's demo: total 2×30 + 1×50 = 110.
fn order(id: &str) -> String {
    json!({"id": id, "lines": [{"sku": "ab-1", "qty": 2, "price": 30}, {"sku": "cd-2", "qty": 1, "price": 50}]})
        .to_string()
}

#[test]
fn client_commands_against_a_real_server() {
    let data = scratch_dir("cli");
    let dir = data.to_str().unwrap();

    // `token create` prints the token and nothing else, so `$(weft token create)` works.
    let (code, owner, err) = weft(&["token", "create", "--data-dir", dir, "--role", "owner"], &[]);
    assert_eq!((code, err.as_str()), (0, ""));
    let token = owner.strip_suffix('\n').expect("one line");
    assert!(token.starts_with("weft_") && !token.contains(char::is_whitespace), "{owner:?}");
    let (code, viewer, err) = weft(&["token", "create", "--data-dir", dir, "--role", "viewer"], &[]);
    assert_eq!(code, 0, "{err}");
    let viewer = viewer.trim();

    let fulfilment = Fulfilment::start();
    let server = Server::start(&data, &["--egress-allow", "127.0.0.1/32"]);
    let cli = Client { url: &server.url, token };

    customers(&cli);
    let integration = integrations(&cli);
    let instance = instances(&cli, &fulfilment, &integration);
    executions(&cli, &fulfilment, &instance);
    authentication(&cli, viewer);

    drop(server);
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(integration.parent().unwrap());
}

fn customers(cli: &Client) {
    let out = cli.ok(&["customer", "create", "--name", "Acme", "--external-id", "acme", "--label", "tier=gold"]);
    let acme = out.strip_prefix("Created customer ").and_then(|r| r.strip_suffix(" (Acme)\n")).expect(&out);
    assert!(acme.starts_with("cus_"), "{out}");
    let beta = cli.json(&["customer", "create", "--name", "Beta"]);
    assert_eq!((&beta["name"], &beta["external_id"], &beta["labels"]), (&json!("Beta"), &json!(null), &json!({})));

    let table = cli.ok(&["customer", "list"]);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("ID  "), "{table}");
    let row = lines.find(|l| l.starts_with(acme)).expect(&table);
    assert!(row.contains("  acme  ") && row.contains("  Acme  ") && row.contains("  tier=gold  "), "{table}");
    let listing = cli.json(&["customer", "list"]);
    assert_eq!(listing["items"].as_array().unwrap().len(), 2, "{listing}");
    assert_eq!(listing["next_cursor"], Value::Null);
    let paged = cli.ok(&["customer", "list", "--limit", "1"]);
    assert!(paged.lines().last().unwrap().starts_with("more: --cursor "), "{paged}");
    assert_eq!(cli.json(&["customer", "list", "--limit", "1", "--all"])["items"].as_array().unwrap().len(), 2);

    let shown = cli.ok(&["customer", "show", "ext:acme"]);
    assert!(shown.starts_with(&format!("ID           {acme}\nName         Acme\nExternal ID  acme\n")), "{shown}");
    assert!(shown.contains("Labels       tier=gold\n"), "{shown}");

    let out = cli.ok(&["customer", "update", "ext:acme", "--name", "Acme Corp", "--label", "region=eu"]);
    assert_eq!(out, format!("Updated customer {acme} (Acme Corp)\n"));
    let updated = cli.json(&["customer", "show", acme]);
    assert_eq!(updated["name"], "Acme Corp");
    assert_eq!(updated["labels"], json!({"tier": "gold", "region": "eu"}));
    let updated = cli.json(&["customer", "update", "ext:acme", "--remove-label", "tier"]);
    assert_eq!(updated["labels"], json!({"region": "eu"}));

    let err = cli.fails(1, &["customer", "create", "--name", "Again", "--external-id", "acme"]);
    assert!(err.starts_with("error: ") && err.contains("(customer.conflict)"), "{err}");
    let err = cli.fails(2, &["customer", "update", "ext:acme"]);
    assert!(err.contains("nothing to update"), "{err}");

    let beta_id = string(&beta["id"]);
    assert_eq!(cli.ok(&["customer", "delete", &beta_id]), format!("Deleted customer {beta_id}\n"));
    let err = cli.fails(1, &["customer", "show", &beta_id]);
    assert!(err.contains("(customer.not_found)"), "{err}");
    assert_eq!(cli.json(&["customer", "list"])["items"].as_array().unwrap().len(), 1);
}

/// Imports, publishes and inspects the reference example; returns the path of a changed copy
/// (version 2) for the upgrade test.
fn integrations(cli: &Client) -> PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/order-sync.yaml");
    let example = example.to_str().unwrap();

    let out = cli.ok(&["integration", "import", example]);
    let id = out.strip_prefix("Created integration order-sync (").and_then(|r| r.split_once(')')).expect(&out).0;
    assert!(id.starts_with("int_"), "{out}");
    assert!(out.ends_with("\nPublish it with: weft integration publish order-sync\n"), "{out}");
    // A second import of the same key replaces the draft.
    let out = cli.ok(&["integration", "import", example]);
    assert!(out.starts_with(&format!("Updated the draft of integration order-sync ({id})\n")), "{out}");

    let table = cli.ok(&["integration", "list"]);
    assert!(table.contains("order-sync  Order sync  draft only  "), "{table}");
    let shown = cli.ok(&["integration", "show", "order-sync"]);
    assert!(shown.contains(&format!("ID              {id}\nKey             order-sync\n")), "{shown}");
    assert!(shown.contains("Latest version  draft only\n") && shown.contains("\nDraft (yaml):\n"), "{shown}");

    assert_eq!(cli.ok(&["integration", "publish", "order-sync"]), "Published order-sync version 1\n");
    let shown = cli.json(&["integration", "show", id]);
    assert_eq!((&shown["key"], &shown["latest_version"]), (&json!("order-sync"), &json!(1)));
    assert!(cli.ok(&["integration", "list"]).contains("order-sync  Order sync  v1  "));
    let versions = cli.ok(&["integration", "versions", "order-sync"]);
    assert!(versions.starts_with("VERSION  INTEGRATION  CREATED\n1        order-sync   "), "{versions}");
    let versions = cli.json(&["integration", "versions", "order-sync"]);
    assert_eq!(versions["items"][0]["version"], 1);
    assert_eq!(versions["items"][0]["integration_id"], id);

    let err = cli.fails(1, &["integration", "publish", "no-such-integration"]);
    assert!(err.contains("(integration.not_found)"), "{err}");

    // An invalid definition: every problem on its own line with its path and position.
    let dir = scratch_dir("cli-definitions");
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "key: bad-one\nname: Bad\nconfig:\n  - page: Settings\n    vars:\n      - key: endpoint\n        type: nubmer\n\
         flows:\n  - key: f\n    trigger:\n      manual: {}\n    steps:\n      - key: s\n        action: no.such.action\n",
    )
    .unwrap();
    let err = cli.fails(1, &["integration", "import", bad.to_str().unwrap()]);
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[0].starts_with("error: ") && lines[0].ends_with("(integration.invalid)"), "{err}");
    assert!(lines[1].starts_with("  config[0].vars[0].type (line 7, column 15): "), "{err}");
    assert!(lines[1].contains("nubmer"), "{err}");
    assert!(lines[2].starts_with("  flows[0].steps[0].action (line 14, column 17): "), "{err}");
    assert!(lines[2].contains("no.such.action"), "{err}");
    assert_eq!(lines.len(), 3, "{err}");
    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, "key: [unclosed\n").unwrap();
    let err = cli.fails(1, &["integration", "import", broken.to_str().unwrap()]);
    assert!(err.contains("(integration.invalid)\n  (document) (line 2, column 1): "), "{err}");
    // A file that cannot be read is a usage error, found before any request.
    let err = cli.fails(2, &["integration", "import", dir.join("missing.yaml").to_str().unwrap()]);
    assert!(err.starts_with("error: cannot read the definition file "), "{err}");

    // Version 2 of the same integration, for `instance upgrade`.
    let v2 = dir.join("order-sync-v2.yaml");
    let source = std::fs::read_to_string(example).unwrap();
    std::fs::write(&v2, source.replacen("name: Order sync", "name: Order sync two", 1)).unwrap();
    v2
}

/// Deploys, lists, pauses, resumes, upgrades and runs an instance; returns its id.
fn instances(cli: &Client, fulfilment: &Fulfilment, v2: &Path) -> String {
    // A bad config is refused with one line per problem.
    let err = cli.fails(
        1,
        &["instance", "deploy", "--integration", "order-sync", "--customer", "ext:acme", "--config", "min_total=abc"],
    );
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[0].starts_with("error: ") && lines[0].ends_with("(instance.invalid_config)"), "{err}");
    assert!(lines[1..].iter().any(|l| l.starts_with("  config.endpoint: ")), "{err}");
    assert!(lines[1..].iter().any(|l| l.starts_with("  config.min_total: ")), "{err}");
    let err = cli.fails(
        1,
        &["instance", "deploy", "--integration", "order-sync", "--customer", "ext:nobody", "--config", "endpoint=x"],
    );
    assert!(err.contains("(customer.not_found)"), "{err}");
    let err = cli.fails(
        2,
        &["instance", "deploy", "--integration", "order-sync", "--customer", "ext:acme", "--config-json", "[1]"],
    );
    assert!(err.contains("must be a JSON object"), "{err}");

    let endpoint = format!("endpoint={}", fulfilment.url);
    let deployed = cli.ok(&[
        "instance",
        "deploy",
        "--integration",
        "order-sync",
        "--customer",
        "ext:acme",
        "--name",
        "Acme orders",
        "--config",
        &endpoint,
        "--config",
        "min_total=50",
    ]);
    let id = deployed.strip_prefix("Deployed instance ").and_then(|r| r.split_once(' ')).expect(&deployed).0;
    assert!(id.starts_with("ins_"), "{deployed}");
    assert!(deployed.contains(" (Acme orders): order-sync version 1 for customer cus_"), "{deployed}");
    let hook_prefix = format!("  new-order  {}/hooks/", cli.url);
    assert!(deployed.contains(&format!("\nWebhooks:\n  FLOW       URL\n{hook_prefix}")), "{deployed}");

    let instance = cli.json(&["instance", "show", id]);
    assert_eq!(instance["config"], json!({"endpoint": fulfilment.url, "min_total": 50, "tags": ["weft"]}));
    assert_eq!((&instance["enabled"], &instance["version"]), (&json!(true), &json!(1)));
    let webhook = string(&instance["webhooks"]["new-order"]);
    let shown = cli.ok(&["instance", "show", id]);
    assert!(shown.contains("State        active\n") && shown.contains("Flows        new-order\n"), "{shown}");
    assert!(shown.contains(&format!("  new-order  {webhook}\n")), "{shown}");

    let table = cli.ok(&["instance", "list", "--customer", "ext:acme"]);
    let row = table.lines().find(|l| l.starts_with(id)).expect(&table);
    assert!(row.contains("  Acme orders  ") && row.contains("  order-sync  ") && row.contains("  active  "), "{row}");
    assert_eq!(cli.json(&["instance", "list", "--integration", "order-sync"])["items"][0]["id"], id);

    // Paused: runs are refused until resumed.
    assert_eq!(cli.ok(&["instance", "pause", id]), format!("Paused instance {id} (Acme orders)\n"));
    assert_eq!(cli.json(&["instance", "show", id])["enabled"], false);
    assert!(cli.ok(&["instance", "list"]).contains("  paused  "));
    let err = cli.fails(1, &["instance", "run", id, "new-order", "--payload", &order("P-1")]);
    assert!(err.contains("(instance.paused)"), "{err}");
    assert_eq!(cli.ok(&["instance", "resume", id]), format!("Resumed instance {id} (Acme orders)\n"));

    // Run and wait: the order of 110 clears min_total 50 and reaches the fulfilment API.
    let shown = cli.ok(&["instance", "run", id, "new-order", "--payload", &order("A-1"), "--wait"]);
    assert!(shown.contains("Status       succeeded\n") && shown.contains("Trigger      manual\n"), "{shown}");
    assert!(shown.contains("\"forwarded\": true"), "{shown}");
    let requests = fulfilment.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0].0, "POST /orders");
    assert_eq!((&requests[0].1["id"], &requests[0].1["total"]), (&json!("A-1"), &json!(110)));
    let err = cli.fails(1, &["instance", "run", id, "no-such-flow", "--wait"]);
    assert!(err.contains("(flow.not_found)"), "{err}");
    let err = cli.fails(2, &["instance", "run", id, "new-order", "--payload", "{oops"]);
    assert!(err.starts_with("error: --payload is not valid JSON: "), "{err}");

    // Upgrade to version 2: config and webhook URL carried over.
    cli.ok(&["integration", "import", v2.to_str().unwrap()]);
    assert_eq!(cli.ok(&["integration", "publish", "order-sync"]), "Published order-sync version 2\n");
    assert_eq!(cli.ok(&["instance", "upgrade", id]), format!("Upgraded instance {id} to order-sync version 2\n"));
    let upgraded = cli.json(&["instance", "show", id]);
    assert_eq!(upgraded["version"], 2);
    assert_eq!(upgraded["config"], instance["config"]);
    assert_eq!(upgraded["webhooks"]["new-order"], webhook.as_str());
    // Changing one value keeps the others; an order below the new minimum is not forwarded.
    let upgraded = cli.json(&["instance", "upgrade", id, "--config", "min_total=1000"]);
    assert_eq!(upgraded["config"], json!({"endpoint": fulfilment.url, "min_total": 1000, "tags": ["weft"]}));
    let result = cli.json(&["instance", "run", id, "new-order", "--payload", &order("A-2"), "--wait"]);
    assert_eq!(result["status"], "succeeded");
    assert_eq!(result["result"], json!({"order": "A-2", "total": 110, "forwarded": false}));
    assert_eq!(fulfilment.requests().len(), 1);
    let err = cli.fails(1, &["instance", "upgrade", id, "--version", "7"]);
    assert!(err.contains("(version.not_found)"), "{err}");
    cli.ok(&["instance", "upgrade", id, "--config", "min_total=50"]);
    id.to_string()
}

fn executions(cli: &Client, fulfilment: &Fulfilment, instance: &str) {
    // Started without waiting: queued, then finished by the runner.
    let out = cli.ok(&["instance", "run", instance, "new-order", "--payload", &order("A-3")]);
    let (first, follow) = out.split_once('\n').expect(&out);
    let id = first.strip_prefix("Started execution ").and_then(|r| r.split_once(' ')).expect(&out).0.to_string();
    assert!(first.ends_with(" of flow new-order (queued)") || first.ends_with(" of flow new-order (running)"), "{out}");
    assert_eq!(follow, format!("Follow it with: weft execution show {id}\n"));
    let done = cli.finished(&id);
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"], json!({"order": "A-3", "total": 110, "forwarded": true}));
    assert_eq!(fulfilment.requests().len(), 2);

    let listing = cli.json(&["execution", "list", "--instance", instance]);
    let items = listing["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{listing}");
    assert_eq!(items[0]["id"], id.as_str(), "newest first");
    assert!(items.iter().all(|e| e["status"] == "succeeded" && e["flow"] == "new-order"), "{listing}");
    let table = cli.ok(&["execution", "list", "--status", "succeeded", "--limit", "2"]);
    assert!(table.starts_with("ID  "), "{table}");
    assert!(table.lines().nth(1).unwrap().starts_with(&format!("{id}  new-order  succeeded  {instance}  2  ")));
    assert!(table.lines().last().unwrap().starts_with("more: --cursor "), "{table}");
    assert_eq!(cli.json(&["execution", "list", "--status", "failed"])["items"], json!([]));
    assert_eq!(cli.ok(&["execution", "list", "--flow", "other"]), "No executions.\n");

    let shown = cli.ok(&["execution", "show", &id]);
    assert!(shown.starts_with(&format!("ID           {id}\nFlow         new-order\nStatus       succeeded\n")));
    assert!(shown.contains(&format!("Instance     {instance}\n")), "{shown}");
    assert!(shown.contains("\nSteps:\n  PATH  "), "{shown}");
    assert!(shown.contains("  forward        action     http.request  succeeded  1  "), "{shown}");
    assert!(shown.contains("\nResult:\n  {\n    \"order\": \"A-3\",\n"), "{shown}");
    let logs = cli.ok(&["execution", "logs", &id]);
    assert!(logs.starts_with("AT  "), "{logs}");
    assert!(logs.contains(&format!("  forward  http.request: POST {}/orders → 200", fulfilment.url)), "{logs}");
    let logs = cli.json(&["execution", "logs", &id]);
    assert!(logs["items"].as_array().unwrap().iter().any(|l| l["step"] == "forward"), "{logs}");

    // Replay: a new execution with the same payload, linked to the original.
    let out = cli.ok(&["execution", "replay", &id]);
    let rest = out.strip_prefix(&format!("Replaying execution {id} as ")).expect(&out);
    let replay = rest.split_once(' ').unwrap().0;
    assert!(replay.starts_with("exe_") && replay != id, "{out}");
    let done = cli.finished(replay);
    assert_eq!((&done["status"], &done["replay_of"]), (&json!("succeeded"), &json!(id)));
    assert_eq!(done["result"]["order"], "A-3");
    assert_eq!(fulfilment.requests().len(), 3);
    assert!(cli.ok(&["execution", "show", replay]).contains(&format!("Replay of    {id}\n")));

    // A flow that fails: `run --wait` still exits 0 (the command worked) and shows the error.
    let unreachable = format!("endpoint=http://127.0.0.1:{}", closed_port());
    cli.ok(&["instance", "upgrade", instance, "--config", &unreachable]);
    let shown = cli.ok(&["instance", "run", instance, "new-order", "--payload", &order("F-1"), "--wait"]);
    assert!(shown.contains("Status       failed\n"), "{shown}");
    assert!(shown.contains("\nError:\n  connection: POST http://127.0.0.1:"), "{shown}");
    assert!(!shown.contains("\nResult:"), "{shown}");
    let failed = cli.json(&["execution", "list", "--status", "failed"]);
    assert_eq!(failed["items"].as_array().unwrap().len(), 1, "{failed}");
    assert_eq!(failed["items"][0]["error"]["kind"], "connection");
    let table = cli.ok(&["execution", "list", "--status", "failed"]);
    assert!(table.lines().nth(1).unwrap().contains("  failed  ") && table.contains("connection: POST"), "{table}");

    let err = cli.fails(1, &["execution", "show", "exe_nope"]);
    assert!(err.contains("(execution.not_found)"), "{err}");
    let err = cli.fails(1, &["execution", "replay", "exe_nope"]);
    assert!(err.contains("(execution.not_found)"), "{err}");

    // Deleting the instance keeps its executions as history.
    assert_eq!(cli.ok(&["instance", "delete", instance]), format!("Deleted instance {instance}\n"));
    let err = cli.fails(1, &["instance", "show", instance]);
    assert!(err.contains("(instance.not_found)"), "{err}");
    assert_eq!(cli.json(&["execution", "show", &id])["status"], "succeeded");
}

fn authentication(cli: &Client, viewer: &str) {
    let bogus = Client { url: cli.url, token: "weft_0000000000000000000000000000000000000000" };
    let err = bogus.fails(4, &["customer", "list"]);
    assert!(err.contains("(auth.invalid_token)") && err.contains("hint: set WEFT_TOKEN"), "{err}");

    // A viewer may read but not change anything.
    let viewer = Client { url: cli.url, token: viewer };
    assert!(viewer.ok(&["customer", "list"]).contains("acme"));
    let err = viewer.fails(4, &["customer", "create", "--name", "Nope"]);
    assert!(err.contains("(auth.forbidden)") && err.contains("weft token create --role"), "{err}");

    let (code, out, err) = weft(&["customer", "list"], &[("WEFT_URL", cli.url)]);
    assert_eq!((code, out.as_str()), (4, ""), "{err}");
    assert!(err.starts_with("error: no API token given\n"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["customer", "create"][..],
        &["customer", "create", "--name", "X", "--label", "novalue"],
        &["instance", "frobnicate"],
        &["execution", "list", "--limit", "0"],
        &["instance", "run", "ins_1", "new-order", "--payload", "{}", "--payload-file", "p.json"],
    ] {
        let (code, out, err) = weft(args, &[("WEFT_TOKEN", "weft_x")]);
        assert_eq!((code, out.as_str()), (2, ""), "weft {args:?}: {err}");
        assert!(err.starts_with("error: "), "weft {args:?}: {err}");
    }
    let (code, _, err) = weft(&["customer", "list"], &[("WEFT_URL", "ftp://example.com"), ("WEFT_TOKEN", "weft_x")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("WEFT_URL"), "{err}");
}

#[test]
fn unreachable_server_exits_3() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let (code, out, err) = weft(&["execution", "list"], &[("WEFT_URL", &url), ("WEFT_TOKEN", "weft_x")]);
    assert_eq!((code, out.as_str()), (3, ""), "{err}");
    assert!(err.starts_with(&format!("error: cannot reach the server at {url}: ")), "{err}");
    assert!(err.contains("is `weft serve` running"), "{err}");
}

#[test]
fn missing_token_exits_4_before_any_request() {
    // The URL is unreachable too: the token is checked first, so this is 4, not 3.
    let url = format!("http://127.0.0.1:{}", closed_port());
    let (code, out, err) = weft(&["customer", "list"], &[("WEFT_URL", &url)]);
    assert_eq!((code, out.as_str()), (4, ""), "{err}");
    assert!(err.contains("set WEFT_TOKEN"), "{err}");
}
