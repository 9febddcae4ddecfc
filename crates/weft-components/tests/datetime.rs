//! `datetime.*` with exact outputs, including DST transitions in Europe/Berlin and
//! America/New_York.

use serde_json::{Value, json};
use weft_components::{ActionContext, EgressGuard, Registry};
use weft_model::{ErrorKind, StepError};

async fn check(action: &str, input: Value) -> Result<Value, StepError> {
    Registry::builtin(EgressGuard::default()).run(action, input, &ActionContext::new("e", "s")).await
}

async fn iso(action: &str, input: Value) -> String {
    let out = check(action, input.clone()).await.unwrap_or_else(|e| panic!("{action} {input}: {e}"));
    out["iso"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn parse_describes_the_instant() {
    let out = check("datetime.parse", json!({"value": "2024-03-31T02:30:00.250+02:00"})).await.unwrap();
    assert_eq!(
        out,
        json!({
            "iso": "2024-03-31T02:30:00.250+02:00", "unix": 1711845000, "unix_ms": 1711845000250i64,
            "timezone": "+02:00", "offset": "+02:00", "date": "2024-03-31", "time": "02:30:00",
            "year": 2024, "month": 3, "day": 31, "hour": 2, "minute": 30, "second": 0, "weekday": "Sunday",
        })
    );
    let table = [
        (json!({"value": "2024-01-15T10:00:00Z"}), "2024-01-15T10:00:00Z"),
        (json!({"value": "2024-01-15"}), "2024-01-15T00:00:00Z"),
        (json!({"value": "2024-01-15 10:30"}), "2024-01-15T10:30:00Z"),
        (json!({"value": 1700000000}), "2023-11-14T22:13:20Z"),
        (json!({"value": 1700000000.5}), "2023-11-14T22:13:20.500Z"),
        (json!({"value": "Tue, 1 Jul 2003 10:52:37 +0200"}), "2003-07-01T10:52:37+02:00"),
        (json!({"value": "2024-01-15 10:30", "timezone": "Europe/Berlin"}), "2024-01-15T10:30:00+01:00"),
        (json!({"value": "2024-07-15 10:30", "timezone": "Europe/Berlin"}), "2024-07-15T10:30:00+02:00"),
        (json!({"value": "2024-01-15T10:00:00Z", "timezone": "America/New_York"}), "2024-01-15T05:00:00-05:00"),
        (
            json!({"value": "15.01.2024 10:30", "format": "%d.%m.%Y %H:%M", "timezone": "Europe/Berlin"}),
            "2024-01-15T10:30:00+01:00",
        ),
        (json!({"value": "15/01/2024", "format": "%d/%m/%Y"}), "2024-01-15T00:00:00Z"),
        (json!({"value": "2024-01-15 10:30 -0330", "format": "%Y-%m-%d %H:%M %z"}), "2024-01-15T10:30:00-03:30"),
    ];
    for (input, want) in table {
        assert_eq!(iso("datetime.parse", input.clone()).await, want, "{input}");
    }
}

#[tokio::test]
async fn dst_gaps_and_overlaps_on_parse() {
    // Spring forward: 02:30 does not exist on these nights.
    for (value, tz) in [("2024-03-31 02:30", "Europe/Berlin"), ("2024-03-10 02:30", "America/New_York")] {
        let e = check("datetime.parse", json!({"value": value, "timezone": tz})).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Input);
        assert_eq!(
            e.message,
            format!("value: {value}:00 does not exist in {tz} (the clocks skip it for daylight saving time)")
        );
    }
    // Fall back: the repeated hour means its first occurrence (summer time).
    assert_eq!(
        iso("datetime.parse", json!({"value": "2024-10-27 02:30", "timezone": "Europe/Berlin"})).await,
        "2024-10-27T02:30:00+02:00"
    );
    assert_eq!(
        iso("datetime.parse", json!({"value": "2024-11-03 01:30", "timezone": "America/New_York"})).await,
        "2024-11-03T01:30:00-04:00"
    );
}

#[tokio::test]
async fn convert_across_transitions() {
    let table = [
        // Berlin, spring forward at 01:00Z.
        ("2024-03-31T00:59:59Z", "Europe/Berlin", "2024-03-31T01:59:59+01:00"),
        ("2024-03-31T01:00:00Z", "Europe/Berlin", "2024-03-31T03:00:00+02:00"),
        // Berlin, fall back at 01:00Z: 02:30 happens twice.
        ("2024-10-27T00:30:00Z", "Europe/Berlin", "2024-10-27T02:30:00+02:00"),
        ("2024-10-27T01:30:00Z", "Europe/Berlin", "2024-10-27T02:30:00+01:00"),
        // New York, spring forward at 07:00Z, fall back at 06:00Z.
        ("2024-03-10T06:59:00Z", "America/New_York", "2024-03-10T01:59:00-05:00"),
        ("2024-03-10T07:00:00Z", "America/New_York", "2024-03-10T03:00:00-04:00"),
        ("2024-11-03T05:30:00Z", "America/New_York", "2024-11-03T01:30:00-04:00"),
        ("2024-11-03T06:30:00Z", "America/New_York", "2024-11-03T01:30:00-05:00"),
        ("2024-06-01T12:00:00+02:00", "UTC", "2024-06-01T10:00:00Z"),
        ("2024-06-01T12:00:00Z", "+05:30", "2024-06-01T17:30:00+05:30"),
    ];
    for (value, tz, want) in table {
        assert_eq!(iso("datetime.convert", json!({"value": value, "timezone": tz})).await, want, "{value} in {tz}");
    }
    let out =
        check("datetime.convert", json!({"value": "2024-10-27T01:30:00Z", "timezone": "Europe/Berlin"})).await.unwrap();
    assert_eq!(
        (out["timezone"].clone(), out["offset"].clone(), out["hour"].clone()),
        (json!("Europe/Berlin"), json!("+01:00"), json!(2))
    );
    let e = check("datetime.convert", json!({"value": "2024-01-01T00:00:00Z", "timezone": "Europe/Berlinn"}))
        .await
        .unwrap_err();
    assert_eq!(
        e.message,
        "timezone: unknown time zone 'Europe/Berlinn' (use an IANA name like Europe/Berlin or an offset like +02:00)"
    );
    let e = check("datetime.convert", json!({"value": "2024-01-01T00:00:00Z"})).await.unwrap_err();
    assert_eq!(e.message, "timezone: is required");
}

#[tokio::test]
async fn add_is_dst_correct() {
    let table = [
        // Calendar days keep the wall clock across the change (23 h / 25 h later).
        (
            json!({"value": "2024-03-30T12:00:00+01:00", "amount": {"days": 1}, "timezone": "Europe/Berlin"}),
            "2024-03-31T12:00:00+02:00",
        ),
        (
            json!({"value": "2024-10-26T12:00:00+02:00", "amount": {"days": 1}, "timezone": "Europe/Berlin"}),
            "2024-10-27T12:00:00+01:00",
        ),
        (
            json!({"value": "2024-03-09T12:00:00-05:00", "amount": {"days": 1}, "timezone": "America/New_York"}),
            "2024-03-10T12:00:00-04:00",
        ),
        (
            json!({"value": "2024-11-02T12:00:00-04:00", "amount": {"weeks": 1}, "timezone": "America/New_York"}),
            "2024-11-09T12:00:00-05:00",
        ),
        // Hours are exact: 24 h after noon before spring-forward is 13:00.
        (
            json!({"value": "2024-03-30T12:00:00+01:00", "amount": {"hours": 24}, "timezone": "Europe/Berlin"}),
            "2024-03-31T13:00:00+02:00",
        ),
        (
            json!({"value": "2024-03-31T01:30:00+01:00", "amount": {"hours": 1}, "timezone": "Europe/Berlin"}),
            "2024-03-31T03:30:00+02:00",
        ),
        (
            json!({"value": "2024-11-03T01:30:00-04:00", "amount": {"hours": 1}, "timezone": "America/New_York"}),
            "2024-11-03T01:30:00-05:00",
        ),
        // Landing in a gap moves forward by the gap.
        (
            json!({"value": "2024-03-30T02:30:00+01:00", "amount": {"days": 1}, "timezone": "Europe/Berlin"}),
            "2024-03-31T03:30:00+02:00",
        ),
        // Month ends clamp.
        (json!({"value": "2024-01-31T09:00:00Z", "amount": {"months": 1}}), "2024-02-29T09:00:00Z"),
        (json!({"value": "2024-02-29T09:00:00Z", "amount": {"years": 1}}), "2025-02-28T09:00:00Z"),
        (
            json!({"value": "2024-03-31T09:00:00Z", "amount": {"months": -1, "days": -1, "minutes": 30}}),
            "2024-02-28T09:30:00Z",
        ),
        (
            json!({"value": "2024-01-01T00:00:00Z", "amount": {"seconds": 90, "milliseconds": 250}}),
            "2024-01-01T00:01:30.250Z",
        ),
        // Without a time zone, the value's own offset is kept.
        (json!({"value": "2024-03-30T12:00:00+01:00", "amount": {"days": 1}}), "2024-03-31T12:00:00+01:00"),
    ];
    for (input, want) in table {
        assert_eq!(iso("datetime.add", input.clone()).await, want, "{input}");
    }
    let e = check("datetime.add", json!({"value": "2024-01-01", "amount": {"fortnights": 1}})).await.unwrap_err();
    assert_eq!(
        e.message,
        "amount.fortnights: unknown unit (use years, months, weeks, days, hours, minutes, seconds, milliseconds)"
    );
    let e = check("datetime.add", json!({"value": "2024-01-01", "amount": {"days": 1.5}})).await.unwrap_err();
    assert_eq!(e.message, "amount.days: expected an integer, got 1.5");
}

#[tokio::test]
async fn format_writes_strftime() {
    let table = [
        (
            json!({"value": "2024-03-31T01:00:00Z", "format": "%Y-%m-%d %H:%M %Z", "timezone": "Europe/Berlin"}),
            "2024-03-31 03:00 CEST",
        ),
        (
            json!({"value": "2024-12-24T18:00:00Z", "format": "%A %d %B %Y, %H:%M %z", "timezone": "America/New_York"}),
            "Tuesday 24 December 2024, 13:00 -0500",
        ),
        (json!({"value": "2024-12-24T18:00:00+01:00", "format": "%H:%M"}), "18:00"),
        (json!({"value": 0, "format": "%s %Y"}), "0 1970"),
    ];
    for (input, want) in table {
        assert_eq!(check("datetime.format", input.clone()).await.unwrap(), json!(want), "{input}");
    }
    let e = check("datetime.format", json!({"value": "2024-01-01", "format": "%Q"})).await.unwrap_err();
    assert_eq!(e.message, "format: '%Q' is not a valid strftime format");
    let e = check("datetime.format", json!({"value": "yesterday", "format": "%Y"})).await.unwrap_err();
    assert!(e.message.starts_with("value: cannot read 'yesterday' as a date/time"), "{}", e.message);
    let e = check("datetime.parse", json!({"value": "2024-13-01", "format": "%Y-%m-%d"})).await.unwrap_err();
    assert!(e.message.starts_with("value: '2024-13-01' does not match the format '%Y-%m-%d': "), "{}", e.message);
}

#[tokio::test]
async fn now_is_the_current_time() {
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let out = check("datetime.now", json!({"timezone": "Europe/Berlin"})).await.unwrap();
    let ms = out["unix_ms"].as_i64().unwrap();
    assert!(ms >= before && ms - before < 5000);
    assert_eq!(out["timezone"], "Europe/Berlin");
}
