//! The transitions behind [`crate::advance`]: how an event moves the frame tree of a [`Run`].
//!
//! Blocks that can make progress are queued (first in, first out) and run one step at a time,
//! so concurrent loop iterations interleave fairly and no transition recurses along a block's
//! length. Finishing a step walks up the tree directly (bounded by the nesting depth): a step's
//! outcome goes to its block, a block's outcome to the step that owns it (branch, for_each,
//! on_error handler) or, at the top, ends the run.
//!
//! Semantic choices the design leaves open, made here:
//! - Retry applies to `action` and `call_flow` steps only: they are the steps that reach outside
//!   the engine and fail transiently. The other kinds are pure (re-running a `fail` or a
//!   `transform` gives the same outcome), and a compound step's inner actions carry their own
//!   retry policies, so a `retry` on them is ignored. Retries re-send the inputs evaluated for
//!   the first attempt, with the same idempotency key and a new call id.
//! - Resuming from a checkpoint ([`crate::resume`]) evaluates the inputs of calls in flight or
//!   backing off again, since a stored checkpoint may hold them redacted. An input that no
//!   longer evaluates fails its step like an input expression error at the step's start:
//!   `on_error` applies, retry does not.
//! - A failure inside a branch arm or a loop iteration is the branch's / loop's failure: their
//!   own `on_error` applies to it. One failed iteration abandons the loop's other iterations.
//! - When `on_error` steps fail, the step fails with the handler's error, which goes on up like
//!   any failure (an enclosing loop's `on_error` may still handle it).
//! - A compound step's `timeout` bounds its own work, not its `on_error` steps.
//! - Abandoned step instances (outstanding calls of a timed-out or failed loop, steps around a
//!   `stop`) reached no outcome, so they get no [`crate::StepRecord`]; answers to their calls
//!   are ignored.

use crate::compile::{BlockId, CKind, COnError, CompiledFlow, StepId, sub_path};
use crate::engine::{
    CallId, Command, Event, MAX_FOR_EACH_ITEMS, Millis, RunContext, RunStatus, StepRecord, StepStatus,
};
use crate::run::{Binding, BlockFrame, Frame, FrameId, Run, StepFrame, StepState};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use weft_model::expr::{ExprError, Reads, Template, join_index, join_key, truthy};
use weft_model::{ErrorKind, LogLevel, RetryPolicy, StepError};

pub(crate) fn advance(
    flow: &CompiledFlow,
    run: Run,
    ctx: &RunContext,
    event: Event,
    now: Millis,
) -> (Run, Vec<Command>) {
    let mut m = Machine { flow, ctx, run, now, out: Vec::new(), ready: VecDeque::new() };
    m.handle(event);
    (m.run, m.out)
}

pub(crate) fn resume(flow: &CompiledFlow, run: Run, ctx: &RunContext, now: Millis) -> (Run, Vec<Command>) {
    let mut m = Machine { flow, ctx, run, now, out: Vec::new(), ready: VecDeque::new() };
    if m.run.status != RunStatus::Running {
        return (m.run, Vec::new());
    }
    // Calls with an id below this were issued before the checkpoint; the ones handed out while
    // resuming (steps started after a failure below) are in `m.out` already.
    let issued_before = m.run.next_call;
    // Outer frames first: a loop's items are rebuilt before the calls of its iterations.
    let frames: Vec<FrameId> = m.run.frames.keys().copied().collect();
    for fid in frames {
        if m.run.status.is_terminal() {
            break;
        }
        m.refresh(fid);
    }
    m.run_ready();
    let mut commands: Vec<Command> = m
        .run
        .pending_calls()
        .into_iter()
        .filter(|c| match c {
            Command::RunAction { call, .. } | Command::CallFlow { call, .. } => *call < issued_before,
            _ => false,
        })
        .collect();
    commands.append(&mut m.out);
    (m.run, commands)
}

struct Machine<'a> {
    flow: &'a CompiledFlow,
    ctx: &'a RunContext,
    run: Run,
    now: Millis,
    out: Vec<Command>,
    /// Block frames that should start their next step (or finish).
    ready: VecDeque<FrameId>,
}

