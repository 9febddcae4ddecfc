//! The engine's public vocabulary — the events the worker feeds in, the commands it gets back,
//! the step records it persists — and [`advance`], the transition function.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use weft_model::StepError;

pub use crate::compile::CompiledFlow;
pub use crate::run::Run;
pub use weft_model::LogLevel;

/// Unix time in milliseconds; the engine never reads a clock, the worker passes `now`.
pub type Millis = i64;
/// Identifies one issued call (one attempt of an action or call_flow step); unique within a run.
pub type CallId = u64;

/// A `for_each` over more items than this fails with [`weft_model::ErrorKind::Limit`]: a run's
/// state (and checkpoint) grows with the number of iterations.
pub const MAX_FOR_EACH_ITEMS: usize = 10_000;

/// Static data the expressions see besides trigger/steps: bound as `config`, `instance`,
/// `customer`, `execution` in the expression context.
///
/// The idempotency key of a call is `"{execution id}:{step path}"`, where the execution id is
/// `execution["id"]` as a string (empty if absent).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RunContext {
    pub config: Value,
    pub instance: Value,
    pub customer: Value,
    pub execution: Value,
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created, not started.
    Pending,
    Running,
    Succeeded,
    Failed,
    Canceled,
}

impl RunStatus {
    /// True once the run has ended (succeeded, failed or canceled).
    pub fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Failed | RunStatus::Canceled)
    }

    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Canceled => "canceled",
        }
    }
}

/// What happened, as far as the engine is concerned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// Starts the run. `trigger` is the object `{body, headers, query, method, raw?}` bound as
    /// `trigger`.
    Start { trigger: Value },
    /// A call (action or call_flow) answered; `output` becomes the step's output.
    ActionSucceeded { call: CallId, output: Value },
    /// A call failed; the step's retry policy and `on_error` decide what follows.
    ActionFailed { call: CallId, error: StepError },
    /// A timer may be due: the engine looks at `now` (retries whose backoff has elapsed are
    /// re-issued, compound steps past their deadline fail with `ErrorKind::Timeout`).
    Wake,
    /// Stop the run as canceled.
    Cancel,
}

/// What the engine asks the worker to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Run a component action. The worker enforces `timeout_ms` (answering
    /// `ActionFailed{kind: Timeout}`).
    RunAction {
        call: CallId,
        step_path: String,
        action: String,
        input: Value,
        attempt: u32,
        timeout_ms: Option<u64>,
        idempotency_key: String,
    },
    /// Run another flow of the same instance with `input` as trigger body; answered like an
    /// action (output = that flow's result).
    CallFlow { call: CallId, step_path: String, flow: String, input: Value, attempt: u32, timeout_ms: Option<u64> },
    /// Send an [`Event::Wake`] at (or after) `at`.
    WakeAt { at: Millis },
    /// The `respond` step ran: the sync webhook response. A flow may respond more than once;
    /// the worker answers the HTTP request with the first.
    Respond { status: u16, headers: serde_json::Map<String, Value>, body: Value },
    /// A log line the engine wants recorded (retries scheduled, errors handled by `on_error`).
    Log { level: LogLevel, step_path: Option<String>, message: String },
    /// A step reached a final outcome: persist it. Emitted once per step instance (per loop
    /// iteration for steps inside `for_each`).
    StepFinished(StepRecord),
    /// The run ended. Emitted exactly once.
    Finish {
        status: RunStatus,
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "some_value")]
        result: Option<Value>,
        error: Option<StepError>,
    },
}

/// How a step instance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Succeeded,
    Failed,
    /// Failed, and `on_error: continue` or `on_error: {steps}` handled it.
    Continued,
}

impl StepStatus {
    pub fn name(self) -> &'static str {
        match self {
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Continued => "continued",
        }
    }
}

