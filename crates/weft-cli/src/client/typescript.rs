//! TypeScript components: `weft component new NAME --lang typescript` scaffolds a project on the
//! TypeScript SDK (`sdk/typescript`), and `weft component build` turns a project (a directory
//! with `package.json` and `src/index.ts`) into a WebAssembly component: type-check (`tsc`),
//! bundle (esbuild), then componentize-qjs (QuickJS compiled to WebAssembly, with the
//! component's code snapshotted in) against the Weft WIT world. The tools are the project's npm
//! devDependencies, found in `node_modules/.bin` of the project or of a directory above it
//! (`npm ci`/`npm install` runs first when the project declares dependencies and has no
//! `node_modules`).

use super::api::CliError;
use super::component::{Built, display_name, find_sdk, readme_publish, run_tool};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The WIT package every component implements, written into new projects.
const WIT: &str = include_str!("../../../../wit/weft-component.wit");

/// The npm packages a project builds with, pinned as in `sdk/typescript/package.json`.
const DEV_DEPENDENCIES: &[(&str, &str)] =
    &[("componentize-qjs", "0.4.5"), ("esbuild", "0.28.2"), ("typescript", "5.9.3")];

/// Whether `dir` is a TypeScript component project (a `package.json`, no `Cargo.toml`).
pub fn is_project(dir: &Path) -> bool {
    dir.join("package.json").is_file() && !dir.join("Cargo.toml").exists()
}

/// The TypeScript SDK to depend on: `--sdk` (the SDK's directory, or a checkout's `sdk/`
/// folder holding it), else the one of the checkout this binary was built from.
pub fn sdk_path(given: Option<&Path>) -> Result<PathBuf, CliError> {
    let is_sdk = |dir: &Path| {
        std::fs::read_to_string(dir.join("package.json")).is_ok_and(|t| t.contains("\"name\": \"@weft/sdk\""))
    };
    find_sdk(
        given,
        "typescript",
        is_sdk,
        "the Weft TypeScript SDK",
        "the TypeScript SDK (no package.json naming @weft/sdk)",
    )
}

/// The files of a new project named `name` on the SDK at `sdk`.
pub fn project_files(name: &str, sdk: &str) -> Vec<(&'static str, String)> {
    let mut dev: serde_json::Map<String, serde_json::Value> =
        DEV_DEPENDENCIES.iter().map(|(k, v)| (k.to_string(), (*v).into())).collect();
    dev.insert("@weft/sdk".into(), format!("file:{sdk}").into());
    let package = serde_json::json!({
        "name": name,
        "version": "0.1.0",
        "private": true,
        "type": "module",
        "scripts": { "build": "weft component build" },
        "devDependencies": dev,
    });
    let tsconfig = serde_json::json!({
        "compilerOptions": {
            "target": "ES2022", "module": "ES2022", "moduleResolution": "bundler", "strict": true,
            "noEmit": true, "skipLibCheck": true, "lib": ["ES2022"]
        },
        "include": ["src"],
        "exclude": ["src/**/*.test.ts"],
    });
    let pretty = |v: &serde_json::Value| format!("{}\n", serde_json::to_string_pretty(v).expect("JSON"));
    vec![
        ("package.json", pretty(&package)),
        ("tsconfig.json", pretty(&tsconfig)),
        ("src/index.ts", INDEX_TS.replace("__KEY__", name).replace("__NAME__", &display_name(name))),
        ("src/index.test.ts", INDEX_TEST_TS.to_string()),
        ("wit/weft-component.wit", WIT.to_string()),
        ("README.md", readme(name)),
        (".gitignore", "node_modules/\ndist/\n".to_string()),
    ]
}

const INDEX_TS: &str = r#"import { action, component, input, WeftError } from "@weft/sdk";

export const guest = component({
  key: "__KEY__",
  display: { label: "__NAME__", description: "What __NAME__ does." },
  // A published version is immutable: bump it before publishing a change.
  version: "0.1.0",
  actions: {
    hello: action({
      display: { label: "Say hello", description: "Greets someone by name." },
      inputs: {
        name: input({ label: "Name", type: "string", required: true, comments: "Who to greet." }),
      },
      perform: (context, params) => {
        if (typeof params.name !== "string" || params.name.trim() === "") {
          throw new WeftError("input", "input 'name' must be a non-empty string");
        }
        console.log(`greeting ${params.name} in execution ${context.executionId}`);
        return { data: { greeting: `Hello, ${params.name}!` } };
      },
    }),
  },
});
"#;

