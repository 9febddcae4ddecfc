//! Expressions: Jinja-style `{{ … }}` (minijinja) inside definition values.
//!
//! A string that is exactly one `{{ … }}` yields the typed JSON value of the expression; any other
//! string containing `{{ … }}` is a template yielding a string; `{% … %}` blocks are rendered as a
//! whole template. Objects and lists are evaluated recursively; everything else is literal.
//!
//! Evaluation is pure and bounded: strict undefined (with the undefined path named in the error),
//! a fuel budget per evaluation, a recursion limit, and a cap on the size of a produced value.
//! Templates are compiled once ([`Template::compile`]) and evaluated many times.

use minijinja::{Environment, Expression, UndefinedBehavior};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::sync::LazyLock;

/// Instructions one evaluation of one expression may spend (minijinja fuel).
pub const FUEL_PER_EVALUATION: u64 = 200_000;
/// Largest string or serialized value one evaluation may produce.
pub const MAX_VALUE_BYTES: usize = 16 << 20;

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL_PER_EVALUATION));
    env.set_recursion_limit(64);
    env.add_filter("fromjson", |s: String| -> Result<minijinja::Value, minijinja::Error> {
        let v: Value = serde_json::from_str(&s)
            .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, format!("fromjson: {e}")))?;
        Ok(minijinja::Value::from_serialize(&v))
    });
    env
});

/// An expression that failed to compile or evaluate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    /// Where in the template value the failing string sits, relative to the template's root
    /// (`""` for the root itself, `json.id`, `lines[2]`). Callers prefix their own path.
    pub path: String,
    /// The source text of the failing string.
    pub source_text: String,
    pub message: String,
}

/// A compiled, reusable definition value.
pub struct Template {
    node: Node,
    reads: Reads,
}

/// The top-level names of the evaluation context (`trigger`, `steps`, `item`, …) a template may
/// read. Evaluation needs only these in its context: building the others (copying the trigger,
/// say) would be wasted work.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    /// Every name: the template hands over the whole context (a `code` step's script).
    all: bool,
    names: BTreeSet<String>,
}

impl Reads {
    /// Whether the template may read `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.all || self.names.contains(name)
    }

    /// Adds what `other` reads: the reads of several templates evaluated in one context.
    pub fn extend(&mut self, other: &Reads) {
        self.all |= other.all;
        self.names.extend(other.names.iter().cloned());
    }
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template").finish_non_exhaustive()
    }
}

enum Node {
    Literal(Value),
    Expr(Compiled),
    Parts(Vec<Part>),
    Render {
        source: String,
        refs: Vec<String>,
    },
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
    /// The whole evaluation context (`trigger`, `steps`, `config`, …), as the `code` step's
    /// script sees it.
    Context,
}

enum Part {
    Text(String),
    Expr(Compiled),
}

struct Compiled {
    source: String,
    expr: Expression<'static, 'static>,
    /// Dotted variable paths the expression reads (`trigger.body.lines`, `item.sku`).
    refs: Vec<String>,
}

/// A variable path read by a template, and where in the template it is read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    /// Relative path of the string inside the template (as [`ExprError::path`]).
    pub at: String,
    /// The dotted variable path (`steps.total.output`, `config.endpoint`).
    pub var: String,
}

impl Template {
    /// Compiles every string of `value`; returns every compile error at once.
    pub fn compile(value: &Value) -> Result<Template, Vec<ExprError>> {
        let mut errors = Vec::new();
        let node = compile_node(value, "", &mut errors);
        if errors.is_empty() { Ok(Template::new(node)) } else { Err(errors) }
    }

    fn new(node: Node) -> Template {
        let mut reads = Reads { all: hands_over_context(&node), names: BTreeSet::new() };
        let mut refs = Vec::new();
        collect_refs(&node, "", &mut refs);
        reads.names.extend(refs.into_iter().map(|r| r.var.split('.').next().unwrap_or_default().to_string()));
        Template { node, reads }
    }

    /// The top-level names of the context this template may read (see [`Reads`]): its context
    /// need hold only these.
    pub fn reads(&self) -> &Reads {
        &self.reads
    }

