//! The client side of the `weft` binary: `weft customer|integration|instance|execution|component …`,
//! which talk to a running server over the REST API (`WEFT_URL`, `WEFT_TOKEN`).
//!
//! `main.rs` flattens [`ClientOpts`] into the root command and [`ClientCommand`] into its
//! subcommands, then calls [`run`]. Argument types live here; the HTTP transport and error
//! sorting in [`api`]; what each command sends in [`commands`]; human renderings of the API's
//! resources in [`views`]; the local side of `weft component` (scaffolding a crate, building it
//! with cargo) in [`component`]. `weft component new` and `build` need no server or token.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | the server refused the request (4xx other than 401/403); message and details on stderr |
//! | 2 | usage error (bad arguments, unreadable file, invalid JSON argument); for `weft component`, also: the component cannot be built |
//! | 3 | the server cannot be reached at `WEFT_URL` |
//! | 4 | authentication: no token, or the server rejected it (401) or its role (403) |
//! | 5 | the server failed (5xx) or answered something that is not the API's JSON |

mod api;
mod commands;
mod component;
mod typescript;
mod views;

use clap::{Args, Subcommand};
use serde_json::Value;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// The exit codes, as shown at the end of `--help` (keep in step with the module doc above).
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  the server refused the request (4xx); the error and its details are printed on stderr
  2  usage error (bad arguments, unreadable file, invalid JSON argument)
  3  cannot reach the server (is `weft serve` running at WEFT_URL?)
  4  authentication: no token (set WEFT_TOKEN), or the server rejected it (401/403)
  5  server error (5xx) or a response that is not the API's JSON";

/// The exit codes of `weft component …`: those of [`EXIT_CODES_HELP`], where 2 also covers a
/// component that cannot be built (keep the two in step).
pub const COMPONENT_EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  the server refused the request (4xx), e.g. `component.invalid` for a file that is not a
     Weft component; the error and its details are printed on stderr
  2  usage error (bad arguments, unreadable file, bad component name, existing directory), or
     the component cannot be built (no Cargo.toml, the wasm32-wasip2 target is missing and
     cannot be installed, `cargo build` or a TypeScript build step failed), or its unit tests
     failed (`weft component test`)
  3  cannot reach the server (is `weft serve` running at WEFT_URL?)
  4  authentication: no token (set WEFT_TOKEN), or the server rejected it (401/403)
  5  server error (5xx) or a response that is not the API's JSON";

/// Where the server is, how to authenticate, and how to print. Global: accepted after any
/// subcommand (`weft customer list --json`).
#[derive(Args, Debug, Clone)]
pub struct ClientOpts {
    /// Base URL of the Weft server.
    #[arg(long, env = "WEFT_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub url: String,
    /// API token (`weft serve` prints one on first start; `weft token create` makes more).
    #[arg(long, env = "WEFT_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Print the API's JSON response instead of tables (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
}

/// The client commands; `main.rs` embeds these with `#[command(flatten)]`.
#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Manage customers (the tenants integrations are deployed for).
    #[command(subcommand, after_long_help = EXIT_CODES_HELP)]
    Customer(CustomerCmd),
    /// Import, publish and inspect integrations.
    #[command(subcommand, after_long_help = EXIT_CODES_HELP)]
    Integration(IntegrationCmd),
    /// Deploy integrations to customers and manage the instances.
    #[command(subcommand, after_long_help = EXIT_CODES_HELP)]
    Instance(InstanceCmd),
    /// Inspect, follow, replay and cancel executions.
    #[command(subcommand, after_long_help = EXIT_CODES_HELP)]
    Execution(ExecutionCmd),
    /// Create, build and publish custom components (WebAssembly).
    #[command(subcommand, after_long_help = COMPONENT_EXIT_CODES_HELP)]
    Component(ComponentCmd),
}