/// A block's expression context as its expressions see it — `trigger`, `config`, `instance`,
/// `customer`, `execution`, `steps` (each step's `output`), and inside a loop `item` and
/// `index`, inside a handler `error` — limited to the names read, and serialized straight from
/// the run: evaluating reads it without a copy.
struct ContextView<'a> {
    reads: &'a Reads,
    trigger: &'a Value,
    ctx: &'a RunContext,
    /// Outputs by step key, enclosing scopes first (an inner key shadows an outer one).
    steps: Vec<(&'a str, &'a Value)>,
    item: Option<(&'a Value, usize)>,
    error: Option<&'a StepError>,
}

impl Serialize for ContextView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Output<'a>(&'a Value);
        impl Serialize for Output<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("output", self.0)?;
                m.end()
            }
        }
        struct Steps<'a>(&'a [(&'a str, &'a Value)]);
        impl Serialize for Steps<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_map(self.0.iter().map(|(k, v)| (k, Output(v))))
            }
        }
        let mut m = s.serialize_map(None)?;
        let read = |name: &str| self.reads.contains(name);
        for (name, value) in [
            ("trigger", self.trigger),
            ("config", &self.ctx.config),
            ("instance", &self.ctx.instance),
            ("customer", &self.ctx.customer),
            ("execution", &self.ctx.execution),
        ] {
            if read(name) {
                m.serialize_entry(name, value)?;
            }
        }
        if read("steps") {
            m.serialize_entry("steps", &Steps(&self.steps))?;
        }
        if let Some((item, index)) = self.item {
            if read("item") {
                m.serialize_entry("item", item)?;
            }
            if read("index") {
                m.serialize_entry("index", &index)?;
            }
        }
        if let Some(e) = self.error
            && read("error")
        {
            m.serialize_entry("error", &error_json(e))?;
        }
        m.end()
    }
}

/// The JSON an `error` binding and an `on_error: continue` output show.
fn error_json(e: &StepError) -> Value {
    json!({"kind": e.kind.name(), "message": e.message, "details": e.details.clone().unwrap_or(Value::Null)})
}