const INDEX_TEST_TS: &str = r#"// Unit tests, without a server: `weft component test` (Node.js's test runner).
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeHost, run } from "@weft/sdk/testing";
import { guest } from "./index";

test("hello greets by name", () => {
  const host = new FakeHost();
  assert.deepEqual(run(guest, "hello", { name: "Ada" }, { host, executionId: "exe_1" }), { greeting: "Hello, Ada!" });
  assert.deepEqual(host.logs, [{ level: "info", message: "greeting Ada in execution exe_1" }]);
});

test("hello refuses an empty name", () => {
  assert.throws(() => run(guest, "hello", { name: " " }), { kind: "input" });
});
"#;

fn readme(name: &str) -> String {
    format!(
        r#"# {display}

A Weft custom component (`{name}`) written in TypeScript with the Weft SDK, run by Weft in a
WebAssembly sandbox. Its actions are in `src/index.ts`; flows refer to them as `{name}.ACTION`
(e.g. `{name}.hello`). Actions are synchronous: `perform` returns `{{ data }}`, and the SDK's
`http`, `state` and `log` answer at once.

## Test

```sh
weft component test         # src/**/*.test.ts under Node.js, with @weft/sdk/testing's FakeHost
```

## Build

```sh
weft component build        # npm install (first time), tsc, esbuild, componentize-qjs
# → dist/{name}.wasm
```

{publish}"#,
        display = display_name(name),
        publish = readme_publish(name),
    )
}

