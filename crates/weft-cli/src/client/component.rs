//! The local side of `weft component`: `new` scaffolds a component crate that depends on the
//! Weft SDK, `build` compiles a crate for `wasm32-wasip2` with cargo and finds the component
//! file (`publish` uses it before uploading). No server is involved here.
//!
//! Child processes (rustup, cargo) write their progress to our stderr, so stdout keeps only the
//! command's result (a path, or `--json`) for scripts. Everything that stops a build is a
//! [`CliError::Build`] (exit 2).

use super::api::CliError;
use super::typescript;
use crate::output::pretty;
use serde_json::{Value, json};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Rust target a component is built for: its output is a WebAssembly component.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// Longest component key the server accepts (see weft-wasm's description checks).
const MAX_KEY: usize = 64;

/// Names that cannot be a crate (Rust keywords, the standard crates, the SDK itself).
const RESERVED_NAMES: &[&str] = &[
    "abstract",
    "alloc",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "core",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "proc_macro",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "std",
    "struct",
    "super",
    "test",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "weft_sdk",
    "where",
    "while",
    "yield",
];

/// Type names the generated `src/lib.rs` imports; the component's type must not shadow them.
const IMPORTED_TYPES: &[&str] =
    &["Action", "Component", "ComponentInfo", "Context", "Error", "ErrorKind", "FakeHost", "Input", "Value"];

/// Checks a name for `weft component new`: it becomes the component's key (lower-case ASCII
/// letters, digits, `-` and `_`, starting with a letter, at most 64 characters, as the server
/// requires) and the crate's name. The error names the problem and suggests a fixed name.
pub fn check_name(name: &str) -> Result<(), String> {
    let rule = "a component name is lower-case letters, digits, `-` and `_`, starting with a letter";
    let suggestion = || {
        let fixed = suggest_name(name);
        if fixed.is_empty() || fixed == name || check_name(&fixed).is_err() {
            String::new()
        } else {
            format!(" (e.g. `{fixed}`)")
        }
    };
    if name.is_empty() {
        return Err(format!("the name is empty: {rule}"));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        let what = match bad {
            ' ' => "a space".to_string(),
            c if c.is_ascii_uppercase() => format!("the upper-case letter `{c}`"),
            c => format!("`{}`", c.escape_default()),
        };
        return Err(format!("{name:?} contains {what}: {rule}{}", suggestion()));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(format!("{name:?} does not start with a letter: {rule}"));
    }
    if name.len() > MAX_KEY {
        return Err(format!("{name:?} is longer than {MAX_KEY} characters"));
    }
    let crate_name = name.replace('-', "_");
    if RESERVED_NAMES.contains(&crate_name.as_str()) {
        return Err(format!("{name:?} cannot be a Rust crate's name (a keyword or a reserved crate); choose another"));
    }
    Ok(())
}

/// A well-formed version of `name`: lower case, runs of other characters as one `-`.
fn suggest_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        match c.to_ascii_lowercase() {
            c if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' => out.push(c),
            _ if !out.is_empty() && !out.ends_with('-') => out.push('-'),
            _ => {}
        }
    }
    out.trim_end_matches('-').to_string()
}

/// `hello-world` → `Hello World` (the component's display name).
pub(crate) fn display_name(name: &str) -> String {
    name.split(['-', '_']).filter(|w| !w.is_empty()).map(capitalize).collect::<Vec<_>>().join(" ")
}