fn expr_error(base: &str, e: ExprError) -> StepError {
    StepError::new(ErrorKind::Expression, format!("{}: {}", sub_path(base, &e.path), e.message))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// Human duration for log lines: `500ms`, `2s`, `1.5s`, `5m`, `2m30s`.
pub(crate) fn fmt_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 || !ms.is_multiple_of(1000) {
        let s = format!("{:.3}", ms as f64 / 1000.0);
        format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else {
        format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// Delay before the attempt after `failed_attempt` (1-based): `initial * factor^(n-1)`, capped.
pub(crate) fn backoff_ms(policy: &RetryPolicy, failed_attempt: u32) -> u64 {
    let initial = policy.initial.as_millis() as f64;
    let max = policy.max.as_millis() as f64;
    let exp = i32::try_from(failed_attempt.saturating_sub(1)).unwrap_or(i32::MAX);
    let delay = initial * policy.factor.max(1.0).powi(exp);
    // `min` also tames an infinite product; the cast saturates.
    delay.min(max) as u64
}

fn retries(policy: &RetryPolicy, kind: ErrorKind) -> bool {
    if policy.on.is_empty() { kind.retryable_by_default() } else { policy.on.contains(&kind) }
}

fn add_ms(now: Millis, ms: u64) -> Millis {
    now.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// Evaluates a `respond` step: status (default 200), headers (default `{}`), body.
fn respond(
    ctx: &ContextView,
    status: &Template,
    headers: &Template,
    body: &Template,
) -> Result<(u16, Map<String, Value>, Value), StepError> {
    let eval = |t: &Template, base: &str| t.eval(ctx).map_err(|e| expr_error(base, e));
    let status = match eval(status, "respond.status")? {
        Value::Null => 200,
        v => match v.as_u64().filter(|s| (100..=599).contains(s)) {
            Some(s) => s as u16,
            None => {
                return Err(StepError::new(
                    ErrorKind::Input,
                    format!("respond.status: expected an HTTP status from 100 to 599, got {v}"),
                ));
            }
        },
    };
    let headers = match eval(headers, "respond.headers")? {
        Value::Null => Map::new(),
        Value::Object(m) => m,
        v => {
            return Err(StepError::new(
                ErrorKind::Input,
                format!("respond.headers: expected an object, got {}", type_name(&v)),
            ));
        }
    };
    let body = eval(body, "respond.body")?;
    Ok((status, headers, body))
}

impl Machine<'_> {
    fn handle(&mut self, event: Event) {
        if self.run.status.is_terminal() {
            return;
        }
        match event {
            Event::Start { trigger } => {
                if self.run.status != RunStatus::Pending {
                    return;
                }
                self.run.status = RunStatus::Running;
                self.run.trigger = trigger;
                let root = self.new_block(None, self.flow.root, String::new(), Some(BTreeMap::new()), Binding::None);
                self.ready.push_back(root);
            }
            Event::Cancel => {
                self.finish(RunStatus::Canceled, None, None);
                return;
            }
            _ if self.run.status != RunStatus::Running => return,
            Event::ActionSucceeded { call, output } => {
                let Some(fid) = self.calling(call) else {
                    return;
                };
                self.step_done(fid, Ok(output));
            }
            Event::ActionFailed { call, error } => {
                let Some(fid) = self.calling(call) else {
                    return;
                };
                self.call_failed(fid, error);
            }
            Event::Wake => self.wake(),
        }
        self.run_ready();
    }

    /// Runs the blocks that can make progress until none can.
    fn run_ready(&mut self) {
        while let Some(block) = self.ready.pop_front() {
            if self.run.status.is_terminal() {
                break;
            }
            self.run_next(block);
        }
    }

    // ----- resuming -----

    /// Rebuilds what a step in progress derived from its expressions, for [`resume`]: the
    /// input of a call in flight or waiting out a retry backoff, the items of a loop.
    fn refresh(&mut self, fid: FrameId) {
        let flow = self.flow;
        let Some(Frame::Step(s)) = self.run.frames.get(&fid) else {
            return; // a block, or abandoned by a failure refreshed before it
        };
        match (&flow.steps[s.step].kind, &s.state) {
            (CKind::Action { inputs, .. }, StepState::Calling { .. } | StepState::Backoff { .. }) => {
                self.refresh_call(fid, inputs, "inputs")
            }
            (CKind::CallFlow { input, .. }, StepState::Calling { .. } | StepState::Backoff { .. }) => {
                self.refresh_call(fid, input, "input")
            }
            (CKind::ForEach { items, .. }, StepState::Looping { .. }) => self.refresh_items(fid, items),
            _ => {}
        }
    }

    /// Evaluates a call's input again and puts it into the stored command (keeping its call id,
    /// attempt and idempotency key: it is the same call). If it no longer evaluates, the step
    /// fails with the expression error, as it would have when it started.
    fn refresh_call(&mut self, fid: FrameId, template: &Template, base: &str) {
        let (parent, sid) = {
            let s = self.step(fid);
            (s.parent, s.step)
        };
        let timeout = self.flow.steps[sid].timeout_ms;
        let input = match template.eval(&self.context(parent, template.reads())) {
            Ok(input) => input,
            Err(e) => {
                let mut e = expr_error(base, e);
                e.message += "; the input was evaluated again to resume the run from a checkpoint";
                return self.step_done(fid, Err(e));
            }
        };
        let s = self.step(fid);
        if let StepState::Calling { command } | StepState::Backoff { command, .. } = &mut s.state {
            match command {
                Command::RunAction { input: i, timeout_ms, .. } | Command::CallFlow { input: i, timeout_ms, .. } => {
                    *i = input.clone();
                    *timeout_ms = timeout;
                }
                _ => unreachable!("only calls are issued"),
            }
        }
        s.input = Some(input);
    }

    /// Evaluates a running loop's items again. They are taken only while they are still a list
    /// of as many items: the loop has been running over the stored ones (their shape was checked
    /// when it started, some iterations are done), and re-evaluating them only serves to restore
    /// values the stored copy may have lost. Otherwise the stored items stay.
    fn refresh_items(&mut self, fid: FrameId, template: &Template) {
        let parent = self.step(fid).parent;
        let Ok(Value::Array(items)) = template.eval(&self.context(parent, template.reads())) else {
            return;
        };
        if self.step(fid).input.as_ref().and_then(Value::as_array).map(Vec::len) != Some(items.len()) {
            return;
        }
        // Running iterations bind their item; the ones not started yet read it from the input.
        for frame in self.run.frames.range_mut(fid + 1..).map(|(_, f)| f) {
            if let Frame::Block(BlockFrame { parent: Some(p), binding: Binding::Iteration { index, item }, .. }) = frame
                && *p == fid
            {
                *item = items.get(*index).cloned().unwrap_or(Value::Null);
            }
        }
        self.step(fid).input = Some(Value::Array(items));
    }

    // ----- frame bookkeeping -----

    fn alloc(&mut self, frame: Frame) -> FrameId {
        let id = self.run.next_frame;
        self.run.next_frame += 1;
        self.run.frames.insert(id, frame);
        id
    }

    fn new_block(
        &mut self,
        parent: Option<FrameId>,
        block: BlockId,
        prefix: String,
        scope: Option<BTreeMap<String, Value>>,
        binding: Binding,
    ) -> FrameId {
        self.alloc(Frame::Block(BlockFrame { parent, block, prefix, pos: 0, last_output: Value::Null, scope, binding }))
    }

    fn block(&mut self, id: FrameId) -> &mut BlockFrame {
        match self.run.frames.get_mut(&id) {
            Some(Frame::Block(b)) => b,
            _ => unreachable!("frame {id} is not a live block"),
        }
    }

    fn step(&mut self, id: FrameId) -> &mut StepFrame {
        match self.run.frames.get_mut(&id) {
            Some(Frame::Step(s)) => s,
            _ => unreachable!("frame {id} is not a live step"),
        }
    }

    /// The step frame waiting for `call`, if any (answers to abandoned calls find none).
    fn calling(&self, call: CallId) -> Option<FrameId> {
        self.run.frames.iter().find_map(|(id, f)| match f {
            Frame::Step(StepFrame { state: StepState::Calling { command }, .. }) => match command {
                Command::RunAction { call: c, .. } | Command::CallFlow { call: c, .. } if *c == call => Some(*id),
                _ => None,
            },
            _ => None,
        })
    }

    /// Removes every frame below `id` (not `id` itself): abandons running iterations, arms,
    /// handlers and their outstanding calls and timers.
    fn remove_descendants(&mut self, id: FrameId) {
        let mut doomed = BTreeSet::from([id]);
        // Children have larger ids than their parents, so one ordered pass finds them all.
        for (fid, f) in self.run.frames.range(id + 1..) {
            if f.parent().is_some_and(|p| doomed.contains(&p)) {
                doomed.insert(*fid);
            }
        }
        doomed.remove(&id);
        for fid in &doomed {
            self.run.frames.remove(fid);
        }
    }

    /// The nearest block at or above `block` that owns a scope (where step outputs are written).
    fn scope_owner(&self, mut block: FrameId) -> FrameId {
        loop {
            let Some(Frame::Block(b)) = self.run.frames.get(&block) else { unreachable!("live block") };
            if b.scope.is_some() {
                return block;
            }
            let step = b.parent.expect("the top-level block owns a scope");
            block = self.run.frames[&step].parent().expect("a step has a block");
        }
    }

    /// The expression context of the steps of `block`: every step finished so far in the
    /// enclosing scopes, the innermost `item`/`index` and `error`.
    fn context<'s>(&'s self, block: FrameId, reads: &'s Reads) -> ContextView<'s> {
        let mut steps: Vec<(&str, &Value)> = Vec::new();
        if reads.contains("steps") {
            let mut scopes = Vec::new();
            self.walk_up(block, |b| scopes.extend(&b.scope));
            for scope in scopes.into_iter().rev() {
                for (k, v) in scope {
                    match steps.iter_mut().find(|(seen, _)| *seen == k.as_str()) {
                        Some(entry) => entry.1 = v,
                        None => steps.push((k, v)),
                    }
                }
            }
        }
        // The innermost loop iteration's item and the innermost handler's error.
        let mut item = None;
        let mut error = None;
        self.walk_up(block, |b| match &b.binding {
            Binding::Iteration { index, item: it } if item.is_none() => item = Some((it, *index)),
            Binding::Handler { error: e } if error.is_none() => error = Some(e),
            _ => {}
        });
        ContextView { reads, trigger: &self.run.trigger, ctx: self.ctx, steps, item, error }
    }

    /// Calls `f` on `block` and each enclosing block, innermost first.
    fn walk_up<'s>(&'s self, block: FrameId, mut f: impl FnMut(&'s BlockFrame)) {
        let mut cur = Some(block);
        while let Some(id) = cur {
            let frame = &self.run.frames[&id];
            if let Frame::Block(b) = frame {
                f(b);
            }
            cur = frame.parent();
        }
    }

    fn log(&mut self, level: LogLevel, step_path: &str, message: String) {
        self.out.push(Command::Log { level, step_path: Some(step_path.to_string()), message });
    }

    fn finish(&mut self, status: RunStatus, result: Option<Value>, error: Option<StepError>) {
        self.run.status = status;
        self.run.result = result.clone();
        self.run.error = error.clone();
        self.run.frames.clear();
        self.ready.clear();
        self.out.push(Command::Finish { status, result, error });
    }

    /// Evaluates the flow's `result` against the top-level scope and ends the run with it.
    fn finish_with_flow_result(&mut self, root: FrameId) {
        let value = match &self.flow.result {
            None => Ok(Value::Null),
            Some(t) => t.eval(&self.context(root, t.reads())).map_err(|e| expr_error("result", e)),
        };
        match value {
            Ok(v) => self.finish(RunStatus::Succeeded, Some(v), None),
            Err(e) => self.finish(RunStatus::Failed, None, Some(e)),
        }
    }

    fn root(&self) -> FrameId {
        self.run
            .frames
            .iter()
            .find_map(|(id, f)| matches!(f, Frame::Block(BlockFrame { parent: None, .. })).then_some(*id))
            .expect("a running run has a top-level block")
    }

    // ----- running blocks and steps -----

    /// Starts the next step of `block`, or finishes the block after its last step.
    fn run_next(&mut self, block: FrameId) {
        let Some(Frame::Block(b)) = self.run.frames.get(&block) else {
            return;
        };
        match self.flow.blocks[b.block].get(b.pos) {
            Some(&step) => self.start_step(block, step),
            None => {
                let out = b.last_output.clone();
                self.block_done(block, Ok(out));
            }
        }
    }

    fn start_step(&mut self, block: FrameId, sid: StepId) {
        let flow = self.flow;
        let step = &flow.steps[sid];
        let path = {
            let b = self.block(block);
            join_key(&b.prefix, &step.key)
        };
        let fid = self.alloc(Frame::Step(StepFrame {
            parent: block,
            step: sid,
            path: path.clone(),
            started_at: self.now,
            attempts: 1,
            input: None,
            deadline: None,
            state: StepState::Starting,
        }));
        let ctx = self.context(block, &step.reads);
        let eval = |t: &Template, base: &str| t.eval(&ctx).map_err(|e| expr_error(base, e));
        match &step.kind {
            CKind::Transform(t) => {
                let r = eval(t, "transform");
                self.step_done(fid, r);
            }
            CKind::Action { action, inputs } => match eval(inputs, "inputs") {
                Ok(input) => {
                    let call = self.next_call();
                    let command = Command::RunAction {
                        call,
                        step_path: path.clone(),
                        action: action.clone(),
                        input: input.clone(),
                        attempt: 1,
                        timeout_ms: step.timeout_ms,
                        idempotency_key: format!("{}:{path}", self.execution_id()),
                    };
                    self.issue(fid, input, command);
                }
                Err(e) => self.step_done(fid, Err(e)),
            },
            CKind::CallFlow { flow: target, input } => match eval(input, "input") {
                Ok(input) => {
                    let call = self.next_call();
                    let command = Command::CallFlow {
                        call,
                        step_path: path.clone(),
                        flow: target.clone(),
                        input: input.clone(),
                        attempt: 1,
                        timeout_ms: step.timeout_ms,
                    };
                    self.issue(fid, input, command);
                }
                Err(e) => self.step_done(fid, Err(e)),
            },
            CKind::Branch { arms, otherwise } => {
                let mut chosen = None;
                for (i, (when, arm)) in arms.iter().enumerate() {
                    match eval(when, &format!("branch[{i}].when")) {
                        Ok(v) if truthy(&v) => {
                            chosen = Some(*arm);
                            break;
                        }
                        Ok(_) => {}
                        Err(e) => return self.step_done(fid, Err(e)),
                    }
                }
                let Some(arm) = chosen.or(*otherwise) else {
                    return self.step_done(fid, Ok(Value::Null));
                };
                self.set_deadline(fid, step.timeout_ms);
                self.step(fid).state = StepState::Arm;
                let prefix = self.block(block).prefix.clone();
                let child = self.new_block(Some(fid), arm, prefix, None, Binding::None);
                self.ready.push_back(child);
            }
            CKind::ForEach { items, .. } => {
                let items = match eval(items, "for_each") {
                    Ok(Value::Array(items)) => items,
                    Ok(other) => {
                        // Recorded as the step's input, so the run shows what was not a list.
                        self.step(fid).input = Some(other.clone());
                        let e = StepError::new(
                            ErrorKind::Input,
                            format!("for_each: expected a list of items, got {}", type_name(&other)),
                        );
                        return self.step_done(fid, Err(e));
                    }
                    Err(e) => return self.step_done(fid, Err(e)),
                };
                let n = items.len();
                self.step(fid).input = Some(Value::Array(items));
                if n > MAX_FOR_EACH_ITEMS {
                    let e = StepError::new(
                        ErrorKind::Limit,
                        format!("for_each: {n} items exceed the limit of {MAX_FOR_EACH_ITEMS} items per loop"),
                    );
                    return self.step_done(fid, Err(e));
                }
                if n == 0 {
                    return self.step_done(fid, Ok(json!([])));
                }
                self.set_deadline(fid, step.timeout_ms);
                self.step(fid).state = StepState::Looping { next: 0, running: 0, results: Vec::new() };
                self.fill_iterations(fid);
            }
            CKind::Respond { status, headers, body } => match respond(&ctx, status, headers, body) {
                Ok((status, headers, body)) => {
                    let output = json!({"status": status, "headers": headers, "body": body});
                    self.out.push(Command::Respond { status, headers, body });
                    self.step_done(fid, Ok(output));
                }
                Err(e) => self.step_done(fid, Err(e)),
            },
            CKind::Stop { result } => {
                let value = match result {
                    Some(t) => match eval(t, "stop.result") {
                        Ok(v) => Some(v),
                        Err(e) => return self.step_done(fid, Err(e)),
                    },
                    None => None,
                };
                self.complete(fid, StepStatus::Succeeded, value.clone().unwrap_or(Value::Null), None);
                self.ready.clear();
                match value {
                    Some(v) => self.finish(RunStatus::Succeeded, Some(v), None),
                    None => {
                        let root = self.root();
                        self.finish_with_flow_result(root);
                    }
                }
            }
            CKind::Fail { message } => {
                let r = match eval(message, "fail") {
                    Ok(Value::String(s)) => Err(StepError::new(ErrorKind::Failed, s)),
                    Ok(v) => Err(StepError::new(ErrorKind::Failed, v.to_string())),
                    Err(e) => Err(e),
                };
                self.step_done(fid, r);
            }
        }
    }

    fn execution_id(&self) -> String {
        match self.ctx.execution.get("id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }

    fn next_call(&mut self) -> CallId {
        let id = self.run.next_call;
        self.run.next_call += 1;
        id
    }

    fn issue(&mut self, fid: FrameId, input: Value, command: Command) {
        let s = self.step(fid);
        s.input = Some(input);
        s.state = StepState::Calling { command: command.clone() };
        self.out.push(command);
    }

    fn set_deadline(&mut self, fid: FrameId, timeout_ms: Option<u64>) {
        if let Some(ms) = timeout_ms {
            let at = add_ms(self.now, ms);
            self.step(fid).deadline = Some(at);
            self.out.push(Command::WakeAt { at });
        }
    }

    /// Starts loop iterations while fewer than `concurrency` are in flight; finishes the loop
    /// when every iteration has finished.
    fn fill_iterations(&mut self, fid: FrameId) {
        let CKind::ForEach { body, concurrency, .. } = self.flow.steps[self.step(fid).step].kind else {
            unreachable!("fill_iterations on a for_each")
        };
        loop {
            let s = self.step(fid);
            let path = s.path.clone();
            let n = s.input.as_ref().and_then(Value::as_array).map_or(0, Vec::len);
            let StepState::Looping { next, running, results } = &mut s.state else { unreachable!("looping") };
            if *running == 0 && *next == n {
                let out = Value::Array(std::mem::take(results).into_iter().map(|(_, v)| v).collect());
                return self.step_done(fid, Ok(out));
            }
            if *running >= concurrency as usize || *next == n {
                return;
            }
            let index = *next;
            *next += 1;
            *running += 1;
            let item = s.input.as_ref().and_then(|v| v.get(index)).cloned().unwrap_or(Value::Null);
            let child = self.new_block(
                Some(fid),
                body,
                join_index(&path, index),
                Some(BTreeMap::new()),
                Binding::Iteration { index, item },
            );
            self.ready.push_back(child);
        }
    }

    // ----- outcomes -----

    /// A step's own work ended with `res`; applies on_error to a failure.
    fn step_done(&mut self, fid: FrameId, res: Result<Value, StepError>) {
        let error = match res {
            Ok(v) => return self.complete(fid, StepStatus::Succeeded, v, None),
            Err(e) => e,
        };
        let sid = self.step(fid).step;
        match &self.flow.steps[sid].on_error {
            COnError::Fail => self.fail(fid, error),
            COnError::Continue => {
                let path = self.step(fid).path.clone();
                self.log(
                    LogLevel::Warn,
                    &path,
                    format!("step `{path}` failed: {error}; continuing (on_error: continue)"),
                );
                self.complete(fid, StepStatus::Continued, json!({"error": error_json(&error)}), Some(error));
            }
            COnError::Steps(handler) => {
                let handler = *handler;
                let s = self.step(fid);
                let path = s.path.clone();
                let block = s.parent;
                // The timeout bounds the step's own work, not its error handler.
                s.deadline = None;
                s.state = StepState::Handling { error: error.clone() };
                self.log(LogLevel::Warn, &path, format!("step `{path}` failed: {error}; running its on_error steps"));
                let prefix = self.block(block).prefix.clone();
                let child = self.new_block(Some(fid), handler, prefix, None, Binding::Handler { error });
                self.ready.push_back(child);
            }
        }
    }

    fn record(&mut self, fid: FrameId, status: StepStatus, output: Option<Value>, error: Option<StepError>) {
        let s = self.step(fid).clone();
        let step = &self.flow.steps[s.step];
        let action = match &step.kind {
            CKind::Action { action, .. } => Some(action.clone()),
            _ => None,
        };
        self.out.push(Command::StepFinished(StepRecord {
            path: s.path,
            key: step.key.clone(),
            kind: step.kind.name().to_string(),
            action,
            input: s.input,
            output,
            error,
            attempts: s.attempts,
            started_at: s.started_at,
            finished_at: self.now,
            status,
        }));
    }

    /// The step ended with an output (succeeded, or continued after an error): record it,
    /// publish the output to the scope, and move its block on.
    fn complete(&mut self, fid: FrameId, status: StepStatus, output: Value, error: Option<StepError>) {
        self.record(fid, status, Some(output.clone()), error);
        self.remove_descendants(fid);
        let Some(Frame::Step(s)) = self.run.frames.remove(&fid) else { unreachable!("live step") };
        let key = self.flow.steps[s.step].key.clone();
        let owner = self.scope_owner(s.parent);
        self.block(owner).scope.get_or_insert_with(BTreeMap::new).insert(key, output.clone());
        let b = self.block(s.parent);
        b.last_output = output;
        b.pos += 1;
        self.ready.push_back(s.parent);
    }

    /// The step failed for good: record it and fail its block.
    fn fail(&mut self, fid: FrameId, error: StepError) {
        self.record(fid, StepStatus::Failed, None, Some(error.clone()));
        self.remove_descendants(fid);
        let Some(Frame::Step(s)) = self.run.frames.remove(&fid) else { unreachable!("live step") };
        self.block_done(s.parent, Err(error));
    }

    /// A block ran its last step (`Ok` with its last output) or one of its steps failed.
    fn block_done(&mut self, block: FrameId, res: Result<Value, StepError>) {
        let Some(parent) = self.block(block).parent else {
            return match res {
                Ok(_) => self.finish_with_flow_result(block),
                Err(e) => self.finish(RunStatus::Failed, None, Some(e)),
            };
        };
        let binding = self.block(block).binding.clone();
        self.remove_descendants(block);
        self.run.frames.remove(&block);
        match (&self.step(parent).state, res) {
            (StepState::Handling { error }, Ok(v)) => {
                let error = error.clone();
                self.complete(parent, StepStatus::Continued, v, Some(error));
            }
            (StepState::Handling { .. }, Err(e)) => self.fail(parent, e),
            (StepState::Looping { .. }, Err(e)) => {
                // One failed iteration fails the loop; the others are abandoned.
                self.remove_descendants(parent);
                self.step_done(parent, Err(e));
            }
            (StepState::Looping { .. }, Ok(v)) => {
                let Binding::Iteration { index, .. } = binding else { unreachable!("iteration block") };
                if let StepState::Looping { running, results, .. } = &mut self.step(parent).state {
                    *running -= 1;
                    let at = results.partition_point(|(i, _)| *i < index);
                    results.insert(at, (index, v));
                }
                self.fill_iterations(parent);
            }
            (_, res) => self.step_done(parent, res),
        }
    }

    fn call_failed(&mut self, fid: FrameId, error: StepError) {
        let flow = self.flow;
        let s = self.step(fid);
        let (attempts, path) = (s.attempts, s.path.clone());
        let StepState::Calling { command } = &s.state else { unreachable!("calling") };
        let command = command.clone();
        let policy = flow.steps[s.step].retry.as_ref();
        let Some(policy) = policy.filter(|p| attempts < p.attempts && retries(p, error.kind)) else {
            return self.step_done(fid, Err(error));
        };
        let delay = backoff_ms(policy, attempts).max(error.retry_after_ms.unwrap_or(0));
        let until = add_ms(self.now, delay);
        let total = policy.attempts;
        self.step(fid).state = StepState::Backoff { until, command };
        self.log(
            LogLevel::Warn,
            &path,
            format!("step `{path}` failed (attempt {attempts} of {total}): {error}; retrying in {}", fmt_ms(delay)),
        );
        self.out.push(Command::WakeAt { at: until });
    }

    /// Fires every due timer, outer frames first (a timed-out loop abandons its inner retries).
    fn wake(&mut self) {
        let now = self.now;
        let due: Vec<FrameId> = self
            .run
            .frames
            .iter()
            .filter_map(|(id, f)| match f {
                Frame::Step(s) => match s.state {
                    StepState::Backoff { until, .. } => (until <= now).then_some(*id),
                    _ => s.deadline.is_some_and(|d| d <= now).then_some(*id),
                },
                Frame::Block(_) => None,
            })
            .collect();
        for fid in due {
            if self.run.status.is_terminal() {
                return;
            }
            let Some(Frame::Step(s)) = self.run.frames.get(&fid) else {
                continue;
            };
            if let StepState::Backoff { command, .. } = &s.state {
                let mut command = command.clone();
                let call = self.next_call();
                let s = self.step(fid);
                s.attempts += 1;
                match &mut command {
                    Command::RunAction { call: c, attempt, .. } | Command::CallFlow { call: c, attempt, .. } => {
                        *c = call;
                        *attempt = s.attempts;
                    }
                    _ => unreachable!("only calls back off"),
                }
                s.state = StepState::Calling { command: command.clone() };
                self.out.push(command);
            } else {
                let timeout = self.flow.steps[s.step].timeout_ms.unwrap_or(0);
                let path = s.path.clone();
                self.remove_descendants(fid);
                self.step(fid).deadline = None;
                let e =
                    StepError::new(ErrorKind::Timeout, format!("step `{path}` timed out after {}", fmt_ms(timeout)));
                self.step_done(fid, Err(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(fmt_ms(0), "0ms");
        assert_eq!(fmt_ms(500), "500ms");
        assert_eq!(fmt_ms(2000), "2s");
        assert_eq!(fmt_ms(1500), "1.5s");
        assert_eq!(fmt_ms(300_000), "5m");
        assert_eq!(fmt_ms(150_000), "2m30s");
        assert_eq!(fmt_ms(60_500), "60.5s");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            attempts: 10,
            initial: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_secs(5),
            on: vec![],
        };
        let delays: Vec<u64> = (1..=5).map(|a| backoff_ms(&p, a)).collect();
        assert_eq!(delays, [1000, 2000, 4000, 5000, 5000]);
        let huge = RetryPolicy { factor: 1e308, ..p };
        assert_eq!(backoff_ms(&huge, 9), 5000);
    }

    #[test]
    fn retry_kinds_default_to_transient_ones() {
        let p = RetryPolicy::default();
        assert!(retries(&p, ErrorKind::ServerError));
        assert!(!retries(&p, ErrorKind::HttpStatus));
        let only = RetryPolicy { on: vec![ErrorKind::HttpStatus], ..p };
        assert!(retries(&only, ErrorKind::HttpStatus));
        assert!(!retries(&only, ErrorKind::ServerError));
    }
}
