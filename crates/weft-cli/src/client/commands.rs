//! What each client command sends and prints: the request for the API, then either the response
//! body as pretty JSON (`--json`) or a human rendering from [`super::views`].
//!
//! Every command returns its stdout text (or a [`CliError`]); [`super::run`] does the printing,
//! which keeps these functions testable against a fake server.

use super::api::{Api, Body, CliError, Reply};
use super::{
    ClientCommand, ComponentCmd, ConfigArgs, CustomerCmd, DeployArgs, ExecutionCmd, ExecutionListArgs, InstanceCmd,
    IntegrationCmd, PageArgs,
};
use super::{component, views};
use crate::output::{cell, field, pretty};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};
use std::io::Read as _;
use std::path::Path;

/// Page size used by `--all` when no `--limit` is given: the API's maximum, to keep round trips
/// few.
const ALL_PAGE_SIZE: u32 = 500;

/// Runs one command. `json` selects the `--json` output.
pub async fn execute(api: &Api, json: bool, cmd: ClientCommand) -> Result<String, CliError> {
    let out = Out { json };
    match cmd {
        ClientCommand::Customer(cmd) => customer(api, out, cmd).await,
        ClientCommand::Integration(cmd) => integration(api, out, cmd).await,
        ClientCommand::Instance(cmd) => instance(api, out, cmd).await,
        ClientCommand::Execution(cmd) => execution(api, out, cmd).await,
        ClientCommand::Component(cmd) => component_cmd(api, out, cmd).await,
    }
}

/// The output mode, with the helpers that pick between JSON and human text.
#[derive(Clone, Copy)]
struct Out {
    json: bool,
}

impl Out {
    /// `--json`: the body exactly as the server sent it (nothing for an empty body); else the
    /// human text built by `human`.
    fn show(self, reply: &Reply, human: impl FnOnce(&Value) -> String) -> String {
        if self.json { reply.body.as_ref().map(pretty).unwrap_or_default() } else { human(reply.json()) }
    }

    /// A listing: `--json` prints the page as sent (or `{"items": […]}` for `--all`); human
    /// output is the table, or `No <what>.`, plus how to fetch the next page.
    fn listing(self, listing: &Listing, what: &str, table: fn(&[Value]) -> String) -> String {
        if self.json {
            return pretty(&listing.json);
        }
        let mut out = if listing.items.is_empty() { format!("No {what}.\n") } else { table(&listing.items) };
        if let Some(cursor) = &listing.next_cursor {
            out.push_str(&format!("more: --cursor {cursor}  (or --all for every page)\n"));
        }
        out
    }
}

/// One page of a listing, or all pages merged.
struct Listing {
    /// What `--json` prints: the response body, or `{"items": […]}` after `--all`.
    json: Value,
    items: Vec<Value>,
    next_cursor: Option<String>,
}

/// Fetches a listing at `/api/v1/<segments>` with `filters`, following `next_cursor` when
/// `page.all` is set.
async fn list(
    api: &Api,
    segments: &[&str],
    filters: Vec<(&str, String)>,
    page: &PageArgs,
) -> Result<Listing, CliError> {
    let mut query = filters;
    if let Some(cursor) = &page.cursor {
        query.push(("cursor", cursor.clone()));
    }
    let limit = page.limit.or(page.all.then_some(ALL_PAGE_SIZE));
    if let Some(limit) = limit {
        query.push(("limit", limit.to_string()));
    }
    let mut all = Vec::new();
    loop {
        let reply = api.get(segments, &query).await?;
        let body = reply.body.unwrap_or(Value::Null);
        let Some(items) = body.get("items").and_then(Value::as_array) else {
            return Err(CliError::BadResponse(format!(
                "the server's listing of /api/v1/{} has no `items` array",
                segments.join("/")
            )));
        };
        let next_cursor = body.get("next_cursor").and_then(Value::as_str).map(str::to_string);
        if !page.all {
            return Ok(Listing { items: items.clone(), next_cursor, json: body });
        }
        all.extend(items.iter().cloned());
        match next_cursor {
            Some(cursor) => {
                // A server handing back the cursor it was given would loop forever.
                if query.iter().any(|(k, v)| *k == "cursor" && *v == cursor) {
                    return Err(CliError::BadResponse(format!("the server repeated the cursor {cursor:?}")));
                }
                query.retain(|(k, _)| *k != "cursor");
                query.push(("cursor", cursor));
            }
            None => {
                return Ok(Listing { json: json!({ "items": all }), items: all, next_cursor: None });
            }
        }
    }
}

/// Adds `(key, value)` to a query when the value is given.
fn push_opt<'a>(query: &mut Vec<(&'a str, String)>, key: &'a str, value: Option<String>) {
    if let Some(value) = value {
        query.push((key, value));
    }
}

