//! The built-in `data` component: `data.parse` turns JSON, CSV or XML text into JSON values, and
//! `data.format` writes values back as text.
//!
//! CSV: with `header: true` (default) the first row names the columns and each further row
//! becomes an object of strings; with `header: false` every row is a list of strings. Formatting
//! takes a list of objects (columns in first-seen key order) or a list of lists; `null` cells are
//! empty, nested values are written as JSON. XML follows the convention described in the `xml`
//! module: elements → objects, attributes `"@name"`, text `"#text"`, repeated elements → lists.
//!
//! Outputs are the values themselves: `data.parse` yields the parsed value, `data.format` the text.

use serde_json::{Map, Value};
use weft_model::{ActionSpec, ErrorKind, InputType, StepError};

use crate::input::{Inputs, action, enum_of, input_error, spec};
use crate::xml;
use crate::{ActionContext, BoxFuture, Component};

pub struct DataComponent;

const FORMATS: &[&str] = &["json", "csv", "xml"];

impl DataComponent {
    fn specs() -> Vec<ActionSpec> {
        vec![
            action(
                "data.parse",
                "Parses JSON, CSV or XML text. Output: the parsed value.",
                vec![
                    spec("format", enum_of(FORMATS), true, "json, csv or xml."),
                    spec("text", InputType::String, true, "The text to parse."),
                    spec("header", InputType::Boolean, false, "CSV: the first row names the columns (default true)."),
                    spec(
                        "delimiter",
                        InputType::String,
                        false,
                        "CSV: the field separator, one character (default \",\").",
                    ),
                ],
            ),
            action(
                "data.format",
                "Writes a value as JSON, CSV or XML text. Output: the text.",
                vec![
                    spec("format", enum_of(FORMATS), true, "json, csv or xml."),
                    spec("value", InputType::Any, true, "The value to write."),
                    spec("pretty", InputType::Boolean, false, "JSON/XML: indent the output (default false)."),
                    spec(
                        "header",
                        InputType::Boolean,
                        false,
                        "CSV: write a header row for a list of objects (default true).",
                    ),
                    spec(
                        "delimiter",
                        InputType::String,
                        false,
                        "CSV: the field separator, one character (default \",\").",
                    ),
                ],
            ),
        ]
    }
}

impl Component for DataComponent {
    fn key(&self) -> &'static str {
        "data"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        DataComponent::specs()
    }

    fn run<'a>(
        &'a self,
        action: &'a str,
        input: Value,
        _cx: &'a ActionContext,
    ) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move {
            let Some(spec) = DataComponent::specs().into_iter().find(|s| s.name == action) else {
                return Err(StepError::new(ErrorKind::Input, format!("unknown action '{action}'")));
            };
            let inputs = Inputs::new(input, &spec)?;
            if action == "data.parse" { parse(&inputs) } else { format(&inputs) }
        })
    }
}

fn delimiter(inputs: &Inputs) -> Result<u8, StepError> {
    match inputs.opt_str("delimiter")? {
        None => Ok(b','),
        Some(d) if d.len() == 1 && d.is_ascii() => Ok(d.as_bytes()[0]),
        Some("\\t") => Ok(b'\t'),
        Some(d) => Err(input_error("delimiter", format!("expected a single ASCII character, got {d:?}"))),
    }
}

fn parse(inputs: &Inputs) -> Result<Value, StepError> {
    let text = inputs.str("text")?;
    match inputs.choice("format", FORMATS, None)? {
        "json" => serde_json::from_str(text).map_err(|e| input_error("text", format!("invalid JSON: {e}"))),
        "csv" => parse_csv(text, inputs.opt_bool("header")?.unwrap_or(true), delimiter(inputs)?),
        _ => xml::parse(text).map_err(|e| {
            input_error("text", format!("invalid XML at line {}, column {}: {}", e.line, e.column, e.message))
        }),
    }
}

fn parse_csv(text: &str, header: bool, delimiter: u8) -> Result<Value, StepError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).delimiter(delimiter).from_reader(text.as_bytes());
    let mut rows = reader.records();
    let csv_err = |e: csv::Error| {
        let at = e.position().map(|p| format!(" at line {}", p.line())).unwrap_or_default();
        let detail = match e.kind() {
            csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                format!("a row has {len} fields but the rows before it have {expected_len}")
            }
            _ => e.to_string(),
        };
        input_error("text", format!("invalid CSV{at}: {detail}"))
    };
    let to_strings = |r: csv::StringRecord| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    if !header {
        let mut out = Vec::new();
        for r in rows {
            out.push(Value::from(to_strings(r.map_err(csv_err)?)));
        }
        return Ok(Value::Array(out));
    }
    let Some(first) = rows.next() else {
        return Ok(Value::Array(Vec::new()));
    };
    let columns = to_strings(first.map_err(csv_err)?);
    for (i, c) in columns.iter().enumerate() {
        if columns[..i].contains(c) {
            return Err(input_error(
                "text",
                format!("invalid CSV at line 1: the column name {c:?} appears twice in the header row"),
            ));
        }
    }
    let mut out = Vec::new();
    for r in rows {
        let r = r.map_err(csv_err)?;
        let obj: Map<String, Value> =
            columns.iter().cloned().zip(r.iter().map(|s| Value::String(s.to_string()))).collect();
        out.push(Value::Object(obj));
    }
    Ok(Value::Array(out))
}

fn format(inputs: &Inputs) -> Result<Value, StepError> {
    let value = inputs.req("value")?;
    let pretty = inputs.opt_bool("pretty")?.unwrap_or(false);
    let text = match inputs.choice("format", FORMATS, None)? {
        "json" => if pretty { serde_json::to_string_pretty(value) } else { serde_json::to_string(value) }
            .expect("JSON values serialize"),
        "csv" => format_csv(value, inputs.opt_bool("header")?.unwrap_or(true), delimiter(inputs)?)?,
        _ => xml::format(value, pretty).map_err(|(path, msg)| input_error(&path, msg))?,
    };
    Ok(Value::String(text))
}

fn format_csv(value: &Value, header: bool, delimiter: u8) -> Result<String, StepError> {
    let Value::Array(rows) = value else {
        return Err(input_error("value", "CSV takes a list of objects or a list of lists"));
    };
    let cell = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut w = csv::WriterBuilder::new().delimiter(delimiter).flexible(true).from_writer(Vec::new());
    let write_err = |e: csv::Error| StepError::new(ErrorKind::Component, format!("writing CSV failed: {e}"));
    if rows.first().is_some_and(Value::is_object) {
        let mut columns: Vec<&str> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let Value::Object(o) = row else {
                return Err(input_error(&format!("value[{i}]"), "expected an object like the first row"));
            };
            for k in o.keys() {
                if !columns.contains(&k.as_str()) {
                    columns.push(k);
                }
            }
        }
        if header {
            w.write_record(&columns).map_err(write_err)?;
        }
        for row in rows {
            w.write_record(columns.iter().map(|c| row.get(*c).map(cell).unwrap_or_default())).map_err(write_err)?;
        }
    } else {
        for (i, row) in rows.iter().enumerate() {
            let Value::Array(cells) = row else {
                return Err(input_error(
                    &format!("value[{i}]"),
                    "expected a list of cells (or make every row an object)",
                ));
            };
            w.write_record(cells.iter().map(cell)).map_err(write_err)?;
        }
    }
    let bytes = w.into_inner().map_err(|e| StepError::new(ErrorKind::Component, format!("writing CSV failed: {e}")))?;
    Ok(String::from_utf8(bytes).expect("CSV of UTF-8 strings is UTF-8"))
}
