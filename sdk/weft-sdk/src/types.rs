//! The description of a component, built with small builders:
//! `Action::new("list_contacts", "List contacts").input(Input::string("query").required())`.

use serde_json::Value;

use crate::bindings::weft::component::types as wit;

/// What kind of value an input takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputType {
    String,
    Number,
    Boolean,
    /// Any JSON value.
    Json,
    /// A credential: redacted in logs, stored step inputs and the UI.
    Secret,
    /// One of `choices`, or of a data source's values.
    Picklist,
    /// A connection of one of the component's connection types.
    Connection,
    /// ISO 8601 date or date-time text.
    Date,
    /// A list of `{key, value}` pairs.
    KeyValueList,
}

/// One allowed value of a picklist.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

/// One input of an action, trigger, data source or connection type.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub key: String,
    pub label: String,
    pub input_type: InputType,
    pub required: bool,
    pub default: Option<Value>,
    pub help: Option<String>,
    pub choices: Vec<Choice>,
    pub data_source: Option<String>,
}

impl Input {
    /// An optional input of type `input_type`, labelled with its key.
    pub fn new(key: &str, input_type: InputType) -> Input {
        Input {
            key: key.to_string(),
            label: key.to_string(),
            input_type,
            required: false,
            default: None,
            help: None,
            choices: Vec::new(),
            data_source: None,
        }
    }

    pub fn string(key: &str) -> Input {
        Input::new(key, InputType::String)
    }

    pub fn number(key: &str) -> Input {
        Input::new(key, InputType::Number)
    }

    pub fn boolean(key: &str) -> Input {
        Input::new(key, InputType::Boolean)
    }

    pub fn json(key: &str) -> Input {
        Input::new(key, InputType::Json)
    }

    pub fn secret(key: &str) -> Input {
        Input::new(key, InputType::Secret)
    }

    pub fn date(key: &str) -> Input {
        Input::new(key, InputType::Date)
    }

    pub fn key_value_list(key: &str) -> Input {
        Input::new(key, InputType::KeyValueList)
    }

    pub fn connection(key: &str) -> Input {
        Input::new(key, InputType::Connection)
    }

    /// A picklist with fixed choices, given as (value, label) pairs.
    pub fn picklist(key: &str, choices: &[(&str, &str)]) -> Input {
        let mut input = Input::new(key, InputType::Picklist);
        input.choices = choices.iter().map(|(v, l)| Choice { value: v.to_string(), label: l.to_string() }).collect();
        input
    }

    /// A picklist whose values come from data source `data_source` of this component.
    pub fn dynamic_picklist(key: &str, data_source: &str) -> Input {
        let mut input = Input::new(key, InputType::Picklist);
        input.data_source = Some(data_source.to_string());
        input
    }

    pub fn required(mut self) -> Input {
        self.required = true;
        self
    }

    pub fn label(mut self, label: &str) -> Input {
        self.label = label.to_string();
        self
    }

    pub fn help(mut self, help: &str) -> Input {
        self.help = Some(help.to_string());
        self
    }

    pub fn default(mut self, value: Value) -> Input {
        self.default = Some(value);
        self
    }

    fn into_wit(self) -> wit::InputSpec {
        wit::InputSpec {
            key: self.key,
            label: self.label,
            type_: match self.input_type {
                InputType::String => wit::InputType::String,
                InputType::Number => wit::InputType::Number,
                InputType::Boolean => wit::InputType::Boolean,
                InputType::Json => wit::InputType::Json,
                InputType::Secret => wit::InputType::Secret,
                InputType::Picklist => wit::InputType::Picklist,
                InputType::Connection => wit::InputType::Connection,
                InputType::Date => wit::InputType::Date,
                InputType::KeyValueList => wit::InputType::KeyValueList,
            },
            required: self.required,
            default: self.default.map(|d| d.to_string()),
            help: self.help,
            choices: self.choices.into_iter().map(|c| wit::Choice { value: c.value, label: c.label }).collect(),
            data_source: self.data_source,
        }
    }
}

macro_rules! operation {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            pub key: String,
            pub name: String,
            pub description: String,
            pub inputs: Vec<Input>,
        }

        impl $name {
            pub fn new(key: &str, name: &str) -> $name {
                $name { key: key.to_string(), name: name.to_string(), description: String::new(), inputs: Vec::new() }
            }

            pub fn description(mut self, description: &str) -> $name {
                self.description = description.to_string();
                self
            }

            pub fn input(mut self, input: Input) -> $name {
                self.inputs.push(input);
                self
            }
        }
    };
}

operation!(
    /// An action flow steps can call.
    Action
);
operation!(
    /// A poll trigger.
    Trigger
);
operation!(
    /// A data source for wizard picklists.
    DataSource
);

/// How a connection authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionKind {
    ApiKey,
    Basic,
    Bearer,
    Custom,
    OAuth2AuthorizationCode,
    OAuth2ClientCredentials,
}

