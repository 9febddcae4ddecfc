//! The built-in `code` component: `code.javascript` runs a short JavaScript function body with
//! the step's context bound (`trigger`, `steps`, `config`, `instance`, `customer`, `execution`,
//! and `item`/`index`/`error` where they exist) and returns what it `return`s, as JSON. Flows use
//! it through the `code` step.
//!
//! Isolation: every call gets a fresh QuickJS runtime (its own heap, nothing shared with other
//! calls or tenants), with a memory limit, a stack limit and a wall-clock deadline checked by
//! the engine's interrupt handler, and no host functions but `console.log`/`warn`/`error`, which
//! write to the step's log. No files, network, timers or modules. It runs on the blocking pool,
//! never on the async runtime's workers. QuickJS is C code in this process; components that
//! need a stronger boundary are WebAssembly components (`weft-wasm`).

use std::time::{Duration, Instant};

use rquickjs::function::Rest;
use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Function, Object, Runtime};
use serde_json::Value;
use weft_model::{ActionSpec, ErrorKind, InputType, LogLevel, StepError};

use crate::input::{Inputs, action, spec};
use crate::{ActionContext, BoxFuture, Component, LogSink};

/// Heap of one script run.
pub const MEMORY_LIMIT: usize = 32 << 20;
/// Native stack the engine may use (deep recursion fails with a clear error, not a crash).
const STACK_LIMIT: usize = 512 << 10;
/// Wall time of one run when the step sets no shorter `timeout`.
pub const TIME_LIMIT: Duration = Duration::from_secs(5);
/// The context variables a script sees.
const BOUND: [&str; 9] = ["trigger", "steps", "config", "instance", "customer", "execution", "item", "index", "error"];

pub struct CodeComponent;

impl CodeComponent {
    fn spec() -> ActionSpec {
        action(
            "code.javascript",
            "Runs a JavaScript function body with the step's context bound and returns what it returns, as JSON.",
            vec![
                spec("script", InputType::String, true, "The function body; `return` gives the step's output."),
                spec(
                    "context",
                    InputType::Object,
                    false,
                    "The variables the script sees (the `code` step binds the step's context).",
                ),
            ],
        )
    }
}

impl Component for CodeComponent {
    fn key(&self) -> &'static str {
        "code"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![CodeComponent::spec()]
    }

    fn run<'a>(
        &'a self,
        action: &'a str,
        input: Value,
        cx: &'a ActionContext,
    ) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move {
            if action != "code.javascript" {
                return Err(StepError::new(ErrorKind::Input, format!("unknown action '{action}'")));
            }
            let mut inputs = Inputs::new(input, &CodeComponent::spec())?;
            let script = inputs.str("script")?.to_string();
            let context = inputs.take("context").unwrap_or(Value::Object(Default::default()));
            let limit = cx.timeout.map_or(TIME_LIMIT, |t| t.min(TIME_LIMIT));
            let log = cx.log.clone();
            tokio::task::spawn_blocking(move || run_javascript(&script, &context, limit, &log))
                .await
                .map_err(|e| StepError::new(ErrorKind::Component, format!("the script's thread failed: {e}")))?
        })
    }
}

/// Runs `script` as the body of a function with `context`'s entries as variables.
pub fn run_javascript(script: &str, context: &Value, time: Duration, log: &LogSink) -> Result<Value, StepError> {
    let setup =
        |e: rquickjs::Error| StepError::new(ErrorKind::Component, format!("cannot start the script engine: {e}"));
    let rt = Runtime::new().map_err(setup)?;
    rt.set_memory_limit(MEMORY_LIMIT);
    rt.set_max_stack_size(STACK_LIMIT);
    let deadline = Instant::now() + time;
    rt.set_interrupt_handler(Some(Box::new(move || Instant::now() > deadline)));
    let ctx = Context::full(&rt).map_err(setup)?;
    ctx.with(|ctx| {
        bind(&ctx, context, log)
            .map_err(|e| StepError::new(ErrorKind::Component, format!("cannot bind the context: {e}")))?;
        // The body goes on the wrapper's first line, so the engine's line numbers are the script's.
        let source = format!("(function () {{ {script}\n}})()");
        let opts = {
            let mut o = rquickjs::context::EvalOptions::default();
            o.global = true;
            o.strict = false;
            o.filename = Some("script".into());
            o
        };
        let result: rquickjs::Value =
            ctx.eval_with_options(source, opts).catch(&ctx).map_err(|e| failure(e, deadline, time))?;
        if result.is_undefined() {
            return Ok(Value::Null);
        }
        let json = ctx.json_stringify(result).catch(&ctx).map_err(|e| failure(e, deadline, time))?;
        match json {
            None => Ok(Value::Null),
            Some(text) => {
                let text = text.to_string().map_err(|e| StepError::new(ErrorKind::Component, e.to_string()))?;
                serde_json::from_str(&text)
                    .map_err(|e| StepError::new(ErrorKind::Component, format!("the script's result is not JSON: {e}")))
            }
        }
    })
}

fn bind<'js>(ctx: &Ctx<'js>, context: &Value, log: &LogSink) -> rquickjs::Result<()> {
    let globals = ctx.globals();
    for name in BOUND {
        let value = context.get(name).cloned().unwrap_or(Value::Null);
        let js = ctx.json_parse(value.to_string())?;
        globals.set(name, js)?;
    }
    let console = Object::new(ctx.clone())?;
    for (name, level) in [
        ("log", LogLevel::Info),
        ("info", LogLevel::Info),
        ("warn", LogLevel::Warn),
        ("error", LogLevel::Error),
        ("debug", LogLevel::Debug),
    ] {
        let log = log.clone();
        let f = Function::new(ctx.clone(), move |ctx: Ctx<'js>, args: Rest<rquickjs::Value<'js>>| {
            let parts: Vec<String> = args.0.into_iter().map(|v| show(&ctx, v)).collect();
            log.write(level, parts.join(" "));
        })?;
        console.set(name, f)?;
    }
    globals.set("console", console)?;
    Ok(())
}

