//! Parsing definition documents (YAML or JSON) into JSON values that remember where every node
//! came from, so validation can name a line and column for each problem.
//!
//! Both formats go through one YAML event parser (YAML 1.2 is a superset of JSON), which gives
//! JSON documents positions and duplicate-key detection too. Scalars are resolved with the YAML
//! 1.2 core schema: plain `true`/`false`/`null`/`~`/numbers become typed values, quoted scalars
//! always stay strings, and YAML 1.1 surprises (`yes`, `on`, `0777` octals) are plain strings.
//! Anchors and aliases are expanded (with a bound on the expanded size); merge keys (`<<`) and
//! custom tags are refused with a diagnostic rather than silently misread.

use crate::diag::Diagnostic;
use crate::expr::{join_index, join_key};
use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

/// Deepest nesting of mappings and lists accepted (the same bound serde_json applies to JSON).
pub const MAX_DEPTH: usize = 128;
/// Most nodes a document may hold once aliases are expanded; stops "billion laughs" documents.
pub const MAX_NODES: usize = 1_000_000;

/// The text format of a definition document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    Yaml,
    Json,
}

impl SourceFormat {
    /// The format named by an HTTP `Content-Type` (parameters such as `charset` are ignored).
    pub fn from_content_type(content_type: &str) -> Option<SourceFormat> {
        let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match mime.as_str() {
            "application/json" | "text/json" => Some(SourceFormat::Json),
            "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" | "application/yml" => {
                Some(SourceFormat::Yaml)
            }
            m if m.ends_with("+json") => Some(SourceFormat::Json),
            m if m.ends_with("+yaml") => Some(SourceFormat::Yaml),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SourceFormat::Yaml => "yaml",
            SourceFormat::Json => "json",
        }
    }
}

/// A parsed document: its JSON value and the source position of its nodes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document {
    pub value: Value,
    /// Path (`flows[0].steps[2]`) → 1-based (line, column) of the node's value.
    positions: HashMap<String, (u32, u32)>,
    /// Path of a mapping entry → 1-based (line, column) of its key.
    key_positions: HashMap<String, (u32, u32)>,
}

impl Document {
    /// A document that did not come from text (e.g. a stored definition): no positions.
    pub fn from_value(value: Value) -> Document {
        Document { value, positions: HashMap::new(), key_positions: HashMap::new() }
    }

    /// Where the node at `path` starts (`""` is the root), if it came from the source text.
    /// Nodes produced by expanding an alias only have the alias's own position.
    pub fn position(&self, path: &str) -> Option<(u32, u32)> {
        self.positions.get(path).copied()
    }

    /// Where the key of the mapping entry at `path` is written.
    pub fn key_position(&self, path: &str) -> Option<(u32, u32)> {
        self.key_positions.get(path).copied()
    }

    /// The position of `path`, or else of its nearest ancestor that has one (a missing field is
    /// reported at the mapping that lacks it).
    pub fn nearest_position(&self, path: &str) -> Option<(u32, u32)> {
        if let Some(p) = self.position(path) {
            return Some(p);
        }
        // Ancestors are the prefixes that end right before a `.` or `[` separator.
        path.char_indices()
            .rev()
            .filter(|&(_, c)| c == '.' || c == '[')
            .find_map(|(i, _)| self.position(&path[..i]))
            .or_else(|| self.position(""))
    }
}

/// Parses a definition document; syntax errors, duplicate keys and unsupported YAML features are
/// returned as diagnostics (all of them, except that parsing stops at the first syntax error).
pub fn parse_document(source: &str, format: SourceFormat) -> Result<Document, Vec<Diagnostic>> {
    match format {
        SourceFormat::Yaml => build(source).map_err(|e| e.diagnostics),
        SourceFormat::Json => parse_json(source),
    }
}

