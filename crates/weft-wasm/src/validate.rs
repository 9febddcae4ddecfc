//! Validation of a component's description (`describe()`), run when it is loaded. Returns every
//! problem at once, each naming the action, trigger, data source, connection or input it is
//! about, so an author fixes them in one go.

use std::collections::HashSet;

use crate::bindings::{ComponentInfo, ConnectionKind, InputSpec, InputType};
use crate::description::type_name;

/// Caps on a description's size: a description is shown in the UI and stored with versions.
const MAX_KEY: usize = 64;
const MAX_NAME: usize = 200;
const MAX_TEXT: usize = 10_000;
const MAX_ITEMS: usize = 500;

/// A key: lower case ASCII letters, digits, `_` and `-`, starting with a letter, at most 64.
pub(crate) fn valid_key(key: &str) -> bool {
    key.len() <= MAX_KEY
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

struct Check {
    problems: Vec<String>,
}

impl Check {
    fn key(&mut self, what: &str, key: &str) {
        if !valid_key(key) {
            self.problems.push(format!(
                "{what}: key '{key}' is not well-formed (lower case letters, digits, '_' and '-', starting with a letter, at most {MAX_KEY} characters)"
            ));
        }
    }

    fn text(&mut self, what: &str, field: &str, value: &str, max: usize, required: bool) {
        if required && value.trim().is_empty() {
            self.problems.push(format!("{what}: {field} is empty"));
        }
        if value.len() > max {
            self.problems.push(format!("{what}: {field} is longer than {max} bytes"));
        }
    }

    fn count(&mut self, what: &str, n: usize) {
        if n > MAX_ITEMS {
            self.problems.push(format!("{what}: {n} entries, more than {MAX_ITEMS}"));
        }
    }

    fn unique<'a>(&mut self, what: &str, keys: impl Iterator<Item = &'a str>) {
        let mut seen = HashSet::new();
        for k in keys {
            if !seen.insert(k) {
                self.problems.push(format!("{what}: key '{k}' is used more than once"));
            }
        }
    }

    fn inputs(&mut self, owner: &str, inputs: &[InputSpec], data_sources: &HashSet<&str>, has_connections: bool) {
        self.count(&format!("{owner} inputs"), inputs.len());
        self.unique(&format!("{owner} inputs"), inputs.iter().map(|i| i.key.as_str()));
        for input in inputs {
            let what = format!("{owner} input '{}'", input.key);
            self.key(&what, &input.key);
            self.text(&what, "label", &input.label, MAX_NAME, true);
            self.text(&what, "help", input.help.as_deref().unwrap_or(""), MAX_TEXT, false);
            if let Some(d) = &input.default {
                match serde_json::from_str::<serde_json::Value>(d) {
                    Err(e) => self.problems.push(format!("{what}: default is not JSON ({e})")),
                    Ok(v) => {
                        let fits = match input.type_ {
                            InputType::String | InputType::Secret | InputType::Date | InputType::Picklist => {
                                v.is_string()
                            }
                            InputType::Number => v.is_number(),
                            InputType::Boolean => v.is_boolean(),
                            InputType::KeyValueList => v.is_array(),
                            InputType::Json | InputType::Connection => true,
                        };
                        if !fits {
                            self.problems
                                .push(format!("{what}: default {v} does not fit type {}", type_name(input.type_)));
                        }
                        if input.type_ == InputType::Secret {
                            self.problems.push(format!("{what}: a secret input cannot have a default"));
                        }
                    }
                }
            }
            match input.type_ {
                InputType::Picklist => {
                    if input.choices.is_empty() && input.data_source.is_none() {
                        self.problems.push(format!("{what}: a picklist needs choices or a data source"));
                    }
                    self.unique(&format!("{what} choices"), input.choices.iter().map(|c| c.value.as_str()));
                    for c in &input.choices {
                        if c.value.is_empty() || c.label.trim().is_empty() {
                            self.problems.push(format!("{what}: a choice has an empty value or label"));
                        }
                    }
                }
                InputType::Connection if !has_connections => {
                    self.problems
                        .push(format!("{what}: a connection input, but the component has no connection types"));
                }
                _ if !input.choices.is_empty() => {
                    self.problems.push(format!("{what}: choices are only for picklist inputs"));
                }
                _ => {}
            }
            if let Some(ds) = &input.data_source
                && !data_sources.contains(ds.as_str())
            {
                self.problems.push(format!("{what}: data source '{ds}' is not one of the component's data sources"));
            }
        }
    }
}