/// One step instance's outcome, as persisted with the execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Display path: the step key, prefixed by enclosing `for_each` keys with the iteration
    /// index (`lines[2].line`). Branch arms and `on_error` steps add no prefix.
    pub path: String,
    /// The step's own key.
    pub key: String,
    /// `action` | `transform` | `branch` | `for_each` | `call_flow` | `respond` | `stop` | `fail`.
    pub kind: String,
    /// The component action of an `action` step.
    pub action: Option<String>,
    /// Evaluated input: an action's inputs, a call_flow's input, a for_each's items.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "some_value")]
    pub input: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "some_value")]
    pub output: Option<Value>,
    pub error: Option<StepError>,
    /// Attempts made (calls issued for action/call_flow; 1 for every other kind).
    pub attempts: u32,
    pub started_at: Millis,
    pub finished_at: Millis,
    pub status: StepStatus,
}

/// Deserializes a present field as `Some`, even when it is `null`: with
/// `skip_serializing_if = "Option::is_none"` and `default`, `Some(Value::Null)` (a step whose
/// output is null) and `None` (no output) both survive a JSON round trip.
pub(crate) fn some_value<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The transition function: feeds `event` (at time `now`) to `run` and returns the new state and
/// the commands to carry out, in order. Deterministic: same inputs, same outputs. Events that do
/// not apply (answers to unknown or abandoned calls, anything after the run ended) change
/// nothing and yield no commands.
pub fn advance(flow: &CompiledFlow, run: Run, ctx: &RunContext, event: Event, now: Millis) -> (Run, Vec<Command>) {
    crate::machine::advance(flow, run, ctx, event, now)
}

/// Resumes a run restored from a checkpoint (after a crash, or on another worker) and returns
/// the new state and the commands to carry out: first the calls that were in flight, to issue
/// again, then whatever resuming itself produced.
///
/// A checkpoint may not hold a call's input as it was sent: the worker redacts secret config
/// values out of what it stores. So the input of every call in flight or waiting out a retry
/// backoff is evaluated again from its step's template, against the run's stored scope (step
/// outputs, `item`/`index`, `error`), its trigger (see [`Run::with_trigger`]) and the fresh
/// `ctx`, and replaces the stored one. A re-issued call keeps its call id, attempt, and
/// idempotency key: it is the same call. A running `for_each` evaluates its items again too
/// (the `item` of its running and later iterations), and takes them if they are still a list of
/// as many items; otherwise it goes on with the stored ones.
///
/// If a call's input no longer evaluates (an expression reads a stored value that lost what it
/// needs), that step fails with [`weft_model::ErrorKind::Expression`] as it would have when it
/// started: its `on_error` applies, its retry policy does not (the same evaluation would fail
/// again). Timers are not fired here: a backoff or deadline already past is due at the next
/// [`Event::Wake`] (see [`Run::next_wake`]).
///
/// A run that is not running (not started, or ended) is returned unchanged, with no commands.
pub fn resume(flow: &CompiledFlow, run: Run, ctx: &RunContext, now: Millis) -> (Run, Vec<Command>) {
    crate::machine::resume(flow, run, ctx, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_outputs_and_results_survive_a_json_round_trip() {
        let record = StepRecord {
            path: "a".into(),
            key: "a".into(),
            kind: "transform".into(),
            action: None,
            input: None,
            output: Some(Value::Null),
            error: None,
            attempts: 1,
            started_at: 0,
            finished_at: 0,
            status: StepStatus::Succeeded,
        };
        let commands = vec![
            Command::StepFinished(record),
            Command::Finish { status: RunStatus::Succeeded, result: Some(Value::Null), error: None },
            Command::Finish { status: RunStatus::Canceled, result: None, error: None },
        ];
        let text = serde_json::to_string(&commands).unwrap();
        let back: Vec<Command> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, commands);
        assert_eq!(
            serde_json::to_value(&commands[2]).unwrap(),
            json!({"Finish": {"status": "canceled", "error": null}})
        );
    }
}