#[derive(Subcommand, Debug)]
pub enum CustomerCmd {
    /// Create a customer.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Your own id for the customer; use it later as `ext:ID` wherever a customer is expected.
        #[arg(long)]
        external_id: Option<String>,
        /// A label (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        labels: Vec<(String, String)>,
    },
    /// List customers.
    #[command(after_long_help = EXIT_CODES_HELP)]
    List(PageArgs),
    /// Show one customer.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Show {
        /// Customer id, or `ext:EXTERNAL_ID`.
        #[arg(value_name = "CUSTOMER")]
        customer: String,
    },
    /// Change a customer's name, external id, labels or concurrency limit.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Update {
        /// Customer id, or `ext:EXTERNAL_ID`.
        #[arg(value_name = "CUSTOMER")]
        customer: String,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        /// New external id.
        #[arg(long)]
        external_id: Option<String>,
        /// Set a label, keeping the others (repeatable).
        #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        labels: Vec<(String, String)>,
        /// Remove a label (repeatable).
        #[arg(long = "remove-label", value_name = "KEY")]
        remove_labels: Vec<String>,
        /// At most N executions of all the customer's instances run at once; `none` lifts the limit.
        #[arg(long, value_name = "N|none", value_parser = parse_max_concurrency)]
        max_concurrency: Option<Value>,
    },
    /// Delete a customer.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Delete {
        /// Customer id, or `ext:EXTERNAL_ID`.
        #[arg(value_name = "CUSTOMER")]
        customer: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum IntegrationCmd {
    /// Import a definition (YAML or JSON) as a new integration, or as the new draft of an
    /// existing key.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Import {
        /// The definition file (`.json` is sent as JSON, anything else as YAML), or `-` for stdin
        /// (sent as YAML, which also accepts JSON).
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// List integrations.
    #[command(after_long_help = EXIT_CODES_HELP)]
    List(PageArgs),
    /// Show an integration and its draft.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Show {
        /// Integration id or key.
        #[arg(value_name = "INTEGRATION")]
        integration: String,
    },
    /// Publish the current draft as the next version.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Publish {
        /// Integration id or key.
        #[arg(value_name = "INTEGRATION")]
        integration: String,
    },
    /// List the published versions of an integration.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Versions {
        /// Integration id or key.
        #[arg(value_name = "INTEGRATION")]
        integration: String,
        #[command(flatten)]
        page: PageArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum InstanceCmd {
    /// Deploy a published integration version to a customer.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Deploy(DeployArgs),
    /// List instances.
    #[command(after_long_help = EXIT_CODES_HELP)]
    List {
        /// Only this customer's instances (id or `ext:EXTERNAL_ID`).
        #[arg(long)]
        customer: Option<String>,
        /// Only instances of this integration (id or key).
        #[arg(long)]
        integration: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show an instance, its config and webhook URLs.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Show {
        /// Instance id.
        #[arg(value_name = "INSTANCE")]
        instance: String,
    },
    /// Pause an instance: its triggers stop starting executions.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Pause {
        /// Instance id.
        #[arg(value_name = "INSTANCE")]
        instance: String,
    },
    /// Resume a paused instance.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Resume {
        /// Instance id.
        #[arg(value_name = "INSTANCE")]
        instance: String,
    },
    /// Delete an instance.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Delete {
        /// Instance id.
        #[arg(value_name = "INSTANCE")]
        instance: String,
    },
    /// Move an instance to another version (default: the latest) and/or change config values;
    /// values not given are carried over.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Upgrade {
        /// Instance id.
        #[arg(value_name = "INSTANCE")]
        instance: String,
        /// Version to move to (default: the latest published).
        #[arg(long)]
        version: Option<u64>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Run a flow of an instance by hand.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Run {
        /// Instance id.
        #[arg(value_name = "INSTANCE")]
        instance: String,
        /// Flow key.
        #[arg(value_name = "FLOW")]
        flow: String,
        /// The trigger payload as JSON.
        #[arg(long, value_name = "JSON", conflicts_with = "payload_file")]
        payload: Option<String>,
        /// A file holding the JSON payload, or `-` for stdin.
        #[arg(long, value_name = "FILE")]
        payload_file: Option<PathBuf>,
        /// Wait for the execution to finish and show it (exit code 0 even if the flow failed;
        /// check `status`).
        #[arg(long)]
        wait: bool,
    },
}