/// Every problem of `info`; empty when it is valid.
pub(crate) fn check(info: &ComponentInfo) -> Vec<String> {
    let mut c = Check { problems: Vec::new() };
    c.key("component", &info.key);
    c.text("component", "name", &info.name, MAX_NAME, true);
    c.text("component", "version", &info.version, MAX_KEY, true);
    if !info.version.is_empty() && !is_version(&info.version) {
        c.problems.push(format!("component: version '{}' is not a semantic version (like 1.2.0)", info.version));
    }
    c.text("component", "description", &info.description, MAX_TEXT, false);
    if let Some(icon) = &info.icon
        && !(icon.starts_with("https://") || icon.starts_with("data:image/"))
    {
        c.problems.push("component: icon must be an https:// URL or a data:image/ URI".to_string());
    }
    if info.icon.as_ref().is_some_and(|i| i.len() > 256 << 10) {
        c.problems.push("component: icon is larger than 256 KiB".to_string());
    }
    if info.actions.is_empty() && info.triggers.is_empty() && info.data_sources.is_empty() {
        c.problems.push("component: it offers no action, trigger or data source".to_string());
    }
    for (what, n) in [
        ("actions", info.actions.len()),
        ("triggers", info.triggers.len()),
        ("data sources", info.data_sources.len()),
        ("connections", info.connections.len()),
    ] {
        c.count(what, n);
    }
    c.unique("actions", info.actions.iter().map(|a| a.key.as_str()));
    c.unique("triggers", info.triggers.iter().map(|a| a.key.as_str()));
    c.unique("data sources", info.data_sources.iter().map(|a| a.key.as_str()));
    c.unique("connections", info.connections.iter().map(|a| a.key.as_str()));
    let data_sources: HashSet<&str> = info.data_sources.iter().map(|d| d.key.as_str()).collect();
    let has_connections = !info.connections.is_empty();
    let ops = info
        .actions
        .iter()
        .map(|a| ("action", &a.key, &a.name, &a.description, &a.inputs))
        .chain(info.triggers.iter().map(|t| ("trigger", &t.key, &t.name, &t.description, &t.inputs)))
        .chain(info.data_sources.iter().map(|d| ("data source", &d.key, &d.name, &d.description, &d.inputs)));
    for (kind, key, name, description, inputs) in ops {
        let what = format!("{kind} '{key}'");
        c.key(&what, key);
        c.text(&what, "name", name, MAX_NAME, true);
        c.text(&what, "description", description, MAX_TEXT, false);
        c.inputs(&what, inputs, &data_sources, has_connections);
    }
    for conn in &info.connections {
        let what = format!("connection '{}'", conn.key);
        c.key(&what, &conn.key);
        c.text(&what, "name", &conn.name, MAX_NAME, true);
        c.text(&what, "description", &conn.description, MAX_TEXT, false);
        c.inputs(&what, &conn.fields, &data_sources, false);
        let oauth =
            matches!(conn.kind, ConnectionKind::Oauth2AuthorizationCode | ConnectionKind::Oauth2ClientCredentials);
        match (&conn.oauth2, oauth) {
            (None, true) => c.problems.push(format!("{what}: an OAuth 2.0 connection needs its oauth2 endpoints")),
            (Some(_), false) => c.problems.push(format!("{what}: oauth2 endpoints are only for OAuth 2.0 connections")),
            (Some(o), true) => {
                if !o.token_url.starts_with("https://") && !o.token_url.starts_with("http://") {
                    c.problems.push(format!("{what}: token URL '{}' is not an http(s) URL", o.token_url));
                }
                if conn.kind == ConnectionKind::Oauth2AuthorizationCode && o.authorize_url.is_none() {
                    c.problems.push(format!("{what}: the authorization-code flow needs an authorize URL"));
                }
            }
            (None, false) => {}
        }
        if conn.kind != ConnectionKind::Custom
            && conn.kind != ConnectionKind::Oauth2AuthorizationCode
            && conn.fields.is_empty()
        {
            c.problems.push(format!("{what}: this kind of connection needs at least one field"));
        }
    }
    c.problems
}

