//! Human-readable output for the client commands: an aligned-column table formatter, a
//! key/value block, and the helpers that turn JSON values from the API into short cell text.
//!
//! Everything here is pure (builds `String`s, does no IO), so the formats are unit-tested and the
//! command code only decides *what* to show. `--json` output bypasses this module entirely.

use serde_json::Value;
use std::fmt::Write as _;

/// Gap between table columns. Two spaces keeps columns apart even when a cell holds spaces.
const COLUMN_GAP: &str = "  ";

/// A table with a header row; columns are padded to their widest cell.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<I, S>(headers: I) -> Table
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Table { headers: headers.into_iter().map(Into::into).collect(), rows: Vec::new() }
    }

    /// Adds a row. Cells are cleaned to one line (see [`one_line`]) so a stray newline in a
    /// message cannot break the alignment; missing cells are shown empty, extra ones dropped.
    pub fn row<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut row: Vec<String> = cells.into_iter().map(|c| one_line(&c.into())).collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    /// Renders the header and rows, each line ending in `\n`. The last column is not padded,
    /// so lines carry no trailing whitespace.
    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        for line in std::iter::once(&self.headers).chain(&self.rows) {
            let mut text = String::new();
            for (i, cell) in line.iter().enumerate() {
                if i > 0 {
                    text.push_str(COLUMN_GAP);
                }
                text.push_str(cell);
                if i + 1 < columns {
                    text.extend(std::iter::repeat_n(' ', widths[i] - width(cell)));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Renders `label  value` lines with the values aligned; empty values show as `-`.
pub fn key_values(pairs: &[(&str, String)]) -> String {
    let label_width = pairs.iter().map(|(k, _)| width(k)).max().unwrap_or(0);
    let mut out = String::new();
    for (label, value) in pairs {
        let value = if value.is_empty() { "-" } else { value.as_str() };
        let pad = label_width - width(label);
        let _ = writeln!(out, "{label}{}{COLUMN_GAP}{value}", " ".repeat(pad));
    }
    out
}

/// Display width of a cell. Counting chars (not bytes) keeps accented names aligned; wide CJK
/// glyphs would still be off by one each, which is acceptable without a width-table crate.
fn width(s: &str) -> usize {
    s.chars().count()
}

/// Collapses control characters (newlines, tabs) to spaces so a cell stays on one line.
pub fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// Shortens `s` to at most `max` chars, marking the cut with `…`.
pub fn truncate(s: &str, max: usize) -> String {
    if width(s) <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Short text for a JSON value in a table cell: strings bare, null as `-`, others as compact JSON.
pub fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.to_string(),
        Some(other) => other.to_string(),
    }
}

/// Field `key` of a JSON object as cell text (see [`cell`]).
pub fn field(object: &Value, key: &str) -> String {
    cell(object.get(key))
}

/// An RFC 3339 timestamp without its fractional seconds (`2026-11-28T04:40:00Z`): millisecond
/// precision is noise in a table. Anything else is shown as it is.
pub fn timestamp(value: Option<&Value>) -> String {
    let Some(Value::String(s)) = value else {
        return cell(value);
    };
    match (s.get(..19), s.get(19..)) {
        (Some(head), Some(rest)) if head.as_bytes().get(10) == Some(&b'T') && rest.starts_with('.') => {
            let zone = rest.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
            format!("{head}{zone}")
        }
        _ => s.clone(),
    }
}

/// A duration in milliseconds as `850ms`, `4.2s` or `3m12s`.
pub fn duration_ms(value: Option<&Value>) -> String {
    let Some(ms) = value.and_then(Value::as_u64) else {
        return cell(value);
    };
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1_000.0)
    } else {
        let secs = ms / 1_000;
        format!("{}m{:02}s", secs / 60, secs % 60)
    }
}