async fn customer(api: &Api, out: Out, cmd: CustomerCmd) -> Result<String, CliError> {
    match cmd {
        CustomerCmd::Create { name, external_id, labels } => {
            let mut body = json!({ "name": name });
            if let Some(external_id) = external_id {
                body["external_id"] = json!(external_id);
            }
            if !labels.is_empty() {
                body["labels"] = Value::Object(labels.into_iter().map(|(k, v)| (k, Value::String(v))).collect());
            }
            let reply = api.send(Method::POST, api.url(&["customers"], &[]), Body::Json(body)).await?;
            Ok(out.show(&reply, |c| format!("Created customer {} ({})\n", field(c, "id"), field(c, "name"))))
        }
        CustomerCmd::List(page) => {
            let listing = list(api, &["customers"], Vec::new(), &page).await?;
            Ok(out.listing(&listing, "customers", views::customer_table))
        }
        CustomerCmd::Show { customer } => {
            let reply = api.get(&["customers", &customer], &[]).await?;
            Ok(out.show(&reply, views::customer_detail))
        }
        CustomerCmd::Update { customer, name, external_id, labels, remove_labels, max_concurrency } => {
            let mut body = Map::new();
            if let Some(name) = name {
                body.insert("name".into(), json!(name));
            }
            if let Some(external_id) = external_id {
                body.insert("external_id".into(), json!(external_id));
            }
            if !labels.is_empty() || !remove_labels.is_empty() {
                // PATCH replaces the whole label map; merge with the current labels so that
                // `--label k=v` changes one label, as the option's help says.
                let current = api.get(&["customers", &customer], &[]).await?;
                let mut merged = match current.json().get("labels") {
                    Some(Value::Object(map)) => map.clone(),
                    _ => Map::new(),
                };
                for key in &remove_labels {
                    merged.remove(key);
                }
                for (key, value) in labels {
                    merged.insert(key, Value::String(value));
                }
                body.insert("labels".into(), Value::Object(merged));
            }
            if let Some(limit) = max_concurrency {
                body.insert("max_concurrency".into(), limit);
            }
            if body.is_empty() {
                return Err(CliError::Usage(
                    "nothing to update: give --name, --external-id, --label, --remove-label or --max-concurrency"
                        .into(),
                ));
            }
            let url = api.url(&["customers", &customer], &[]);
            let reply = api.send(Method::PATCH, url, Body::Json(Value::Object(body))).await?;
            Ok(out.show(&reply, |c| format!("Updated customer {} ({})\n", field(c, "id"), field(c, "name"))))
        }
        CustomerCmd::Delete { customer } => {
            let reply = api.send(Method::DELETE, api.url(&["customers", &customer], &[]), Body::None).await?;
            Ok(out.show(&reply, |_| format!("Deleted customer {customer}\n")))
        }
    }
}

async fn integration(api: &Api, out: Out, cmd: IntegrationCmd) -> Result<String, CliError> {
    match cmd {
        IntegrationCmd::Import { file } => {
            let bytes = read_input(&file, "definition")?;
            let is_json = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
            let content_type = if is_json { "application/json" } else { "application/yaml" };
            let body = Body::Raw { content_type, bytes };
            let reply = api.send(Method::POST, api.url(&["integrations"], &[]), body).await?;
            let created = reply.status == StatusCode::CREATED;
            Ok(out.show(&reply, |i| {
                let key = field(i, "key");
                let what = if created { "Created integration" } else { "Updated the draft of integration" };
                format!("{what} {key} ({})\nPublish it with: weft integration publish {key}\n", field(i, "id"))
            }))
        }
        IntegrationCmd::List(page) => {
            let listing = list(api, &["integrations"], Vec::new(), &page).await?;
            Ok(out.listing(&listing, "integrations", views::integration_table))
        }
        IntegrationCmd::Show { integration } => {
            let reply = api.get(&["integrations", &integration], &[]).await?;
            Ok(out.show(&reply, views::integration_detail))
        }
        IntegrationCmd::Publish { integration } => {
            let url = api.url(&["integrations", &integration, "versions"], &[]);
            let reply = api.send(Method::POST, url, Body::None).await?;
            Ok(out.show(&reply, |v| {
                let key = match v.get("integration_key") {
                    Some(Value::String(key)) => key.clone(),
                    _ => integration.clone(),
                };
                format!("Published {key} version {}\n", field(v, "version"))
            }))
        }
        IntegrationCmd::Versions { integration, page } => {
            let listing = list(api, &["integrations", &integration, "versions"], Vec::new(), &page).await?;
            Ok(out.listing(&listing, "published versions", views::versions_table))
        }
    }
}