/// OAuth 2.0 endpoints and scopes.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuth2 {
    pub authorize_url: Option<String>,
    pub token_url: String,
    pub scopes: Vec<String>,
}

/// A connection type.
#[derive(Debug, Clone, PartialEq)]
pub struct Connection {
    pub key: String,
    pub name: String,
    pub description: String,
    pub kind: ConnectionKind,
    pub fields: Vec<Input>,
    pub oauth2: Option<OAuth2>,
}

impl Connection {
    pub fn new(key: &str, name: &str, kind: ConnectionKind) -> Connection {
        Connection {
            key: key.to_string(),
            name: name.to_string(),
            description: String::new(),
            kind,
            fields: Vec::new(),
            oauth2: None,
        }
    }

    pub fn description(mut self, description: &str) -> Connection {
        self.description = description.to_string();
        self
    }

    pub fn field(mut self, field: Input) -> Connection {
        self.fields.push(field);
        self
    }

    pub fn oauth2(mut self, oauth2: OAuth2) -> Connection {
        self.oauth2 = Some(oauth2);
        self
    }
}

/// What a component is and offers.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentInfo {
    pub key: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub icon: Option<String>,
    pub actions: Vec<Action>,
    pub triggers: Vec<Trigger>,
    pub data_sources: Vec<DataSource>,
    pub connections: Vec<Connection>,
}

impl ComponentInfo {
    pub fn new(key: &str, name: &str, version: &str) -> ComponentInfo {
        ComponentInfo {
            key: key.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            description: String::new(),
            icon: None,
            actions: Vec::new(),
            triggers: Vec::new(),
            data_sources: Vec::new(),
            connections: Vec::new(),
        }
    }

    pub fn description(mut self, description: &str) -> ComponentInfo {
        self.description = description.to_string();
        self
    }

    /// An `https://` URL or a `data:image/...` URI.
    pub fn icon(mut self, icon: &str) -> ComponentInfo {
        self.icon = Some(icon.to_string());
        self
    }

    pub fn action(mut self, action: Action) -> ComponentInfo {
        self.actions.push(action);
        self
    }

    pub fn trigger(mut self, trigger: Trigger) -> ComponentInfo {
        self.triggers.push(trigger);
        self
    }

    pub fn data_source(mut self, data_source: DataSource) -> ComponentInfo {
        self.data_sources.push(data_source);
        self
    }

    pub fn connection(mut self, connection: Connection) -> ComponentInfo {
        self.connections.push(connection);
        self
    }

    pub(crate) fn into_wit(self) -> wit::ComponentInfo {
        let inputs = |v: Vec<Input>| v.into_iter().map(Input::into_wit).collect::<Vec<_>>();
        wit::ComponentInfo {
            key: self.key,
            name: self.name,
            version: self.version,
            description: self.description,
            icon: self.icon,
            actions: self
                .actions
                .into_iter()
                .map(|a| wit::ActionSpec {
                    key: a.key,
                    name: a.name,
                    description: a.description,
                    inputs: inputs(a.inputs),
                })
                .collect(),
            triggers: self
                .triggers
                .into_iter()
                .map(|t| wit::TriggerSpec {
                    key: t.key,
                    name: t.name,
                    description: t.description,
                    inputs: inputs(t.inputs),
                })
                .collect(),
            data_sources: self
                .data_sources
                .into_iter()
                .map(|d| wit::DataSourceSpec {
                    key: d.key,
                    name: d.name,
                    description: d.description,
                    inputs: inputs(d.inputs),
                })
                .collect(),
            connections: self
                .connections
                .into_iter()
                .map(|c| wit::ConnectionSpec {
                    key: c.key,
                    name: c.name,
                    description: c.description,
                    kind: match c.kind {
                        ConnectionKind::ApiKey => wit::ConnectionKind::ApiKey,
                        ConnectionKind::Basic => wit::ConnectionKind::Basic,
                        ConnectionKind::Bearer => wit::ConnectionKind::Bearer,
                        ConnectionKind::Custom => wit::ConnectionKind::Custom,
                        ConnectionKind::OAuth2AuthorizationCode => wit::ConnectionKind::Oauth2AuthorizationCode,
                        ConnectionKind::OAuth2ClientCredentials => wit::ConnectionKind::Oauth2ClientCredentials,
                    },
                    fields: inputs(c.fields),
                    oauth2: c.oauth2.map(|o| wit::Oauth2Spec {
                        authorize_url: o.authorize_url,
                        token_url: o.token_url,
                        scopes: o.scopes,
                    }),
                })
                .collect(),
        }
    }
}

/// What one poll found: new records (oldest first) and the next cursor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PollResult {
    pub records: Vec<Value>,
    /// The cursor for the next poll; `None` keeps the previous one.
    pub next_cursor: Option<Value>,
}
