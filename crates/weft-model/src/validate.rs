//! Validation of integration definitions: turns a parsed document into a typed
//! [`IntegrationDef`] and checks everything that can be checked before anything runs — field
//! names and types, keys, actions and their inputs, expressions and what they refer to.
//!
//! Every problem is reported at once, each with its path (`flows[0].steps[2].inputs.url`) and,
//! when the document came from text, its line and column. Validation is pure: it needs only the
//! document and the action catalog.
//!
//! It works in two phases per flow. The structural phase walks the document, builds the typed
//! steps and records, for every step, where it sits in the step tree and, for every expression,
//! which variables it reads. The reference phase then checks each `steps.<key>` against that
//! tree (a step may only read steps that can have finished before it), and each `config.<name>`,
//! `item` or `error` against its scope.

use crate::catalog::{ActionSpec, OAuth2Endpoints, OperationKind};
use crate::definition::{
    BranchArm, ConfigPage, ConfigVar, ConnectionTest, ConnectionTypeRef, DataSourceRef, ExecutionRetry, FlowDef,
    IntegrationDef, OAuth2Def, OAuth2Grant, OnError, PollSource, PollTrigger, QueueDef, QueueMode, RetryPolicy, Step,
    StepKind, Trigger, VarType, WebhookMode, WebhookTrigger,
};
use crate::diag::Diagnostic;
use crate::error::ErrorKind;
use crate::expr::{Reference, Template, join_index, join_key};
use crate::parse::{Document, SourceFormat, parse_document};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// Parses and validates a definition document in one go.
pub fn load_definition(
    source: &str,
    format: SourceFormat,
    actions: &[ActionSpec],
) -> Result<(Document, IntegrationDef), Vec<Diagnostic>> {
    let doc = parse_document(source, format)?;
    let def = check_definition(&doc, actions)?;
    Ok((doc, def))
}

/// Validates a parsed document against the action catalog; returns the typed definition or
/// every problem found, in document order.
pub fn check_definition(doc: &Document, actions: &[ActionSpec]) -> Result<IntegrationDef, Vec<Diagnostic>> {
    run(&doc.value, Some(doc), actions)
}

/// Validates a definition held as a JSON value (e.g. a stored version); diagnostics carry paths
/// but no positions.
pub fn definition_from_json(value: &Value, actions: &[ActionSpec]) -> Result<IntegrationDef, Vec<Diagnostic>> {
    run(value, None, actions)
}

fn run(value: &Value, doc: Option<&Document>, actions: &[ActionSpec]) -> Result<IntegrationDef, Vec<Diagnostic>> {
    let mut checker = Checker {
        doc,
        actions,
        diags: Vec::new(),
        config_vars: Vec::new(),
        flow_keys: Vec::new(),
        config_scope: FlowScope::default(),
    };
    let def = checker.root(value);
    let mut diags = checker.diags;
    match def {
        Some(def) if diags.is_empty() => Ok(def),
        _ => {
            // Document order reads best; the sort is stable, so problems of one node keep the
            // order they were found in.
            diags.sort_by_key(|d| (d.line, d.column));
            Err(diags)
        }
    }
}

/// Parses a duration: `"500ms"`, `"30s"`, `"5m"`, `"2h"`, or a whole number of seconds.
pub fn parse_duration(v: &Value) -> Result<Duration, String> {
    const HINT: &str = "expected a duration such as \"500ms\", \"30s\", \"5m\", \"2h\" or a whole number of seconds";
    match v {
        Value::Number(n) => n.as_u64().map(Duration::from_secs).ok_or_else(|| format!("invalid duration {n}: {HINT}")),
        Value::String(s) => {
            // Strict (no spaces), as the JSON Schema's `^[0-9]+(ms|s|m|h)$`.
            let t = s.as_str();
            let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
            let (digits, unit) = t.split_at(split);
            let amount: Option<u64> = if digits.is_empty() { None } else { digits.parse().ok() };
            let scale = match unit {
                "ms" => Some(1),
                "s" => Some(1_000),
                "m" => Some(60_000),
                "h" => Some(3_600_000),
                _ => None,
            };
            match (amount, scale) {
                (Some(a), Some(scale)) => {
                    a.checked_mul(scale).map(Duration::from_millis).ok_or_else(|| format!("duration {v} is too long"))
                }
                _ => Err(format!("invalid duration {v}: {HINT}")),
            }
        }
        other => Err(format!("{HINT}, found {}", describe(other))),
    }
}

/// Names an expression may start with: the execution context, plus minijinja's global functions.
const CONTEXT_ROOTS: &[&str] =
    &["trigger", "config", "steps", "item", "index", "instance", "customer", "execution", "error"];
const GLOBAL_FUNCTIONS: &[&str] = &["range", "dict", "namespace", "debug"];
const TRIGGER_FIELDS: &[&str] = &["body", "headers", "query", "method", "raw"];

const STEP_KINDS: &[&str] =
    &["action", "transform", "code", "branch", "for_each", "call_flow", "respond", "stop", "fail"];
const STEP_FIELDS: &[&str] = &[
    "key",
    "action",
    "inputs",
    "transform",
    "code",
    "branch",
    "for_each",
    "steps",
    "concurrency",
    "call_flow",
    "input",
    "respond",
    "stop",
    "fail",
    "retry",
    "timeout",
    "on_error",
];
const TRIGGER_KINDS: &[&str] = &["webhook", "manual", "schedule", "poll"];

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A literal value as a message shows it: strings quoted as JSON, other scalars as written.
fn shown(v: &Value) -> String {
    match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => v.to_string(),
        other => describe(other).to_string(),
    }
}

fn is_integration_key(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

fn is_var_key(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

fn is_step_key(k: &str) -> bool {
    let b = k.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// Whether a string holds expression syntax (and so is only known at run time).
fn is_dynamic(v: &Value) -> bool {
    matches!(v, Value::String(s) if s.contains("{{") || s.contains("{%"))
}

/// Whether a string is exactly one `{{ … }}` (which yields a typed value, not a string).
fn is_single_expression(s: &str) -> bool {
    let t = s.trim();
    match t.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) {
        Some(inner) => !inner.contains("{{") && !inner.contains("}}"),
        None => false,
    }
}

/// Joins a path and a relative path from [`crate::expr`] (`""`, `a.b`, `[0].c`).
fn join_relative(base: &str, rel: &str) -> String {
    match (base.is_empty(), rel.is_empty(), rel.starts_with('[')) {
        (_, true, _) => base.to_string(),
        (true, false, _) | (false, false, true) => format!("{base}{rel}"),
        (false, false, false) => format!("{base}.{rel}"),
    }
}

fn list_names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(", ")
}

/// How a block of steps hangs from the step that contains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Via {
    /// The flow's top-level steps.
    Root,
    ForEach,
    Branch,
    OnError,
}

/// One level of a step's place in the step tree.
#[derive(Debug, Clone)]
struct Frame {
    /// Which block (list of steps) the step is in; unique within a flow.
    block: usize,
    index: usize,
    via: Via,
    key: String,
}

/// A step's place: its block at each level, from the top-level step down to the step itself.
type Chain = Vec<Frame>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SiteKind {
    /// An expression of a step (or the flow result, as a virtual step after the last one).
    Step,
    /// A schedule trigger's cron: evaluated before any step, without a trigger payload.
    Schedule,
    /// An input of a picklist's data source, evaluated by the wizard with the values entered so
    /// far: it sees `config` and `customer`.
    Config,
    /// An expression of a poll trigger, evaluated by the scheduler before any execution
    /// exists: it sees `config`, `instance`, `customer` and one name of its own (`cursor` in
    /// the inputs, `output` in `items`, `item` in `id` and `cursor`).
    Poll(&'static str),
}

/// An expression and where it is evaluated.
struct Site {
    path: String,
    chain: Chain,
    kind: SiteKind,
    refs: Vec<Reference>,
}

struct StepInfo {
    path: String,
    chain: Chain,
}

/// What validation of one flow collects for the reference phase.
#[derive(Default)]
struct FlowScope {
    key: Option<String>,
    steps: HashMap<String, StepInfo>,
    step_order: Vec<String>,
    sites: Vec<Site>,
    blocks: usize,
}

impl FlowScope {
    fn new_block(&mut self) -> usize {
        self.blocks += 1;
        self.blocks
    }
}

/// A block of steps being read: its id, how it hangs from its parent, and the parent's chain.
struct Block {
    id: usize,
    via: Via,
    parent: Chain,
}

struct Checker<'a> {
    doc: Option<&'a Document>,
    actions: &'a [ActionSpec],
    diags: Vec<Diagnostic>,
    /// Declared config variable keys, collected before anything refers to them.
    config_vars: Vec<String>,
    /// Flow keys, collected before `call_flow` steps refer to them.
    flow_keys: Vec<String>,
    /// The expressions of the wizard (data source inputs), checked once all pages are read.
    config_scope: FlowScope,
}