/// JSON is checked by serde_json first (so only real JSON is accepted, with serde_json's error
/// positions), then read again by the YAML parser for positions and duplicate keys.
fn parse_json(source: &str) -> Result<Document, Vec<Diagnostic>> {
    let value: Value = serde_json::from_str(source).map_err(|e| {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = full.strip_suffix(&suffix).unwrap_or(&full);
        vec![Diagnostic::new("", format!("invalid JSON: {message}")).at(Some((e.line() as u32, e.column() as u32)))]
    })?;
    match build(source) {
        // serde_json's value is authoritative (number and escape handling); the YAML reading
        // has the same shape, so its positions apply.
        Ok(doc) => Ok(Document { value, ..doc }),
        // Valid JSON that the YAML reader cannot take (rare escapes such as surrogate pairs):
        // keep the value, without positions.
        Err(e) if e.syntax => Ok(Document::from_value(value)),
        Err(e) => Err(e.diagnostics),
    }
}

struct BuildError {
    diagnostics: Vec<Diagnostic>,
    /// Whether the YAML parser itself gave up (as opposed to problems found in a parsed tree).
    syntax: bool,
}

/// Where a node being read goes.
#[derive(Debug, Clone)]
enum Slot {
    /// The document root.
    Root,
    /// A key of the mapping on top of the stack.
    Key,
    /// A list item or mapping value at this path.
    Value(String),
    /// Dropped (the value of a duplicate or invalid key, or part of a non-string key).
    Discard,
}

enum Collection {
    Seq(Vec<Value>),
    Map {
        map: Map<String, Value>,
        /// `None` while the next node is a key; then the key read (or `None` inside if it was
        /// invalid, so its value is dropped).
        key: Option<Option<String>>,
    },
}

struct Frame {
    collection: Collection,
    path: String,
    slot: Slot,
    position: (u32, u32),
    anchor: usize,
    /// Nodes inside, counting alias expansions.
    nodes: usize,
    /// Whether positions inside are recorded (not inside a non-string key).
    record: bool,
}

struct Builder {
    stack: Vec<Frame>,
    root: Option<Value>,
    anchors: HashMap<usize, (Value, usize)>,
    doc: Document,
    diagnostics: Vec<Diagnostic>,
    total_nodes: usize,
}

fn position_of(mark: &Marker) -> (u32, u32) {
    // yaml-rust2 markers: line is 1-based, column 0-based.
    (mark.line() as u32, mark.col() as u32 + 1)
}

fn syntax_error(e: &ScanError) -> BuildError {
    let message = format!("invalid YAML: {}", e.info());
    BuildError { diagnostics: vec![Diagnostic::new("", message).at(Some(position_of(e.marker())))], syntax: true }
}

fn fatal(at: (u32, u32), message: impl Into<String>) -> BuildError {
    BuildError { diagnostics: vec![Diagnostic::new("", message).at(Some(at))], syntax: false }
}