    /// Evaluates against `ctx`: anything that serializes as a JSON object (`trigger`, `config`,
    /// `steps`, …; only the names of [`Template::reads`] are looked at), so a caller can hand
    /// over a view of its data instead of a copy.
    pub fn eval<C: Serialize + ?Sized>(&self, ctx: &C) -> Result<Value, ExprError> {
        if let Node::Literal(v) = &self.node {
            return Ok(v.clone());
        }
        let mj = minijinja::Value::from_serialize(ctx);
        // As JSON only where it is needed: to name what is undefined, or to hand it all over.
        let json = || serde_json::to_value(ctx).unwrap_or(Value::Null);
        eval_node(&self.node, "", &mj, &json)
    }

    /// `{"script": <script>, "context": <the whole evaluation context>}`: the input of a `code`
    /// step's `code.javascript` call. The script is taken literally (no `{{ }}` in it is
    /// evaluated).
    pub fn code_call(script: &str) -> Template {
        Template::new(Node::Object(vec![
            ("script".into(), Node::Literal(Value::String(script.to_string()))),
            ("context".into(), Node::Context),
        ]))
    }

    /// True when the template contains no expression at all.
    pub fn is_literal(&self) -> bool {
        matches!(self.node, Node::Literal(_))
    }

    /// Every variable path the template reads, in template order.
    pub fn references(&self) -> Vec<Reference> {
        let mut out = Vec::new();
        collect_refs(&self.node, "", &mut out);
        out
    }
}

/// Compiles and evaluates in one go (for values evaluated once).
pub fn eval_value(value: &Value, ctx: &Value) -> Result<Value, ExprError> {
    Template::compile(value).map_err(|mut e| e.remove(0))?.eval(ctx)
}

/// Jinja truthiness of a JSON value: null, false, 0, "", [] and {} are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Appends a key to a display path: `a` + `b` = `a.b`; odd keys are quoted (`a["x y"]`).
pub fn join_key(prefix: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (prefix.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{prefix}.{key}"),
        (_, false) => format!("{prefix}[{}]", Value::String(key.to_string())),
    }
}

/// Appends an index to a display path: `a` + 2 = `a[2]`.
pub fn join_index(prefix: &str, index: usize) -> String {
    format!("{prefix}[{index}]")
}

/// The inner source of a string that is exactly one `{{ … }}`.
fn single_expression(s: &str) -> Option<&str> {
    let t = s.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") {
        return None;
    }
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    Some(inner.trim())
}

fn compile_expr(src: &str, path: &str, whole: &str) -> Result<Compiled, ExprError> {
    if src.is_empty() {
        return Err(ExprError {
            path: path.to_string(),
            source_text: whole.to_string(),
            message: "empty expression `{{ }}`".into(),
        });
    }
    let expr = ENV.compile_expression_owned(src.to_string()).map_err(|e| ExprError {
        path: path.to_string(),
        source_text: whole.to_string(),
        message: format!("cannot parse expression `{src}`: {}", describe(&e)),
    })?;
    let mut refs: Vec<String> = expr.undeclared_variables(true).into_iter().collect();
    refs.sort();
    Ok(Compiled { source: src.to_string(), expr, refs })
}

fn compile_string(s: &str, path: &str, errors: &mut Vec<ExprError>) -> Node {
    if !s.contains("{{") && !s.contains("{%") && !s.contains("{#") {
        return Node::Literal(Value::String(s.to_string()));
    }
    if s.contains("{%") || s.contains("{#") {
        return match ENV.template_from_str(s) {
            Ok(t) => {
                let mut refs: Vec<String> = t.undeclared_variables(true).into_iter().collect();
                refs.sort();
                Node::Render { source: s.to_string(), refs }
            }
            Err(e) => {
                errors.push(ExprError {
                    path: path.to_string(),
                    source_text: s.to_string(),
                    message: format!("cannot parse template: {}", describe(&e)),
                });
                Node::Literal(Value::Null)
            }
        };
    }
    if let Some(inner) = single_expression(s) {
        return match compile_expr(inner, path, s) {
            Ok(c) => Node::Expr(c),
            Err(e) => {
                errors.push(e);
                Node::Literal(Value::Null)
            }
        };
    }
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            errors.push(ExprError {
                path: path.to_string(),
                source_text: s.to_string(),
                message: "unclosed `{{`: expected `}}`".into(),
            });
            return Node::Literal(Value::Null);
        };
        let inner = after[..end].trim();
        let inner = inner.strip_prefix('-').unwrap_or(inner).strip_suffix('-').unwrap_or(inner).trim();
        match compile_expr(inner, path, s) {
            Ok(c) => parts.push(Part::Expr(c)),
            Err(e) => errors.push(e),
        }
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    Node::Parts(parts)
}

