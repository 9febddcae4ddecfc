//! `weft component new|build|publish|list|show` against a real server: scaffold a component
//! crate, build it for `wasm32-wasip2` and publish it (twice: the second upload is recognized),
//! list and show it, and the documented exit codes (1 refused, 2 usage).
//!
//! The component is built with `CARGO_TARGET_DIR=<target>/wasm-guests`, the directory the
//! weft-wasm tests build `sdk/` in, so their compiled dependencies are reused.

mod common;

use common::{Server, scratch_dir, weft};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// `$CARGO_TARGET_DIR/wasm-guests`, else `<repo>/target/wasm-guests` (as weft-wasm's tests).
fn wasm_target_dir() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root");
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => repo.join(d).join("wasm-guests"),
        None => repo.join("target").join("wasm-guests"),
    }
}

#[test]
fn components_from_new_to_show() {
    let scratch = scratch_dir("components");
    let crate_dir = scratch.join("hello-world");
    let crate_arg = crate_dir.to_str().unwrap();

    // `new` (no server, no token): the crate's files, then a refusal to overwrite them.
    let (code, out, err) = weft(&["component", "new", "hello-world", "--dir", crate_arg], &[]);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert!(out.starts_with(&format!("Created component hello-world in {crate_arg}:\n")), "{out}");
    for file in ["Cargo.toml", "src/lib.rs", "README.md", ".gitignore"] {
        assert!(crate_dir.join(file).is_file(), "{file} missing; printed:\n{out}");
        assert!(out.contains(&format!("  {file}\n")), "{out}");
    }
    let cargo = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/weft-sdk").canonicalize().unwrap();
    assert!(cargo.contains(&format!("weft-sdk = {{ path = \"{}\" }}", sdk.display())), "{cargo}");
    let (code, out, err) = weft(&["component", "new", "hello-world", "--dir", crate_arg], &[]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("already exists and is not empty"), "{err}");

    let (code, out, err) =
        weft(&["component", "new", "Hello World", "--dir", scratch.join("x").to_str().unwrap()], &[]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("Hello World") && err.contains("upper-case letter `H`"), "{err}");
    assert!(!scratch.join("x").exists());

    // A server and a token.
    let data = scratch.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (code, token, err) = weft(&["token", "create", "--data-dir", data.to_str().unwrap(), "--role", "owner"], &[]);
    assert_eq!(code, 0, "{err}");
    let server = Server::start(&data, &[]);
    let target_dir = wasm_target_dir();
    let env = [
        ("WEFT_URL", server.url.as_str()),
        ("WEFT_TOKEN", token.trim()),
        ("CARGO_TARGET_DIR", target_dir.to_str().unwrap()),
    ];
    let run = |args: &[&str]| weft(args, &env);

    // `publish DIR` builds the crate (cargo's output on stderr), then uploads the component.
    let (code, out, err) = run(&["component", "publish", crate_arg]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.starts_with("published hello-world 0.1.0 (") && out.contains(" bytes, sha256 "), "{out}");
    let wasm = target_dir.join("wasm32-wasip2/release/hello_world.wasm");
    assert!(err.contains(&format!("built {} (", wasm.display())), "{err}");
    let (code, out, err) = run(&["component", "publish", crate_arg]);
    assert_eq!((code, out.as_str()), (0, "hello-world 0.1.0 was already published with these bytes\n"), "{err}");
    // `build` prints where the component is.
    let (code, out, err) = run(&["component", "build", crate_arg]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with(&format!("built {} (", wasm.display())), "{out}");
    // `test` runs the crate's own unit tests natively (cargo test, the SDK's FakeHost).
    let (code, out, err) = run(&["component", "test", crate_arg]);
    assert_eq!((code, out.as_str()), (0, "tests passed (cargo test)\n"), "{err}");
    assert!(err.contains("test result: ok."), "{err}");

    // `list` and `show`.
    let (code, table, err) = run(&["component", "list"]);
    assert_eq!(code, 0, "{err}");
    assert!(table.starts_with("KEY  ") && table.contains("\nhello-world  0.1.0   Hello World\n"), "{table}");
    let (code, shown, err) = run(&["component", "show", "hello-world"]);
    assert_eq!(code, 0, "{err}");
    assert!(shown.contains("Key             hello-world\n"), "{shown}");
    assert!(shown.contains("Latest version  0.1.0\n"), "{shown}");
    assert!(shown.contains("Actions:\n  hello  Say hello: Greets someone by name.\n"), "{shown}");
    assert!(shown.contains("    name   string  yes       Who to greet.\n"), "{shown}");
    let (code, json, err) = run(&["component", "show", "hello-world", "--json"]);
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&json).expect("--json prints JSON");
    assert_eq!(json["key"], "hello-world");
    assert_eq!(json["latest"]["actions"][0]["key"], "hello");
    assert_eq!(json["latest"]["actions"][0]["inputs"][0]["key"], "name");
    assert_eq!(json["versions"].as_array().map(Vec::len), Some(1), "{json}");

    // Refusals: a file that is not a component (exit 1, the server's message), an unknown key.
    let garbage = scratch.join("x.wasm");
    std::fs::write(&garbage, b"this is not WebAssembly").unwrap();
    let (code, out, err) = run(&["component", "publish", garbage.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.starts_with("error: ") && err.contains("(component.invalid)"), "{err}");
    let (code, out, err) = run(&["component", "show", "nope"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("nope"), "{err}");

    drop(server);
    let _ = std::fs::remove_dir_all(&scratch);
}

/// An integration calling a scaffolded TypeScript component and the SDK's TypeScript example.
const TS_INTEGRATION: &str = r#"
key: ts-orders
name: TypeScript orders
flows:
  - key: order
    trigger:
      webhook:
        mode: sync
    steps:
      - key: hello
        action: ts-hello.hello
        inputs:
          name: "{{ trigger.body.customer }}"
      - key: summary
        action: orders-ts.summarize
        inputs:
          lines: "{{ trigger.body.lines }}"
      - key: number
        action: orders-ts.number
    result:
      greeting: "{{ steps.hello.output.greeting }}"
      total: "{{ steps.summary.output.total }}"
      number: "{{ steps.number.output.number }}"
"#;

/// TypeScript components from source to a customer's run: `new --lang typescript`, `publish`
/// (npm install, tsc, esbuild, componentize-qjs), the SDK's example `sdk/typescript/examples/orders`
/// built the same way, both called by an integration deployed for a customer — with the
/// example's state kept per instance, its `input` errors, and `console.log` in the execution's
/// log — and a type error that stops the build.
#[test]
fn typescript_components_from_new_to_a_deployed_run() {
    let scratch = scratch_dir("ts-components");
    let project = scratch.join("ts-hello");
    let project_arg = project.to_str().unwrap();
    let (code, out, err) = weft(&["component", "new", "ts-hello", "--lang", "typescript", "--dir", project_arg], &[]);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    let files = ["package.json", "tsconfig.json", "src/index.ts", "src/index.test.ts", "wit/weft-component.wit"];
    for file in files.iter().chain(&["README.md", ".gitignore"]) {
        assert!(project.join(file).is_file(), "{file} missing; printed:\n{out}");
    }
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/typescript").canonicalize().unwrap();
    let package = std::fs::read_to_string(project.join("package.json")).unwrap();
    assert!(package.contains(&format!("\"@weft/sdk\": \"file:{}\"", sdk.display())), "{package}");

    let data = scratch.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (code, token, err) = weft(&["token", "create", "--data-dir", data.to_str().unwrap(), "--role", "owner"], &[]);
    assert_eq!(code, 0, "{err}");
    let server = Server::start(&data, &[]);
    let env = [("WEFT_URL", server.url.as_str()), ("WEFT_TOKEN", token.trim())];
    let run = |args: &[&str]| weft(args, &env);
    let ok = |args: &[&str]| {
        let (code, out, err) = run(args);
        assert_eq!(code, 0, "weft {args:?}\nstdout:\n{out}\nstderr:\n{err}");
        out
    };

    // Unit tests without a server (Node.js, the SDK's FakeHost): the scaffold's and the example's.
    let (code, out, err) = run(&["component", "test", project_arg]);
    assert_eq!((code, out.as_str()), (0, "tests passed (1 test file)\n"), "{err}");
    assert!(err.contains("# pass 2") && err.contains("# fail 0"), "{err}");
    let example = sdk.join("examples/orders");
    let (code, out, err) = run(&["component", "test", example.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (0, "tests passed (1 test file)\n"), "{err}");
    assert!(err.contains("# pass 5") && err.contains("# fail 0"), "{err}");

    // Both components built from source and published.
    let out = ok(&["component", "publish", project_arg]);
    assert!(out.starts_with("published ts-hello 0.1.0 ("), "{out}");
    let out = ok(&["component", "publish", example.to_str().unwrap()]);
    assert!(out.starts_with("published orders-ts 0.1.0 ("), "{out}");
    let shown = ok(&["component", "show", "orders-ts"]);
    assert!(shown.contains("summarize  Summarize an order: Totals an order's lines.\n"), "{shown}");

    // Deployed for a customer and run twice: the order number comes from the instance's state.
    let definition = scratch.join("ts-orders.yaml");
    std::fs::write(&definition, TS_INTEGRATION).unwrap();
    ok(&["integration", "import", definition.to_str().unwrap()]);
    ok(&["integration", "publish", "ts-orders"]);
    ok(&["customer", "create", "--name", "Acme", "--external-id", "acme"]);
    let deployed = ok(&["instance", "deploy", "--integration", "ts-orders", "--customer", "ext:acme"]);
    let id = deployed.strip_prefix("Deployed instance ").and_then(|r| r.split_once(' ')).expect(&deployed).0;
    let order = r#"{"customer": "Ada", "lines": [{"sku": "ab-1", "qty": 2, "price": 30.25}, {"sku": "cd-2", "qty": 1, "price": 49.5}]}"#;
    for number in ["ORD-00001", "ORD-00002"] {
        let (code, out, err) = run(&["instance", "run", id, "order", "--payload", order, "--wait", "--json"]);
        assert_eq!(code, 0, "{err}");
        let execution: Value = serde_json::from_str(&out).expect("--json prints JSON");
        assert_eq!(execution["status"], "succeeded", "{execution}");
        assert_eq!(
            execution["result"],
            serde_json::json!({"greeting": "Hello, Ada!", "total": 110, "number": number}),
            "{execution}"
        );
        let logs = ok(&["execution", "logs", execution["id"].as_str().unwrap()]);
        assert!(logs.contains("greeting Ada in execution "), "console.log goes to the log:\n{logs}");
        assert!(logs.contains(&format!("order number {number} for execution ")), "{logs}");
    }
    // A line without a SKU fails the step with the component's own `input` error.
    let bad = r#"{"customer": "Ada", "lines": [{"qty": 1}]}"#;
    let (code, out, err) = run(&["instance", "run", id, "order", "--payload", bad, "--wait", "--json"]);
    assert_eq!(code, 0, "{err}");
    let execution: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(execution["status"], "failed", "{execution}");
    assert_eq!(execution["error"]["kind"], "input", "{execution}");
    assert_eq!(execution["error"]["message"], "line 1 has no sku", "{execution}");

    // A failing unit test fails `component test` (exit 2) with node's report.
    let test_file = project.join("src/index.test.ts");
    let tests = std::fs::read_to_string(&test_file).unwrap();
    std::fs::write(&test_file, tests.replace("{ greeting: \"Hello, Ada!\" }", "{ greeting: \"Hi, Ada!\" }")).unwrap();
    let (code, out, err) = run(&["component", "test", project_arg]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("not ok 1 - hello greets by name") && err.contains("# fail 1"), "{err}");
    assert!(
        err.contains("error: the tests of ") && err.ends_with("failed (exit status: 1); see node's report above\n"),
        "{err}"
    );

    // A type error stops the build (exit 2) with tsc's message; nothing is published.
    let index = project.join("src/index.ts");
    let source = std::fs::read_to_string(&index).unwrap();
    std::fs::write(&index, source.replace("greeting: `Hello, ${params.name}!`", "greeting: params.name.nope()"))
        .unwrap();
    let text = std::fs::read_to_string(&index).unwrap();
    assert!(text.contains("params.name.nope()"), "the scaffold changed: {text}");
    std::fs::write(&index, text.replace("(context, params) =>", "(context, params: { name: string }) =>")).unwrap();
    let (code, out, err) = run(&["component", "build", project_arg]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("error TS2339") && err.contains("'nope'"), "{err}");
    assert!(err.contains("error: cannot build the component: tsc --noEmit (type errors above) failed"), "{err}");

    drop(server);
    let _ = std::fs::remove_dir_all(&scratch);
}
