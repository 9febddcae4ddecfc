//! The state of one run: a tree of frames (blocks being run, steps in progress) kept in a flat
//! ordered map with parent links. It is plain serializable data — the execution's checkpoint —
//! and round-trips through JSON exactly.
//!
//! Frame ids only grow, so a child always has a larger id than its parent, and iterating the map
//! visits outer frames before inner ones (the order timers and pending calls are reported in).

use crate::compile::{BlockId, StepId};
use crate::engine::{CallId, Command, Millis, RunStatus};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use weft_model::StepError;

pub(crate) type FrameId = u64;

/// The whole state of one run; serde-serializable (JSON) — it is the execution's checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Run {
    pub(crate) status: RunStatus,
    /// The `trigger` object given by [`crate::Event::Start`]. May be left out of a stored
    /// checkpoint by a worker that keeps the trigger elsewhere; see [`Run::with_trigger`].
    #[serde(default)]
    pub(crate) trigger: Value,
    /// The next [`CallId`] to hand out; ids are never reused, so late answers to abandoned calls
    /// cannot be mistaken for answers to new ones.
    pub(crate) next_call: CallId,
    pub(crate) next_frame: FrameId,
    /// Live frames; empty once the run has ended.
    pub(crate) frames: BTreeMap<FrameId, Frame>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::engine::some_value")]
    pub(crate) result: Option<Value>,
    pub(crate) error: Option<StepError>,
}

impl Default for Run {
    fn default() -> Self {
        Run::new()
    }
}

impl Run {
    /// A run that has not started (waiting for [`crate::Event::Start`]).
    pub fn new() -> Run {
        Run {
            status: RunStatus::Pending,
            trigger: Value::Null,
            next_call: 1,
            next_frame: 0,
            frames: BTreeMap::new(),
            result: None,
            error: None,
        }
    }

    pub fn status(&self) -> RunStatus {
        self.status
    }

    /// The flow result, once the run succeeded.
    pub fn result(&self) -> Option<&Value> {
        self.result.as_ref()
    }

    /// The error the run failed with.
    pub fn error(&self) -> Option<&StepError> {
        self.error.as_ref()
    }

    /// Puts back the trigger the run was started with, before [`crate::resume`]: a worker that
    /// keeps the trigger whole elsewhere (the execution's own record) need not store it in the
    /// checkpoint, or may store it redacted.
    pub fn with_trigger(mut self, trigger: Value) -> Run {
        self.trigger = trigger;
        self
    }

    /// The RunAction/CallFlow commands issued and not yet answered, outer steps first, as they
    /// were issued. A worker resuming from a checkpoint uses [`crate::resume`] instead, which
    /// rebuilds their inputs (a stored checkpoint may hold them redacted).
    pub fn pending_calls(&self) -> Vec<Command> {
        self.frames
            .values()
            .filter_map(|f| match f {
                Frame::Step(StepFrame { state: StepState::Calling { command }, .. }) => Some(command.clone()),
                _ => None,
            })
            .collect()
    }

    /// The earliest timer: a retry's backoff or a compound step's deadline.
    pub fn next_wake(&self) -> Option<Millis> {
        self.frames
            .values()
            .filter_map(|f| match f {
                Frame::Step(s) => match s.state {
                    StepState::Backoff { until, .. } => Some(until),
                    _ => s.deadline,
                },
                Frame::Block(_) => None,
            })
            .min()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "frame", rename_all = "snake_case")]
#[expect(clippy::large_enum_variant, reason = "a run holds few frames; most of them are steps")]
pub(crate) enum Frame {
    Block(BlockFrame),
    Step(StepFrame),
}

impl Frame {
    pub fn parent(&self) -> Option<FrameId> {
        match self {
            Frame::Block(b) => b.parent,
            Frame::Step(s) => Some(s.parent),
        }
    }
}

/// A block (list of steps) being run in sequence: the flow's top level, a branch arm, a loop
/// iteration, or an on_error handler.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct BlockFrame {
    /// The step frame this block belongs to; `None` for the flow's top level.
    pub parent: Option<FrameId>,
    pub block: BlockId,
    /// Display path prefix of the steps in this block (`""`, `lines[2]`).
    pub prefix: String,
    /// Index (in the block) of the step running now, or of the next one to start.
    pub pos: usize,
    /// Output of the last step that finished in this block: the block's result.
    pub last_output: Value,
    /// Outputs of finished steps by key, for blocks that own a scope (top level, loop
    /// iterations). Branch arms and handlers write into the nearest enclosing scope instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<BTreeMap<String, Value>>,
    pub binding: Binding,
}

/// Variables a block binds for the expressions inside it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Binding {
    None,
    /// A loop iteration: `item` and `index`.
    Iteration {
        index: usize,
        item: Value,
    },
    /// An on_error handler: `error`.
    Handler {
        error: StepError,
    },
}

/// A step instance in progress.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct StepFrame {
    /// The block frame running this step.
    pub parent: FrameId,
    pub step: StepId,
    pub path: String,
    pub started_at: Millis,
    pub attempts: u32,
    /// The evaluated input (action inputs, call_flow input, for_each items).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "crate::engine::some_value")]
    pub input: Option<Value>,
    /// When a compound step (branch, for_each) with a `timeout` times out.
    pub deadline: Option<Millis>,
    pub state: StepState,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum StepState {
    /// Evaluating (only seen transiently within one transition).
    Starting,
    /// A call was issued and is not answered yet.
    Calling { command: Command },
    /// The last attempt failed; `command` (the failed attempt) is re-issued with a new call id
    /// and the next attempt number once `until` has passed.
    Backoff { until: Millis, command: Command },
    /// A branch arm is running (a child block frame).
    Arm,
    /// A for_each: iterations `0..next` were started, `running` of them are still in flight,
    /// `results` holds the finished ones' `(index, output)`, sorted by index. (A list of pairs,
    /// not a map: integer map keys do not survive serde's buffering of tagged enums.)
    Looping { next: usize, running: usize, results: Vec<(usize, Value)> },
    /// The step failed with `error` and its on_error steps are running (a child block frame).
    Handling { error: StepError },
}