/// `hello-world` → `HelloWorld` (the component's Rust type), avoiding the SDK's imported names.
fn type_name(name: &str) -> String {
    let camel: String = name.split(['-', '_']).map(capitalize).collect();
    if IMPORTED_TYPES.contains(&camel.as_str()) { format!("{camel}Component") } else { camel }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// A TOML basic string (quoted and escaped).
fn toml_string(text: &str) -> String {
    let mut out = String::from('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn cargo_toml(name: &str, sdk: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# cdylib: the WebAssembly component (`weft component build`); rlib: the native unit tests (`cargo test`).
crate-type = ["cdylib", "rlib"]

[dependencies]
weft-sdk = {{ path = {sdk} }}

# Components are shipped small: size-optimized, one codegen unit, LTO, no symbols.
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
strip = true
debug = false

# A workspace of its own, so the crate builds on its own (also inside another project).
[workspace]
"#,
        sdk = toml_string(sdk)
    )
}

/// `src/lib.rs`: one working action and its unit tests. Placeholders: `__KEY__` (the name,
/// already checked to need no escaping), `__NAME__` (display name), `__TYPE__` (Rust type).
const LIB_RS: &str = r#"//! __NAME__: a Weft custom component.
//!
//! - `cargo test` runs the unit tests natively (host calls go to `weft_sdk::testing::FakeHost`).
//! - `weft component build` builds the WebAssembly component.
//! - `weft component publish` builds it and uploads it to the server at `WEFT_URL`.

use weft_sdk::{Action, Component, ComponentInfo, Context, Error, Input, Value, json, log};

pub struct __TYPE__;

impl Component for __TYPE__ {
    fn describe() -> ComponentInfo {
        // The key names the component in flows (`__KEY__.hello`). The version is the crate's:
        // bump it in Cargo.toml for every change you publish (a published version is immutable).
        ComponentInfo::new("__KEY__", "__NAME__", env!("CARGO_PKG_VERSION"))
            .description("An example component: greets people.")
            .action(
                Action::new("hello", "Say hello")
                    .description("Greets someone by name.")
                    .input(
                        Input::string("name")
                            .required()
                            .label("Name")
                            .help("Who to greet."),
                    ),
            )
    }

    fn run_action(action: &str, inputs: Value, _cx: &Context) -> Result<Value, Error> {
        match action {
            "hello" => hello(&inputs),
            other => Err(Error::unknown_action(other)),
        }
    }
}

weft_sdk::export_component!(__TYPE__);

fn hello(inputs: &Value) -> Result<Value, Error> {
    let name = match inputs.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.trim(),
        _ => return Err(Error::missing_input("name", "a non-empty string")),
    };
    log::info(format!("greeting {name}"));
    Ok(json!({ "greeting": format!("Hello, {name}!") }))
}

#[cfg(test)]
mod tests {
    use weft_sdk::testing::{FakeHost, run_action};
    use weft_sdk::{Component, ErrorKind, json};

    use super::__TYPE__;

    #[test]
    fn hello_greets_by_name() {
        let host = FakeHost::new().install();
        let out = run_action::<__TYPE__>("hello", json!({ "name": "Ada" })).unwrap();
        assert_eq!(out, json!({ "greeting": "Hello, Ada!" }));
        assert_eq!(host.logs().len(), 1);
        assert!(host.requests().is_empty());
    }

    #[test]
    fn a_missing_name_is_an_input_error() {
        let _host = FakeHost::new().install();
        let err = run_action::<__TYPE__>("hello", json!({})).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Input);
        let err = run_action::<__TYPE__>("nope", json!({})).unwrap_err();
        assert_eq!(err.message, "unknown action 'nope'");
    }

    #[test]
    fn describes_itself() {
        let info = __TYPE__::describe();
        assert_eq!(info.key, "__KEY__");
        assert_eq!(info.actions.len(), 1);
        assert_eq!(info.actions[0].inputs[0].key, "name");
    }
}
"#;

fn lib_rs(name: &str) -> String {
    LIB_RS.replace("__KEY__", name).replace("__NAME__", &display_name(name)).replace("__TYPE__", &type_name(name))
}

fn readme(name: &str) -> String {
    let file = name.replace('-', "_");
    format!(
        r#"# {display}

A Weft custom component (`{name}`): a WebAssembly component written with the Weft SDK, run by
Weft in a sandbox. Its actions are in `src/lib.rs`; flows refer to them as `{name}.ACTION`
(e.g. `{name}.hello`).

## Test

```sh
cargo test
```

## Build

```sh
weft component build        # or: cargo build --release --target {WASM_TARGET}
# → target/{WASM_TARGET}/release/{file}.wasm
```

{publish}
A published version cannot change: bump `version` in `Cargo.toml` before publishing a change.
"#,
        display = display_name(name),
        publish = readme_publish(name),
    )
}

/// The "Publish" section of a new component's README.
pub(crate) fn readme_publish(name: &str) -> String {
    format!(
        r#"## Publish

```sh
export WEFT_URL=http://127.0.0.1:8080 WEFT_TOKEN=...
weft component publish      # builds, then uploads
weft component show {name}
```
"#
    )
}