async fn instance(api: &Api, out: Out, cmd: InstanceCmd) -> Result<String, CliError> {
    match cmd {
        InstanceCmd::Deploy(args) => deploy(api, out, args).await,
        InstanceCmd::List { customer, integration, page } => {
            let mut filters = Vec::new();
            push_opt(&mut filters, "customer", customer);
            push_opt(&mut filters, "integration", integration);
            let listing = list(api, &["instances"], filters, &page).await?;
            Ok(out.listing(&listing, "instances", views::instance_table))
        }
        InstanceCmd::Show { instance } => {
            let reply = api.get(&["instances", &instance], &[]).await?;
            Ok(out.show(&reply, views::instance_detail))
        }
        InstanceCmd::Pause { instance } => instance_action(api, out, &instance, "pause", "Paused").await,
        InstanceCmd::Resume { instance } => instance_action(api, out, &instance, "resume", "Resumed").await,
        InstanceCmd::Delete { instance } => {
            let reply = api.send(Method::DELETE, api.url(&["instances", &instance], &[]), Body::None).await?;
            Ok(out.show(&reply, |_| format!("Deleted instance {instance}\n")))
        }
        InstanceCmd::Upgrade { instance, version, config } => {
            let mut body = Map::new();
            if let Some(version) = version {
                body.insert("version".into(), json!(version));
            }
            if let Some(config) = build_config(&config)? {
                body.insert("config".into(), Value::Object(config));
            }
            let url = api.url(&["instances", &instance, "upgrade"], &[]);
            let reply = api.send(Method::POST, url, Body::Json(Value::Object(body))).await?;
            Ok(out.show(&reply, |i| {
                format!(
                    "Upgraded instance {} to {} version {}\n",
                    field(i, "id"),
                    field(i, "integration_key"),
                    field(i, "version")
                )
            }))
        }
        InstanceCmd::Run { instance, flow, payload, payload_file, wait } => {
            let payload = match (payload, payload_file) {
                (Some(text), _) => Some(parse_json(text.as_bytes(), "--payload")?),
                (None, Some(file)) => {
                    let bytes = read_input(&file, "payload")?;
                    Some(parse_json(&bytes, &format!("the payload file {}", file.display()))?)
                }
                (None, None) => None,
            };
            let query = if wait { vec![("wait", "true".to_string())] } else { Vec::new() };
            let url = api.url(&["instances", &instance, "flows", &flow, "run"], &query);
            let body = payload.map_or(Body::None, Body::Json);
            let reply = api.send(Method::POST, url, body).await?;
            Ok(out.show(&reply, |r| match r.get("execution_id") {
                // 202: queued (also what a server answers when it stops waiting).
                Some(id) => {
                    let id = cell(Some(id));
                    format!(
                        "Started execution {id} of flow {flow} ({})\nFollow it with: weft execution show {id}\n",
                        field(r, "status")
                    )
                }
                None => views::execution_detail(r),
            }))
        }
    }
}

async fn deploy(api: &Api, out: Out, args: DeployArgs) -> Result<String, CliError> {
    let config = build_config(&args.config)?.unwrap_or_default();
    let mut body = json!({ "integration": args.integration, "customer": args.customer, "config": config });
    if let Some(version) = args.version {
        body["version"] = json!(version);
    }
    if let Some(name) = args.name {
        body["name"] = json!(name);
    }
    let reply = api.send(Method::POST, api.url(&["instances"], &[]), Body::Json(body)).await?;
    Ok(out.show(&reply, |i| {
        let mut text = format!(
            "Deployed instance {} ({}): {} version {} for customer {}\n",
            field(i, "id"),
            field(i, "name"),
            field(i, "integration_key"),
            field(i, "version"),
            field(i, "customer_id"),
        );
        text.push_str(&views::webhooks(i));
        text
    }))
}

/// `pause` / `resume`: POST with no body, answered with the instance.
async fn instance_action(api: &Api, out: Out, instance: &str, action: &str, done: &str) -> Result<String, CliError> {
    let reply = api.send(Method::POST, api.url(&["instances", instance, action], &[]), Body::None).await?;
    Ok(out.show(&reply, |i| format!("{done} instance {} ({})\n", field(i, "id"), field(i, "name"))))
}