/// `MAJOR.MINOR.PATCH`, optionally with `-pre` / `+build`.
fn is_version(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::{ActionSpec, Choice, ConnectionSpec, DataSourceSpec};

    fn input(key: &str, type_: InputType) -> InputSpec {
        InputSpec {
            key: key.into(),
            label: key.into(),
            type_,
            required: false,
            default: None,
            help: None,
            choices: Vec::new(),
            data_source: None,
        }
    }

    fn action(key: &str, inputs: Vec<InputSpec>) -> ActionSpec {
        ActionSpec { key: key.into(), name: format!("Action {key}"), description: String::new(), inputs }
    }

    fn info(actions: Vec<ActionSpec>) -> ComponentInfo {
        ComponentInfo {
            key: "acme-crm".into(),
            name: "Acme CRM".into(),
            version: "1.0.0".into(),
            description: String::new(),
            icon: None,
            actions,
            triggers: Vec::new(),
            data_sources: Vec::new(),
            connections: Vec::new(),
        }
    }

    #[test]
    fn a_good_description_has_no_problems() {
        let mut i = info(vec![action("list_contacts", vec![input("query", InputType::String)])]);
        i.data_sources.push(DataSourceSpec {
            key: "lists".into(),
            name: "Lists".into(),
            description: String::new(),
            inputs: Vec::new(),
        });
        let mut pick = input("list", InputType::Picklist);
        pick.data_source = Some("lists".into());
        i.actions[0].inputs.push(pick);
        i.connections.push(ConnectionSpec {
            key: "api_key".into(),
            name: "API key".into(),
            description: String::new(),
            kind: ConnectionKind::ApiKey,
            fields: vec![input("key", InputType::Secret)],
            oauth2: None,
        });
        assert_eq!(check(&i), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_named() {
        let mut bad_default = input("n", InputType::Number);
        bad_default.default = Some("\"ten\"".into());
        let mut choices_on_string = input("s", InputType::String);
        choices_on_string.choices.push(Choice { value: "a".into(), label: "A".into() });
        let mut dangling = input("d", InputType::Picklist);
        dangling.data_source = Some("nope".into());
        let mut i = info(vec![
            action("Bad Key", vec![]),
            action("dup", vec![input("x", InputType::String), input("x", InputType::String)]),
            action("dup", vec![]),
            action(
                "inputs",
                vec![
                    input("empty_pick", InputType::Picklist),
                    bad_default,
                    choices_on_string,
                    dangling,
                    input("conn", InputType::Connection),
                ],
            ),
        ]);
        i.key = "".into();
        i.version = "one".into();
        i.icon = Some("ftp://icon".into());
        let problems = check(&i);
        let expected = [
            "component: key '' is not well-formed",
            "component: version 'one' is not a semantic version",
            "component: icon must be an https:// URL",
            "actions: key 'dup' is used more than once",
            "action 'Bad Key': key 'Bad Key' is not well-formed",
            "action 'dup' inputs: key 'x' is used more than once",
            "action 'inputs' input 'empty_pick': a picklist needs choices or a data source",
            "action 'inputs' input 'n': default \"ten\" does not fit type number",
            "action 'inputs' input 's': choices are only for picklist inputs",
            "action 'inputs' input 'd': data source 'nope' is not one of the component's data sources",
            "action 'inputs' input 'conn': a connection input, but the component has no connection types",
        ];
        for e in expected {
            assert!(problems.iter().any(|p| p.starts_with(e)), "missing {e:?} in {problems:#?}");
        }
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    }

    #[test]
    fn oauth_connections_need_endpoints() {
        let mut i = info(vec![action("a", vec![])]);
        i.connections.push(ConnectionSpec {
            key: "oauth".into(),
            name: "OAuth".into(),
            description: String::new(),
            kind: ConnectionKind::Oauth2AuthorizationCode,
            fields: Vec::new(),
            oauth2: None,
        });
        assert_eq!(check(&i), vec!["connection 'oauth': an OAuth 2.0 connection needs its oauth2 endpoints"]);
    }
}