/// A customer's labels as `k=v, k2=v2`.
pub fn labels(value: Option<&Value>) -> String {
    match value {
        Some(Value::Object(map)) if !map.is_empty() => {
            map.iter().map(|(k, v)| format!("{k}={}", cell(Some(v)))).collect::<Vec<_>>().join(", ")
        }
        Some(Value::Object(_)) | None | Some(Value::Null) => "-".to_string(),
        Some(other) => other.to_string(),
    }
}

/// A step or execution error (`{kind, message, …}`) as `kind: message`.
pub fn step_error(value: Option<&Value>) -> String {
    match value {
        Some(Value::Object(map)) => match (map.get("kind").and_then(Value::as_str), map.get("message")) {
            (Some(kind), Some(Value::String(message))) => format!("{kind}: {message}"),
            (None, Some(Value::String(message))) => message.clone(),
            _ => Value::Object(map.clone()).to_string(),
        },
        other => cell(other),
    }
}

/// Pretty JSON, as printed for `--json` and for result/config blocks.
pub fn pretty(value: &Value) -> String {
    // Serializing a `Value` cannot fail: its map keys are always strings.
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// Indents every line of `text` by two spaces (for blocks under a heading).
pub fn indent(text: &str) -> String {
    text.lines().map(|l| if l.is_empty() { "\n".to_string() } else { format!("  {l}\n") }).collect()
}

/// The stderr text for an error response: `error: <message> (<code>)`, then one line per detail.
///
/// Details are rendered by shape, since each error code has its own: integration validation
/// problems (`{path, line, column, message}`), config problems (`{variable, message}`), plain
/// strings, or anything else as compact JSON.
pub fn api_error(code: &str, message: &str, details: Option<&Value>) -> String {
    let mut out = format!("error: {message} ({code})\n");
    match details {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for item in items {
                let _ = writeln!(out, "  {}", detail_line(item));
            }
        }
        Some(other) => {
            let _ = writeln!(out, "  {}", detail_line(other));
        }
    }
    out
}