async fn execution(api: &Api, out: Out, cmd: ExecutionCmd) -> Result<String, CliError> {
    match cmd {
        ExecutionCmd::List(ExecutionListArgs { instance, customer, flow, status, since, until, page }) => {
            let mut filters = Vec::new();
            push_opt(&mut filters, "instance", instance);
            push_opt(&mut filters, "customer", customer);
            push_opt(&mut filters, "flow", flow);
            push_opt(&mut filters, "status", status);
            push_opt(&mut filters, "since", since);
            push_opt(&mut filters, "until", until);
            let listing = list(api, &["executions"], filters, &page).await?;
            Ok(out.listing(&listing, "executions", views::execution_table))
        }
        ExecutionCmd::Show { execution } => {
            let reply = api.get(&["executions", &execution], &[]).await?;
            Ok(out.show(&reply, views::execution_detail))
        }
        ExecutionCmd::Logs { execution, page } => {
            let listing = list(api, &["executions", &execution, "logs"], Vec::new(), &page).await?;
            Ok(out.listing(&listing, "log lines", views::logs_table))
        }
        ExecutionCmd::Replay { execution } => {
            let url = api.url(&["executions", &execution, "replay"], &[]);
            let reply = api.send(Method::POST, url, Body::None).await?;
            Ok(out.show(&reply, |r| {
                format!("Replaying execution {execution} as {} ({})\n", field(r, "execution_id"), field(r, "status"))
            }))
        }
        ExecutionCmd::Cancel { execution } => {
            let url = api.url(&["executions", &execution, "cancel"], &[]);
            let reply = api.send(Method::POST, url, Body::None).await?;
            Ok(out.show(&reply, |e| match e["status"].as_str() {
                Some("canceled") => format!("Canceled execution {}\n", field(e, "id")),
                _ => format!(
                    "Cancel requested for execution {} ({}): it stops after its current step\n",
                    field(e, "id"),
                    field(e, "status")
                ),
            }))
        }
    }
}

async fn component_cmd(api: &Api, out: Out, cmd: ComponentCmd) -> Result<String, CliError> {
    match cmd {
        // Local commands; `super::run` runs them without a server, this is for completeness.
        ComponentCmd::New { name, dir, sdk, lang } => {
            component::new(&name, dir.as_deref(), sdk.as_deref(), lang, out.json)
        }
        ComponentCmd::Build { dir } => component::build_command(&dir, out.json),
        ComponentCmd::Test { dir } => component::test_command(&dir, out.json),
        ComponentCmd::Publish { path } => {
            // A crate (its directory or its Cargo.toml) is built first; anything else is uploaded
            // as it is, and the server says whether it is a component.
            let is_manifest = path.file_name().is_some_and(|f| f == "Cargo.toml") && path.is_file();
            let file = if path.is_dir() || is_manifest {
                let dir = if is_manifest {
                    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
                } else {
                    &path
                };
                let built = component::build(dir)?;
                eprintln!("built {} ({} bytes)", built.path.display(), built.size);
                built.path
            } else {
                path
            };
            let bytes = read_input(&file, "component")?;
            let body = Body::Raw { content_type: "application/wasm", bytes };
            let reply = api.send(Method::POST, api.url(&["components"], &[]), body).await?;
            let created = reply.status == StatusCode::CREATED;
            Ok(out.show(&reply, |v| views::component_published(v, created)))
        }
        ComponentCmd::List(page) => {
            let listing = list(api, &["components"], Vec::new(), &page).await?;
            Ok(out.listing(&listing, "components", views::component_table))
        }
        ComponentCmd::Show { component } => {
            let reply = api.get(&["components", &component], &[]).await?;
            Ok(out.show(&reply, views::component_detail))
        }
    }
}

/// The config object from `--config-json`/`--config-file` with each `--config KEY=VALUE` applied
/// on top; `None` when no config option was given.
pub fn build_config(args: &ConfigArgs) -> Result<Option<Map<String, Value>>, CliError> {
    let base = match (&args.config_json, &args.config_file) {
        (Some(text), _) => Some(parse_json(text.as_bytes(), "--config-json")?),
        (None, Some(file)) => {
            let bytes = read_input(file, "config")?;
            Some(parse_json(&bytes, &format!("the config file {}", file.display()))?)
        }
        (None, None) => None,
    };
    let mut config = match base {
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(CliError::Usage(format!(
                "the config must be a JSON object ({{\"key\": value, …}}), found {}",
                json_type(&other)
            )));
        }
        None if args.entries.is_empty() => return Ok(None),
        None => Map::new(),
    };
    for (key, value) in &args.entries {
        config.insert(key.clone(), value.clone());
    }
    Ok(Some(config))
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses JSON given on the command line or in a file; the error names `what` and the position.
pub fn parse_json(bytes: &[u8], what: &str) -> Result<Value, CliError> {
    serde_json::from_slice(bytes).map_err(|e| CliError::Usage(format!("{what} is not valid JSON: {e}")))
}