fn compile_node(v: &Value, path: &str, errors: &mut Vec<ExprError>) -> Node {
    match v {
        Value::String(s) => compile_string(s, path, errors),
        Value::Array(items) => {
            let nodes: Vec<Node> =
                items.iter().enumerate().map(|(i, x)| compile_node(x, &join_index(path, i), errors)).collect();
            if nodes.iter().all(|n| matches!(n, Node::Literal(_))) {
                Node::Literal(v.clone())
            } else {
                Node::Array(nodes)
            }
        }
        Value::Object(map) => {
            let nodes: Vec<(String, Node)> =
                map.iter().map(|(k, x)| (k.clone(), compile_node(x, &join_key(path, k), errors))).collect();
            if nodes.iter().all(|(_, n)| matches!(n, Node::Literal(_))) {
                Node::Literal(v.clone())
            } else {
                Node::Object(nodes)
            }
        }
        other => Node::Literal(other.clone()),
    }
}

/// Whether the whole context is part of the value (see [`Node::Context`]).
fn hands_over_context(node: &Node) -> bool {
    match node {
        Node::Context => true,
        Node::Array(items) => items.iter().any(hands_over_context),
        Node::Object(items) => items.iter().any(|(_, n)| hands_over_context(n)),
        Node::Literal(_) | Node::Expr(_) | Node::Parts(_) | Node::Render { .. } => false,
    }
}

fn collect_refs(node: &Node, path: &str, out: &mut Vec<Reference>) {
    let mut push = |refs: &[String]| {
        out.extend(refs.iter().map(|r| Reference { at: path.to_string(), var: r.clone() }));
    };
    match node {
        Node::Literal(_) | Node::Context => {}
        Node::Expr(c) => push(&c.refs),
        Node::Render { refs, .. } => push(refs),
        Node::Parts(parts) => {
            for p in parts {
                if let Part::Expr(c) = p {
                    out.extend(c.refs.iter().map(|r| Reference { at: path.to_string(), var: r.clone() }));
                }
            }
        }
        Node::Array(items) => {
            for (i, n) in items.iter().enumerate() {
                collect_refs(n, &join_index(path, i), out);
            }
        }
        Node::Object(items) => {
            for (k, n) in items {
                collect_refs(n, &join_key(path, k), out);
            }
        }
    }
}

/// The context as JSON, made on demand.
type JsonCtx<'a> = &'a dyn Fn() -> Value;

fn eval_node(node: &Node, path: &str, mj: &minijinja::Value, ctx: JsonCtx) -> Result<Value, ExprError> {
    match node {
        Node::Literal(v) => Ok(v.clone()),
        Node::Context => Ok(ctx()),
        Node::Expr(c) => {
            let v = eval_compiled(c, path, mj, ctx)?;
            to_json(&v, path, &c.source)
        }
        Node::Parts(parts) => {
            let mut out = String::new();
            for p in parts {
                match p {
                    Part::Text(t) => out.push_str(t),
                    Part::Expr(c) => {
                        let v = to_json(&eval_compiled(c, path, mj, ctx)?, path, &c.source)?;
                        match v {
                            Value::String(s) => out.push_str(&s),
                            Value::Null => {}
                            other => out.push_str(&other.to_string()),
                        }
                    }
                }
                if out.len() > MAX_VALUE_BYTES {
                    return Err(too_large(path, "template"));
                }
            }
            Ok(Value::String(out))
        }
        Node::Render { source, refs } => match ENV.render_str(source, mj) {
            Ok(s) if s.len() > MAX_VALUE_BYTES => Err(too_large(path, source)),
            Ok(s) => Ok(Value::String(s)),
            Err(e) => Err(eval_error(&e, path, source, refs, ctx)),
        },
        Node::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, n)| eval_node(n, &join_index(path, i), mj, ctx))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Node::Object(items) => {
            let mut map = Map::new();
            for (k, n) in items {
                map.insert(k.clone(), eval_node(n, &join_key(path, k), mj, ctx)?);
            }
            Ok(Value::Object(map))
        }
    }
}