/// The SDK crate to depend on: `--sdk` (the crate, or a checkout's `sdk/` folder holding it),
/// else the checkout this binary was built from. Absolute, so the new crate can live anywhere.
fn sdk_path(given: Option<&Path>) -> Result<PathBuf, CliError> {
    find_sdk(given, "weft-sdk", is_sdk_crate, "the Weft SDK", "the weft-sdk crate (no Cargo.toml naming it)")
}

/// An SDK's directory: `given` (the SDK itself, or a checkout's `sdk/` folder holding it as
/// `sub`), else `sdk/<sub>` of the checkout this binary was built from; absolute. `is_sdk` tells
/// an SDK directory; `what` names the SDK, `wanted` what `--sdk` must point to.
pub(crate) fn find_sdk(
    given: Option<&Path>,
    sub: &str,
    is_sdk: impl Fn(&Path) -> bool,
    what: &str,
    wanted: &str,
) -> Result<PathBuf, CliError> {
    let hint = format!("pass --sdk PATH pointing to `sdk/{sub}` in a checkout of weft");
    let Some(given) = given else {
        let built_from = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk")).join(sub);
        return match built_from.canonicalize() {
            Ok(path) if is_sdk(&path) => Ok(path),
            _ => Err(CliError::Usage(format!(
                "cannot find {what} (looked in {}, where this weft was built from): {hint}",
                built_from.display()
            ))),
        };
    };
    let path = given
        .canonicalize()
        .map_err(|e| CliError::Usage(format!("cannot use --sdk {}: {e}; {hint}", given.display())))?;
    [path.clone(), path.join(sub)]
        .into_iter()
        .find(|p| is_sdk(p))
        .ok_or_else(|| CliError::Usage(format!("--sdk {}: not {wanted}; {hint}", given.display())))
}

/// Whether `dir` holds the `weft-sdk` package.
fn is_sdk_crate(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|text| {
        text.lines().any(|l| {
            let l = l.trim();
            l.starts_with("name") && l.contains("\"weft-sdk\"")
        })
    })
}

/// The language of a new component.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    /// A Rust crate on the Rust SDK (`sdk/weft-sdk`).
    #[default]
    Rust,
    /// A TypeScript project on the TypeScript SDK (`sdk/typescript`).
    #[value(alias = "ts")]
    Typescript,
}

/// `weft component new`: writes the crate (or TypeScript project) and returns what to print.
pub fn new(name: &str, dir: Option<&Path>, sdk: Option<&Path>, lang: Lang, json: bool) -> Result<String, CliError> {
    check_name(name).map_err(CliError::Usage)?;
    let dir = dir.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    if dir.exists() {
        let mut entries = std::fs::read_dir(&dir).map_err(|e| {
            CliError::Usage(format!("{} exists and cannot be used as the crate's directory: {e}", dir.display()))
        })?;
        if entries.next().is_some() {
            return Err(CliError::Usage(format!(
                "{} already exists and is not empty; choose another directory with --dir",
                dir.display()
            )));
        }
    }
    let sdk = match lang {
        Lang::Rust => sdk_path(sdk)?,
        Lang::Typescript => typescript::sdk_path(sdk)?,
    };
    let sdk = sdk
        .to_str()
        .ok_or_else(|| CliError::Usage(format!("the SDK's path {} is not UTF-8; move it", sdk.display())))?;
    let files = match lang {
        Lang::Rust => vec![
            ("Cargo.toml", cargo_toml(name, sdk)),
            ("src/lib.rs", lib_rs(name)),
            ("README.md", readme(name)),
            (".gitignore", "target/\n".to_string()),
        ],
        Lang::Typescript => typescript::project_files(name, sdk),
    };
    let write_error = |path: &Path, e: std::io::Error| CliError::Usage(format!("cannot write {}: {e}", path.display()));
    for (file, text) in &files {
        let path = dir.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
        }
        std::fs::write(&path, text).map_err(|e| write_error(&path, e))?;
    }
    if json {
        let files: Vec<&str> = files.iter().map(|(f, _)| *f).collect();
        return Ok(pretty(&json!({ "key": name, "dir": dir.display().to_string(), "sdk": sdk, "files": files })));
    }
    let mut out = format!("Created component {name} in {}:\n", dir.display());
    for (file, _) in &files {
        out.push_str(&format!("  {file}\n"));
    }
    if lang == Lang::Typescript {
        out.push_str(&format!(
            "\nNext steps:\n  cd {}\n  weft component build     # npm install, tsc, esbuild, componentize-qjs: dist/{name}.wasm\n  \
             weft component publish   # build and upload it to the server at WEFT_URL\n",
            dir.display(),
        ));
        return Ok(out);
    }
    out.push_str(&format!(
        "\nNext steps:\n  cd {}\n  cargo test               # run its unit tests\n  \
         weft component build     # build target/{WASM_TARGET}/release/{}.wasm\n  \
         weft component publish   # build and upload it to the server at WEFT_URL\n",
        dir.display(),
        name.replace('-', "_"),
    ));
    Ok(out)
}