impl<'a> Checker<'a> {
    fn err(&mut self, path: &str, message: impl Into<String>) {
        let at = self.doc.and_then(|d| d.nearest_position(path));
        self.diags.push(Diagnostic::new(path, message).at(at));
    }

    /// Reports at the key of a mapping entry (unknown fields, misplaced fields).
    fn err_key(&mut self, path: &str, message: impl Into<String>) {
        let at = self.doc.and_then(|d| d.key_position(path).or_else(|| d.nearest_position(path)));
        self.diags.push(Diagnostic::new(path, message).at(at));
    }

    fn object<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Map<String, Value>> {
        match v {
            Value::Object(m) => Some(m),
            other => {
                self.err(path, format!("expected a mapping, found {}", describe(other)));
                None
            }
        }
    }

    fn list<'v>(&mut self, v: &'v Value, path: &str) -> Option<&'v Vec<Value>> {
        match v {
            Value::Array(items) => Some(items),
            other => {
                self.err(path, format!("expected a list, found {}", describe(other)));
                None
            }
        }
    }

    fn unknown_fields(&mut self, m: &Map<String, Value>, path: &str, allowed: &[&str]) {
        for k in m.keys().filter(|k| !allowed.contains(&k.as_str())) {
            let allowed = if allowed.is_empty() {
                "no fields are allowed here".to_string()
            } else {
                format!("allowed: {}", allowed.join(", "))
            };
            self.err_key(&join_key(path, k), format!("unknown field `{k}` ({allowed})"));
        }
    }

    fn required<'v>(&mut self, m: &'v Map<String, Value>, path: &str, field: &str) -> Option<&'v Value> {
        let v = m.get(field);
        if v.is_none() {
            self.err(&join_key(path, field), format!("missing required field `{field}`"));
        }
        v
    }

    fn req_str(&mut self, m: &Map<String, Value>, path: &str, field: &str) -> Option<String> {
        let v = self.required(m, path, field)?;
        self.string(v, &join_key(path, field))
    }

    fn string(&mut self, v: &Value, path: &str) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            other => {
                self.err(path, format!("expected a string, found {}", describe(other)));
                None
            }
        }
    }

    /// An optional string field; null counts as absent (`description:` with nothing after it).
    fn opt_str(&mut self, m: &Map<String, Value>, path: &str, field: &str) -> Option<String> {
        match m.get(field) {
            None | Some(Value::Null) => None,
            Some(v) => self.string(v, &join_key(path, field)),
        }
    }

    fn opt_bool(&mut self, m: &Map<String, Value>, path: &str, field: &str, default: bool) -> bool {
        match m.get(field) {
            None | Some(Value::Null) => default,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.err(&join_key(path, field), format!("expected true or false, found {}", describe(other)));
                default
            }
        }
    }

    fn opt_duration(&mut self, m: &Map<String, Value>, path: &str, field: &str, allow_zero: bool) -> Option<Duration> {
        let v = m.get(field).filter(|v| !v.is_null())?;
        let p = join_key(path, field);
        match parse_duration(v) {
            Ok(d) if d.is_zero() && !allow_zero => {
                self.err(&p, format!("`{field}` must be longer than zero"));
                None
            }
            Ok(d) => Some(d),
            Err(message) => {
                self.err(&p, message);
                None
            }
        }
    }

    /// Compiles an expression-bearing value and records what it reads, for the reference phase.
    fn expr(&mut self, scope: &mut FlowScope, v: &Value, path: &str, chain: &Chain, kind: SiteKind) {
        match Template::compile(v) {
            Ok(t) => {
                let refs = t.references();
                if !refs.is_empty() {
                    scope.sites.push(Site { path: path.to_string(), chain: chain.clone(), kind, refs });
                }
            }
            Err(errors) => {
                for e in errors {
                    self.err(&join_relative(path, &e.path), e.message);
                }
            }
        }
    }

    /// The operation `name` of kind `kind` in the catalog; reports an unknown name (or one of
    /// another kind) at `path`.
    fn operation(&mut self, kind: OperationKind, name: &str, path: &str) -> Option<&'a ActionSpec> {
        let actions = self.actions;
        if let Some(spec) = actions.iter().find(|a| a.name == name && a.kind == kind) {
            return Some(spec);
        }
        let noun = kind.noun();
        match actions.iter().find(|a| a.name == name) {
            Some(other) => self.err(path, format!("`{name}` is {}, not {}", other.kind.a(), kind.a())),
            None => {
                let known: Vec<&str> = actions.iter().filter(|a| a.kind == kind).map(|a| a.name.as_str()).collect();
                let known = if known.is_empty() {
                    format!("no component published in this organization has a {noun}")
                } else {
                    format!("known: {}", list_names(known))
                };
                self.err(path, format!("unknown {noun} `{name}` ({known})"));
            }
        }
        None
    }

    // ---- the document ------------------------------------------------------------------------

    fn root(&mut self, v: &Value) -> Option<IntegrationDef> {
        let Value::Object(m) = v else {
            self.err("", format!("expected a mapping (an integration definition), found {}", describe(v)));
            return None;
        };
        self.unknown_fields(m, "", &["key", "name", "description", "config", "flows"]);
        let key = self.req_str(m, "", "key");
        if let Some(k) = key.as_deref().filter(|k| !is_integration_key(k)) {
            self.err(
                "key",
                format!("invalid key `{k}`: use 1 to 63 lowercase letters, digits, `-` or `_`, starting with a letter or digit"),
            );
        }
        let name = self.req_str(m, "", "name");
        if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            self.err("name", "`name` must not be empty");
        }
        let description = self.opt_str(m, "", "description");
        self.collect_names(m);
        let config = match m.get("config") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => self.config(v, "config"),
        };
        let config_scope = std::mem::take(&mut self.config_scope);
        self.check_references(&config_scope);
        let flows = match m.get("flows") {
            None => {
                self.err("flows", "missing required field `flows` (an integration needs at least one flow)");
                Vec::new()
            }
            Some(v) => self.flows(v, "flows"),
        };
        Some(IntegrationDef { key: key?, name: name?, description, config, flows })
    }

    /// Config variable and flow keys, read before the parts that refer to them.
    fn collect_names(&mut self, m: &Map<String, Value>) {
        let pages = m.get("config").and_then(Value::as_array).into_iter().flatten();
        let vars = pages.filter_map(|p| p.get("vars")?.as_array()).flatten();
        self.config_vars = vars.filter_map(|v| v.get("key")?.as_str().map(str::to_string)).collect();
        let flows = m.get("flows").and_then(Value::as_array).into_iter().flatten();
        self.flow_keys = flows.filter_map(|f| f.get("key")?.as_str().map(str::to_string)).collect();
    }

    // ---- config wizard -----------------------------------------------------------------------

    fn config(&mut self, v: &Value, path: &str) -> Vec<ConfigPage> {
        let Some(pages) = self.list(v, path) else {
            return Vec::new();
        };
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut out = Vec::new();
        for (i, page) in pages.iter().enumerate() {
            let ppath = join_index(path, i);
            let Some(m) = self.object(page, &ppath) else {
                continue;
            };
            self.unknown_fields(m, &ppath, &["page", "vars"]);
            let title = self.req_str(m, &ppath, "page").unwrap_or_default();
            if m.get("page").is_some_and(Value::is_string) && title.trim().is_empty() {
                self.err(&join_key(&ppath, "page"), "a page title must not be empty");
            }
            let mut vars = Vec::new();
            if let Some(list) = m.get("vars").filter(|v| !v.is_null()) {
                let vpath = join_key(&ppath, "vars");
                for (j, var) in self.list(list, &vpath).into_iter().flatten().enumerate() {
                    vars.extend(self.config_var(var, &join_index(&vpath, j), &mut seen));
                }
            }
            out.push(ConfigPage { page: title, vars });
        }
        out
    }

    fn config_var(&mut self, v: &Value, path: &str, seen: &mut HashMap<String, String>) -> Option<ConfigVar> {
        let m = self.object(v, path)?;
        self.unknown_fields(
            m,
            path,
            &[
                "key",
                "label",
                "type",
                "required",
                "default",
                "description",
                "options",
                "data_source",
                "schema",
                "pattern",
                "minimum",
                "maximum",
                "customer_visible",
                "oauth2",
                "test",
                "connection_type",
            ],
        );
        let key = self.req_str(m, path, "key");
        if let Some(k) = &key {
            let kpath = join_key(path, "key");
            if !is_var_key(k) {
                self.err(
                    &kpath,
                    format!("invalid config variable key `{k}`: use lowercase letters, digits and `_`, not starting with a digit"),
                );
            }
            match seen.get(k) {
                Some(first) => self.err(&kpath, format!("duplicate config variable `{k}` (first declared at {first})")),
                None => {
                    seen.insert(k.clone(), path.to_string());
                }
            }
        }
        let label = self.opt_str(m, path, "label");
        let description = self.opt_str(m, path, "description");
        let required = self.opt_bool(m, path, "required", false);
        let customer_visible = self.opt_bool(m, path, "customer_visible", true);
        let var_type = match self.req_str(m, path, "type") {
            Some(t) => match VarType::from_name(&t) {
                Some(t) => Some(t),
                None => {
                    let known = list_names(VarType::ALL.iter().map(|t| t.name()));
                    self.err(&join_key(path, "type"), format!("unknown type `{t}` (known: {known})"));
                    None
                }
            },
            None => None,
        };

        // Fields that only make sense for some types.
        if let Some(t) = var_type {
            let only = [
                ("options", &[VarType::Picklist][..]),
                ("data_source", &[VarType::Picklist][..]),
                ("schema", &[VarType::Json][..]),
                ("pattern", &[VarType::String, VarType::Secret][..]),
                ("minimum", &[VarType::Number][..]),
                ("maximum", &[VarType::Number][..]),
                ("oauth2", &[VarType::Connection][..]),
                ("test", &[VarType::Connection][..]),
                ("connection_type", &[VarType::Connection][..]),
            ];
            for (field, types) in only {
                if m.contains_key(field) && !types.contains(&t) {
                    let names = list_names(types.iter().map(|t| t.name()));
                    self.err_key(
                        &join_key(path, field),
                        format!("`{field}` is only allowed for {names} variables, not {}", t.name()),
                    );
                }
            }
        }

        let mut options = Vec::new();
        match m.get("options") {
            Some(v) => {
                let opath = join_key(path, "options");
                if let Some(items) = self.list(v, &opath) {
                    if items.is_empty() && var_type == Some(VarType::Picklist) {
                        self.err(&opath, "a picklist needs at least one option");
                    }
                    for (i, o) in items.iter().enumerate() {
                        if !matches!(o, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                            self.err(
                                &join_index(&opath, i),
                                format!("an option must be a string, number or boolean, found {}", describe(o)),
                            );
                        }
                    }
                    options = items.clone();
                }
            }
            None if var_type == Some(VarType::Picklist) && !m.contains_key("data_source") => {
                self.err(
                    &join_key(path, "options"),
                    "a picklist needs `options` (the list of values to choose from) or a `data_source` that lists them",
                );
            }
            None => {}
        }
        let data_source = match m.get("data_source") {
            Some(v) if var_type == Some(VarType::Picklist) => {
                let dpath = join_key(path, "data_source");
                if m.contains_key("options") {
                    self.err_key(&dpath, "a picklist takes `options` or a `data_source`, not both");
                }
                self.data_source(v, &dpath)
            }
            _ => None,
        };
        let test = match m.get("test") {
            Some(v) if var_type == Some(VarType::Connection) => self.connection_test(v, &join_key(path, "test")),
            _ => None,
        };
        let is_connection = var_type == Some(VarType::Connection);
        let connection_type = match m.get("connection_type") {
            Some(v) if is_connection => self.connection_type(v, &join_key(path, "connection_type")),
            _ => None,
        };
        let opath = join_key(path, "oauth2");
        let oauth2 = match (&connection_type, m.get("oauth2")) {
            // A component's OAuth connection type: its grant, endpoints and scopes, with the
            // variable's own `client`, `params`, `pkce`, `revoke_url` (and narrower `scopes`).
            (Some((ct, Some(endpoints))), given) => {
                let mut merged = Map::new();
                if let Some(g) = given
                    && let Some(gm) = self.object(g, &opath)
                {
                    for k in ["grant", "authorize_url", "token_url"] {
                        if gm.contains_key(k) {
                            self.err_key(
                                &join_key(&opath, k),
                                format!("`{k}` comes from the component's connection type `{}`", ct.name),
                            );
                        }
                    }
                    merged = gm.clone();
                }
                let grant = OAuth2Grant::from_connection_type(&ct.kind).unwrap_or(OAuth2Grant::AuthorizationCode);
                merged.insert("grant".into(), Value::String(grant.name().into()));
                if let Some(a) = &endpoints.authorize_url {
                    merged.insert("authorize_url".into(), Value::String(a.clone()));
                }
                merged.insert("token_url".into(), Value::String(endpoints.token_url.clone()));
                merged.entry("scopes").or_insert_with(|| serde_json::json!(endpoints.scopes));
                self.oauth2(&Value::Object(merged), &opath)
            }
            (Some((ct, None)), Some(_)) => {
                self.err_key(
                    &opath,
                    format!(
                        "`oauth2` is for OAuth connections; `{}` is a connection type of kind {}",
                        ct.name, ct.kind
                    ),
                );
                None
            }
            (_, Some(v)) if is_connection => self.oauth2(v, &opath),
            _ => None,
        };
        let connection_type = connection_type.map(|(ct, _)| ct);
        let schema = m.get("schema").cloned();
        let validator = match &schema {
            Some(s @ (Value::Object(_) | Value::Bool(_))) => match jsonschema::validator_for(s) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.err(&join_key(path, "schema"), format!("invalid JSON Schema: {e}"));
                    None
                }
            },
            Some(other) => {
                self.err(
                    &join_key(path, "schema"),
                    format!("expected a JSON Schema (a mapping), found {}", describe(other)),
                );
                None
            }
            None => None,
        };
        let pattern = self.opt_str(m, path, "pattern");
        if let Some(p) = &pattern
            && let Err(e) = jsonschema::validator_for(&serde_json::json!({"pattern": p}))
        {
            self.err(&join_key(path, "pattern"), format!("invalid regular expression `{p}`: {e}"));
        }
        let mut bound = |field: &str| match m.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => n.as_f64(),
            Some(other) => {
                self.err(&join_key(path, field), format!("expected a number, found {}", describe(other)));
                None
            }
        };
        let minimum = bound("minimum");
        let maximum = bound("maximum");
        if let (Some(lo), Some(hi)) = (minimum, maximum)
            && lo > hi
        {
            self.err(&join_key(path, "minimum"), format!("`minimum` ({lo}) is greater than `maximum` ({hi})"));
        }

        let default = m.get("default").filter(|v| !v.is_null()).cloned();
        if let (Some(d), Some(t)) = (&default, var_type) {
            let fit = match t {
                VarType::String => match d {
                    Value::String(_) => {
                        let regex = pattern.as_ref().and_then(|p| {
                            Some((p, jsonschema::validator_for(&serde_json::json!({"pattern": p})).ok()?))
                        });
                        match regex {
                            Some((p, v)) if !v.is_valid(d) => {
                                Err(format!("{} does not match the pattern `{p}`", shown(d)))
                            }
                            _ => Ok(()),
                        }
                    }
                    other => Err(format!("expected a string, found {}", describe(other))),
                },
                VarType::Number => match d.as_f64() {
                    Some(n) if minimum.is_some_and(|lo| n < lo) => Err(format!("{d} is less than the minimum")),
                    Some(n) if maximum.is_some_and(|hi| n > hi) => Err(format!("{d} is greater than the maximum")),
                    Some(_) => Ok(()),
                    None => Err(format!("expected a number, found {}", describe(d))),
                },
                VarType::Boolean => match d {
                    Value::Bool(_) => Ok(()),
                    other => Err(format!("expected true or false, found {}", describe(other))),
                },
                VarType::Picklist => {
                    if options.is_empty() || options.contains(d) {
                        Ok(())
                    } else {
                        let known: Vec<String> = options.iter().map(shown).collect();
                        Err(format!("{} is not one of the options ({})", shown(d), known.join(", ")))
                    }
                }
                VarType::Json => match &validator {
                    Some(v) => match v.validate(d) {
                        Ok(()) => Ok(()),
                        Err(e) => Err(format!("does not satisfy the schema: {e}")),
                    },
                    None => Ok(()),
                },
                VarType::Schedule => match d {
                    Value::String(s) => crate::config::check_cron(s),
                    other => Err(format!("expected a cron expression (a string), found {}", describe(other))),
                },
                VarType::Date => match d {
                    Value::String(s) => crate::config::check_date(s),
                    other => Err(format!("expected a date (YYYY-MM-DD), found {}", describe(other))),
                },
                VarType::KeyValueList => match d {
                    Value::Object(_) | Value::Array(_) => Ok(()),
                    other => Err(format!("expected a list of {{key, value}} entries, found {}", describe(other))),
                },
                // Credentials do not belong in a definition that is kept in git.
                VarType::Secret => {
                    Err("a secret variable cannot have a default (definitions are not a safe place for secrets)".into())
                }
                VarType::Connection => Err("a connection variable cannot have a default".into()),
            };
            if let Err(message) = fit {
                let message = if message.starts_with("a secret") || message.starts_with("a connection") {
                    message
                } else {
                    format!("default does not fit type {}: {message}", t.name())
                };
                self.err(&join_key(path, "default"), message);
            }
        }
        Some(ConfigVar {
            key: key?,
            label,
            var_type: var_type?,
            required,
            default,
            description,
            options,
            data_source,
            schema,
            pattern,
            minimum,
            maximum,
            customer_visible,
            oauth2,
            test,
            connection_type,
        })
    }

    /// A connection variable's `connection_type`: a component's connection type in the catalog,
    /// and its OAuth endpoints when it is an OAuth one.
    fn connection_type(&mut self, v: &Value, path: &str) -> Option<(ConnectionTypeRef, Option<OAuth2Endpoints>)> {
        let name = self.string(v, path)?;
        let spec = self.operation(OperationKind::Connection, &name, path)?;
        let info = spec.connection.clone();
        let kind = info.as_ref().map_or_else(|| "custom".to_string(), |i| i.kind.clone());
        let endpoints = info.and_then(|i| i.oauth2).filter(|_| OAuth2Grant::from_connection_type(&kind).is_some());
        Some((ConnectionTypeRef { name, kind, fields: spec.inputs.clone() }, endpoints))
    }

    /// A connection variable's `test`: `{action, inputs}`, an action of the catalog whose
    /// inputs' expressions see the wizard's scope.
    fn connection_test(&mut self, v: &Value, path: &str) -> Option<ConnectionTest> {
        let m = self.object(v, path)?;
        self.unknown_fields(m, path, &["action", "inputs"]);
        let action = self.req_str(m, path, "action")?;
        let ipath = join_key(path, "inputs");
        let inputs = match m.get("inputs") {
            None | Some(Value::Null) => Map::new(),
            Some(v) => self.object(v, &ipath)?.clone(),
        };
        if let Some(spec) = self.operation(OperationKind::Action, &action, &join_key(path, "action")) {
            self.action_inputs(spec, &inputs, &ipath);
        }
        let mut scope = std::mem::take(&mut self.config_scope);
        self.expr(&mut scope, &Value::Object(inputs.clone()), &ipath, &Vec::new(), SiteKind::Config);
        self.config_scope = scope;
        Some(ConnectionTest { action, inputs })
    }

    /// A connection variable's `oauth2`: the grant, the provider's endpoints, scopes and the
    /// organization's OAuth client.
    fn oauth2(&mut self, v: &Value, path: &str) -> Option<OAuth2Def> {
        let m = self.object(v, path)?;
        self.unknown_fields(
            m,
            path,
            &["grant", "authorize_url", "token_url", "revoke_url", "scopes", "params", "client", "pkce"],
        );
        let grant = match self.req_str(m, path, "grant") {
            Some(g) => match OAuth2Grant::from_name(&g) {
                Some(g) => Some(g),
                None => {
                    let known = list_names(OAuth2Grant::ALL.iter().map(|g| g.name()));
                    self.err(&join_key(path, "grant"), format!("unknown grant `{g}` (known: {known})"));
                    None
                }
            },
            None => None,
        };
        let mut url = |field: &str, required: bool| {
            let fpath = join_key(path, field);
            let u = if required { self.req_str(m, path, field) } else { self.opt_str(m, path, field) }?;
            let rest = u.strip_prefix("https://").or_else(|| u.strip_prefix("http://"));
            match rest {
                Some(r) if !r.is_empty() && !r.starts_with('/') && !u.contains(char::is_whitespace) => Some(u),
                _ => {
                    self.err(&fpath, format!("`{u}` is not an absolute http(s) URL"));
                    None
                }
            }
        };
        let needs_authorize = grant == Some(OAuth2Grant::AuthorizationCode);
        let authorize_url = url("authorize_url", needs_authorize);
        let token_url = url("token_url", true);
        let revoke_url = url("revoke_url", false);
        if grant == Some(OAuth2Grant::ClientCredentials) && m.contains_key("authorize_url") {
            self.err_key(
                &join_key(path, "authorize_url"),
                "the client credentials grant has no authorization step: remove `authorize_url`",
            );
        }
        let mut scopes = Vec::new();
        if let Some(v) = m.get("scopes").filter(|v| !v.is_null()) {
            let spath = join_key(path, "scopes");
            if let Some(items) = self.list(v, &spath) {
                for (i, s) in items.iter().enumerate() {
                    match s {
                        Value::String(s) if !s.is_empty() && !s.contains(char::is_whitespace) => scopes.push(s.clone()),
                        other => self.err(
                            &join_index(&spath, i),
                            format!("a scope is a non-empty string without spaces, found {}", shown(other)),
                        ),
                    }
                }
            }
        }
        let mut params = BTreeMap::new();
        if let Some(v) = m.get("params").filter(|v| !v.is_null()) {
            let ppath = join_key(path, "params");
            if let Some(obj) = self.object(v, &ppath) {
                for (k, v) in obj {
                    const OURS: [&str; 7] = [
                        "client_id",
                        "redirect_uri",
                        "response_type",
                        "scope",
                        "state",
                        "code_challenge",
                        "code_challenge_method",
                    ];
                    if OURS.contains(&k.as_str()) {
                        self.err_key(&join_key(&ppath, k), format!("`{k}` is set by Weft; it cannot be overridden"));
                        continue;
                    }
                    match v {
                        Value::String(s) => {
                            params.insert(k.clone(), s.clone());
                        }
                        other => {
                            self.err(&join_key(&ppath, k), format!("expected a string, found {}", describe(other)))
                        }
                    }
                }
            }
        }
        let client = self.opt_str(m, path, "client");
        if let Some(c) = &client
            && !is_integration_key(c)
        {
            self.err(
                &join_key(path, "client"),
                format!("invalid OAuth client key `{c}`: use lowercase letters, digits, `-` and `_`"),
            );
        }
        if needs_authorize && client.is_none() {
            self.err(
                &join_key(path, "client"),
                "the authorization code grant needs `client`: the organization's OAuth client (the vendor's app) \
                 whose id and secret Weft sends to the provider",
            );
        }
        let pkce = self.opt_bool(m, path, "pkce", true);
        Some(OAuth2Def {
            grant: grant?,
            authorize_url,
            token_url: token_url?,
            revoke_url,
            scopes,
            params,
            client,
            pkce,
        })
    }

    /// A picklist's `data_source`: `<component>.<data source>`, or `{name, inputs}`.
    fn data_source(&mut self, v: &Value, path: &str) -> Option<DataSourceRef> {
        let (name, inputs, npath) = match v {
            Value::String(s) => (s.clone(), Map::new(), path.to_string()),
            Value::Object(m) => {
                self.unknown_fields(m, path, &["name", "inputs"]);
                let name = self.req_str(m, path, "name")?;
                let ipath = join_key(path, "inputs");
                let inputs = match m.get("inputs") {
                    None | Some(Value::Null) => Map::new(),
                    Some(v) => self.object(v, &ipath)?.clone(),
                };
                (name, inputs, join_key(path, "name"))
            }
            other => {
                self.err(
                    path,
                    format!(
                        "expected a data source name (`component.data_source`) or {{name, inputs}}, found {}",
                        describe(other)
                    ),
                );
                return None;
            }
        };
        let spec = self.operation(OperationKind::DataSource, &name, &npath);
        let ipath = join_key(path, "inputs");
        if let Some(spec) = spec {
            self.action_inputs(spec, &inputs, &ipath);
        }
        let mut scope = std::mem::take(&mut self.config_scope);
        self.expr(&mut scope, &Value::Object(inputs.clone()), &ipath, &Vec::new(), SiteKind::Config);
        self.config_scope = scope;
        Some(DataSourceRef { name, inputs })
    }

    // ---- flows -------------------------------------------------------------------------------

    fn flows(&mut self, v: &Value, path: &str) -> Vec<FlowDef> {
        let Some(items) = self.list(v, path) else {
            return Vec::new();
        };
        if items.is_empty() {
            self.err(path, "an integration needs at least one flow");
        }
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut out = Vec::new();
        for (i, flow) in items.iter().enumerate() {
            out.extend(self.flow(flow, &join_index(path, i), &mut seen));
        }
        out
    }

    fn flow(&mut self, v: &Value, path: &str, seen: &mut HashMap<String, String>) -> Option<FlowDef> {
        let m = self.object(v, path)?;
        self.unknown_fields(m, path, &["key", "name", "description", "trigger", "steps", "result", "queue", "retry"]);
        let key = self.req_str(m, path, "key");
        if let Some(k) = &key {
            let kpath = join_key(path, "key");
            if !is_integration_key(k) {
                self.err(
                    &kpath,
                    format!("invalid flow key `{k}`: use 1 to 63 lowercase letters, digits, `-` or `_`, starting with a letter or digit"),
                );
            }
            match seen.get(k) {
                Some(first) => self.err(&kpath, format!("duplicate flow key `{k}` (first used at {first})")),
                None => {
                    seen.insert(k.clone(), path.to_string());
                }
            }
        }
        let name = self.opt_str(m, path, "name");
        let description = self.opt_str(m, path, "description");
        let mut scope = FlowScope { key: key.clone(), ..FlowScope::default() };
        let trigger =
            self.required(m, path, "trigger").and_then(|t| self.trigger(&mut scope, t, &join_key(path, "trigger")));
        let root = Block { id: scope.new_block(), via: Via::Root, parent: Vec::new() };
        let steps = match self.required(m, path, "steps") {
            Some(v) => self.steps(&mut scope, v, &join_key(path, "steps"), &root),
            None => Vec::new(),
        };
        let result = m.get("result").cloned();
        if let Some(r) = &result {
            // The result is evaluated like a step after the last top-level step.
            let count = m.get("steps").and_then(Value::as_array).map_or(0, Vec::len);
            let chain = vec![Frame { block: root.id, index: count, via: Via::Root, key: String::new() }];
            self.expr(&mut scope, r, &join_key(path, "result"), &chain, SiteKind::Step);
        }
        self.check_references(&scope);
        let queue = match m.get("queue").filter(|v| !v.is_null()) {
            Some(q) => self.flow_queue(q, &join_key(path, "queue")).unwrap_or_default(),
            None => QueueDef::default(),
        };
        let retry = m.get("retry").filter(|v| !v.is_null()).and_then(|r| self.flow_retry(r, &join_key(path, "retry")));
        Some(FlowDef { key: key?, name, description, trigger: trigger?, steps, result, queue, retry })
    }

    // ---- flow queue mode and execution retry -------------------------------------------------

    fn flow_queue(&mut self, v: &Value, path: &str) -> Option<QueueDef> {
        let m = self.object(v, path)?;
        self.unknown_fields(m, path, &["mode", "max_concurrency"]);
        let mode = match m.get("mode").filter(|v| !v.is_null()) {
            None => QueueMode::Parallel,
            Some(v) => match QueueMode::ALL.iter().find(|q| v.as_str() == Some(q.name())) {
                Some(q) => *q,
                None => {
                    let known = list_names(QueueMode::ALL.iter().map(|q| q.name()));
                    self.err(&join_key(path, "mode"), format!("unknown queue mode {} (known: {known})", shown(v)));
                    return None;
                }
            },
        };
        let cpath = join_key(path, "max_concurrency");
        let max_concurrency = match m.get("max_concurrency").filter(|v| !v.is_null()) {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 => Some(u32::try_from(n).unwrap_or(u32::MAX)),
                _ => {
                    self.err(
                        &cpath,
                        format!("`max_concurrency` must be a whole number of at least 1, found {}", shown(v)),
                    );
                    return None;
                }
            },
        };
        match (mode, max_concurrency) {
            (QueueMode::Throttled, None) => {
                self.err(path, "a `throttled` queue needs `max_concurrency` (how many may run at once per instance)");
                None
            }
            (QueueMode::Fifo, Some(_)) => {
                self.err(&cpath, "a `fifo` queue runs one execution at a time per instance: remove `max_concurrency`");
                None
            }
            _ => Some(QueueDef { mode, max_concurrency }),
        }
    }

    fn flow_retry(&mut self, v: &Value, path: &str) -> Option<ExecutionRetry> {
        let m = self.object(v, path)?;
        // The step `retry` grammar minus `on`: an execution is retried whatever failed it.
        if m.contains_key("on") {
            self.err(
                &join_key(path, "on"),
                "an execution-level `retry` retries any failure; `on` is only for a step's `retry`",
            );
        }
        let mut fields = m.clone();
        fields.remove("on");
        let policy = self.retry(&Value::Object(fields), path)?;
        if policy.initial.subsec_nanos() != 0 || policy.initial.is_zero() {
            self.err(
                &join_key(path, "backoff"),
                "an execution-level `backoff` is whole seconds, at least 1s (the queue is second-granular)",
            );
            return None;
        }
        Some(ExecutionRetry {
            attempts: policy.attempts,
            backoff: policy.initial,
            factor: policy.factor,
            max_backoff: policy.max,
        })
    }

    fn trigger(&mut self, scope: &mut FlowScope, v: &Value, path: &str) -> Option<Trigger> {
        let expected = "expected exactly one of webhook, manual, schedule, poll";
        let Value::Object(m) = v else {
            self.err(path, format!("expected a mapping such as `manual: {{}}` ({expected}), found {}", describe(v)));
            return None;
        };
        for k in m.keys().filter(|k| !TRIGGER_KINDS.contains(&k.as_str())) {
            self.err_key(&join_key(path, k), format!("unknown trigger `{k}` ({expected})"));
        }
        let kinds: Vec<&String> = m.keys().filter(|k| TRIGGER_KINDS.contains(&k.as_str())).collect();
        match kinds.as_slice() {
            [] if m.is_empty() => {
                self.err(path, format!("missing trigger: {expected}"));
                None
            }
            [] => None,
            [kind, rest @ ..] => {
                if let Some(second) = rest.first() {
                    self.err_key(
                        &join_key(path, second),
                        format!("a flow has exactly one trigger, found both `{kind}` and `{second}`"),
                    );
                }
                let kpath = join_key(path, kind);
                let body = &m[kind.as_str()];
                match kind.as_str() {
                    "webhook" => {
                        let empty = Map::new();
                        let wm = if body.is_null() { &empty } else { self.object(body, &kpath)? };
                        self.unknown_fields(wm, &kpath, &["mode"]);
                        let mode = match wm.get("mode") {
                            None | Some(Value::Null) => WebhookMode::Async,
                            Some(Value::String(s)) if s == "sync" => WebhookMode::Sync,
                            Some(Value::String(s)) if s == "async" => WebhookMode::Async,
                            Some(other) => {
                                self.err(
                                    &join_key(&kpath, "mode"),
                                    format!("invalid webhook mode {}: expected sync or async", shown(other)),
                                );
                                WebhookMode::Async
                            }
                        };
                        Some(Trigger::Webhook(WebhookTrigger { mode }))
                    }
                    "manual" => {
                        if !body.is_null() {
                            let mm = self.object(body, &kpath)?;
                            self.unknown_fields(mm, &kpath, &[]);
                        }
                        Some(Trigger::Manual)
                    }
                    "poll" => self.poll(scope, body, &kpath).map(|p| Trigger::Poll(Box::new(p))),
                    _ => {
                        let sm = self.object(body, &kpath)?;
                        self.unknown_fields(sm, &kpath, &["cron", "timezone"]);
                        let (cron, timezone) = self.cron(scope, sm, &kpath);
                        Some(Trigger::Schedule { cron: cron?, timezone })
                    }
                }
            }
        }
    }

    /// The `cron` and `timezone` of a schedule (or a poll trigger's `schedule`).
    fn cron(
        &mut self,
        scope: &mut FlowScope,
        sm: &Map<String, Value>,
        kpath: &str,
    ) -> (Option<String>, Option<String>) {
        let cron = self.req_str(sm, kpath, "cron");
        if let Some(c) = &cron {
            let cpath = join_key(kpath, "cron");
            if is_dynamic(&Value::String(c.clone())) {
                self.expr(scope, &Value::String(c.clone()), &cpath, &Vec::new(), SiteKind::Schedule);
            } else if let Err(message) = crate::config::check_cron(c) {
                self.err(&cpath, message);
            }
        }
        let timezone = self.opt_str(sm, kpath, "timezone");
        if let Some(tz) = &timezone
            && tz.parse::<chrono_tz::Tz>().is_err()
        {
            self.err(
                &join_key(kpath, "timezone"),
                format!("unknown time zone `{tz}` (use an IANA name such as Europe/Berlin, or UTC)"),
            );
        }
        (cron, timezone)
    }

    fn poll(&mut self, scope: &mut FlowScope, body: &Value, kpath: &str) -> Option<PollTrigger> {
        let pm = self.object(body, kpath)?;
        self.unknown_fields(pm, kpath, &["schedule", "action", "trigger", "inputs", "items", "id", "cursor", "batch"]);
        let spath = join_key(kpath, "schedule");
        let (cron, timezone) = match self.required(pm, kpath, "schedule").map(|v| self.object(v, &spath)) {
            Some(Some(sm)) => {
                self.unknown_fields(sm, &spath, &["cron", "timezone"]);
                self.cron(scope, sm, &spath)
            }
            _ => (None, None),
        };
        // Either any action whose output `items` picks records from, or a component's trigger.
        let (kind, field) = match (pm.contains_key("action"), pm.contains_key("trigger")) {
            (true, true) => {
                self.err_key(
                    &join_key(kpath, "trigger"),
                    "a poll trigger takes `action` or `trigger`, not both: an action's records are picked by `items`, \
                     a component trigger returns its own",
                );
                return None;
            }
            (_, true) => (OperationKind::Trigger, "trigger"),
            _ => (OperationKind::Action, "action"),
        };
        let apath = join_key(kpath, field);
        let operation = self.req_str(pm, kpath, field);
        let spec = operation.as_ref().and_then(|n| self.operation(kind, n, &apath));
        let ipath = join_key(kpath, "inputs");
        let inputs = match pm.get("inputs") {
            None | Some(Value::Null) => Some(Map::new()),
            Some(v) => self.object(v, &ipath).cloned(),
        };
        if let Some(inputs) = &inputs {
            if let Some(spec) = spec {
                self.action_inputs(spec, inputs, &ipath);
            }
            self.expr(scope, &Value::Object(inputs.clone()), &ipath, &Vec::new(), SiteKind::Poll("cursor"));
        }
        if kind == OperationKind::Trigger {
            for own in ["items", "cursor"] {
                if pm.contains_key(own) {
                    self.err_key(
                        &join_key(kpath, own),
                        format!("`{own}` is only for a poll `action`: a component trigger returns its new records and keeps its own cursor"),
                    );
                }
            }
        }
        let items = if kind == OperationKind::Trigger { None } else { self.required(pm, kpath, "items").cloned() };
        if let Some(v) = &items {
            let path = join_key(kpath, "items");
            match v {
                Value::String(s) if is_single_expression(s) => {
                    self.expr(scope, v, &path, &Vec::new(), SiteKind::Poll("output"))
                }
                other => self.err(
                    &path,
                    format!(
                        "`items` must be a single `{{{{ … }}}}` expression over `output` giving a list, found {}",
                        shown(other)
                    ),
                ),
            }
        }
        let mut per_item = |field: &str| {
            let v = pm.get(field).filter(|v| !v.is_null()).cloned()?;
            self.expr(scope, &v, &join_key(kpath, field), &Vec::new(), SiteKind::Poll("item"));
            Some(v)
        };
        let (id, cursor) = (per_item("id"), per_item("cursor"));
        if kind == OperationKind::Action && id.is_none() && cursor.is_none() {
            // Without either, every poll would start the same records again.
            self.err(
                kpath,
                "a poll trigger needs `id` or `cursor` (or both) to tell new records from ones already emitted",
            );
        }
        let batch = match pm.get("batch") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.err(&join_key(kpath, "batch"), format!("expected true or false, found {}", shown(other)));
                false
            }
        };
        let source = match kind {
            OperationKind::Trigger => PollSource::Trigger(operation?),
            _ => PollSource::Action { action: operation?, items: items? },
        };
        Some(PollTrigger { cron: cron?, timezone, source, inputs: inputs?, id, cursor, batch })
    }

    /// Checks an action's literal inputs against its spec: unknown, mistyped and missing ones.
    fn action_inputs(&mut self, spec: &ActionSpec, inputs: &Map<String, Value>, ipath: &str) {
        for (k, v) in inputs {
            let p = join_key(ipath, k);
            match spec.input(k) {
                None => {
                    let known = list_names(spec.inputs.iter().map(|i| i.key.as_str()));
                    let noun = spec.kind.noun();
                    self.err_key(&p, format!("unknown input `{k}` for {noun} `{}` (known: {known})", spec.name));
                }
                Some(input) if !is_dynamic(v) && !input.input_type.accepts(v) => {
                    self.err(
                        &p,
                        format!(
                            "input `{k}` of `{}` expects {}, found {}",
                            spec.name,
                            input.input_type.describe(),
                            shown(v)
                        ),
                    );
                }
                Some(_) => {}
            }
        }
        for input in spec.inputs.iter().filter(|i| i.required && !inputs.contains_key(&i.key)) {
            self.err(
                &join_key(ipath, &input.key),
                format!("missing required input `{}` of {} `{}`", input.key, spec.kind.noun(), spec.name),
            );
        }
    }

    // ---- steps -------------------------------------------------------------------------------

    fn steps(&mut self, scope: &mut FlowScope, v: &Value, path: &str, block: &Block) -> Vec<Step> {
        let Some(items) = self.list(v, path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, step) in items.iter().enumerate() {
            out.extend(self.step(scope, step, &join_index(path, i), block, i));
        }
        out
    }

    fn step(&mut self, scope: &mut FlowScope, v: &Value, path: &str, block: &Block, index: usize) -> Option<Step> {
        let m = self.object(v, path)?;
        self.unknown_fields(m, path, STEP_FIELDS);
        let key = self.req_str(m, path, "key");
        let mut chain = block.parent.clone();
        chain.push(Frame { block: block.id, index, via: block.via, key: key.clone().unwrap_or_default() });
        if let Some(k) = &key {
            let kpath = join_key(path, "key");
            if !is_step_key(k) {
                self.err(
                    &kpath,
                    format!("invalid step key `{k}`: use letters, digits, `_` or `-`, starting with a letter or `_`"),
                );
            }
            match scope.steps.get(k) {
                Some(first) => {
                    let first = first.path.clone();
                    self.err(
                        &kpath,
                        format!("duplicate step key `{k}` (first used at {first}); step keys are unique within a flow"),
                    );
                }
                None => {
                    scope.steps.insert(k.clone(), StepInfo { path: path.to_string(), chain: chain.clone() });
                    scope.step_order.push(k.clone());
                }
            }
        }

        let kinds: Vec<&str> = m.keys().map(String::as_str).filter(|k| STEP_KINDS.contains(k)).collect();
        let kind_name = match kinds.as_slice() {
            [] => {
                self.err(path, format!("unknown step kind: expected exactly one of {}", STEP_KINDS.join(", ")));
                None
            }
            [one] => Some(*one),
            [first, second, ..] => {
                self.err_key(
                    &join_key(path, second),
                    format!("a step has exactly one kind, found both `{first}` and `{second}`"),
                );
                Some(*first)
            }
        };
        for (field, owner) in
            [("inputs", "action"), ("steps", "for_each"), ("concurrency", "for_each"), ("input", "call_flow")]
        {
            if m.contains_key(field) && kind_name.is_some_and(|k| k != owner) {
                let hint = if field == "steps" { " (branch arms and on_error have their own `steps`)" } else { "" };
                self.err_key(&join_key(path, field), format!("`{field}` is only allowed with `{owner}`{hint}"));
            }
        }
        let kind = kind_name.and_then(|k| self.step_kind(scope, m, k, path, &chain));

        let retry = match m.get("retry") {
            None | Some(Value::Null) => None,
            Some(r) => self.retry(r, &join_key(path, "retry")),
        };
        let timeout = self.opt_duration(m, path, "timeout", false);
        let on_error = match m.get("on_error") {
            None | Some(Value::Null) => Some(OnError::Fail),
            Some(o) => self.on_error(scope, o, &join_key(path, "on_error"), &chain),
        };
        Some(Step { key: key?, kind: kind?, retry, timeout, on_error: on_error? })
    }

    fn step_kind(
        &mut self,
        scope: &mut FlowScope,
        m: &Map<String, Value>,
        kind: &str,
        path: &str,
        chain: &Chain,
    ) -> Option<StepKind> {
        let kpath = join_key(path, kind);
        let body = &m[kind];
        match kind {
            "action" => {
                let name = self.string(body, &kpath);
                let spec = name.as_ref().and_then(|n| self.operation(OperationKind::Action, n, &kpath));
                let ipath = join_key(path, "inputs");
                let inputs = match m.get("inputs") {
                    None | Some(Value::Null) => Map::new(),
                    Some(v) => self.object(v, &ipath)?.clone(),
                };
                if let Some(spec) = spec {
                    self.action_inputs(spec, &inputs, &ipath);
                }
                self.expr(scope, &Value::Object(inputs.clone()), &ipath, chain, SiteKind::Step);
                Some(StepKind::Action { action: name?, inputs })
            }
            "transform" => {
                self.expr(scope, body, &kpath, chain, SiteKind::Step);
                Some(StepKind::Transform(body.clone()))
            }
            "code" => match body {
                Value::String(script) if !script.trim().is_empty() => Some(StepKind::Code { script: script.clone() }),
                other => {
                    let found = if other.is_string() { "an empty script" } else { describe(other) };
                    self.err(&kpath, format!("`code` expects a JavaScript function body (a string), found {found}"));
                    None
                }
            },
            "branch" => self.branch(scope, body, &kpath, chain),
            "for_each" => {
                let items_ok = match body {
                    Value::String(s) if is_single_expression(s) => true,
                    Value::Array(_) => true,
                    Value::String(s) if is_dynamic(body) => {
                        self.err(&kpath, format!("`for_each` expects a list, but {} is a template, which yields a string; write a single `{{{{ … }}}}` expression", Value::String(s.clone())));
                        false
                    }
                    other => {
                        self.err(&kpath, format!("`for_each` expects a list, found {}", describe(other)));
                        false
                    }
                };
                if items_ok {
                    self.expr(scope, body, &kpath, chain, SiteKind::Step);
                }
                let concurrency = match m.get("concurrency") {
                    None | Some(Value::Null) => None,
                    Some(c) => match c.as_u64() {
                        Some(n) if n >= 1 => Some(u32::try_from(n).unwrap_or(u32::MAX)),
                        _ => {
                            self.err(
                                &join_key(path, "concurrency"),
                                format!("`concurrency` must be a whole number of at least 1, found {}", shown(c)),
                            );
                            None
                        }
                    },
                };
                let block = Block { id: scope.new_block(), via: Via::ForEach, parent: chain.clone() };
                let steps = match m.get("steps") {
                    Some(s) => self.steps(scope, s, &join_key(path, "steps"), &block),
                    None => {
                        self.err(
                            &join_key(path, "steps"),
                            "missing required field `steps` (the steps to run for each item)",
                        );
                        Vec::new()
                    }
                };
                items_ok.then(|| StepKind::ForEach { items: body.clone(), steps, concurrency })
            }
            "call_flow" => {
                let flow = self.string(body, &kpath)?;
                if !self.flow_keys.contains(&flow) {
                    let known = list_names(self.flow_keys.iter().map(String::as_str));
                    self.err(&kpath, format!("unknown flow `{flow}` (flows: {known})"));
                } else if scope.key.as_deref() == Some(flow.as_str()) {
                    self.err(&kpath, format!("flow `{flow}` cannot call itself"));
                }
                let input = m.get("input").cloned().unwrap_or(Value::Null);
                self.expr(scope, &input, &join_key(path, "input"), chain, SiteKind::Step);
                Some(StepKind::CallFlow { flow, input })
            }
            "respond" => {
                let empty = Map::new();
                let rm = if body.is_null() { &empty } else { self.object(body, &kpath)? };
                self.unknown_fields(rm, &kpath, &["status", "headers", "body"]);
                let status = rm.get("status").cloned().unwrap_or(Value::Null);
                let spath = join_key(&kpath, "status");
                let status_ok = match &status {
                    Value::Null => true,
                    s if is_dynamic(s) => true,
                    Value::Number(n) => n.as_u64().is_some_and(|n| (100..=599).contains(&n)),
                    _ => false,
                };
                if !status_ok {
                    self.err(
                        &spath,
                        format!("`status` must be a whole number from 100 to 599, found {}", shown(&status)),
                    );
                }
                let headers = rm.get("headers").cloned().unwrap_or(Value::Null);
                if !matches!(headers, Value::Null | Value::Object(_)) && !is_dynamic(&headers) {
                    self.err(
                        &join_key(&kpath, "headers"),
                        format!("expected a mapping of header names to values, found {}", describe(&headers)),
                    );
                }
                let body_value = rm.get("body").cloned().unwrap_or(Value::Null);
                for (field, value) in [("status", &status), ("headers", &headers), ("body", &body_value)] {
                    self.expr(scope, value, &join_key(&kpath, field), chain, SiteKind::Step);
                }
                Some(StepKind::Respond { status, headers, body: body_value })
            }
            "stop" => {
                let empty = Map::new();
                let sm = if body.is_null() { &empty } else { self.object(body, &kpath)? };
                self.unknown_fields(sm, &kpath, &["result"]);
                let result = sm.get("result").cloned();
                if let Some(r) = &result {
                    self.expr(scope, r, &join_key(&kpath, "result"), chain, SiteKind::Step);
                }
                Some(StepKind::Stop { result })
            }
            _ => {
                if !body.is_string() {
                    self.err(&kpath, format!("expected a failure message (a string), found {}", describe(body)));
                    return None;
                }
                self.expr(scope, body, &kpath, chain, SiteKind::Step);
                Some(StepKind::Fail { message: body.clone() })
            }
        }
    }

    fn branch(&mut self, scope: &mut FlowScope, v: &Value, path: &str, chain: &Chain) -> Option<StepKind> {
        let items = self.list(v, path)?;
        let mut arms = Vec::new();
        let mut otherwise: Option<Vec<Step>> = None;
        let mut else_at: Option<usize> = None;
        let mut else_misplaced = false;
        let mut has_when = false;
        for (i, arm) in items.iter().enumerate() {
            let apath = join_index(path, i);
            let Some(am) = self.object(arm, &apath) else {
                continue;
            };
            let block = Block { id: scope.new_block(), via: Via::Branch, parent: chain.clone() };
            if let Some(e) = am.get("else") {
                if am.contains_key("when") {
                    self.err(&apath, "a branch entry has either `when` (with `steps`) or `else`, not both");
                }
                self.unknown_fields(am, &apath, &["else", "when"]);
                if else_at.is_some() {
                    self.err_key(&join_key(&apath, "else"), "a branch has at most one `else`");
                }
                else_at = else_at.or(Some(i));
                let steps = self.steps(scope, e, &join_key(&apath, "else"), &block);
                otherwise.get_or_insert(steps);
                continue;
            }
            if let Some(at) = else_at
                && !else_misplaced
            {
                else_misplaced = true;
                self.err(&join_index(path, at), "`else` must be the last entry of a branch");
            }
            has_when = true;
            self.unknown_fields(am, &apath, &["when", "steps"]);
            let when = self.required(am, &apath, "when").cloned();
            if let Some(w) = &when {
                self.expr(scope, w, &join_key(&apath, "when"), chain, SiteKind::Step);
            }
            let steps = match self.required(am, &apath, "steps") {
                Some(s) => self.steps(scope, s, &join_key(&apath, "steps"), &block),
                None => Vec::new(),
            };
            if let Some(when) = when {
                arms.push(BranchArm { when, steps });
            }
        }
        if !has_when {
            self.err(path, "a branch needs at least one `when` entry");
            return None;
        }
        Some(StepKind::Branch { arms, otherwise })
    }

    fn retry(&mut self, v: &Value, path: &str) -> Option<RetryPolicy> {
        let m = self.object(v, path)?;
        self.unknown_fields(m, path, &["attempts", "backoff", "factor", "max_backoff", "on"]);
        let defaults = RetryPolicy::default();
        let attempts = match self.required(m, path, "attempts") {
            Some(a) => match a.as_u64() {
                Some(n) if n >= 1 => Some(u32::try_from(n).unwrap_or(u32::MAX)),
                _ => {
                    self.err(
                        &join_key(path, "attempts"),
                        format!(
                            "`attempts` must be a whole number of at least 1 (the first try counts), found {}",
                            shown(a)
                        ),
                    );
                    None
                }
            },
            None => None,
        };
        let initial = self.opt_duration(m, path, "backoff", true).unwrap_or(defaults.initial);
        let max = self.opt_duration(m, path, "max_backoff", false).unwrap_or(defaults.max);
        let factor = match m.get("factor") {
            None | Some(Value::Null) => defaults.factor,
            Some(f) => match f.as_f64() {
                Some(x) if x >= 1.0 => x,
                _ => {
                    self.err(
                        &join_key(path, "factor"),
                        format!("`factor` must be a number of at least 1, found {}", shown(f)),
                    );
                    defaults.factor
                }
            },
        };
        let mut on = Vec::new();
        if let Some(kinds) = m.get("on").filter(|v| !v.is_null()) {
            let opath = join_key(path, "on");
            for (i, k) in self.list(kinds, &opath).into_iter().flatten().enumerate() {
                let kpath = join_index(&opath, i);
                match k.as_str().map(|s| (s, ErrorKind::from_name(s))) {
                    Some((_, Some(kind))) => on.push(kind),
                    Some((name, None)) => {
                        let known = list_names(ErrorKind::ALL.iter().map(|k| k.name()));
                        self.err(&kpath, format!("unknown error kind `{name}` (known: {known})"));
                    }
                    None => self.err(&kpath, format!("expected an error kind (a string), found {}", describe(k))),
                }
            }
        }
        Some(RetryPolicy { attempts: attempts?, initial, factor, max, on })
    }

    fn on_error(&mut self, scope: &mut FlowScope, v: &Value, path: &str, chain: &Chain) -> Option<OnError> {
        let expected = "expected `fail`, `continue` or a mapping with `steps`";
        match v {
            Value::String(s) if s == "fail" => Some(OnError::Fail),
            Value::String(s) if s == "continue" => Some(OnError::Continue),
            Value::Object(m) => {
                self.unknown_fields(m, path, &["steps"]);
                let s = self.required(m, path, "steps")?;
                let block = Block { id: scope.new_block(), via: Via::OnError, parent: chain.clone() };
                Some(OnError::Steps(self.steps(scope, s, &join_key(path, "steps"), &block)))
            }
            other => {
                self.err(path, format!("invalid on_error {}: {expected}", shown(other)));
                None
            }
        }
    }

    // ---- references --------------------------------------------------------------------------

    fn check_references(&mut self, scope: &FlowScope) {
        let mut reported: HashSet<(String, String)> = HashSet::new();
        for site in &scope.sites {
            for r in &site.refs {
                let path = join_relative(&site.path, &r.at);
                let Some(message) = self.reference_problem(scope, site, &r.var) else {
                    continue;
                };
                if reported.insert((path.clone(), message.clone())) {
                    self.err(&path, message);
                }
            }
        }
    }

    fn reference_problem(&self, scope: &FlowScope, site: &Site, var: &str) -> Option<String> {
        let mut segments = var.split('.');
        let root = segments.next().unwrap_or_default();
        let second = segments.next();
        if site.kind == SiteKind::Schedule
            && !matches!(root, "config" | "instance" | "customer")
            && !GLOBAL_FUNCTIONS.contains(&root)
        {
            return Some(format!("a schedule can only use `config`, `instance` and `customer`, not `{root}`"));
        }
        if site.kind == SiteKind::Config && !matches!(root, "config" | "customer") && !GLOBAL_FUNCTIONS.contains(&root)
        {
            return Some(format!("a data source input can only use `config` and `customer`, not `{root}`"));
        }
        if let SiteKind::Poll(own) = site.kind {
            if root == own {
                return None;
            }
            if !matches!(root, "config" | "instance" | "customer") && !GLOBAL_FUNCTIONS.contains(&root) {
                return Some(format!(
                    "this poll trigger expression can only use `config`, `instance`, `customer` and `{own}`, not `{root}`"
                ));
            }
        }
        let in_via = |via: Via| site.chain.iter().any(|f| f.via == via);
        match root {
            "steps" => second.and_then(|key| self.step_problem(scope, site, key)),
            "config" => {
                let name = second?;
                if self.config_vars.iter().any(|v| v == name) {
                    return None;
                }
                let known = if self.config_vars.is_empty() {
                    "no config variables are declared".to_string()
                } else {
                    format!("known: {}", list_names(self.config_vars.iter().map(String::as_str)))
                };
                Some(format!("`config.{name}` is not a config variable ({known})"))
            }
            "item" | "index" if !in_via(Via::ForEach) => {
                Some(format!("`{root}` is only defined inside the steps of a `for_each`"))
            }
            "error" if !in_via(Via::OnError) => Some("`error` is only defined inside `on_error` steps".to_string()),
            "trigger" => {
                let field = second?;
                (!TRIGGER_FIELDS.contains(&field))
                    .then(|| format!("`trigger.{field}` is not a trigger field (known: {})", TRIGGER_FIELDS.join(", ")))
            }
            r if CONTEXT_ROOTS.contains(&r) || GLOBAL_FUNCTIONS.contains(&r) => None,
            other => Some(format!("unknown name `{other}` (known: {})", CONTEXT_ROOTS.join(", "))),
        }
    }

    /// Whether `steps.<key>` can have finished before the expression at `site` runs.
    fn step_problem(&self, scope: &FlowScope, site: &Site, key: &str) -> Option<String> {
        let r = format!("`steps.{key}`");
        let Some(target) = scope.steps.get(key) else {
            let known = list_names(scope.step_order.iter().map(String::as_str));
            // `steps.my-step.output` parses as a subtraction; say how to write such keys.
            let prefix = format!("{key}-");
            let hint = match scope.step_order.iter().find(|k| k.starts_with(&prefix)) {
                Some(k) => format!("; a key with `-` is written `steps['{k}']`"),
                None => String::new(),
            };
            return Some(format!("{r} refers to no step of this flow (steps: {known}){hint}"));
        };
        let (s, t) = (&site.chain, &target.chain);
        if s.is_empty() {
            return Some(format!("{r}: the trigger cannot refer to steps"));
        }
        let common = s.iter().zip(t).take_while(|(a, b)| a.block == b.block && a.index == b.index).count();
        if common == t.len() {
            return Some(if common == s.len() {
                format!("{r} refers to step `{key}` itself; its output exists only once it has finished")
            } else {
                format!("{r} refers to the enclosing step `{key}`, which has not finished yet")
            });
        }
        if common == s.len() {
            return Some(format!("{r} refers to step `{key}`, which runs later (it is nested inside this step)"));
        }
        let (here, there) = (&s[common], &t[common]);
        if here.block != there.block {
            let parent = &s[common - 1].key;
            let part = if here.via == Via::Branch && there.via == Via::Branch {
                format!("another arm of branch `{parent}`")
            } else {
                format!("another part of step `{parent}`")
            };
            return Some(format!(
                "{r} refers to step `{key}`, which is in {part} and cannot have run before this point"
            ));
        }
        if there.index > here.index {
            return Some(format!("{r} refers to step `{key}`, which runs later"));
        }
        // An earlier step: visible, and so are steps nested in its branch arms and on_error
        // handlers; steps inside a for_each are per iteration and not visible outside it.
        if let Some(j) = (common + 1..t.len()).find(|&j| t[j].via == Via::ForEach) {
            let lp = &t[j - 1].key;
            return Some(format!(
                "{r} refers to step `{key}` inside for_each `{lp}`, which is not visible outside the loop; use `steps.{lp}.output` (the list of each iteration's last output)"
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations() {
        assert_eq!(parse_duration(&json!("500ms")), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration(&json!("30s")), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration(&json!("5m")), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration(&json!("2h")), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration(&json!(15)), Ok(Duration::from_secs(15)));
        assert!(parse_duration(&json!("15")).is_err());
        assert!(parse_duration(&json!("5 minutes")).is_err());
        assert!(parse_duration(&json!("ms")).is_err());
        assert!(parse_duration(&json!(-1)).is_err());
        assert!(parse_duration(&json!(1.5)).is_err());
        assert!(parse_duration(&json!("99999999999999999999h")).is_err());
    }

    #[test]
    fn relative_paths_join() {
        assert_eq!(join_relative("a.b", ""), "a.b");
        assert_eq!(join_relative("a.b", "c"), "a.b.c");
        assert_eq!(join_relative("a.b", "[0].c"), "a.b[0].c");
        assert_eq!(join_relative("", "c"), "c");
    }

    #[test]
    fn single_expressions() {
        assert!(is_single_expression("{{ trigger.body.lines }}"));
        assert!(!is_single_expression("x {{ a }}"));
        assert!(!is_single_expression("{{ a }}{{ b }}"));
    }
}