/// One detail of an error response as a line (without the leading indent).
fn detail_line(item: &Value) -> String {
    let Value::Object(map) = item else {
        return match item {
            Value::String(s) => one_line(s),
            other => other.to_string(),
        };
    };
    let message = map.get("message").and_then(Value::as_str);
    if let (Some(variable), Some(message)) = (map.get("variable").and_then(Value::as_str), message) {
        return one_line(&format!("config.{variable}: {message}"));
    }
    let location = map.get("path").or_else(|| map.get("field")).and_then(Value::as_str);
    match (location, message) {
        (location, Some(message)) => {
            let line = map.get("line").and_then(Value::as_u64);
            let column = map.get("column").and_then(Value::as_u64);
            let position = match (line, column) {
                (Some(l), Some(c)) => format!(" (line {l}, column {c})"),
                (Some(l), None) => format!(" (line {l})"),
                _ => String::new(),
            };
            let location = match location {
                Some(p) if !p.is_empty() => p,
                _ => "(document)",
            };
            one_line(&format!("{location}{position}: {message}"))
        }
        _ => item.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_aligns_columns_without_trailing_spaces() {
        let mut t = Table::new(["ID", "NAME", "LABELS"]);
        t.row(["cus_1", "Acme Corporation", "tier=gold"]);
        t.row(["cus_22", "Zoë", "-"]);
        assert_eq!(
            t.render(),
            "ID      NAME              LABELS\n\
             cus_1   Acme Corporation  tier=gold\n\
             cus_22  Zoë               -\n"
        );
    }

    #[test]
    fn table_last_column_is_not_padded_and_empty_cells_are_trimmed() {
        let mut t = Table::new(["A", "MESSAGE"]);
        t.row(["x", "a long message"]);
        t.row(["yy", ""]);
        let text = t.render();
        assert_eq!(text, "A   MESSAGE\nx   a long message\nyy\n");
        assert!(text.lines().all(|l| !l.ends_with(' ')));
    }

    #[test]
    fn table_flattens_newlines_and_pads_short_rows() {
        let mut t = Table::new(["A", "B", "C"]);
        t.row(["line1\nline2"]);
        assert_eq!(t.render(), "A            B  C\nline1 line2\n");
    }

    #[test]
    fn empty_table_renders_header_only() {
        let t = Table::new(["ID", "NAME"]);
        assert_eq!(t.render(), "ID  NAME\n");
    }

    #[test]
    fn key_values_align_and_show_dash_for_empty() {
        let text = key_values(&[("ID", "cus_1".into()), ("External ID", String::new())]);
        assert_eq!(text, "ID           cus_1\nExternal ID  -\n");
    }

    #[test]
    fn cells_from_json() {
        assert_eq!(cell(None), "-");
        assert_eq!(cell(Some(&json!(null))), "-");
        assert_eq!(cell(Some(&json!("x"))), "x");
        assert_eq!(cell(Some(&json!(3))), "3");
        assert_eq!(cell(Some(&json!(true))), "yes");
        assert_eq!(cell(Some(&json!({"a": 1}))), r#"{"a":1}"#);
        assert_eq!(labels(Some(&json!({"tier": "gold", "region": "eu"}))), "tier=gold, region=eu");
        assert_eq!(labels(Some(&json!({}))), "-");
    }

    #[test]
    fn timestamps_drop_fractional_seconds() {
        assert_eq!(timestamp(Some(&json!("2026-11-28T04:40:00.123Z"))), "2026-11-28T04:40:00Z");
        assert_eq!(timestamp(Some(&json!("2026-11-28T04:40:00.5+02:00"))), "2026-11-28T04:40:00+02:00");
        assert_eq!(timestamp(Some(&json!("2026-11-28T04:40:00Z"))), "2026-11-28T04:40:00Z");
        assert_eq!(timestamp(Some(&json!("yesterday"))), "yesterday");
        assert_eq!(timestamp(Some(&json!(null))), "-");
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms(Some(&json!(850))), "850ms");
        assert_eq!(duration_ms(Some(&json!(4_249))), "4.2s");
        assert_eq!(duration_ms(Some(&json!(192_000))), "3m12s");
        assert_eq!(duration_ms(None), "-");
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("abcdef", 10), "abcdef");
        assert_eq!(truncate("abcdef", 4), "abc…");
    }

    #[test]
    fn step_errors() {
        assert_eq!(step_error(Some(&json!({"kind": "timeout", "message": "took too long"}))), "timeout: took too long");
        assert_eq!(step_error(Some(&json!(null))), "-");
        assert_eq!(step_error(Some(&json!("boom"))), "boom");
    }

    #[test]
    fn api_error_with_definition_problems() {
        let details = json!([
            {"path": "flows[0].steps[2].inputs.url", "line": 12, "column": 9, "message": "expected a string"},
            {"path": "key", "line": null, "column": null, "message": "is required"},
            {"path": "", "message": "not a mapping"}
        ]);
        assert_eq!(
            api_error("integration.invalid", "the definition is invalid", Some(&details)),
            "error: the definition is invalid (integration.invalid)\n\
             \x20 flows[0].steps[2].inputs.url (line 12, column 9): expected a string\n\
             \x20 key: is required\n\
             \x20 (document): not a mapping\n"
        );
    }

    #[test]
    fn api_error_with_config_problems_and_other_shapes() {
        let details = json!([{"variable": "endpoint", "message": "is required"}, "plain text", 7]);
        assert_eq!(
            api_error("instance.invalid_config", "bad config", Some(&details)),
            "error: bad config (instance.invalid_config)\n  config.endpoint: is required\n  plain text\n  7\n"
        );
        assert_eq!(
            api_error("customer.not_found", "no such customer", None),
            "error: no such customer (customer.not_found)\n"
        );
        assert_eq!(api_error("x", "y", Some(&json!({"limit": 5}))), "error: y (x)\n  {\"limit\":5}\n");
    }
}
