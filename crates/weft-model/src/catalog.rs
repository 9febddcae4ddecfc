//! What actions exist and what inputs they take, as plain data. Components publish their
//! [`ActionSpec`]s; validation checks definitions against them without knowing any component.

use serde::Serialize;

/// One action of a component, e.g. `http.request`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionSpec {
    /// Fully qualified name: `<component>.<action>`.
    pub name: String,
    pub description: String,
    pub inputs: Vec<InputSpec>,
}

impl ActionSpec {
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