/// `weft instance deploy`.
#[derive(Args, Debug)]
pub struct DeployArgs {
    /// Integration id or key.
    #[arg(long)]
    pub integration: String,
    /// Customer id, or `ext:EXTERNAL_ID`.
    #[arg(long)]
    pub customer: String,
    /// Version to deploy (default: the latest published).
    #[arg(long)]
    pub version: Option<u64>,
    /// Instance name.
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Config values for `deploy` and `upgrade`.
#[derive(Args, Debug, Default)]
pub struct ConfigArgs {
    /// A config value (repeatable). VALUE is taken as JSON when it parses (`100`, `true`,
    /// `["a"]`, `"007"`), else as a string. Applied on top of --config-json/--config-file.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_config_entry)]
    pub entries: Vec<(String, Value)>,
    /// Config values as one JSON object.
    #[arg(long, value_name = "JSON", conflicts_with = "config_file")]
    pub config_json: Option<String>,
    /// A file holding the config as one JSON object, or `-` for stdin.
    #[arg(long, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum ExecutionCmd {
    /// List executions, newest first.
    #[command(after_long_help = EXIT_CODES_HELP)]
    List(ExecutionListArgs),
    /// Show an execution with its steps, result and error.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Show {
        /// Execution id.
        #[arg(value_name = "EXECUTION")]
        execution: String,
    },
    /// Show an execution's log lines.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Logs {
        /// Execution id.
        #[arg(value_name = "EXECUTION")]
        execution: String,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Run an execution again with the same trigger payload.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Replay {
        /// Execution id.
        #[arg(value_name = "EXECUTION")]
        execution: String,
    },
    /// Cancel an execution: a queued one at once, a running one after its current step.
    #[command(after_long_help = EXIT_CODES_HELP)]
    Cancel {
        /// Execution id.
        #[arg(value_name = "EXECUTION")]
        execution: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ComponentCmd {
    /// Create a component crate (Rust, with the Weft SDK) or TypeScript project.
    ///
    /// Rust: writes `Cargo.toml`, `src/lib.rs` (one working action, `hello`, and its unit
    /// tests), `README.md` and `.gitignore`. TypeScript (`--lang typescript`): `package.json`,
    /// `tsconfig.json`, `src/index.ts` (the `hello` action), `wit/`, `README.md` and
    /// `.gitignore`. Needs no server or token.
    #[command(after_long_help = COMPONENT_EXIT_CODES_HELP)]
    New {
        /// The component's key (how flows call it: `NAME.ACTION`), also the crate's name:
        /// lower-case letters, digits, `-` and `_`, starting with a letter.
        #[arg(value_name = "NAME", value_parser = parse_component_name)]
        name: String,
        /// Directory to create the crate in (default: `./NAME`); it must not exist or be empty.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The SDK the component depends on: `sdk/weft-sdk` (Rust) or `sdk/typescript` of a weft
        /// checkout (default: the one of the checkout this weft was built from, if it is still
        /// there).
        #[arg(long, value_name = "PATH")]
        sdk: Option<PathBuf>,
        /// The component's language.
        #[arg(long, value_enum, default_value_t = component::Lang::Rust)]
        lang: component::Lang,
    },
    /// Build a component crate or TypeScript project into a WebAssembly component file.
    ///
    /// A crate: runs `cargo build --release --target wasm32-wasip2` in DIR (installing that Rust
    /// target with rustup if it is missing). A TypeScript project (`package.json`, no
    /// `Cargo.toml`): `npm ci`/`npm install` when its tools are missing, `tsc --noEmit`,
    /// esbuild, componentize-qjs, into `dist/NAME.wasm`. The tools' output goes to stderr; prints
    /// the component file's path and size. Needs no server or token.
    #[command(after_long_help = COMPONENT_EXIT_CODES_HELP)]
    Build {
        /// The component crate's (or TypeScript project's) directory.
        #[arg(value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
    /// Run a component's unit tests, without a server.
    ///
    /// A TypeScript project: its `src/**/*.test.ts` under Node.js's test runner, with
    /// `@weft/sdk/testing`'s `FakeHost` in place of the host. A crate: `cargo test`. The tests'
    /// report goes to stderr; a failing test exits 2.
    #[command(after_long_help = COMPONENT_EXIT_CODES_HELP)]
    Test {
        /// The component crate's (or TypeScript project's) directory.
        #[arg(value_name = "DIR", default_value = ".")]
        dir: PathBuf,
    },
    /// Upload a component to the server as a new version.
    ///
    /// Its key and version come from the component's own description (`describe`); a
    /// published version is immutable, so publishing other bytes under the same version is
    /// refused (exit 1), while the same bytes again are accepted. A crate directory is built first.
    #[command(after_long_help = COMPONENT_EXIT_CODES_HELP)]
    Publish {
        /// A `.wasm` component file (uploaded as it is), or a component crate's directory
        /// (built as by `weft component build`, then uploaded).
        #[arg(value_name = "PATH", default_value = ".")]
        path: PathBuf,
    },
    /// List the published components.
    #[command(after_long_help = COMPONENT_EXIT_CODES_HELP)]
    List(PageArgs),
    /// Show a component, its versions and what its latest version offers.
    ///
    /// Lists the latest version's actions with their inputs, triggers, data sources and
    /// connection types.
    #[command(after_long_help = COMPONENT_EXIT_CODES_HELP)]
    Show {
        /// Component id or key.
        #[arg(value_name = "COMPONENT")]
        component: String,
    },
}

/// Filters of `weft execution list`.
#[derive(Args, Debug, Default)]
pub struct ExecutionListArgs {
    /// Only this instance's executions.
    #[arg(long)]
    pub instance: Option<String>,
    /// Only this customer's executions (id or `ext:EXTERNAL_ID`).
    #[arg(long)]
    pub customer: Option<String>,
    /// Only executions of this flow key.
    #[arg(long)]
    pub flow: Option<String>,
    /// Only executions in this status: `queued`, `running`, `succeeded`, `failed` or `canceled`.
    #[arg(long)]
    pub status: Option<String>,
    /// Only executions created at or after this time (RFC 3339, e.g. `2026-11-28T00:00:00Z`).
    #[arg(long, value_name = "RFC3339")]
    pub since: Option<String>,
    /// Only executions created before this time (RFC 3339).
    #[arg(long, value_name = "RFC3339")]
    pub until: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
}

/// Paging of every listing.
#[derive(Args, Debug, Default, Clone)]
pub struct PageArgs {
    /// Items per page (1..500; the server's default is 50).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub limit: Option<u32>,
    /// Continue a listing from a previous page's `next_cursor`.
    #[arg(long, conflicts_with = "all")]
    pub cursor: Option<String>,
    /// Fetch every page (with --json: one `{"items": […]}` with all of them).
    #[arg(long)]
    pub all: bool,
}

/// Runs one client command against the server and returns the process exit code (documented
/// in [`EXIT_CODES_HELP`]). Output goes to stdout, errors to stderr.
///
/// `weft component new` and `build` are local: they run without a token or server.
pub async fn run(opts: &ClientOpts, cmd: ClientCommand) -> ExitCode {
    let result = match cmd {
        ClientCommand::Component(ComponentCmd::New { name, dir, sdk, lang }) => {
            component::new(&name, dir.as_deref(), sdk.as_deref(), lang, opts.json)
        }
        ClientCommand::Component(ComponentCmd::Build { dir }) => component::build_command(&dir, opts.json),
        ClientCommand::Component(ComponentCmd::Test { dir }) => component::test_command(&dir, opts.json),
        cmd => match api::Api::new(opts) {
            Ok(api) => commands::execute(&api, opts.json, cmd).await,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(text) => {
            // Ignore write errors: `weft execution list | head` closing the pipe is not a failure.
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
        }
        Err(error) => {
            let _ = std::io::stderr().lock().write_all(error.to_string().as_bytes());
            ExitCode::from(error.exit_code())
        }
    }
}

/// Parses `KEY=VALUE` (split at the first `=`; the key must not be empty, the value may be).
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_string(), value.to_string())),
        Some(_) => Err(format!("expected KEY=VALUE, but the key is empty in {text:?}")),
        None => Err(format!("expected KEY=VALUE, found no `=` in {text:?}")),
    }
}

