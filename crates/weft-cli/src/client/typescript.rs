//! TypeScript components: `weft component new NAME --lang typescript` scaffolds a project on the
//! TypeScript SDK (`sdk/typescript`), and `weft component build` turns a project (a directory
//! with `package.json` and `src/index.ts`) into a WebAssembly component: type-check (`tsc`),
//! bundle (esbuild), then componentize-qjs (QuickJS compiled to WebAssembly, with the
//! component's code snapshotted in) against the Weft WIT world. The tools are the project's npm
//! devDependencies, found in `node_modules/.bin` of the project or of a directory above it
//! (`npm ci`/`npm install` runs first when the project declares dependencies and has no
//! `node_modules`).

use super::api::CliError;
use super::component::{Built, display_name, find_sdk};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
    });
    let pretty = |v: &serde_json::Value| format!("{}\n", serde_json::to_string_pretty(v).expect("JSON"));
    vec![
        ("package.json", pretty(&package)),
        ("tsconfig.json", pretty(&tsconfig)),
        ("src/index.ts", INDEX_TS.replace("__KEY__", name).replace("__NAME__", &display_name(name))),
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

fn readme(name: &str) -> String {
    format!(
        r#"# {display}

A Weft custom component (`{name}`) written in TypeScript with the Weft SDK, run by Weft in a
WebAssembly sandbox. Its actions are in `src/index.ts`; flows refer to them as `{name}.ACTION`
(e.g. `{name}.hello`). Actions are synchronous: `perform` returns `{{ data }}`, and the SDK's
`http`, `state` and `log` answer at once.

## Build

```sh
weft component build        # npm install (first time), tsc, esbuild, componentize-qjs
# → dist/{name}.wasm
```

## Publish

```sh
export WEFT_URL=http://127.0.0.1:8080 WEFT_TOKEN=...
weft component publish      # builds, then uploads
weft component show {name}
```
"#,
        display = display_name(name),
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
    let declares = |field: &str| package[field].as_object().is_some_and(|deps| !deps.is_empty());
    if (declares("dependencies") || declares("devDependencies")) && !dir.join("node_modules").is_dir() {
        npm_install(dir)?;
    }
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

/// The nearest `node_modules/.bin` at or above `dir` holding componentize-qjs and esbuild.
fn tools_dir(dir: &Path) -> Option<PathBuf> {
    let dir = dir.canonicalize().ok()?;
    dir.ancestors()
        .map(|d| d.join("node_modules/.bin"))
        .find(|bin| bin.join("componentize-qjs").is_file() && bin.join("esbuild").is_file())
}

/// `npm ci` (with a lock file) or `npm install` in `dir`.
fn npm_install(dir: &Path) -> Result<(), CliError> {
    let verb = if dir.join("package-lock.json").is_file() { "ci" } else { "install" };
    eprintln!("Installing the build tools: npm {verb} in {}", dir.display());
    let mut cmd = Command::new("npm");
    cmd.args([verb, "--no-audit", "--no-fund"]).current_dir(dir);
    run(&mut cmd, &format!("npm {verb}"))
}

/// Runs a build tool with its output on our stderr; a failure names `what`.
fn run(cmd: &mut Command, what: &str) -> Result<(), CliError> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let status =
        cmd.stdin(Stdio::null()).stdout(Stdio::from(std::io::stderr())).stderr(Stdio::inherit()).status().map_err(
            |e| {
                CliError::Build(format!(
                    "cannot run {program}: {e} (TypeScript components need Node.js and npm: https://nodejs.org)"
                ))
            },
        )?;
    if !status.success() {
        return Err(CliError::Build(format!("{what} failed ({status}); see its messages above")));
    }
    Ok(())
}
