//! The pure flow engine: `(flow, run state, event, now) -> (new run state, commands)`.
//!
//! It interprets a flow's steps: `transform`, `branch`, `for_each`, `respond`, `stop` and `fail`
//! are evaluated here (expressions are pure), while `action` and `call_flow` steps become
//! [`Command`]s that the worker carries out and answers with [`Event`]s. The engine reads no
//! clock (`now` is an argument), draws no random ids, and does no IO; its whole state is the
//! serializable [`Run`], which the worker stores as the execution's checkpoint.

mod compile;
mod engine;
mod machine;
mod run;

pub use engine::*;
