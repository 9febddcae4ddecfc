//! XML ⇄ JSON for `data.parse` / `data.format`, with one documented convention:
//!
//! - the document becomes an object with one key, the root element's name:
//!   `<order id="7"><item>a</item><item>b</item></order>` →
//!   `{"order": {"@id": "7", "item": ["a", "b"]}}`;
//! - an element with neither attributes nor child elements is its text (a string), or `null`
//!   when empty (`<a/>`, `<a></a>`);
//! - otherwise it is an object: attributes as `"@name"`, child elements by name, and the text as
//!   `"#text"` (trimmed when the element also has child elements; omitted when blank);
//! - a child element that occurs more than once becomes a list, in document order;
//! - all values are strings (XML has no types); comments, processing instructions and the
//!   declaration are dropped; CDATA is text; namespace prefixes stay part of the names.
//!
//! Formatting is the inverse: numbers and booleans are written as text, `null` as an empty
//! element, a list as repeated elements. `format(parse(x))` reproduces the same JSON.

use quick_xml::escape::{escape, partial_escape, resolve_xml_entity};
use quick_xml::events::Event;
use serde_json::{Map, Value};

/// An XML syntax error with the 1-based position where it was found.
#[derive(Debug)]
pub(crate) struct XmlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

struct Frame {
    name: String,
    attrs: Map<String, Value>,
    children: Map<String, Value>,
    text: String,
}

impl Frame {
    fn new(e: &quick_xml::events::BytesStart<'_>) -> Result<Frame, String> {
        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        let mut attrs = Map::new();
        for a in e.attributes() {
            let a = a.map_err(|e| format!("bad attribute in <{name}>: {e}"))?;
            let key = format!("@{}", String::from_utf8_lossy(a.key.as_ref()));
            let value = a.unescape_value().map_err(|e| format!("bad attribute value in <{name}>: {e}"))?;
            attrs.insert(key, Value::String(value.into_owned()));
        }
        Ok(Frame { name, attrs, children: Map::new(), text: String::new() })
    }

    fn add_child(&mut self, name: String, value: Value) {
        match self.children.get_mut(&name) {
            Some(Value::Array(list)) => list.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                self.children.insert(name, value);
            }
        }
    }

    fn finish(self) -> (String, Value) {
        if self.attrs.is_empty() && self.children.is_empty() {
            let v = if self.text.is_empty() { Value::Null } else { Value::String(self.text) };
            return (self.name, v);
        }
        let text = if self.children.is_empty() { self.text.as_str() } else { self.text.trim() };
        let mut obj = self.attrs;
        if !text.trim().is_empty() {
            obj.insert("#text".to_string(), Value::String(text.to_string()));
        }
        obj.extend(self.children);
        (self.name, Value::Object(obj))
    }
}

pub(crate) fn parse(text: &str) -> Result<Value, XmlError> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Value> = None;
    let at = |pos: u64, message: String| {
        let pos = (pos as usize).min(text.len());
        let before = &text[..text.floor_char_boundary(pos)];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        XmlError { line, column, message }
    };
    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| at(reader.error_position(), e.to_string()))?;
        let fail = |m: String| at(pos, m);
        match event {
            Event::Start(e) => {
                if root.is_some() && stack.is_empty() {
                    return Err(fail("a second root element (a document has exactly one)".into()));
                }
                stack.push(Frame::new(&e).map_err(fail)?);
            }
            Event::Empty(e) => {
                if root.is_some() && stack.is_empty() {
                    return Err(fail("a second root element (a document has exactly one)".into()));
                }
                let (name, value) = Frame::new(&e).map_err(fail)?.finish();
                attach(&mut stack, &mut root, name, value);
            }
            Event::End(_) => {
                let frame = stack.pop().expect("the reader checks end tags match start tags");
                let (name, value) = frame.finish();
                attach(&mut stack, &mut root, name, value);
            }
            Event::Text(t) => {
                let s = t.xml10_content().map_err(|e| fail(e.to_string()))?;
                push_text(&mut stack, &s).map_err(fail)?;
            }
            Event::CData(c) => {
                let s = c.decode().map_err(|e| fail(e.to_string()))?;
                push_text(&mut stack, &s).map_err(fail)?;
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| fail(e.to_string()))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| fail(e.to_string()))?;
                        resolve_xml_entity(&name).ok_or_else(|| fail(format!("unknown entity &{name};")))?.to_string()
                    }
                };
                push_text(&mut stack, &resolved).map_err(fail)?;
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(at(text.len() as u64, format!("unexpected end of document: <{}> is not closed", open.name)));
    }
    root.ok_or_else(|| at(0, "no root element".into()))
}

fn attach(stack: &mut [Frame], root: &mut Option<Value>, name: String, value: Value) {
    match stack.last_mut() {
        Some(parent) => parent.add_child(name, value),
        None => {
            let mut m = Map::new();
            m.insert(name, value);
            *root = Some(Value::Object(m));
        }
    }
}

fn push_text(stack: &mut [Frame], s: &str) -> Result<(), String> {
    match stack.last_mut() {
        Some(frame) => {
            frame.text.push_str(s);
            Ok(())
        }
        None if s.trim().is_empty() => Ok(()),
        None => Err(format!("text outside the root element: {:?}", s.trim())),
    }
}