/// How `console.log` prints a value: strings as they are, everything else as JSON.
fn show<'js>(ctx: &Ctx<'js>, v: rquickjs::Value<'js>) -> String {
    if let Some(s) = v.as_string() {
        return s.to_string().unwrap_or_default();
    }
    match ctx.json_stringify(v) {
        Ok(Some(s)) => s.to_string().unwrap_or_default(),
        _ => "undefined".into(),
    }
}

/// A script failure as a step error: over the time or memory limit (kind `limit`), else the
/// exception's message with the script's line.
fn failure(e: CaughtError<'_>, deadline: Instant, time: Duration) -> StepError {
    if Instant::now() > deadline {
        return StepError::new(
            ErrorKind::Limit,
            format!("the script ran past its time limit of {} ms", time.as_millis()),
        );
    }
    let (message, stack) = match &e {
        CaughtError::Exception(ex) => (ex.message().unwrap_or_default(), ex.stack().unwrap_or_default()),
        CaughtError::Value(v) => (
            format!("uncaught {}", v.as_string().and_then(|s| s.to_string().ok()).unwrap_or_else(|| format!("{v:?}"))),
            String::new(),
        ),
        CaughtError::Error(rquickjs::Error::Allocation) => (String::from("out of memory"), String::new()),
        CaughtError::Error(other) => (other.to_string(), String::new()),
    };
    if message.contains("out of memory") {
        return StepError::new(
            ErrorKind::Limit,
            format!("the script exceeded its memory limit of {} MiB", MEMORY_LIMIT >> 20),
        );
    }
    if message.contains("stack overflow") || message.contains("call stack size exceeded") {
        return StepError::new(
            ErrorKind::Limit,
            "the script exceeded its stack limit (too deep recursion)".to_string(),
        );
    }
    match line_of(&stack) {
        Some(line) => StepError::new(ErrorKind::Component, format!("script line {line}: {message}")),
        None => StepError::new(ErrorKind::Component, format!("script: {message}")),
    }
}

/// The first `script:<line>` of a stack trace.
fn line_of(stack: &str) -> Option<u32> {
    let at = stack.find("script:")? + "script:".len();
    let digits: String = stack[at..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    fn run(script: &str, context: Value) -> (Result<Value, StepError>, Vec<(LogLevel, String)>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = {
            let lines = lines.clone();
            LogSink::new(move |level, msg| lines.lock().unwrap().push((level, msg)))
        };
        let out = run_javascript(script, &context, Duration::from_millis(300), &sink);
        let lines = lines.lock().unwrap().clone();
        (out, lines)
    }

    #[test]
    fn the_context_is_bound_and_the_return_value_is_the_output() {
        let ctx = json!({
            "trigger": {"body": {"lines": [{"qty": 2, "price": 1.5}, {"qty": 1, "price": 7}]}},
            "steps": {"prev": {"output": {"factor": 10}}},
            "config": {"currency": "EUR"},
            "item": "x",
        });
        let script = "const total = trigger.body.lines.reduce((s, l) => s + l.qty * l.price, 0);\n\
                      console.log('total', total, {c: config.currency});\n\
                      return { total, scaled: total * steps.prev.output.factor, item, index };";
        let (out, logs) = run(script, ctx);
        assert_eq!(out.unwrap(), json!({"total": 10, "scaled": 100, "item": "x", "index": null}));
        assert_eq!(logs, [(LogLevel::Info, "total 10 {\"c\":\"EUR\"}".to_string())]);
        assert_eq!(run("let x = 1;", json!({})).0.unwrap(), Value::Null, "no return: null");
        assert_eq!(run("return 'a {{ b }}';", json!({})).0.unwrap(), json!("a {{ b }}"), "taken literally");
    }

    #[test]
    fn errors_name_the_script_line() {
        let (out, _) = run("const a = 1;\nconst b = a.missing.deeper;\nreturn b;", json!({}));
        let e = out.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Component);
        assert!(e.message.starts_with("script line 2: "), "{}", e.message);
        assert!(e.message.contains("deeper"), "{}", e.message);

        assert_eq!(run("return 1;\nthrow new Error('never');", json!({})).0.unwrap(), json!(1));
        let e = run("const x = 1;\nthrow new Error('bad order ' + x);", json!({})).0.unwrap_err();
        assert_eq!(e.message, "script line 2: bad order 1");
        let e = run("let ok = 1;\nlet = = 2;", json!({})).0.unwrap_err();
        assert!(e.message.starts_with("script line 2: "), "a syntax error: {}", e.message);
    }

    #[test]
    fn limits_stop_hostile_scripts() {
        let e = run("while (true) {}", json!({})).0.unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Limit, "the script ran past its time limit of 300 ms"));
        let e = run("const a = []; while (true) { a.push('x'.repeat(1000)); }", json!({})).0.unwrap_err();
        assert_eq!((e.kind, e.message.as_str()), (ErrorKind::Limit, "the script exceeded its memory limit of 32 MiB"));
        let e = run("function f(n) { return f(n + 1) + 1; }\nreturn f(0);", json!({})).0.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Limit, "{}", e.message);
        assert!(e.message.contains("stack"), "{}", e.message);
        // Nothing of the host is reachable.
        let (out, _) = run("return [typeof require, typeof process, typeof fetch, typeof std, typeof os];", json!({}));
        assert_eq!(out.unwrap(), json!(["undefined", "undefined", "undefined", "undefined", "undefined"]));
    }
}
