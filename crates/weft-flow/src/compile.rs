//! Compiling a [`FlowDef`] once into a [`CompiledFlow`]: every expression pre-compiled, and the
//! step tree flattened into arenas of steps and blocks addressed by index. The run state refers to
//! steps and blocks by these indexes, so a checkpoint stays small and needs no pointers.

use serde_json::Value;
use weft_model::expr::{ExprError, Reads, Template, join_index, join_key};
use weft_model::{FlowDef, OnError, RetryPolicy, Step, StepKind};

/// Index of a step in [`CompiledFlow::steps`].
pub(crate) type StepId = usize;
/// Index of a block (a list of steps run in sequence) in [`CompiledFlow::blocks`].
pub(crate) type BlockId = usize;

/// A flow compiled once per (integration version, flow): every expression pre-compiled.
///
/// Immutable after [`CompiledFlow::new`], so it is `Send + Sync` and can be shared by many runs.
#[derive(Debug)]
pub struct CompiledFlow {
    key: String,
    pub(crate) steps: Vec<CStep>,
    pub(crate) blocks: Vec<Vec<StepId>>,
    /// The flow's top-level block.
    pub(crate) root: BlockId,
    /// The flow's `result`; `None` means null.
    pub(crate) result: Option<Template>,
}

#[derive(Debug)]
pub(crate) struct CStep {
    pub key: String,
    pub kind: CKind,
    pub retry: Option<RetryPolicy>,
    pub timeout_ms: Option<u64>,
    pub on_error: COnError,
    /// What the step's templates read: its context holds only that (see [`Reads`]).
    pub reads: Reads,
}

#[derive(Debug)]
#[expect(clippy::large_enum_variant, reason = "built once per flow; boxing would only add indirection")]
pub(crate) enum CKind {
    Action { action: String, inputs: Template },
    Transform(Template),
    Branch { arms: Vec<(Template, BlockId)>, otherwise: Option<BlockId> },
    ForEach { items: Template, body: BlockId, concurrency: u32 },
    CallFlow { flow: String, input: Template },
    Respond { status: Template, headers: Template, body: Template },
    Stop { result: Option<Template> },
    Fail { message: Template },
}

impl CKind {
    /// What the templates of this kind, evaluated together when its step starts, read.
    fn reads(&self) -> Reads {
        let mut reads = Reads::default();
        let mut add = |t: &Template| reads.extend(t.reads());
        match self {
            CKind::Action { inputs: t, .. }
            | CKind::Transform(t)
            | CKind::ForEach { items: t, .. }
            | CKind::CallFlow { input: t, .. }
            | CKind::Fail { message: t } => add(t),
            CKind::Branch { arms, .. } => arms.iter().for_each(|(when, _)| add(when)),
            CKind::Respond { status, headers, body } => [status, headers, body].into_iter().for_each(add),
            CKind::Stop { result } => result.iter().for_each(add),
        }
        reads
    }

    /// The kind's name as written in definitions and stored in step records.
    pub fn name(&self) -> &'static str {
        match self {
            CKind::Action { .. } => "action",
            CKind::Transform(_) => "transform",
            CKind::Branch { .. } => "branch",
            CKind::ForEach { .. } => "for_each",
            CKind::CallFlow { .. } => "call_flow",
            CKind::Respond { .. } => "respond",
            CKind::Stop { .. } => "stop",
            CKind::Fail { .. } => "fail",
        }
    }
}

#[derive(Debug)]
pub(crate) enum COnError {
    Fail,
    Continue,
    Steps(BlockId),
}

impl CompiledFlow {
    /// Compiles every expression of `flow`. Returns every compile error at once, each with its
    /// path inside the flow (`steps[2].inputs.url`, `steps[0].branch[1].else[0].transform`).
    pub fn new(flow: &FlowDef) -> Result<CompiledFlow, Vec<ExprError>> {
        let mut c = Compiler { steps: Vec::new(), blocks: Vec::new(), errors: Vec::new() };
        let root = c.block(&flow.steps, "steps");
        let result = flow.result.as_ref().map(|r| c.template(r, "result"));
        if !c.errors.is_empty() {
            return Err(c.errors);
        }
        Ok(CompiledFlow { key: flow.key.clone(), steps: c.steps, blocks: c.blocks, root, result })
    }

    /// The flow's key.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// Joins a path inside a step (`inputs`) with an expression error's relative path (`json.id`,
/// `[2]`, or empty for the root).
pub(crate) fn sub_path(base: &str, rel: &str) -> String {
    if rel.is_empty() {
        base.to_string()
    } else if rel.starts_with('[') {
        format!("{base}{rel}")
    } else {
        format!("{base}.{rel}")
    }
}

struct Compiler {
    steps: Vec<CStep>,
    blocks: Vec<Vec<StepId>>,
    errors: Vec<ExprError>,
}

impl Compiler {
    /// Compiles a list of steps found at `path` (e.g. `steps`, `steps[0].steps`).
    fn block(&mut self, steps: &[Step], path: &str) -> BlockId {
        let id = self.blocks.len();
        self.blocks.push(Vec::new());
        let ids: Vec<StepId> = steps.iter().enumerate().map(|(i, s)| self.step(s, &join_index(path, i))).collect();
        self.blocks[id] = ids;
        id
    }