/// A built component file.
pub struct Built {
    pub path: PathBuf,
    pub size: u64,
}

/// `weft component build`: builds and returns what to print (the path and size, or `--json`).
pub fn build_command(dir: &Path, json: bool) -> Result<String, CliError> {
    let built = build(dir)?;
    if json {
        return Ok(pretty(&json!({ "path": built.path.display().to_string(), "size_bytes": built.size })));
    }
    Ok(format!(
        "built {} ({} bytes)\nPublish it with: weft component publish {}\n",
        built.path.display(),
        built.size,
        built.path.display()
    ))
}

/// `weft component test`: runs the component's unit tests (TypeScript: `src/**/*.test.ts` under
/// Node.js; a crate: `cargo test`) and returns what to print.
pub fn test_command(dir: &Path, json: bool) -> Result<String, CliError> {
    let files = if typescript::is_project(dir) {
        Some(typescript::test(dir)?)
    } else {
        if !dir.join("Cargo.toml").is_file() {
            return Err(CliError::Usage(format!(
                "no Cargo.toml (or package.json) in {}: give the directory of a component crate or TypeScript project",
                dir.display()
            )));
        }
        run_tool(Command::new(cargo()).arg("test").current_dir(dir), cannot_run_cargo, |status| {
            CliError::Tests(format!("`cargo test` failed in {} ({status}); see its report above", dir.display()))
        })?;
        None
    };
    if json {
        return Ok(pretty(&json!({ "dir": dir.display().to_string(), "passed": true, "test_files": files })));
    }
    Ok(match files {
        Some(n) => format!("tests passed ({n} test file{})\n", if n == 1 { "" } else { "s" }),
        None => "tests passed (cargo test)\n".to_string(),
    })
}

/// Builds the component crate in `dir` for [`WASM_TARGET`] (release) and returns the component
/// file. Cargo's output is shown (on stderr); `RUSTFLAGS` of the environment are not applied
/// (flags meant for the host would break the WebAssembly build). `CARGO_TARGET_DIR` and
/// `.cargo/config.toml` are respected: cargo metadata reports where the file lands.
pub fn build(dir: &Path) -> Result<Built, CliError> {
    if typescript::is_project(dir) {
        return typescript::build(dir);
    }
    let manifest = dir.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(CliError::Build(format!(
            "no Cargo.toml (or package.json) in {}: give the directory of a component crate or TypeScript \
             project (create one with `weft component new NAME [--lang typescript]`)",
            dir.display()
        )));
    }
    let manifest = manifest.canonicalize().unwrap_or(manifest);
    let metadata = cargo_metadata(dir)?;
    let artifact = artifact_path(&metadata, &manifest)?;
    ensure_wasm_target(dir)?;
    run_tool(
        Command::new(cargo())
            .args(["build", "--release", "--target", WASM_TARGET])
            .current_dir(dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS"),
        cannot_run_cargo,
        |status| {
            CliError::Build(format!(
                "`cargo build --release --target {WASM_TARGET}` failed in {} ({status}); see cargo's messages above",
                dir.display()
            ))
        },
    )?;
    let size = std::fs::metadata(&artifact).map(|m| m.len()).map_err(|e| {
        CliError::Build(format!(
            "cargo succeeded, but the component {} cannot be read: {e}; does the crate build a `cdylib`?",
            artifact.display()
        ))
    })?;
    Ok(Built { path: artifact, size })
}

/// Runs a tool (cargo, rustup, npm, node, …) with its output on our stderr, so stdout keeps only
/// the command's result; `cannot_run` explains a tool that cannot be started, `failed` a run
/// that exits unsuccessfully.
pub(crate) fn run_tool(
    cmd: &mut Command,
    cannot_run: impl FnOnce(std::io::Error) -> CliError,
    failed: impl FnOnce(std::process::ExitStatus) -> CliError,
) -> Result<(), CliError> {
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .stderr(Stdio::inherit())
        .status()
        .map_err(cannot_run)?;
    if status.success() { Ok(()) } else { Err(failed(status)) }
}

