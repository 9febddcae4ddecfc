//! The built-in `log` component: `log.write` adds a line to the execution's log.

use serde_json::{Value, json};
use weft_model::{ActionSpec, ErrorKind, InputType, LogLevel, StepError};

use crate::input::{Inputs, action, enum_of, spec};
use crate::{ActionContext, BoxFuture, Component};

pub struct LogComponent;

impl LogComponent {
    fn spec() -> ActionSpec {
        action(
            "log.write",
            "Writes a line to the execution's log. Output: {logged: true}.",
            vec![
                spec("level", enum_of(&["debug", "info", "warn", "error"]), false, "Severity (default info)."),
                spec("message", InputType::String, true, "The line; a non-string value is written as JSON."),
            ],
        )
    }
}

impl Component for LogComponent {
    fn key(&self) -> &'static str {
        "log"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        vec![LogComponent::spec()]
    }

    fn run<'a>(
        &'a self,
        action: &'a str,
        input: Value,
        cx: &'a ActionContext,
    ) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move {
            if action != "log.write" {
                return Err(StepError::new(ErrorKind::Input, format!("unknown action '{action}'")));
            }
            let inputs = Inputs::new(input, &LogComponent::spec())?;
            let level = inputs.choice("level", &["debug", "info", "warn", "error"], Some("info"))?;
            let level = LogLevel::from_name(level).expect("listed levels exist");
            // Expressions often yield objects (`"{{ steps.x.output }}"`); log them as JSON
            // rather than refusing them.
            let message = match inputs.req("message")? {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            cx.log.write(level, message);
            Ok(json!({"logged": true}))
        })
    }
}
