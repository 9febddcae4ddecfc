//! A component whose description is invalid in several ways at once (a malformed action key, a
//! duplicate action, a picklist without choices, a default of the wrong type, an input naming a
//! data source that does not exist), so the host's load-time validation can be checked end to end.

use weft_sdk::{Action, Component, ComponentInfo, Context, Error, Input, Value, json};

pub struct BadDescribe;

impl Component for BadDescribe {
    fn describe() -> ComponentInfo {
        ComponentInfo::new("bad-describe", "Bad describe", "0.1.0")
            .action(Action::new("List Contacts", "List contacts"))
            .action(
                Action::new("sync", "Sync")
                    .input(Input::picklist("mode", &[]))
                    .input(Input::number("limit").default(json!("ten")))
                    .input(Input::dynamic_picklist("list", "lists")),
            )
            .action(Action::new("sync", "Sync again"))
    }

    fn run_action(action: &str, _inputs: Value, _cx: &Context) -> Result<Value, Error> {
        Err(Error::unknown_action(action))
    }
}

weft_sdk::export_component!(BadDescribe);