/// What to say when cargo cannot be started.
fn cannot_run_cargo(e: std::io::Error) -> CliError {
    CliError::Build(format!("cannot run cargo: {e} (is Rust installed? see https://rustup.rs)"))
}

/// The cargo to run: the one running us when there is one (`cargo run`), else `cargo` on PATH.
fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `cargo metadata --no-deps` of the crate in `dir` (no dependency resolution, no network).
fn cargo_metadata(dir: &Path) -> Result<Value, CliError> {
    let out = Command::new(cargo())
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| CliError::Build(format!("cannot run cargo: {e} (is Rust installed? see https://rustup.rs)")))?;
    if !out.status.success() {
        return Err(CliError::Build(format!(
            "`cargo metadata` failed in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| CliError::Build(format!("`cargo metadata` printed something that is not JSON: {e}")))
}

/// Where cargo puts the component of the package at `manifest`, from cargo metadata:
/// `<target_directory>/wasm32-wasip2/release/<library name>.wasm`.
fn artifact_path(metadata: &Value, manifest: &Path) -> Result<PathBuf, CliError> {
    let packages = metadata["packages"].as_array().map(Vec::as_slice).unwrap_or_default();
    let package = packages
        .iter()
        .find(|p| p["manifest_path"].as_str().is_some_and(|m| Path::new(m) == manifest))
        .or(match packages {
            [only] => Some(only),
            _ => None,
        })
        .ok_or_else(|| {
            CliError::Build(format!(
                "{} is not a package (a workspace root?): give the component crate's own directory",
                manifest.display()
            ))
        })?;
    let package_name = package["name"].as_str().unwrap_or("?");
    let lib = package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["crate_types"].as_array().is_some_and(|k| k.iter().any(|k| k == "cdylib")))
        .and_then(|t| t["name"].as_str())
        .ok_or_else(|| {
            CliError::Build(format!(
                "the package {package_name} has no cdylib library, so it builds no component: \
                 add `[lib] crate-type = [\"cdylib\", \"rlib\"]` to its Cargo.toml"
            ))
        })?;
    let target_dir = metadata["target_directory"]
        .as_str()
        .ok_or_else(|| CliError::Build("`cargo metadata` did not report a target directory".into()))?;
    Ok(Path::new(target_dir).join(WASM_TARGET).join("release").join(format!("{}.wasm", lib.replace('-', "_"))))
}

/// Makes sure the Rust target [`WASM_TARGET`] is installed (for the toolchain `dir` uses),
/// adding it with rustup if not.
fn ensure_wasm_target(dir: &Path) -> Result<(), CliError> {
    let manual = format!("install it yourself (`rustup target add {WASM_TARGET}`) and retry");
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            CliError::Build(format!(
                "cannot run rustup ({e}), which installs the Rust target {WASM_TARGET} components are built for; \
                 install Rust with rustup (https://rustup.rs)"
            ))
        })?;
    if !out.status.success() {
        return Err(CliError::Build(format!(
            "`rustup target list --installed` failed ({}): {}; {manual}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    if String::from_utf8_lossy(&out.stdout).lines().any(|l| l.trim() == WASM_TARGET) {
        return Ok(());
    }
    eprintln!("The Rust target {WASM_TARGET} is not installed; running `rustup target add {WASM_TARGET}`");
    run_tool(
        Command::new("rustup").args(["target", "add", WASM_TARGET]).current_dir(dir),
        |e| CliError::Build(format!("cannot run rustup: {e}; {manual}")),
        |status| CliError::Build(format!("`rustup target add {WASM_TARGET}` failed ({status}); {manual}")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_component_keys() {
        for good in ["hello", "hello-world", "acme_crm2", "a"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        let err = check_name("Hello World").unwrap_err();
        assert!(err.contains("upper-case letter `H`") && err.contains("e.g. `hello-world`"), "{err}");
        let err = check_name("hello world").unwrap_err();
        assert!(err.contains("a space"), "{err}");
        assert!(check_name("1up").unwrap_err().contains("start with a letter"));
        assert!(check_name("-x").unwrap_err().contains("start with a letter"));
        assert!(check_name("").unwrap_err().contains("empty"));
        assert!(check_name(&"a".repeat(65)).unwrap_err().contains("longer than 64"));
        assert!(check_name("fn").unwrap_err().contains("keyword"));
        assert!(check_name("weft-sdk").unwrap_err().contains("reserved"));
        assert!(check_name("héllo").unwrap_err().contains("`\\u{e9}`"));
    }

    #[test]
    fn names_for_display_and_code() {
        assert_eq!(display_name("hello-world"), "Hello World");
        assert_eq!(display_name("acme_crm2"), "Acme Crm2");
        assert_eq!(type_name("hello-world"), "HelloWorld");
        assert_eq!(type_name("a"), "A");
        assert_eq!(type_name("component"), "ComponentComponent");
        assert_eq!(type_name("value"), "ValueComponent");
        assert_eq!(toml_string(r#"/a "b"\c"#), r#""/a \"b\"\\c""#);
    }

    #[test]
    fn new_writes_a_crate_and_refuses_a_non_empty_directory() {
        let scratch = tempfile::tempdir().unwrap();
        let sdk = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk"));
        let dir = scratch.path().join("hello-world");
        let out = new("hello-world", Some(&dir), Some(sdk), Lang::Rust, false).unwrap();
        assert!(out.starts_with(&format!("Created component hello-world in {}:\n", dir.display())), "{out}");
        assert!(out.contains("weft component publish"), "{out}");

        let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let sdk_crate = sdk.join("weft-sdk").canonicalize().unwrap();
        assert!(cargo.contains(&format!("weft-sdk = {{ path = \"{}\" }}", sdk_crate.display())), "{cargo}");
        assert!(cargo.contains("name = \"hello-world\"") && cargo.contains("\n[workspace]\n"), "{cargo}");
        assert!(cargo.contains(r#"crate-type = ["cdylib", "rlib"]"#) && cargo.contains("edition = \"2024\""));
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains("pub struct HelloWorld;") && lib.contains(r#"ComponentInfo::new("hello-world""#));
        assert!(!lib.contains("__"), "placeholders left: {lib}");
        assert_eq!(std::fs::read_to_string(dir.join(".gitignore")).unwrap(), "target/\n");
        assert!(std::fs::read_to_string(dir.join("README.md")).unwrap().contains("hello_world.wasm"));

        let err = new("hello-world", Some(&dir), Some(sdk), Lang::Rust, false).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("not empty"), "{err}");

        // An empty directory is fine; a wrong SDK path is a usage error naming --sdk.
        let empty = scratch.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let json: Value = serde_json::from_str(&new("x", Some(&empty), Some(sdk), Lang::Rust, true).unwrap()).unwrap();
        assert_eq!(json["files"], json!(["Cargo.toml", "src/lib.rs", "README.md", ".gitignore"]));
        let err = new("y", Some(&scratch.path().join("y")), Some(scratch.path()), Lang::Rust, false).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--sdk"), "{err}");
        assert!(!scratch.path().join("y").exists());
    }

    #[test]
    fn the_component_file_comes_from_cargo_metadata() {
        let metadata = json!({
            "packages": [
                {"name": "other", "manifest_path": "/w/other/Cargo.toml",
                 "targets": [{"name": "other", "kind": ["lib"], "crate_types": ["lib"]}]},
                {"name": "hello-world", "manifest_path": "/w/hello/Cargo.toml",
                 "targets": [{"name": "hello_world", "kind": ["cdylib", "rlib"], "crate_types": ["cdylib", "rlib"]}]}
            ],
            "target_directory": "/w/target"
        });
        let path = artifact_path(&metadata, Path::new("/w/hello/Cargo.toml")).unwrap();
        assert_eq!(path, Path::new("/w/target/wasm32-wasip2/release/hello_world.wasm"));
        let err = artifact_path(&metadata, Path::new("/w/other/Cargo.toml")).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("no cdylib"), "{err}");
        let err = artifact_path(&metadata, Path::new("/w/Cargo.toml")).unwrap_err();
        assert!(err.to_string().contains("workspace root"), "{err}");
    }

    #[test]
    fn building_without_a_crate_is_a_build_error() {
        let scratch = tempfile::tempdir().unwrap();
        let err = build(scratch.path()).err().expect("no Cargo.toml");
        assert_eq!(err.exit_code(), 2);
        let text = err.to_string();
        assert!(text.starts_with("error: cannot build the component: no Cargo.toml (or package.json) in "), "{text}");
    }
}