fn eval_compiled(c: &Compiled, path: &str, mj: &minijinja::Value, ctx: JsonCtx) -> Result<minijinja::Value, ExprError> {
    let v = c.expr.eval(mj).map_err(|e| eval_error(&e, path, &c.source, &c.refs, ctx))?;
    if v.is_undefined() {
        let missing = first_missing(&c.refs, &ctx()).unwrap_or_else(|| c.source.clone());
        return Err(ExprError {
            path: path.to_string(),
            source_text: c.source.clone(),
            message: format!("`{missing}` is undefined (in `{}`)", c.source),
        });
    }
    Ok(v)
}

fn to_json(v: &minijinja::Value, path: &str, src: &str) -> Result<Value, ExprError> {
    let json = serde_json::to_value(v).map_err(|e| ExprError {
        path: path.to_string(),
        source_text: src.to_string(),
        message: format!("`{src}` produced a value that is not JSON: {e}"),
    })?;
    if approx_size(&json) > MAX_VALUE_BYTES {
        return Err(too_large(path, src));
    }
    Ok(json)
}

fn too_large(path: &str, src: &str) -> ExprError {
    ExprError {
        path: path.to_string(),
        source_text: src.to_string(),
        message: format!("`{src}` produced a value over the limit of {MAX_VALUE_BYTES} bytes"),
    }
}

fn approx_size(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len() + 2,
        Value::Array(a) => a.iter().map(approx_size).sum::<usize>() + 2,
        Value::Object(o) => o.iter().map(|(k, v)| k.len() + 3 + approx_size(v)).sum::<usize>() + 2,
        _ => 8,
    }
}

fn eval_error(e: &minijinja::Error, path: &str, src: &str, refs: &[String], ctx: JsonCtx) -> ExprError {
    let message = match e.kind() {
        minijinja::ErrorKind::UndefinedError => match first_missing(refs, &ctx()) {
            Some(missing) => format!("`{missing}` is undefined (in `{src}`)"),
            None => format!("undefined value in `{src}`: {}", describe(e)),
        },
        minijinja::ErrorKind::OutOfFuel => {
            format!("`{src}` ran out of its budget of {FUEL_PER_EVALUATION} instructions")
        }
        _ => format!("cannot evaluate `{src}`: {}", describe(e)),
    };
    ExprError { path: path.to_string(), source_text: src.to_string(), message }
}

/// The shortest prefix of a referenced path that does not resolve in `ctx`.
fn first_missing(refs: &[String], ctx: &Value) -> Option<String> {
    let mut found = BTreeSet::new();
    for r in refs {
        let mut cur = ctx;
        let mut seen = Vec::new();
        for seg in r.split('.') {
            seen.push(seg);
            match cur.get(seg) {
                Some(next) => cur = next,
                None => {
                    // Values that are not objects (e.g. a list indexed later) cannot be judged here.
                    if cur.is_object() {
                        found.insert(seen.join("."));
                    }
                    break;
                }
            }
        }
    }
    found.into_iter().next()
}

fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => d.to_string(),
        None => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(v: Value, ctx: Value) -> Result<Value, String> {
        eval_value(&v, &ctx).map_err(|e| format!("{}: {}", e.path, e.message))
    }

    #[test]
    fn single_expression_is_typed() {
        let ctx = json!({"item": {"qty": 2, "price": 2.5, "sku": "ab"}});
        assert_eq!(ev(json!("{{ item.qty * item.price }}"), ctx.clone()), Ok(json!(5.0)));
        assert_eq!(ev(json!("{{ item.sku | upper }}"), ctx.clone()), Ok(json!("AB")));
        assert_eq!(ev(json!("{{ [1, 2] }}"), ctx), Ok(json!([1, 2])));
    }

    /// A template names the top-level context entries it may read, macros, loops, filters and
    /// method calls included, and evaluates alike with only those.
    #[test]
    fn a_template_reads_only_what_it_references() {
        let t = Template::compile(&json!({
            "a": "{{ item.sku | upper }}",
            "b": "x {{ steps.total.output }} {{ config.tags[0] }}",
            "c": "{% macro m(l) %}{{ l.sku }}/{{ customer.id }}{% endmacro %}{% for l in trigger.body.lines %}{{ m(l) }}{% endfor %}",
            "d": "{{ execution | items | list | length }}",
            "e": [1, "two"]
        }))
        .unwrap();
        let whole = json!({
            "item": {"sku": "ab"},
            "steps": {"total": {"output": 3}},
            "config": {"tags": ["weft"]},
            "customer": {"id": "c1"},
            "trigger": {"body": {"lines": [{"sku": "x"}, {"sku": "y"}]}},
            "execution": {"id": "e1", "attempt": 1},
            "instance": {"id": "i1"}
        });
        let mut pruned = whole.clone();
        pruned.as_object_mut().unwrap().retain(|k, _| t.reads().contains(k));
        assert_eq!(pruned.as_object().unwrap().len(), 6, "everything but the instance: {pruned}");
        assert_eq!(t.eval(&pruned), t.eval(&whole));
        assert_eq!(t.eval(&pruned).unwrap()["c"], json!("x/c1y/c1"));
        assert!(!Template::compile(&json!({"x": [1, "two"]})).unwrap().reads().contains("trigger"));
        assert!(Template::code_call("return 1").reads().contains("instance"));
    }

    #[test]
    fn template_yields_string() {
        let ctx = json!({"config": {"endpoint": "http://x"}, "n": 3});
        assert_eq!(ev(json!("{{ config.endpoint }}/orders"), ctx.clone()), Ok(json!("http://x/orders")));
        assert_eq!(ev(json!("n={{ n }} {{ n + 1 }}"), ctx.clone()), Ok(json!("n=3 4")));
        assert_eq!(ev(json!("{% if n > 2 %}big{% endif %}"), ctx), Ok(json!("big")));
    }

    #[test]
    fn nested_values_are_evaluated() {
        let ctx = json!({"a": 1});
        assert_eq!(
            ev(json!({"x": ["{{ a }}", {"y": "{{ a + 1 }}"}], "z": true}), ctx),
            Ok(json!({"x": [1, {"y": 2}], "z": true}))
        );
    }

    #[test]
    fn undefined_names_the_path() {
        let ctx = json!({"trigger": {"body": {}}});
        assert_eq!(
            ev(json!({"x": "{{ trigger.body.lines }}"}), ctx.clone()),
            Err("x: `trigger.body.lines` is undefined (in `trigger.body.lines`)".into())
        );
        assert_eq!(ev(json!("{{ trigger.body.lines is defined }}"), ctx.clone()), Ok(json!(false)));
        assert_eq!(ev(json!("{{ trigger.body.lines | default([]) }}"), ctx), Ok(json!([])));
    }

    #[test]
    fn runaway_expressions_are_stopped() {
        let err =
            ev(json!("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"), json!({}))
                .unwrap_err();
        assert!(err.contains("budget"), "{err}");
    }

    #[test]
    fn compile_errors_are_all_reported() {
        let errs = Template::compile(&json!({"a": "{{ 1 + }}", "b": ["{{ x"]})).unwrap_err();
        let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["a", "b[0]"]);
    }

    #[test]
    fn references_are_listed() {
        let t =
            Template::compile(&json!({"u": "{{ config.endpoint }}/x", "t": "{{ steps.total.output >= config.min }}"}))
                .unwrap();
        let vars: Vec<_> = t.references().into_iter().map(|r| format!("{}={}", r.at, r.var)).collect();
        assert_eq!(vars, ["u=config.endpoint", "t=config.min", "t=steps.total.output"]);
    }
}
