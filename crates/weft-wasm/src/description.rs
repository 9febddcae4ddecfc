//! [`Description`]: a component's self-description as plain, serializable data. It is what the
//! server stores with each component version and shows through its API, and what definition
//! validation reads action inputs from ([`Description::action_specs`]) without loading the
//! component.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bindings::{self, ComponentInfo, ConnectionKind};

/// What a component is and offers (the WIT `component-info`, in JSON-friendly form).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Description {
    pub key: String,
    pub name: String,
    pub version: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    #[serde(default)]
    pub actions: Vec<Operation>,
    #[serde(default)]
    pub triggers: Vec<Operation>,
    #[serde(default)]
    pub data_sources: Vec<Operation>,
    #[serde(default)]
    pub connections: Vec<Connection>,
}

/// An action, poll trigger or data source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub key: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub inputs: Vec<Input>,
}

/// One input of an operation or field of a connection type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub key: String,
    pub label: String,
    /// The WIT name of the input type: `string`, `number`, `boolean`, `json`, `secret`,
    /// `picklist`, `connection`, `date`, `key-value-list`.
    #[serde(rename = "type")]
    pub input_type: String,
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

/// A connection type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub key: String,
    pub name: String,
    pub description: String,
    /// `api_key`, `basic`, `bearer`, `custom`, `oauth2_authorization_code` or
    /// `oauth2_client_credentials`.
    pub kind: String,
    #[serde(default)]
    pub fields: Vec<Input>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<Oauth2>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Oauth2 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    pub token_url: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// The WIT name of an input type.
pub(crate) fn type_name(t: bindings::InputType) -> &'static str {
    use bindings::InputType as T;
    match t {
        T::String => "string",
        T::Number => "number",
        T::Boolean => "boolean",
        T::Json => "json",
        T::Secret => "secret",
        T::Picklist => "picklist",
        T::Connection => "connection",
        T::Date => "date",
        T::KeyValueList => "key-value-list",
    }
}

fn input(i: &bindings::InputSpec) -> Input {
    Input {
        key: i.key.clone(),
        label: i.label.clone(),
        input_type: type_name(i.type_).to_string(),
        required: i.required,
        // Validated as JSON when the component was loaded; kept as text should it not parse.
        default: i.default.as_ref().map(|d| serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.clone()))),
        help: i.help.clone(),
        choices: i.choices.iter().map(|c| Choice { value: c.value.clone(), label: c.label.clone() }).collect(),
        data_source: i.data_source.clone(),
    }
}

fn operation(key: &str, name: &str, description: &str, inputs: &[bindings::InputSpec]) -> Operation {
    Operation {
        key: key.to_string(),
        name: name.to_string(),
        description: description.to_string(),
        inputs: inputs.iter().map(input).collect(),
    }
}

fn kind_name(k: ConnectionKind) -> &'static str {
    match k {
        ConnectionKind::ApiKey => "api_key",
        ConnectionKind::Basic => "basic",
        ConnectionKind::Bearer => "bearer",
        ConnectionKind::Custom => "custom",
        ConnectionKind::Oauth2AuthorizationCode => "oauth2_authorization_code",
        ConnectionKind::Oauth2ClientCredentials => "oauth2_client_credentials",
    }
}

impl Description {
    /// The description of a loaded component.
    pub fn from_info(info: &ComponentInfo) -> Description {
        Description {
            key: info.key.clone(),
            name: info.name.clone(),
            version: info.version.clone(),
            description: info.description.clone(),
            icon: info.icon.clone(),
            actions: info.actions.iter().map(|a| operation(&a.key, &a.name, &a.description, &a.inputs)).collect(),
            triggers: info.triggers.iter().map(|t| operation(&t.key, &t.name, &t.description, &t.inputs)).collect(),
            data_sources: info
                .data_sources
                .iter()
                .map(|d| operation(&d.key, &d.name, &d.description, &d.inputs))
                .collect(),
            connections: info
                .connections
                .iter()
                .map(|c| Connection {
                    key: c.key.clone(),
                    name: c.name.clone(),
                    description: c.description.clone(),
                    kind: kind_name(c.kind).to_string(),
                    fields: c.fields.iter().map(input).collect(),
                    oauth2: c.oauth2.as_ref().map(|o| Oauth2 {
                        authorize_url: o.authorize_url.clone(),
                        token_url: o.token_url.clone(),
                        scopes: o.scopes.clone(),
                    }),
                })
                .collect(),
        }
    }

    /// The component's actions, triggers and data sources as definition validation sees them:
    /// `<key>.<operation>`, each input with the JSON type its literal values must have.
    pub fn operation_specs(&self) -> Vec<weft_model::ActionSpec> {
        use weft_model::OperationKind as K;
        let ops = [(K::Action, &self.actions), (K::Trigger, &self.triggers), (K::DataSource, &self.data_sources)];
        let specs = |inputs: &[Input]| -> Vec<weft_model::InputSpec> {
            inputs
                .iter()
                .map(|i| weft_model::InputSpec {
                    key: i.key.clone(),
                    input_type: i.json_type(),
                    required: i.required,
                    description: i.help.clone().unwrap_or_else(|| i.label.clone()),
                })
                .collect()
        };
        let operations =
            ops.into_iter().flat_map(|(kind, list)| list.iter().map(move |op| (kind, op))).map(|(kind, op)| {
                weft_model::ActionSpec::new(
                    format!("{}.{}", self.key, op.key),
                    op.description.clone(),
                    specs(&op.inputs),
                )
                .of_kind(kind)
            });
        // Connection types: their fields are what a `connection_type` config var's value holds.
        let connections = self.connections.iter().map(|c| {
            let mut spec =
                weft_model::ActionSpec::new(format!("{}.{}", self.key, c.key), c.description.clone(), specs(&c.fields))
                    .of_kind(K::Connection);
            spec.connection = Some(weft_model::ConnectionInfo {
                kind: c.kind.clone(),
                oauth2: c.oauth2.as_ref().map(|o| weft_model::OAuth2Endpoints {
                    authorize_url: o.authorize_url.clone(),
                    token_url: o.token_url.clone(),
                    scopes: o.scopes.clone(),
                }),
            });
            spec
        });
        operations.chain(connections).collect()
    }
}

impl Input {
    /// The JSON type literal values of this input must have.
    pub fn json_type(&self) -> weft_model::InputType {
        use weft_model::InputType as J;
        match self.input_type.as_str() {
            "string" | "secret" | "date" => J::String,
            "picklist" if !self.choices.is_empty() && self.data_source.is_none() => {
                J::Enum(self.choices.iter().map(|c| c.value.clone()).collect())
            }
            "picklist" => J::String,
            "number" => J::Number,
            "boolean" => J::Boolean,
            "key-value-list" => J::Array,
            _ => J::Any,
        }
    }
}