/// Reads the YAML event stream into a value. The events are pulled one by one and the tree is
/// built with an explicit stack, so nesting depth is bounded here and never overflows the stack.
fn build(source: &str) -> Result<Document, BuildError> {
    let mut parser = Parser::new_from_str(source);
    let mut b = Builder {
        stack: Vec::new(),
        root: None,
        anchors: HashMap::new(),
        doc: Document::default(),
        diagnostics: Vec::new(),
        total_nodes: 0,
    };
    let mut documents = 0;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| syntax_error(&e))?;
        let at = position_of(&mark);
        let is_map = matches!(event, Event::MappingStart(..));
        match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(fatal(at, "expected a single document, found a second one (`---`)"));
                }
            }
            Event::Alias(id) => {
                let slot = b.next_slot();
                let Some((value, nodes)) = b.anchors.get(&id).cloned() else {
                    b.error(slot_path(&b, &slot), at, "an alias cannot refer to a node that contains it");
                    b.complete(Value::Null, at, 1, slot, 0);
                    continue;
                };
                b.count(nodes, at)?;
                if matches!(slot, Slot::Key) && !value.is_string() {
                    let path = slot_path(&b, &slot);
                    b.error(path, at, "mapping keys must be strings, found an alias to a non-string");
                    b.set_key(None);
                    continue;
                }
                b.complete(value, at, nodes, slot, 0);
            }
            Event::Scalar(text, style, anchor, tag) => {
                let slot = b.next_slot();
                b.count(1, at)?;
                let value = match resolve_scalar(&text, style, tag.as_ref()) {
                    Ok(v) => v,
                    Err(message) => {
                        b.error(slot_path(&b, &slot), at, message);
                        Value::Null
                    }
                };
                if matches!(slot, Slot::Key) && !value.is_string() {
                    let path = b.stack.last().map(|f| f.path.clone()).unwrap_or_default();
                    let found = if text.is_empty() { "an empty key".to_string() } else { format!("`{text}`") };
                    b.error(path, at, format!("mapping keys must be strings, found {found}; quote it (\"{text}\")"));
                    b.set_key(None);
                    continue;
                }
                if matches!(slot, Slot::Key) && text == "<<" && style == TScalarStyle::Plain {
                    let path = b.stack.last().map(|f| f.path.clone()).unwrap_or_default();
                    b.error(path, at, "merge keys (`<<`) are not supported; write the fields out");
                    b.set_key(None);
                    continue;
                }
                b.complete(value, at, 1, slot, anchor);
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag) => {
                let slot = b.next_slot();
                b.count(1, at)?;
                if b.stack.len() >= MAX_DEPTH {
                    return Err(fatal(at, format!("the document nests deeper than {MAX_DEPTH} levels")));
                }
                let expected = if is_map { "map" } else { "seq" };
                if let Some(tag) = tag.filter(|t| !(is_core(t) && t.suffix == expected)) {
                    b.error(slot_path(&b, &slot), at, unsupported_tag(&tag));
                }
                let record = b.stack.last().is_none_or(|f| f.record) && !matches!(slot, Slot::Key | Slot::Discard);
                let path = match &slot {
                    Slot::Value(p) => p.clone(),
                    Slot::Root => String::new(),
                    _ => b.stack.last().map(|f| f.path.clone()).unwrap_or_default(),
                };
                let collection =
                    if is_map { Collection::Map { map: Map::new(), key: None } } else { Collection::Seq(Vec::new()) };
                b.stack.push(Frame { collection, path, slot, position: at, anchor, nodes: 1, record });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = b.stack.pop() else { continue };
                let value = match frame.collection {
                    Collection::Seq(items) => Value::Array(items),
                    Collection::Map { map, .. } => Value::Object(map),
                };
                if matches!(frame.slot, Slot::Key) {
                    let path = b.stack.last().map(|f| f.path.clone()).unwrap_or_default();
                    let what = if value.is_array() { "a list" } else { "a mapping" };
                    b.error(path, frame.position, format!("mapping keys must be strings, found {what}"));
                    b.set_key(None);
                    continue;
                }
                b.complete(value, frame.position, frame.nodes, frame.slot, frame.anchor);
            }
        }
    }
    let Some(root) = b.root.take() else {
        return Err(fatal((1, 1), "the document is empty"));
    };
    if !b.diagnostics.is_empty() {
        return Err(BuildError { diagnostics: b.diagnostics, syntax: false });
    }
    b.doc.value = root;
    Ok(b.doc)
}

fn slot_path(b: &Builder, slot: &Slot) -> String {
    match slot {
        Slot::Value(p) => p.clone(),
        _ => b.stack.last().map(|f| f.path.clone()).unwrap_or_default(),
    }
}