/// Builds the project in `dir` into `dist/<package name>.wasm`; the tools' output goes to
/// stderr.
pub fn build(dir: &Path) -> Result<Built, CliError> {
    let package: serde_json::Value = std::fs::read_to_string(dir.join("package.json"))
        .map_err(|e| CliError::Build(format!("cannot read {}: {e}", dir.join("package.json").display())))
        .and_then(|t| {
            serde_json::from_str(&t)
                .map_err(|e| CliError::Build(format!("{} is not JSON: {e}", dir.join("package.json").display())))
        })?;
    let name = package["name"].as_str().filter(|n| !n.is_empty()).ok_or_else(|| {
        CliError::Build(format!("{} has no \"name\": it names the component file", dir.join("package.json").display()))
    })?;
    let file_name = name.rsplit('/').next().unwrap_or(name);
    let entry = dir.join("src/index.ts");
    if !entry.is_file() {
        return Err(CliError::Build(format!(
            "no src/index.ts in {}: a TypeScript component exports `guest` from src/index.ts \
             (create a project with `weft component new NAME --lang typescript`)",
            dir.display()
        )));
    }
    let wit = [dir.join("wit"), PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit"))]
        .into_iter()
        .find(|p| p.is_dir())
        .ok_or_else(|| CliError::Build(format!("no wit/ directory in {} (the Weft WIT world)", dir.display())))?;
    install_if_needed(dir, &package)?;
    let bin = tools_dir(dir).ok_or_else(|| {
        CliError::Build(format!(
            "no componentize-qjs and esbuild in node_modules/.bin of {} or a directory above it: \
             add them to its devDependencies",
            dir.display()
        ))
    })?;
    let tsc = bin.join("tsc");
    if tsc.is_file() && dir.join("tsconfig.json").is_file() {
        run(Command::new(&tsc).args(["--noEmit", "-p", "."]).current_dir(dir), "tsc --noEmit (type errors above)")?;
    }
    let dist = dir.join("dist");
    let bundle = dist.join("component.js");
    run(
        Command::new(bin.join("esbuild"))
            .args(["src/index.ts", "--bundle", "--format=esm", "--platform=neutral", "--target=es2022"])
            .arg("--external:weft:component/*")
            .arg(format!("--outfile={}", bundle.display()))
            .current_dir(dir),
        "esbuild (bundling src/index.ts)",
    )?;
    let artifact = dist.join(format!("{file_name}.wasm"));
    run(
        Command::new(bin.join("componentize-qjs"))
            .arg("--wit")
            .arg(&wit)
            .arg("--js")
            .arg(&bundle)
            .args(["--world", "component", "--sync", "--output"])
            .arg(&artifact)
            .current_dir(dir),
        "componentize-qjs",
    )?;
    let size = std::fs::metadata(&artifact)
        .map(|m| m.len())
        .map_err(|e| CliError::Build(format!("componentize-qjs wrote no {}: {e}", artifact.display())))?;
    Ok(Built { path: artifact.canonicalize().unwrap_or(artifact), size })
}

/// Runs the project's unit tests (`src/**/*.test.ts`) under Node.js: bundled by esbuild with
/// the SDK's fake host (`@weft/sdk/testing`) in place of the real host's imports, then
/// `node --test`. Returns how many test files ran; node's report goes to stderr.
pub fn test(dir: &Path) -> Result<usize, CliError> {
    let mut files = Vec::new();
    collect_tests(&dir.join("src"), &mut files);
    files.sort();
    if files.is_empty() {
        return Err(CliError::Usage(format!(
            "no tests in {}: unit tests are src/**/*.test.ts files (see @weft/sdk/testing)",
            dir.join("src").display()
        )));
    }
    let package: serde_json::Value = std::fs::read_to_string(dir.join("package.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    install_if_needed(dir, &package)?;
    let bin = tools_dir(dir).ok_or_else(|| {
        CliError::Build(format!("no esbuild in node_modules/.bin of {} or a directory above it", dir.display()))
    })?;
    // The SDK the project uses (its node_modules/@weft/sdk), else the one of this checkout.
    let sdk = dir
        .canonicalize()
        .ok()
        .and_then(|d| d.ancestors().map(|a| a.join("node_modules/@weft/sdk")).find(|p| p.is_dir()))
        .and_then(|p| p.canonicalize().ok())
        .map_or_else(|| sdk_path(None), Ok)?;
    let out = dir.join("dist/tests");
    let _ = std::fs::remove_dir_all(&out);
    run(
        Command::new(bin.join("esbuild"))
            .args(&files)
            .args(["--bundle", "--format=esm", "--platform=node", "--target=node20", "--out-extension:.js=.mjs"])
            .arg(format!("--outdir={}", out.display()))
            .arg(format!("--alias:weft:component/host@0.1.0={}", sdk.join("src/fake-host.ts").display()))
            .current_dir(dir),
        "esbuild (bundling the tests)",
    )?;
    let mut bundles: Vec<PathBuf> = std::fs::read_dir(&out)
        .map_err(|e| CliError::Build(format!("esbuild wrote no {}: {e}", out.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mjs"))
        .collect();
    bundles.sort();
    run_tool(
        Command::new("node").arg("--test").args(&bundles).current_dir(dir),
        |e| CliError::Build(format!("cannot run node: {e} (tests need Node.js: https://nodejs.org)")),
        |status| CliError::Tests(format!("the tests of {} failed ({status}); see node's report above", dir.display())),
    )?;
    Ok(files.len())
}

/// The `*.test.ts` files under `dir`, relative paths as given.
fn collect_tests(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_tests(&path, files);
        } else if path.to_str().is_some_and(|p| p.ends_with(".test.ts")) {
            files.push(path);
        }
    }
}

/// The nearest `node_modules/.bin` at or above `dir` holding componentize-qjs and esbuild.
fn tools_dir(dir: &Path) -> Option<PathBuf> {
    let dir = dir.canonicalize().ok()?;
    dir.ancestors()
        .map(|d| d.join("node_modules/.bin"))
        .find(|bin| bin.join("componentize-qjs").is_file() && bin.join("esbuild").is_file())
}

/// Installs the project's npm dependencies when it declares some (`package`) and has no
/// `node_modules` yet (a project without any uses the tools of a directory above it).
fn install_if_needed(dir: &Path, package: &serde_json::Value) -> Result<(), CliError> {
    let declares = |field: &str| package[field].as_object().is_some_and(|deps| !deps.is_empty());
    if (declares("dependencies") || declares("devDependencies")) && !dir.join("node_modules").is_dir() {
        npm_install(dir)?;
    }
    Ok(())
}

/// `npm ci` (with a lock file) or `npm install` in `dir`.
fn npm_install(dir: &Path) -> Result<(), CliError> {
    let verb = if dir.join("package-lock.json").is_file() { "ci" } else { "install" };
    eprintln!("Installing the build tools: npm {verb} in {}", dir.display());
    let mut cmd = Command::new("npm");
    cmd.args([verb, "--no-audit", "--no-fund"]).current_dir(dir);
    run(&mut cmd, &format!("npm {verb}"))
}

/// Runs a build tool (see [`run_tool`]); a failure names `what`.
fn run(cmd: &mut Command, what: &str) -> Result<(), CliError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    run_tool(
        cmd,
        |e| {
            CliError::Build(format!(
                "cannot run {program}: {e} (TypeScript components need Node.js and npm: https://nodejs.org)"
            ))
        },
        |status| CliError::Build(format!("{what} failed ({status}); see its messages above")),
    )
}