/// Writes `value` (an object with one key, the root element) as XML. Errors name the JSON path.
pub(crate) fn format(value: &Value, pretty: bool) -> Result<String, (String, String)> {
    let root_err = || {
        (
            "value".to_string(),
            "expected an object with exactly one key, the root element's name (e.g. {\"order\": {…}})".to_string(),
        )
    };
    let Value::Object(m) = value else {
        return Err(root_err());
    };
    if m.len() != 1 {
        return Err(root_err());
    }
    let (name, v) = m.iter().next().expect("one key");
    if v.is_array() {
        return Err((
            format!("value.{name}"),
            "the root element cannot be a list (a document has exactly one root)".into(),
        ));
    }
    let mut out = String::new();
    write_element(&mut out, name, v, 0, pretty, &format!("value.{name}"))?;
    Ok(out)
}

fn write_element(
    out: &mut String,
    name: &str,
    v: &Value,
    depth: usize,
    pretty: bool,
    path: &str,
) -> Result<(), (String, String)> {
    check_name(name, path)?;
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{path}[{i}]");
                if item.is_array() {
                    return Err((p, "a list inside a list has no XML form".into()));
                }
                if i > 0 {
                    newline(out, depth, pretty);
                }
                write_element(out, name, item, depth, pretty, &p)?;
            }
        }
        Value::Null => {
            out.push_str(&format!("<{name}/>"));
        }
        Value::Object(obj) => {
            out.push('<');
            out.push_str(name);
            let mut text = None;
            let mut children = Vec::new();
            for (k, val) in obj {
                if let Some(attr) = k.strip_prefix('@') {
                    let p = format!("{path}.{k}");
                    check_name(attr, &p)?;
                    let Some(s) = scalar_text(val) else {
                        return Err((p, "an attribute value must be a string, number or boolean".into()));
                    };
                    out.push_str(&format!(" {attr}=\"{}\"", escape(s.as_str())));
                } else if k == "#text" {
                    text = Some(scalar_text(val).ok_or_else(|| {
                        (format!("{path}.#text"), "text must be a string, number or boolean".to_string())
                    })?);
                } else {
                    children.push((k, val));
                }
            }
            let text = text.filter(|t| !t.is_empty());
            if text.is_none() && children.is_empty() {
                out.push_str("/>");
                return Ok(());
            }
            out.push('>');
            if let Some(t) = &text {
                out.push_str(&partial_escape(t.as_str()));
            }
            for (k, val) in &children {
                newline(out, depth + 1, pretty);
                write_element(out, k, val, depth + 1, pretty, &format!("{path}.{k}"))?;
            }
            if !children.is_empty() {
                newline(out, depth, pretty);
            }
            out.push_str(&format!("</{name}>"));
        }
        scalar => {
            let s = scalar_text(scalar).expect("scalars have text");
            out.push_str(&format!("<{name}>{}</{name}>", partial_escape(s.as_str())));
        }
    }
    Ok(())
}

fn newline(out: &mut String, depth: usize, pretty: bool) {
    if pretty {
        out.push('\n');
        out.push_str(&"  ".repeat(depth));
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// XML names: a letter, `_` or `:` first, then letters, digits, `-`, `.`, `_`, `:`.
fn check_name(name: &str, path: &str) -> Result<(), (String, String)> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
    if ok { Ok(()) } else { Err((path.to_string(), format!("'{name}' is not a valid XML name"))) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn convention() {
        let xml = r#"<?xml version="1.0"?>
<!-- orders -->
<order id="7" status="new">
  <customer>Ada &amp; Co</customer>
  <item sku="A1">2</item>
  <item sku="B2"/>
  <note><![CDATA[<fragile>]]></note>
  <empty/>
  <mixed>hello <b>world</b></mixed>
  <ref>&#65;&#x42;&lt;</ref>
</order>"#;
        assert_eq!(
            parse(xml).unwrap(),
            json!({"order": {
                "@id": "7", "@status": "new",
                "customer": "Ada & Co",
                "item": [{"@sku": "A1", "#text": "2"}, {"@sku": "B2"}],
                "note": "<fragile>",
                "empty": null,
                "mixed": {"#text": "hello", "b": "world"},
                "ref": "AB<"
            }})
        );
    }

    #[test]
    fn errors_carry_positions() {
        let e = parse("<a>\n  <b></c>\n</a>").unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
        assert!(e.message.contains("c"), "{e:?}");
        let e = parse("<a><b></b>").unwrap_err();
        assert!(e.message.contains("<a> is not closed"), "{e:?}");
        assert!(parse("").unwrap_err().message.contains("no root"));
        assert!(parse("<a/><b/>").unwrap_err().message.contains("second root"));
        assert!(parse("<a>&nbsp;</a>").unwrap_err().message.contains("unknown entity &nbsp;"));
    }

    #[test]
    fn format_round_trips() {
        let v = json!({"order": {"@id": "7", "customer": "Ada & Co <x>", "item": [{"@sku": "A\"1", "#text": "2"}, {"@sku": "B2"}], "empty": null, "n": "3"}});
        for pretty in [false, true] {
            let text = format(&v, pretty).unwrap();
            assert_eq!(parse(&text).unwrap(), v, "{text}");
        }
        assert_eq!(
            format(&v, false).unwrap(),
            r#"<order id="7"><customer>Ada &amp; Co &lt;x&gt;</customer><item sku="A&quot;1">2</item><item sku="B2"/><empty/><n>3</n></order>"#
        );
        assert_eq!(format(&json!({"a": {"b": [1, 2]}}), true).unwrap(), "<a>\n  <b>1</b>\n  <b>2</b>\n</a>");
        assert_eq!(format(&json!({"a": 1, "b": 2}), false).unwrap_err().0, "value");
        assert_eq!(format(&json!({"a": {"bad name": 1}}), false).unwrap_err().0, "value.a.bad name");
    }
}