impl Builder {
    fn error(&mut self, path: String, at: (u32, u32), message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::new(path, message).at(Some(at)));
    }

    fn count(&mut self, nodes: usize, at: (u32, u32)) -> Result<(), BuildError> {
        self.total_nodes = self.total_nodes.saturating_add(nodes);
        if self.total_nodes > MAX_NODES {
            return Err(fatal(at, format!("the document has more than {MAX_NODES} nodes once aliases are expanded")));
        }
        Ok(())
    }

    /// Where the node that starts now goes, decided by the collection it is in.
    fn next_slot(&self) -> Slot {
        match self.stack.last() {
            None => Slot::Root,
            Some(Frame { collection: Collection::Seq(items), path, .. }) => Slot::Value(join_index(path, items.len())),
            Some(Frame { collection: Collection::Map { key: None, .. }, .. }) => Slot::Key,
            Some(Frame { collection: Collection::Map { key: Some(Some(k)), .. }, path, .. }) => {
                Slot::Value(join_key(path, k))
            }
            Some(Frame { collection: Collection::Map { key: Some(None), .. }, .. }) => Slot::Discard,
        }
    }

    fn set_key(&mut self, key: Option<String>) {
        if let Some(Frame { collection: Collection::Map { key: k, .. }, .. }) = self.stack.last_mut() {
            *k = Some(key);
        }
    }

    /// Places a finished node into its slot and records its position.
    fn complete(&mut self, value: Value, at: (u32, u32), nodes: usize, slot: Slot, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (value.clone(), nodes));
        }
        if let Some(parent) = self.stack.last_mut() {
            parent.nodes = parent.nodes.saturating_add(nodes);
        }
        let record = self.stack.last().is_none_or(|f| f.record);
        // A block mapping's start event points at its first `:`; its first key is where a
        // reader sees it begin.
        let at = match (&value, &slot) {
            (Value::Object(m), Slot::Root | Slot::Value(_)) if !m.is_empty() => {
                let path = if let Slot::Value(p) = &slot { p.as_str() } else { "" };
                let first = join_key(path, m.keys().next().map(String::as_str).unwrap_or(""));
                self.doc.key_positions.get(&first).copied().filter(|k| *k < at).unwrap_or(at)
            }
            _ => at,
        };
        match slot {
            Slot::Root => {
                self.doc.positions.insert(String::new(), at);
                self.root = Some(value);
            }
            Slot::Discard => {
                if let Some(Frame { collection: Collection::Map { key, .. }, .. }) = self.stack.last_mut() {
                    *key = None;
                }
            }
            Slot::Key => self.complete_key(value, at, record),
            Slot::Value(path) => {
                if record {
                    self.doc.positions.insert(path, at);
                }
                match self.stack.last_mut().map(|f| &mut f.collection) {
                    Some(Collection::Seq(items)) => items.push(value),
                    Some(Collection::Map { map, key }) => {
                        if let Some(Some(k)) = key.take() {
                            map.insert(k, value);
                        }
                    }
                    None => {}
                }
            }
        }
    }

    fn complete_key(&mut self, value: Value, at: (u32, u32), record: bool) {
        let Value::String(key) = value else {
            self.set_key(None);
            return;
        };
        let Some(frame) = self.stack.last() else {
            return;
        };
        let path = join_key(&frame.path, &key);
        let duplicate = matches!(&frame.collection, Collection::Map { map, .. } if map.contains_key(&key));
        if duplicate {
            let first = self
                .doc
                .key_positions
                .get(&path)
                .map(|(l, c)| format!(" (first at line {l}, column {c})"))
                .unwrap_or_default();
            self.error(path, at, format!("duplicate key `{key}`{first}"));
            self.set_key(None);
            return;
        }
        if record {
            self.doc.key_positions.insert(path, at);
        }
        self.set_key(Some(key));
    }
}

const CORE_TAG: &str = "tag:yaml.org,2002:";

fn is_core(tag: &Tag) -> bool {
    tag.handle == CORE_TAG
}

fn unsupported_tag(tag: &Tag) -> String {
    let shown = if is_core(tag) { format!("!!{}", tag.suffix) } else { format!("{}{}", tag.handle, tag.suffix) };
    format!("unsupported tag `{shown}` (only !!str, !!int, !!float, !!bool, !!null, !!map and !!seq are understood)")
}

