//! `data.parse` / `data.format`: JSON, CSV (quotes, delimiters, header on/off) and XML with exact
//! outputs, round trips and error positions.

use serde_json::{Value, json};
use weft_components::{ActionContext, EgressGuard, Registry};
use weft_model::{ErrorKind, StepError};

async fn check(action: &str, input: Value) -> Result<Value, StepError> {
    Registry::builtin(EgressGuard::default()).run(action, input, &ActionContext::new("e", "s")).await
}

async fn parse(format: &str, text: &str) -> Result<Value, StepError> {
    check("data.parse", json!({"format": format, "text": text})).await
}

async fn input_error(action: &str, input: Value) -> String {
    let e = check(action, input).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Input, "{e}");
    e.message
}

#[tokio::test]
async fn json() {
    assert_eq!(parse("json", r#"{"a": [1, 2.5, null, "x"]}"#).await.unwrap(), json!({"a": [1, 2.5, null, "x"]}));
    assert_eq!(parse("json", "42").await.unwrap(), json!(42));
    assert_eq!(
        input_error("data.parse", json!({"format": "json", "text": "{\n  \"a\": 1,\n}"})).await,
        "text: invalid JSON: trailing comma at line 3 column 1"
    );
    let v = json!({"b": 1, "a": [true, null]});
    assert_eq!(
        check("data.format", json!({"format": "json", "value": v})).await.unwrap(),
        json!(r#"{"b":1,"a":[true,null]}"#)
    );
    assert_eq!(
        check("data.format", json!({"format": "json", "value": v, "pretty": true})).await.unwrap(),
        json!("{\n  \"b\": 1,\n  \"a\": [\n    true,\n    null\n  ]\n}")
    );
}

#[tokio::test]
async fn csv_parse() {
    let text = "id,name,note\n1,Ada,\"said \"\"hi\"\", left\"\n2,Bob,\"two\nlines\"\n3,,\n";
    assert_eq!(
        parse("csv", text).await.unwrap(),
        json!([
            {"id": "1", "name": "Ada", "note": "said \"hi\", left"},
            {"id": "2", "name": "Bob", "note": "two\nlines"},
            {"id": "3", "name": "", "note": ""},
        ])
    );
    assert_eq!(
        check("data.parse", json!({"format": "csv", "text": "a;b\n1;\"x;y\"", "delimiter": ";", "header": false}))
            .await
            .unwrap(),
        json!([["a", "b"], ["1", "x;y"]])
    );
    assert_eq!(
        check("data.parse", json!({"format": "csv", "text": "a\tb\n1\t2", "delimiter": "\t"})).await.unwrap(),
        json!([{"a": "1", "b": "2"}])
    );
    assert_eq!(parse("csv", "").await.unwrap(), json!([]));
    assert_eq!(parse("csv", "a,b\r\n1,2\r\n").await.unwrap(), json!([{"a": "1", "b": "2"}]));
    assert_eq!(
        input_error("data.parse", json!({"format": "csv", "text": "a,b\n1,2\n3,4,5\n"})).await,
        "text: invalid CSV at line 3: a row has 3 fields but the rows before it have 2"
    );
    assert_eq!(
        input_error("data.parse", json!({"format": "csv", "text": "a,a\n1,2"})).await,
        "text: invalid CSV at line 1: the column name \"a\" appears twice in the header row"
    );
    assert_eq!(
        input_error("data.parse", json!({"format": "csv", "text": "a", "delimiter": ";;"})).await,
        "delimiter: expected a single ASCII character, got \";;\""
    );
}

#[tokio::test]
async fn csv_format() {
    let rows = json!([{"id": 1, "name": "Ada \"A\"", "tags": ["x"]}, {"id": 2, "extra": true, "name": null}]);
    assert_eq!(
        check("data.format", json!({"format": "csv", "value": rows})).await.unwrap(),
        json!("id,name,tags,extra\n1,\"Ada \"\"A\"\"\",\"[\"\"x\"\"]\",\n2,,,true\n")
    );
    assert_eq!(
        check("data.format", json!({"format": "csv", "value": rows, "header": false, "delimiter": ";"})).await.unwrap(),
        json!("1;\"Ada \"\"A\"\"\";\"[\"\"x\"\"]\";\n2;;;true\n")
    );
    assert_eq!(
        check("data.format", json!({"format": "csv", "value": [["a", "b,c"], [1, "line\nbreak"]]})).await.unwrap(),
        json!("a,\"b,c\"\n1,\"line\nbreak\"\n")
    );
    // Round trip: what format writes, parse reads back.
    let table = json!([{"a": "1", "b": "x, \"y\""}, {"a": "2", "b": "multi\nline"}]);
    let text = check("data.format", json!({"format": "csv", "value": table})).await.unwrap();
    assert_eq!(parse("csv", text.as_str().unwrap()).await.unwrap(), table);
    assert_eq!(
        input_error("data.format", json!({"format": "csv", "value": [{"a": 1}, [1]]})).await,
        "value[1]: expected an object like the first row"
    );
    assert_eq!(
        input_error("data.format", json!({"format": "csv", "value": {"a": 1}})).await,
        "value: CSV takes a list of objects or a list of lists"
    );
}

#[tokio::test]
async fn xml_parse_and_round_trip() {
    let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<invoice number="INV-7" currency="EUR">
  <customer>Ada &amp; Co</customer>
  <line sku="A1"><qty>2</qty><price>9.50</price></line>
  <line sku="B2"><qty>1</qty><price>20</price></line>
  <paid/>
</invoice>"#;
    let want = json!({"invoice": {
        "@number": "INV-7", "@currency": "EUR",
        "customer": "Ada & Co",
        "line": [
            {"@sku": "A1", "qty": "2", "price": "9.50"},
            {"@sku": "B2", "qty": "1", "price": "20"},
        ],
        "paid": null,
    }});
    assert_eq!(parse("xml", text).await.unwrap(), want);
    for pretty in [false, true] {
        let formatted = check("data.format", json!({"format": "xml", "value": want, "pretty": pretty})).await.unwrap();
        assert_eq!(parse("xml", formatted.as_str().unwrap()).await.unwrap(), want, "pretty={pretty}: {formatted}");
    }
    assert_eq!(
        check("data.format", json!({"format": "xml", "value": want, "pretty": true})).await.unwrap(),
        json!(
            "<invoice number=\"INV-7\" currency=\"EUR\">\n  <customer>Ada &amp; Co</customer>\n  <line sku=\"A1\">\n    <qty>2</qty>\n    <price>9.50</price>\n  </line>\n  <line sku=\"B2\">\n    <qty>1</qty>\n    <price>20</price>\n  </line>\n  <paid/>\n</invoice>"
        )
    );
    assert_eq!(
        check("data.format", json!({"format": "xml", "value": {"n": {"@id": 1, "#text": "x < y", "ok": true}}}))
            .await
            .unwrap(),
        json!("<n id=\"1\">x &lt; y<ok>true</ok></n>")
    );
}

#[tokio::test]
async fn xml_errors_have_positions() {
    let msg = input_error("data.parse", json!({"format": "xml", "text": "<a>\n  <b>1</c>\n</a>"})).await;
    assert!(msg.starts_with("text: invalid XML at line 2, column "), "{msg}");
    let msg = input_error("data.parse", json!({"format": "xml", "text": "<a><b></b>"})).await;
    assert_eq!(msg, "text: invalid XML at line 1, column 11: unexpected end of document: <a> is not closed");
    let msg = input_error("data.format", json!({"format": "xml", "value": {"a": 1, "b": 2}})).await;
    assert!(msg.starts_with("value: expected an object with exactly one key"), "{msg}");
    let msg = input_error("data.format", json!({"format": "xml", "value": {"a": {"@x": {"y": 1}}}})).await;
    assert_eq!(msg, "value.a.@x: an attribute value must be a string, number or boolean");
}

#[tokio::test]
async fn unknown_format_names_the_input() {
    assert_eq!(
        input_error("data.parse", json!({"format": "yaml", "text": "a: 1"})).await,
        "format: expected one of json, csv, xml, got 'yaml'"
    );
    assert_eq!(input_error("data.parse", json!({"format": "json"})).await, "text: is required");
}
