//! What actions exist and what inputs they take, as plain data. Components publish their
//! [`ActionSpec`]s; validation checks definitions against them without knowing any component.

use serde::Serialize;

/// One operation of a component, e.g. the action `http.request`: what a step, a poll trigger
/// or a wizard picklist can call, by its fully qualified name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionSpec {
    /// Fully qualified name: `<component>.<operation>`.
    pub name: String,
    /// Whether steps, poll triggers or picklists call it.
    pub kind: OperationKind,
    pub description: String,
    pub inputs: Vec<InputSpec>,
    /// For a connection type: how it authenticates (its fields are `inputs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionInfo>,
}

/// How a component's connection type authenticates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionInfo {
    /// `api_key`, `basic`, `bearer`, `custom`, `oauth2_authorization_code` or
    /// `oauth2_client_credentials`.
    pub kind: String,
    /// The provider's endpoints and scopes, for the `oauth2_*` kinds.
    pub oauth2: Option<OAuth2Endpoints>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OAuth2Endpoints {
    pub authorize_url: Option<String>,
    pub token_url: String,
    pub scopes: Vec<String>,
}

/// What calls an operation of a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// An `action` step (or a poll trigger's `action`): inputs in, one JSON value out.
    Action,
    /// A component poll trigger (a poll trigger's `trigger`): returns new records and keeps
    /// its own cursor.
    Trigger,
    /// A data source: lists the choices of a wizard picklist (`data_source` of a config var).
    DataSource,
    /// A connection type: the credentials a `connection` config var takes (`connection_type`).
    Connection,
}

impl OperationKind {
    /// How the kind reads in an error message.
    pub fn noun(self) -> &'static str {
        match self {
            OperationKind::Action => "action",
            OperationKind::Trigger => "trigger",
            OperationKind::DataSource => "data source",
            OperationKind::Connection => "connection type",
        }
    }

    /// The noun with its article: "an action".
    pub fn a(self) -> &'static str {
        match self {
            OperationKind::Action => "an action",
            OperationKind::Trigger => "a trigger",
            OperationKind::DataSource => "a data source",
            OperationKind::Connection => "a connection type",
        }
    }
}

impl ActionSpec {
    /// An action.
    pub fn new(name: impl Into<String>, description: impl Into<String>, inputs: Vec<InputSpec>) -> ActionSpec {
        ActionSpec {
            name: name.into(),
            kind: OperationKind::Action,
            description: description.into(),
            inputs,
            connection: None,
        }
    }

    /// The same operation as another kind.
    pub fn of_kind(mut self, kind: OperationKind) -> ActionSpec {
        self.kind = kind;
        self
    }

    pub fn input(&self, key: &str) -> Option<&InputSpec> {
        self.inputs.iter().find(|i| i.key == key)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputSpec {
    pub key: String,
    #[serde(rename = "type")]
    pub input_type: InputType,
    pub required: bool,
    pub description: String,
}

/// The JSON type an input takes. Validation compares literal (expression-free) values with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputType {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
    /// One of these strings.
    Enum(Vec<String>),
    /// Anything JSON.
    Any,
}

impl InputType {
    /// Whether a literal JSON value fits this type.
    pub fn accepts(&self, v: &serde_json::Value) -> bool {
        use serde_json::Value as V;
        match (self, v) {
            (InputType::Any, _) => true,
            (InputType::String, V::String(_)) => true,
            (InputType::Number, V::Number(_)) => true,
            (InputType::Integer, V::Number(n)) => n.is_i64() || n.is_u64(),
            (InputType::Boolean, V::Bool(_)) => true,
            (InputType::Object, V::Object(_)) => true,
            (InputType::Array, V::Array(_)) => true,
            (InputType::Enum(opts), V::String(s)) => opts.iter().any(|o| o == s),
            _ => false,
        }
    }

    /// How the type reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            InputType::String => "a string".into(),
            InputType::Number => "a number".into(),
            InputType::Integer => "an integer".into(),
            InputType::Boolean => "a boolean".into(),
            InputType::Object => "an object".into(),
            InputType::Array => "a list".into(),
            InputType::Enum(opts) => format!("one of {}", opts.join(", ")),
            InputType::Any => "any value".into(),
        }
    }
}