    fn template(&mut self, value: &Value, path: &str) -> Template {
        match Template::compile(value) {
            Ok(t) => t,
            Err(errs) => {
                self.errors.extend(errs.into_iter().map(|mut e| {
                    e.path = sub_path(path, &e.path);
                    e
                }));
                Template::compile(&Value::Null).expect("null is a literal")
            }
        }
    }

    fn step(&mut self, step: &Step, path: &str) -> StepId {
        let at = |field: &str| join_key(path, field);
        let kind = match &step.kind {
            StepKind::Action { action, inputs } => CKind::Action {
                action: action.clone(),
                inputs: self.template(&Value::Object(inputs.clone()), &at("inputs")),
            },
            StepKind::Transform(v) => CKind::Transform(self.template(v, &at("transform"))),
            // A call of the built-in `code.javascript` with the whole context as its input.
            StepKind::Code { script } => {
                CKind::Action { action: "code.javascript".into(), inputs: Template::code_call(script) }
            }
            StepKind::Branch { arms, otherwise } => {
                let branch = at("branch");
                let arms = arms
                    .iter()
                    .enumerate()
                    .map(|(i, arm)| {
                        let arm_path = join_index(&branch, i);
                        let when = self.template(&arm.when, &join_key(&arm_path, "when"));
                        (when, self.block(&arm.steps, &join_key(&arm_path, "steps")))
                    })
                    .collect::<Vec<_>>();
                let otherwise =
                    otherwise.as_ref().map(|s| self.block(s, &join_key(&join_index(&branch, arms.len()), "else")));
                CKind::Branch { arms, otherwise }
            }
            StepKind::ForEach { items, steps, concurrency } => CKind::ForEach {
                items: self.template(items, &at("for_each")),
                body: self.block(steps, &at("steps")),
                concurrency: concurrency.unwrap_or(1).max(1),
            },
            StepKind::CallFlow { flow, input } => {
                CKind::CallFlow { flow: flow.clone(), input: self.template(input, &at("input")) }
            }
            StepKind::Respond { status, headers, body } => {
                let respond = at("respond");
                CKind::Respond {
                    status: self.template(status, &join_key(&respond, "status")),
                    headers: self.template(headers, &join_key(&respond, "headers")),
                    body: self.template(body, &join_key(&respond, "body")),
                }
            }
            StepKind::Stop { result } => {
                CKind::Stop { result: result.as_ref().map(|r| self.template(r, &join_key(&at("stop"), "result"))) }
            }
            StepKind::Fail { message } => CKind::Fail { message: self.template(message, &at("fail")) },
        };
        let on_error = match &step.on_error {
            OnError::Fail => COnError::Fail,
            OnError::Continue => COnError::Continue,
            OnError::Steps(steps) => COnError::Steps(self.block(steps, &join_key(&at("on_error"), "steps"))),
        };
        let id = self.steps.len();
        self.steps.push(CStep {
            key: step.key.clone(),
            reads: kind.reads(),
            kind,
            retry: step.retry.clone(),
            timeout_ms: step.timeout.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            on_error,
        });
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use weft_model::{BranchArm, Trigger};

    fn step(key: &str, kind: StepKind) -> Step {
        Step { key: key.into(), kind, retry: None, timeout: None, on_error: OnError::Fail }
    }

    #[test]
    fn compile_errors_name_their_place_in_the_flow() {
        let flow = FlowDef {
            key: "f".into(),
            name: None,
            description: None,
            trigger: Trigger::Manual,
            steps: vec![
                step("a", StepKind::Transform(json!({"x": "{{ 1 + }}"}))),
                step(
                    "b",
                    StepKind::Branch {
                        arms: vec![BranchArm { when: json!("{{ ( }}"), steps: vec![] }],
                        otherwise: Some(vec![step("c", StepKind::Fail { message: json!("{{ }}") })]),
                    },
                ),
            ],
            result: Some(json!(["{{ x ! }}"])),
            queue: Default::default(),
            retry: None,
        };
        let errs = CompiledFlow::new(&flow).unwrap_err();
        let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["steps[0].transform.x", "steps[1].branch[0].when", "steps[1].branch[1].else[0].fail", "result[0]"]
        );
    }

    #[test]
    fn compiled_flow_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CompiledFlow>();
    }

    #[test]
    fn sub_paths_join_like_definition_paths() {
        assert_eq!(sub_path("inputs", ""), "inputs");
        assert_eq!(sub_path("inputs", "json.id"), "inputs.json.id");
        assert_eq!(sub_path("result", "[0]"), "result[0]");
    }
}