/// Checks a component name for `weft component new`: it is the component's key and the crate's
/// name (see [`component::check_name`]).
pub fn parse_component_name(text: &str) -> Result<String, String> {
    component::check_name(text).map(|()| text.to_string())
}

/// Parses a concurrency limit: a whole number of at least 1, or `none` (sent as JSON null,
/// which lifts the limit).
pub fn parse_max_concurrency(text: &str) -> Result<Value, String> {
    if text.trim().eq_ignore_ascii_case("none") {
        return Ok(Value::Null);
    }
    match text.trim().parse::<i64>() {
        Ok(n) if n >= 1 => Ok(Value::from(n)),
        _ => Err(format!("expected a whole number of at least 1, or `none`; got {text:?}")),
    }
}

/// Parses a config `KEY=VALUE`: the value as JSON when it parses, else as a plain string, so
/// `min_total=250` is a number and `endpoint=https://…` a string.
pub fn parse_config_entry(text: &str) -> Result<(String, Value), String> {
    let (key, value) = parse_key_value(text)?;
    Ok((key, config_value(&value)))
}

/// A config value given on the command line: JSON if it parses, else the text as a string.
pub fn config_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};
    use serde_json::json;

    /// Stand-in for main.rs's root command, embedding the client parts as it does.
    #[derive(Parser, Debug)]
    #[command(name = "weft")]
    struct Cli {
        #[command(flatten)]
        opts: ClientOpts,
        #[command(subcommand)]
        cmd: ClientCommand,
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("weft").chain(args.iter().copied()))
    }

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn key_value_parsing() {
        assert_eq!(parse_key_value("tier=gold"), Ok(("tier".into(), "gold".into())));
        assert_eq!(parse_key_value("url=http://x/?a=b"), Ok(("url".into(), "http://x/?a=b".into())));
        assert_eq!(parse_key_value("empty="), Ok(("empty".into(), String::new())));
        assert!(parse_key_value("novalue").unwrap_err().contains("no `=`"));
        assert!(parse_key_value("=v").unwrap_err().contains("key is empty"));
    }

    #[test]
    fn config_values_are_json_when_they_parse() {
        assert_eq!(config_value("100"), json!(100));
        assert_eq!(config_value("2.5"), json!(2.5));
        assert_eq!(config_value("true"), json!(true));
        assert_eq!(config_value("null"), json!(null));
        assert_eq!(config_value(r#"["weft","x"]"#), json!(["weft", "x"]));
        assert_eq!(config_value(r#""007""#), json!("007"));
        assert_eq!(config_value("https://example.com/api"), json!("https://example.com/api"));
        assert_eq!(config_value("hello world"), json!("hello world"));
        assert_eq!(config_value(""), json!(""));
        assert_eq!(parse_config_entry("min_total=250"), Ok(("min_total".into(), json!(250))));
    }

    #[test]
    fn parses_deploy_with_config_entries() {
        let cli = parse(&[
            "instance",
            "deploy",
            "--integration",
            "order-sync",
            "--customer",
            "ext:acme",
            "--config",
            "endpoint=http://x",
            "--config",
            "min_total=5",
            "--json",
        ])
        .unwrap();
        assert!(cli.opts.json);
        let ClientCommand::Instance(InstanceCmd::Deploy(args)) = cli.cmd else { panic!("{:?}", cli.cmd) };
        assert_eq!(args.integration, "order-sync");
        assert_eq!(args.config.entries, vec![("endpoint".into(), json!("http://x")), ("min_total".into(), json!(5))]);
    }

    #[test]
    fn usage_errors_come_from_clap() {
        let err = parse(&["customer", "create", "--label", "nokey"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("KEY=VALUE"), "{err}");
        let err = parse(&["execution", "list", "--cursor", "c", "--all"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = parse(&["instance", "run", "i", "f", "--payload", "{}", "--payload-file", "x"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = parse(&["customer", "list", "--limit", "0"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let err = parse(&["component", "new", "Hello World"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("upper-case letter `H`"), "{err}");
        for bad in ["--max-concurrency=0", "--max-concurrency=-1", "--max-concurrency=two"] {
            let err = parse(&["customer", "update", "c", bad]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.to_string().contains("`none`"), "{err}");
        }
    }

    #[test]
    fn long_help_documents_exit_codes() {
        let mut cmd = Cli::command();
        for path in [
            &["customer"][..],
            &["customer", "create"],
            &["execution", "list"],
            &["instance", "run"],
            &["component"],
            &["component", "publish"],
        ] {
            let mut sub = &mut cmd;
            for name in path {
                sub = sub.find_subcommand_mut(name).expect("subcommand exists");
            }
            let help = sub.render_long_help().to_string();
            assert!(help.contains("Exit codes:") && help.contains("WEFT_TOKEN"), "{path:?}: {help}");
        }
    }
}