/// Reads a file, or stdin for `-`.
fn read_input(path: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| CliError::Usage(format!("cannot read the {what} from stdin: {e}")))?;
        return Ok(bytes);
    }
    std::fs::read(path).map_err(|e| CliError::Usage(format!("cannot read the {what} file {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::super::ClientOpts;
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A request as the fake server saw it.
    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        target: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        }
        fn json(&self) -> Value {
            serde_json::from_slice(&self.body).expect("request body is JSON")
        }
    }

    /// A one-connection-per-response HTTP/1.1 server answering with `responses` in order and
    /// recording each request: enough to check what the client sends and how it prints replies.
    async fn fake_server(responses: Vec<(u16, &'static str)>) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            for (status, reply) in responses {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = Vec::new();
                let header_end = loop {
                    let mut chunk = [0u8; 4096];
                    let n = socket.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "connection closed mid-request");
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break pos + 4;
                    }
                };
                let head = String::from_utf8(buf[..header_end].to_vec()).unwrap();
                let mut lines = head.split("\r\n");
                let mut first = lines.next().unwrap().split(' ');
                let (method, target) = (first.next().unwrap().to_string(), first.next().unwrap().to_string());
                let headers: Vec<(String, String)> =
                    lines.filter_map(|l| l.split_once(": ")).map(|(k, v)| (k.to_string(), v.to_string())).collect();
                let length = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
                while buf.len() < header_end + length {
                    let mut chunk = [0u8; 4096];
                    let n = socket.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = buf[header_end..header_end + length].to_vec();
                log.lock().unwrap().push(Seen { method, target, headers, body: body.clone() });
                let response = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                socket.write_all(response.as_bytes()).await.unwrap();
                socket.shutdown().await.ok();
            }
        });
        (url, seen)
    }

    /// Runs `args` (after `weft`) against a fake server answering `responses`; returns the
    /// outcome and the requests seen.
    async fn check(args: &[&str], responses: Vec<(u16, &'static str)>) -> (Result<String, CliError>, Vec<Seen>) {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            opts: ClientOpts,
            #[command(subcommand)]
            cmd: ClientCommand,
        }
        let (url, seen) = fake_server(responses).await;
        let cli = Cli::try_parse_from(
            ["weft", "--url", url.as_str(), "--token", "tok_test"].into_iter().chain(args.iter().copied()),
        )
        .unwrap();
        let api = Api::new(&cli.opts).unwrap();
        let result = execute(&api, cli.opts.json, cli.cmd).await;
        let seen = seen.lock().unwrap().clone();
        (result, seen)
    }

    const CUSTOMER: &str = r#"{"id":"cus_1","external_id":"acme","name":"Acme","labels":{"tier":"gold"},"created_at":"2026-11-28T04:40:00.123Z","updated_at":"2026-11-28T04:40:00.123Z"}"#;

    #[tokio::test]
    async fn customer_create_sends_fields_and_confirms() {
        let (out, seen) = check(
            &["customer", "create", "--name", "Acme", "--external-id", "acme", "--label", "tier=gold"],
            vec![(201, CUSTOMER)],
        )
        .await;
        assert_eq!(out.unwrap(), "Created customer cus_1 (Acme)\n");
        assert_eq!(seen[0].method, "POST");
        assert_eq!(seen[0].target, "/api/v1/customers");
        assert_eq!(seen[0].header("authorization"), Some("Bearer tok_test"));
        assert_eq!(seen[0].json(), json!({"name": "Acme", "external_id": "acme", "labels": {"tier": "gold"}}));
    }

    #[tokio::test]
    async fn json_output_is_the_body_pretty_printed() {
        let (out, _) = check(&["customer", "show", "ext:acme", "--json"], vec![(200, CUSTOMER)]).await;
        let expected: Value = serde_json::from_str(CUSTOMER).unwrap();
        assert_eq!(out.unwrap(), pretty(&expected));
    }

    #[tokio::test]
    async fn customer_update_merges_labels() {
        let (out, seen) = check(
            &["customer", "update", "ext:acme", "--label", "region=eu", "--remove-label", "tier"],
            vec![(200, CUSTOMER), (200, CUSTOMER)],
        )
        .await;
        assert_eq!(out.unwrap(), "Updated customer cus_1 (Acme)\n");
        assert_eq!((seen[0].method.as_str(), seen[0].target.as_str()), ("GET", "/api/v1/customers/ext:acme"));
        assert_eq!(seen[1].method, "PATCH");
        assert_eq!(seen[1].json(), json!({"labels": {"region": "eu"}}));
    }

    #[tokio::test]
    async fn customer_update_sets_and_lifts_the_concurrency_limit() {
        const LIMITED: &str = r#"{"id":"cus_1","external_id":"acme","name":"Acme","labels":{},"max_concurrency":3,"created_at":"2026-11-28T04:40:00.123Z","updated_at":"2026-11-28T04:40:00.123Z"}"#;
        let (out, seen) =
            check(&["customer", "update", "ext:acme", "--max-concurrency", "3"], vec![(200, LIMITED)]).await;
        assert_eq!(out.unwrap(), "Updated customer cus_1 (Acme)\n");
        assert_eq!((seen[0].method.as_str(), seen[0].target.as_str()), ("PATCH", "/api/v1/customers/ext:acme"));
        assert_eq!(seen[0].json(), json!({"max_concurrency": 3}));
        let (_, seen) =
            check(&["customer", "update", "ext:acme", "--max-concurrency", "none"], vec![(200, CUSTOMER)]).await;
        assert_eq!(seen[0].json(), json!({"max_concurrency": null}));

        // `customer show` names the limit, or says there is none.
        let (out, _) = check(&["customer", "show", "ext:acme"], vec![(200, LIMITED)]).await;
        assert!(out.unwrap().contains("Concurrency  3\n"));
        let (out, _) = check(&["customer", "show", "ext:acme"], vec![(200, CUSTOMER)]).await;
        assert!(out.unwrap().contains("Concurrency  unlimited\n"));
    }

    #[tokio::test]
    async fn listing_shows_next_page_hint_and_all_merges_pages() {
        let page1 = r#"{"items":[{"id":"cus_1","name":"Acme","labels":{}}],"next_cursor":"c2"}"#;
        let page2 = r#"{"items":[{"id":"cus_2","name":"Beta","labels":{}}],"next_cursor":null}"#;
        let (out, seen) = check(&["customer", "list", "--limit", "1"], vec![(200, page1)]).await;
        let text = out.unwrap();
        assert!(
            text.starts_with("ID     EXTERNAL ID  NAME  LABELS  CREATED\ncus_1  -            Acme  -       -\n"),
            "{text}"
        );
        assert!(text.ends_with("more: --cursor c2  (or --all for every page)\n"), "{text}");
        assert_eq!(seen[0].target, "/api/v1/customers?limit=1");

        let (out, seen) = check(&["customer", "list", "--all", "--json"], vec![(200, page1), (200, page2)]).await;
        let merged: Value = serde_json::from_str(&out.unwrap()).unwrap();
        assert_eq!(
            merged,
            json!({"items": [{"id":"cus_1","name":"Acme","labels":{}}, {"id":"cus_2","name":"Beta","labels":{}}]})
        );
        assert_eq!(seen[0].target, "/api/v1/customers?limit=500");
        assert_eq!(seen[1].target, "/api/v1/customers?limit=500&cursor=c2");
    }

    #[tokio::test]
    async fn execution_list_passes_filters() {
        let (out, seen) = check(
            &["execution", "list", "--instance", "ins_1", "--status", "failed", "--since", "2026-11-28T00:00:00Z"],
            vec![(200, r#"{"items":[],"next_cursor":null}"#)],
        )
        .await;
        assert_eq!(out.unwrap(), "No executions.\n");
        assert_eq!(seen[0].target, "/api/v1/executions?instance=ins_1&status=failed&since=2026-11-28T00%3A00%3A00Z");
    }

    #[tokio::test]
    async fn import_picks_content_type_from_extension() {
        let dir = std::env::temp_dir().join(format!("weft-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let yaml = dir.join("def.yaml");
        std::fs::write(&yaml, "key: order-sync\n").unwrap();
        let json_file = dir.join("def.json");
        std::fs::write(&json_file, r#"{"key":"order-sync"}"#).unwrap();
        let reply = r#"{"id":"int_1","key":"order-sync","name":"Order sync","latest_version":null}"#;

        let (out, seen) = check(&["integration", "import", yaml.to_str().unwrap()], vec![(201, reply)]).await;
        assert_eq!(
            out.unwrap(),
            "Created integration order-sync (int_1)\nPublish it with: weft integration publish order-sync\n"
        );
        assert_eq!(seen[0].header("content-type"), Some("application/yaml"));
        assert_eq!(seen[0].body, b"key: order-sync\n");

        let (out, seen) = check(&["integration", "import", json_file.to_str().unwrap()], vec![(200, reply)]).await;
        assert!(out.unwrap().starts_with("Updated the draft of integration order-sync (int_1)\n"));
        assert_eq!(seen[0].header("content-type"), Some("application/json"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn import_validation_errors_are_exit_1_with_each_problem() {
        let body = r#"{"error":{"code":"integration.invalid","message":"the definition has 2 problems","details":[
            {"path":"flows[0].key","line":3,"column":5,"message":"is required"},
            {"path":"config[0].vars[1].type","line":9,"column":15,"message":"unknown type 'nubmer'"}]}}"#;
        let dir = std::env::temp_dir().join(format!("weft-cli-test-invalid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.yml");
        std::fs::write(&file, "key: x\n").unwrap();
        let (out, _) = check(&["integration", "import", file.to_str().unwrap()], vec![(422, body)]).await;
        let err = out.unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert_eq!(
            err.to_string(),
            "error: the definition has 2 problems (integration.invalid)\n\
             \x20 flows[0].key (line 3, column 5): is required\n\
             \x20 config[0].vars[1].type (line 9, column 15): unknown type 'nubmer'\n"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn deploy_builds_config_and_lists_webhooks() {
        let reply = r#"{"id":"ins_1","name":"Acme orders","customer_id":"cus_1","integration_id":"int_1","integration_key":"order-sync","version":1,"enabled":true,"config":{},"webhooks":{"new-order":"http://h/hooks/t"},"flows":["new-order"]}"#;
        let (out, seen) = check(
            &[
                "instance",
                "deploy",
                "--integration",
                "order-sync",
                "--customer",
                "ext:acme",
                "--config-json",
                r#"{"endpoint":"http://a","min_total":1}"#,
                "--config",
                "min_total=250",
                "--config",
                "tags=[\"x\"]",
            ],
            vec![(201, reply)],
        )
        .await;
        assert_eq!(
            out.unwrap(),
            "Deployed instance ins_1 (Acme orders): order-sync version 1 for customer cus_1\n\
             \nWebhooks:\n  FLOW       URL\n  new-order  http://h/hooks/t\n"
        );
        assert_eq!(
            seen[0].json(),
            json!({"integration": "order-sync", "customer": "ext:acme",
                   "config": {"endpoint": "http://a", "min_total": 250, "tags": ["x"]}})
        );
    }

    #[tokio::test]
    async fn run_with_wait_and_payload() {
        let reply =
            r#"{"id":"exe_1","flow":"new-order","status":"succeeded","result":{"forwarded":true},"error":null}"#;
        let (out, seen) =
            check(&["instance", "run", "ins_1", "new-order", "--payload", r#"{"id":7}"#, "--wait"], vec![(200, reply)])
                .await;
        let text = out.unwrap();
        assert!(text.contains("Status       succeeded\n"), "{text}");
        assert!(text.contains("Result:\n  {\n    \"forwarded\": true\n  }\n"), "{text}");
        assert_eq!(seen[0].target, "/api/v1/instances/ins_1/flows/new-order/run?wait=true");
        assert_eq!(seen[0].json(), json!({"id": 7}));

        let (out, seen) = check(
            &["instance", "run", "ins_1", "new-order"],
            vec![(202, r#"{"execution_id":"exe_2","status":"queued"}"#)],
        )
        .await;
        assert_eq!(
            out.unwrap(),
            "Started execution exe_2 of flow new-order (queued)\nFollow it with: weft execution show exe_2\n"
        );
        assert!(seen[0].body.is_empty());
    }

    #[tokio::test]
    async fn auth_and_server_errors_map_to_exit_codes() {
        let (out, _) = check(
            &["instance", "list"],
            vec![(401, r#"{"error":{"code":"auth.invalid_token","message":"the token is not valid","details":null}}"#)],
        )
        .await;
        assert_eq!(out.unwrap_err().exit_code(), 4);
        let (out, _) =
            check(&["execution", "show", "exe_1"], vec![(500, r#"{"error":{"code":"internal","message":"boom"}}"#)])
                .await;
        assert_eq!(out.unwrap_err().exit_code(), 5);
        let (out, _) = check(&["execution", "replay", "exe_1"], vec![(200, "<html>not json</html>")]).await;
        let err = out.unwrap_err();
        assert_eq!(err.exit_code(), 5);
        assert!(err.to_string().contains("not JSON"), "{err}");
    }

    #[tokio::test]
    async fn cancel_says_whether_it_stopped_or_will_stop() {
        let (out, seen) =
            check(&["execution", "cancel", "exe_1"], vec![(200, r#"{"id":"exe_1","status":"canceled"}"#)]).await;
        assert_eq!(out.unwrap(), "Canceled execution exe_1\n");
        assert_eq!((seen[0].method.as_str(), seen[0].target.as_str()), ("POST", "/api/v1/executions/exe_1/cancel"));
        let (out, _) =
            check(&["execution", "cancel", "exe_2"], vec![(200, r#"{"id":"exe_2","status":"running"}"#)]).await;
        assert_eq!(out.unwrap(), "Cancel requested for execution exe_2 (running): it stops after its current step\n");
        let conflict = r#"{"error":{"code":"execution.not_cancelable","message":"execution exe_3 already finished (succeeded)","details":null}}"#;
        let (out, _) = check(&["execution", "cancel", "exe_3"], vec![(409, conflict)]).await;
        assert!(out.unwrap_err().to_string().contains("execution.not_cancelable"));
    }

    #[tokio::test]
    async fn delete_prints_confirmation_and_json_prints_nothing() {
        let (out, seen) = check(&["instance", "delete", "ins_1"], vec![(204, "")]).await;
        assert_eq!(out.unwrap(), "Deleted instance ins_1\n");
        assert_eq!((seen[0].method.as_str(), seen[0].target.as_str()), ("DELETE", "/api/v1/instances/ins_1"));
        let (out, _) = check(&["customer", "delete", "cus_1", "--json"], vec![(204, "")]).await;
        assert_eq!(out.unwrap(), "");
    }

    #[tokio::test]
    async fn component_publish_uploads_the_file_as_wasm() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("hello_world.wasm");
        std::fs::write(&file, b"\0asm\x0d\0\x01\0").unwrap();
        let reply = r#"{"component_id":"cmp_1","key":"hello-world","version":"0.1.0","sha256":"0123456789abcdef","size_bytes":8,"created_at":"2026-11-28T04:40:00Z","description":{}}"#;
        let (out, seen) = check(&["component", "publish", file.to_str().unwrap()], vec![(201, reply)]).await;
        assert_eq!(out.unwrap(), "published hello-world 0.1.0 (8 bytes, sha256 0123456789ab)\n");
        assert_eq!((seen[0].method.as_str(), seen[0].target.as_str()), ("POST", "/api/v1/components"));
        assert_eq!(seen[0].header("content-type"), Some("application/wasm"));
        assert_eq!(seen[0].body, b"\0asm\x0d\0\x01\0");

        let (out, _) = check(&["component", "publish", file.to_str().unwrap()], vec![(200, reply)]).await;
        assert_eq!(out.unwrap(), "hello-world 0.1.0 was already published with these bytes\n");
        let (out, _) = check(&["component", "publish", file.to_str().unwrap(), "--json"], vec![(200, reply)]).await;
        assert_eq!(out.unwrap(), pretty(&serde_json::from_str(reply).unwrap()));

        let refused = r#"{"error":{"code":"component.invalid","message":"the component is refused: not a component","details":null}}"#;
        let (out, _) = check(&["component", "publish", file.to_str().unwrap()], vec![(422, refused)]).await;
        let err = out.unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert_eq!(err.to_string(), "error: the component is refused: not a component (component.invalid)\n");

        // A missing file is a usage error, before any request.
        let missing = dir.path().join("nope.wasm");
        let (out, seen) = check(&["component", "publish", missing.to_str().unwrap()], vec![]).await;
        assert_eq!(out.unwrap_err().exit_code(), 2);
        assert!(seen.is_empty());
    }

    #[tokio::test]
    async fn component_list_and_show() {
        let page = r#"{"items":[{"id":"cmp_1","key":"hello-world","name":"Hello World","description":null,"latest_version":"0.1.0","created_at":"2026-11-28T04:40:00Z","updated_at":"2026-11-28T04:40:00Z"}],"next_cursor":null}"#;
        let (out, seen) = check(&["component", "list", "--limit", "10"], vec![(200, page)]).await;
        assert_eq!(out.unwrap(), "KEY          LATEST  NAME\nhello-world  0.1.0   Hello World\n");
        assert_eq!(seen[0].target, "/api/v1/components?limit=10");
        let (out, seen) = check(
            &["component", "show", "nope"],
            vec![(404, r#"{"error":{"code":"component.not_found","message":"no component 'nope'"}}"#)],
        )
        .await;
        assert_eq!(out.unwrap_err().exit_code(), 1);
        assert_eq!(seen[0].target, "/api/v1/components/nope");
    }

    #[test]
    fn config_building() {
        let args = ConfigArgs::default();
        assert_eq!(build_config(&args).unwrap(), None);
        let args = ConfigArgs { config_json: Some("[1]".into()), ..Default::default() };
        let err = build_config(&args).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().contains("must be a JSON object, found an array")
                || err.to_string().contains("found an array")
        );
        let args = ConfigArgs { config_json: Some("{oops".into()), ..Default::default() };
        let err = build_config(&args).unwrap_err();
        assert!(
            err.to_string().contains("--config-json is not valid JSON: key must be a string at line 1 column 2"),
            "{err}"
        );
        let args = ConfigArgs { config_file: Some("/nonexistent/weft.json".into()), ..Default::default() };
        let err = build_config(&args).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("cannot read the config file /nonexistent/weft.json"), "{err}");
    }
}