/// The YAML 1.2 core schema resolution of a scalar.
fn resolve_scalar(text: &str, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    let Some(tag) = tag else {
        return if style == TScalarStyle::Plain { plain_scalar(text) } else { Ok(Value::String(text.to_string())) };
    };
    // `!` alone is the non-specific tag: "a string, not resolved".
    if tag.handle.is_empty() && tag.suffix == "!" {
        return Ok(Value::String(text.to_string()));
    }
    if !is_core(tag) {
        return Err(unsupported_tag(tag));
    }
    let resolved = plain_scalar(text);
    let ok = match (tag.suffix.as_str(), &resolved) {
        ("str", _) => return Ok(Value::String(text.to_string())),
        ("null", Ok(Value::Null)) | ("bool", Ok(Value::Bool(_))) => true,
        ("int", Ok(Value::Number(n))) => n.is_i64() || n.is_u64(),
        ("float", Ok(Value::Number(n))) => {
            return n
                .as_f64()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("`{text}` is not a float"));
        }
        ("null" | "bool" | "int" | "float", _) => false,
        _ => return Err(unsupported_tag(tag)),
    };
    if ok { resolved } else { Err(format!("`{text}` is not a valid !!{}", tag.suffix)) }
}

fn plain_scalar(text: &str) -> Result<Value, String> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "true" | "True" | "TRUE" => return Ok(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(Value::Bool(false)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN"
        | ".NAN" => {
            return Err(format!("`{text}` cannot be represented in JSON (infinite and NaN numbers are not allowed)"));
        }
        _ => {}
    }
    if let Some(digits) =
        text.strip_prefix("0o").filter(|d| !d.is_empty() && d.bytes().all(|b| (b'0'..=b'7').contains(&b)))
    {
        return radix_int(text, digits, 8);
    }
    if let Some(digits) = text.strip_prefix("0x").filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return radix_int(text, digits, 16);
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        let number = text
            .parse::<i64>()
            .map(Number::from)
            .or_else(|_| text.strip_prefix('+').unwrap_or(text).parse::<u64>().map(Number::from))
            .ok()
            .or_else(|| text.parse::<f64>().ok().and_then(Number::from_f64));
        return number.map(Value::Number).ok_or_else(|| format!("`{text}` is too large a number"));
    }
    if is_core_float(unsigned) {
        return text
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("`{text}` is too large a number"));
    }
    Ok(Value::String(text.to_string()))
}

fn radix_int(text: &str, digits: &str, radix: u32) -> Result<Value, String> {
    u64::from_str_radix(digits, radix)
        .map(|n| Value::Number(n.into()))
        .map_err(|_| format!("`{text}` is too large a number"))
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` (the sign is already stripped).
fn is_core_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => digits(int) && digits(frac) && !(int.is_empty() && frac.is_empty()),
        None => !mantissa.is_empty() && digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn yaml(src: &str) -> Document {
        parse_document(src, SourceFormat::Yaml).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn errors(src: &str, format: SourceFormat) -> Vec<String> {
        parse_document(src, format).unwrap_err().iter().map(|d| d.to_string()).collect()
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let doc = yaml(
            "a: true\nb: 'true'\nc: ~\nd: 12\ne: -1.5e3\nf: yes\ng: 0x1F\nh: 0777\ni: !!str 12\nj: .5\nk:\nl: 1.\nm: \"null\"\n",
        );
        assert_eq!(
            doc.value,
            json!({"a": true, "b": "true", "c": null, "d": 12, "e": -1500.0, "f": "yes", "g": 31, "h": 777,
                   "i": "12", "j": 0.5, "k": null, "l": 1.0, "m": "null"})
        );
        assert_eq!(plain_scalar("1e"), Ok(json!("1e")));
        assert_eq!(plain_scalar("."), Ok(json!(".")));
        assert_eq!(plain_scalar("1.2.3"), Ok(json!("1.2.3")));
        assert_eq!(plain_scalar("18446744073709551615"), Ok(json!(18446744073709551615u64)));
    }

    #[test]
    fn positions_are_one_based() {
        let doc = yaml("key: x\nflows:\n  - key: a\n    steps: [1, \"two\", {k: v}]\n");
        assert_eq!(doc.position(""), Some((1, 1)));
        assert_eq!(doc.position("key"), Some((1, 6)));
        assert_eq!(doc.position("flows"), Some((3, 3)));
        assert_eq!(doc.position("flows[0]"), Some((3, 5)));
        assert_eq!(doc.position("flows[0].steps[1]"), Some((4, 16)));
        assert_eq!(doc.position("flows[0].steps[2]"), Some((4, 23)));
        assert_eq!(doc.key_position("flows[0].steps"), Some((4, 5)));
        assert_eq!(doc.nearest_position("flows[0].steps[2].nope.deeper"), Some((4, 23)));
    }

    #[test]
    fn anchors_expand_and_keep_the_alias_position() {
        let doc = yaml("a: &x {k: [1, 2]}\nb: *x\n");
        assert_eq!(doc.value, json!({"a": {"k": [1, 2]}, "b": {"k": [1, 2]}}));
        assert_eq!(doc.position("b"), Some((2, 4)));
        assert_eq!(doc.nearest_position("b.k[1]"), Some((2, 4)));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let prev = format!("*a{}", i - 1);
            src.push_str(&format!("a{i}: &a{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        let errs = errors(&src, SourceFormat::Yaml);
        assert!(errs[0].contains("more than 1000000 nodes"), "{errs:?}");
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing() {
        let src = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let errs = errors(&src, SourceFormat::Yaml);
        assert_eq!(errs, ["line 1, column 129: the document nests deeper than 128 levels"]);
        // The YAML scanner has its own limit, met first when brackets run far ahead.
        let errs = errors(&"[".repeat(100_000), SourceFormat::Yaml);
        assert_eq!(errs, ["line 1, column 256: invalid YAML: recursion limit exceeded"]);
    }

    #[test]
    fn problems_in_the_tree_are_all_reported() {
        let errs = errors("a: 1\na: 2\n1: x\n<<: {}\nt: !custom x\n? [k]\n: v\n", SourceFormat::Yaml);
        assert_eq!(
            errs,
            [
                "a (line 2, column 1): duplicate key `a` (first at line 1, column 1)",
                "line 3, column 1: mapping keys must be strings, found `1`; quote it (\"1\")",
                "line 4, column 1: merge keys (`<<`) are not supported; write the fields out",
                "t (line 5, column 12): unsupported tag `!custom` (only !!str, !!int, !!float, !!bool, !!null, !!map and !!seq are understood)",
                "line 6, column 3: mapping keys must be strings, found a list",
            ]
        );
    }

    #[test]
    fn syntax_errors_and_documents() {
        assert_eq!(errors("", SourceFormat::Yaml), ["line 1, column 1: the document is empty"]);
        assert_eq!(
            errors("a: 1\n---\nb: 2\n", SourceFormat::Yaml),
            ["line 2, column 1: expected a single document, found a second one (`---`)"]
        );
        assert_eq!(
            errors("a: [1\n", SourceFormat::Yaml),
            ["line 2, column 1: invalid YAML: while parsing a flow sequence, expected ',' or ']'"]
        );
    }

    #[test]
    fn json_is_strict_and_positioned() {
        assert_eq!(errors("{\"a\": 1,}", SourceFormat::Json), ["line 1, column 9: invalid JSON: trailing comma"]);
        assert_eq!(errors("a: 1", SourceFormat::Json), ["line 1, column 1: invalid JSON: expected value"]);
        assert_eq!(
            errors("{\"a\": 1,\n \"a\": 2}", SourceFormat::Json),
            ["a (line 2, column 2): duplicate key `a` (first at line 1, column 2)"]
        );
        let doc = parse_document("{\n\t\"a\": [1, {\"b\": \"\\ud83d\\ude00\"}]\n}", SourceFormat::Json).unwrap();
        assert_eq!(doc.value, json!({"a": [1, {"b": "😀"}]}));
        let doc = parse_document("{\n\t\"a\": [1, {\"b\": true}]\n}", SourceFormat::Json).unwrap();
        assert_eq!(doc.position("a[1].b"), Some((2, 17)));
    }

    #[test]
    fn content_types() {
        assert_eq!(SourceFormat::from_content_type("application/yaml; charset=utf-8"), Some(SourceFormat::Yaml));
        assert_eq!(SourceFormat::from_content_type("Application/JSON"), Some(SourceFormat::Json));
        assert_eq!(SourceFormat::from_content_type("application/vnd.weft+json"), Some(SourceFormat::Json));
        assert_eq!(SourceFormat::from_content_type("text/plain"), None);
    }
}
