//! The built-in `datetime` component: reading, formatting, shifting and converting instants,
//! with IANA time zones (chrono-tz) so daylight-saving transitions come out right.
//!
//! Values are read from RFC 3339 / ISO 8601 text (`2024-03-31T02:30:00+02:00`, `2024-03-31`,
//! `2024-03-31 02:30`), RFC 2822 text, a unix timestamp in seconds (a number), or with an explicit
//! strftime `format`. A value without an offset is wall-clock time in `timezone` (default UTC);
//! a wall-clock time that does not exist there (skipped by a DST change) is an input error, one
//! that exists twice (repeated by a DST change) means its first occurrence.
//!
//! Actions other than `datetime.format` output a description of the instant:
//! `{iso, unix, unix_ms, timezone, offset, date, time, year, month, day, hour, minute, second,
//! weekday}`, shown in `timezone` when given, else in the value's own offset, else UTC.

use std::str::FromStr;

use chrono::format::{Item, StrftimeItems};
use chrono::{
    DateTime, Datelike, Days, FixedOffset, LocalResult, Months, NaiveDate, NaiveDateTime, Offset, SecondsFormat,
    TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};
use weft_model::{ActionSpec, ErrorKind, InputType, StepError};

use crate::input::{Inputs, action, input_error, spec, type_name};
use crate::{ActionContext, BoxFuture, Component};

pub struct DatetimeComponent;

const AMOUNT_UNITS: &[&str] = &["years", "months", "weeks", "days", "hours", "minutes", "seconds", "milliseconds"];

impl DatetimeComponent {
    fn specs() -> Vec<ActionSpec> {
        let value = || {
            spec("value", InputType::Any, true, "RFC 3339 / ISO 8601 text, RFC 2822 text, or unix seconds (a number).")
        };
        let tz = |required, what: &str| spec("timezone", InputType::String, required, what);
        vec![
            action(
                "datetime.now",
                "The current time, described.",
                vec![tz(false, "IANA time zone to show it in (default UTC).")],
            ),
            action(
                "datetime.parse",
                "Reads a date/time, described as {iso, unix, unix_ms, ...}.",
                vec![
                    value(),
                    spec("format", InputType::String, false, "strftime format of the value (e.g. \"%d.%m.%Y %H:%M\")."),
                    tz(false, "IANA time zone of values without an offset, and to show the result in (default UTC)."),
                ],
            ),
            action(
                "datetime.format",
                "Writes a date/time with a strftime format. Output: a string.",
                vec![
                    value(),
                    spec("format", InputType::String, true, "strftime format, e.g. \"%Y-%m-%d %H:%M %Z\"."),
                    tz(false, "IANA time zone to write it in (default: the value's offset, else UTC)."),
                ],
            ),
            action(
                "datetime.add",
                "Shifts a date/time: years, months, weeks and days move the wall clock in the time zone (DST-aware); hours, minutes, seconds and milliseconds move the instant.",
                vec![
                    value(),
                    spec(
                        "amount",
                        InputType::Object,
                        true,
                        "Integers (negative to go back): {years, months, weeks, days, hours, minutes, seconds, milliseconds}.",
                    ),
                    tz(false, "IANA time zone whose calendar applies (default: the value's offset, else UTC)."),
                ],
            ),
            action(
                "datetime.convert",
                "Shows a date/time in another time zone.",
                vec![value(), tz(true, "IANA time zone, e.g. Europe/Berlin.")],
            ),
        ]
    }
}

impl Component for DatetimeComponent {
    fn key(&self) -> &'static str {
        "datetime"
    }

    fn actions(&self) -> Vec<ActionSpec> {
        DatetimeComponent::specs()
    }

    fn run<'a>(
        &'a self,
        action: &'a str,
        input: Value,
        _cx: &'a ActionContext,
    ) -> BoxFuture<'a, Result<Value, StepError>> {
        Box::pin(async move { run_sync(action, input, Utc::now()) })
    }
}

fn run_sync(action: &str, input: Value, now: DateTime<Utc>) -> Result<Value, StepError> {
    let Some(spec) = DatetimeComponent::specs().into_iter().find(|s| s.name == action) else {
        return Err(StepError::new(ErrorKind::Input, format!("unknown action '{action}'")));
    };
    let inputs = Inputs::new(input, &spec)?;
    let zone = inputs.opt_str("timezone")?.map(|z| Zone::parse("timezone", z)).transpose()?;
    let read = |format: Option<&str>| read_value(inputs.req("value")?, format, zone.unwrap_or(Zone::UTC));
    match action {
        "datetime.now" => Ok(describe(now, zone.unwrap_or(Zone::UTC))),
        "datetime.parse" => {
            let (at, own) = read(inputs.opt_str("format")?)?;
            Ok(describe(at, zone.or(own).unwrap_or(Zone::UTC)))
        }
        "datetime.format" => {
            let (at, own) = read(None)?;
            let fmt = inputs.str("format")?;
            // Formatting in the named zone (not just its offset) lets `%Z` print `CEST`.
            match zone.or(own).unwrap_or(Zone::UTC) {
                Zone::Named(tz) => strftime(&at.with_timezone(&tz), fmt),
                Zone::Fixed(off) => strftime(&at.with_timezone(&off), fmt),
            }
            .map(Value::String)
        }
        "datetime.add" => {
            let (at, own) = read(None)?;
            let z = zone.or(own).unwrap_or(Zone::UTC);
            let amount = Amount::parse(inputs.req("amount")?)?;
            Ok(describe(amount.apply(at, z)?, z))
        }
        _ => {
            let (at, _) = read(None)?;
            Ok(describe(at, zone.expect("timezone is required for datetime.convert")))
        }
    }
}

/// A time zone: an IANA zone (DST-aware) or a fixed offset (from a value like `…+02:00`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Zone {
    Named(Tz),
    Fixed(FixedOffset),
}

impl Zone {
    const UTC: Zone = Zone::Named(Tz::UTC);

    fn parse(key: &str, s: &str) -> Result<Zone, StepError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("utc") || s == "Z" {
            return Ok(Zone::UTC);
        }
        if let Ok(tz) = Tz::from_str(s) {
            return Ok(Zone::Named(tz));
        }
        if let Ok(off) = FixedOffset::from_str(s) {
            return Ok(Zone::Fixed(off));
        }
        Err(input_error(
            key,
            format!("unknown time zone '{s}' (use an IANA name like Europe/Berlin or an offset like +02:00)"),
        ))
    }

    fn name(&self) -> String {
        match self {
            Zone::Named(tz) => tz.name().to_string(),
            Zone::Fixed(off) => off.to_string(),
        }
    }

    fn at(&self, utc: DateTime<Utc>) -> DateTime<FixedOffset> {
        match self {
            Zone::Named(tz) => utc.with_timezone(tz).fixed_offset(),
            Zone::Fixed(off) => utc.with_timezone(off),
        }
    }

    fn local(&self, naive: &NaiveDateTime) -> LocalResult<DateTime<Utc>> {
        match self {
            Zone::Named(tz) => tz.from_local_datetime(naive).map(|d| d.with_timezone(&Utc)),
            Zone::Fixed(off) => off.from_local_datetime(naive).map(|d| d.with_timezone(&Utc)),
        }
    }

    /// Wall-clock time → instant, refusing times a DST change skipped.
    fn resolve_local_strict(&self, key: &str, naive: &NaiveDateTime) -> Result<DateTime<Utc>, StepError> {
        match self.local(naive) {
            LocalResult::Single(d) => Ok(d),
            LocalResult::Ambiguous(first, _) => Ok(first),
            LocalResult::None => Err(input_error(
                key,
                format!("{naive} does not exist in {} (the clocks skip it for daylight saving time)", self.name()),
            )),
        }
    }

    /// Wall-clock time → instant for arithmetic: a skipped time is read with the offset in force
    /// before the change, which lands as far after the change as it was into the gap (02:30 on
    /// a spring-forward night in Berlin becomes 03:30), as calendar apps and JavaScript's
    /// Temporal do.
    fn resolve_local_lenient(&self, naive: &NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.local(naive) {
            LocalResult::Single(d) => Some(d),
            LocalResult::Ambiguous(first, _) => Some(first),
            LocalResult::None => {
                let before = (1..=48).find_map(|h| {
                    let earlier = *naive - chrono::Duration::hours(h);
                    self.local(&earlier).earliest().map(|d| self.at(d).offset().fix())
                })?;
                Some((*naive - chrono::Duration::seconds(i64::from(before.local_minus_utc()))).and_utc())
            }
        }
    }
}

/// Reads a value: returns the instant, and the value's own fixed offset when it gave one.
fn read_value(v: &Value, format: Option<&str>, zone: Zone) -> Result<(DateTime<Utc>, Option<Zone>), StepError> {
    let key = "value";
    match v {
        Value::Number(n) => {
            let secs = n.as_f64().filter(|s| s.is_finite()).ok_or_else(|| input_error(key, "not a unix timestamp"))?;
            let ms = (secs * 1000.0).round() as i64;
            let at = DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| input_error(key, format!("unix timestamp {n} is out of range")))?;
            Ok((at, None))
        }
        Value::String(s) => {
            let s = s.trim();
            match format {
                Some(fmt) => read_with_format(s, fmt, zone),
                None => read_auto(s, zone),
            }
        }
        other => {
            Err(input_error(key, format!("expected a date/time string or unix seconds, got {}", type_name(other))))
        }
    }
}

fn read_auto(s: &str, zone: Zone) -> Result<(DateTime<Utc>, Option<Zone>), StepError> {
    let with_offset = DateTime::parse_from_rfc3339(s).or_else(|_| DateTime::parse_from_rfc2822(s));
    if let Ok(d) = with_offset {
        return Ok((d.with_timezone(&Utc), Some(own_zone(d.offset()))));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok((zone.resolve_local_strict("value", &naive)?, None));
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok((zone.resolve_local_strict("value", &date.and_hms_opt(0, 0, 0).expect("midnight"))?, None));
    }
    Err(input_error(
        "value",
        format!(
            "cannot read '{s}' as a date/time (give RFC 3339 like 2024-03-31T12:00:00+02:00, a date like 2024-03-31, unix seconds, or a format)"
        ),
    ))
}

fn read_with_format(s: &str, fmt: &str, zone: Zone) -> Result<(DateTime<Utc>, Option<Zone>), StepError> {
    check_format("format", fmt)?;
    let e1 = match DateTime::parse_from_str(s, fmt) {
        Ok(d) => return Ok((d.with_timezone(&Utc), Some(own_zone(d.offset())))),
        Err(e) => e,
    };
    let e2 = match NaiveDateTime::parse_from_str(s, fmt) {
        Ok(naive) => return Ok((zone.resolve_local_strict("value", &naive)?, None)),
        Err(e) => e,
    };
    let e3 = match NaiveDate::parse_from_str(s, fmt) {
        Ok(date) => {
            return Ok((zone.resolve_local_strict("value", &date.and_hms_opt(0, 0, 0).expect("midnight"))?, None));
        }
        Err(e) => e,
    };
    let not_enough = |e: &chrono::ParseError| e.kind() == chrono::format::ParseErrorKind::NotEnough;
    let why = [e1, e2, e3].into_iter().find(|e| !not_enough(e)).unwrap_or(e3);
    Err(input_error("value", format!("'{s}' does not match the format '{fmt}': {why}")))
}

/// A value's own offset: `Z`/`+00:00` reads as UTC, anything else stays a fixed offset.
fn own_zone(off: &FixedOffset) -> Zone {
    if off.local_minus_utc() == 0 { Zone::UTC } else { Zone::Fixed(*off) }
}

fn check_format(key: &str, fmt: &str) -> Result<(), StepError> {
    if StrftimeItems::new(fmt).any(|i| matches!(i, Item::Error)) {
        return Err(input_error(key, format!("'{fmt}' is not a valid strftime format")));
    }
    Ok(())
}

fn strftime<Z: TimeZone>(dt: &DateTime<Z>, fmt: &str) -> Result<String, StepError>
where
    Z::Offset: std::fmt::Display,
{
    use std::fmt::Write as _;
    check_format("format", fmt)?;
    let mut out = String::new();
    write!(out, "{}", dt.format_with_items(StrftimeItems::new(fmt)))
        .map_err(|_| input_error("format", format!("'{fmt}' cannot be written for this value")))?;
    Ok(out)
}

fn describe(at: DateTime<Utc>, zone: Zone) -> Value {
    let local = zone.at(at);
    let iso = if zone == Zone::UTC {
        at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    } else {
        local.to_rfc3339_opts(SecondsFormat::AutoSi, false)
    };
    json!({
        "iso": iso,
        "unix": at.timestamp(),
        "unix_ms": at.timestamp_millis(),
        "timezone": zone.name(),
        "offset": local.offset().to_string(),
        "date": local.format("%Y-%m-%d").to_string(),
        "time": local.format("%H:%M:%S").to_string(),
        "year": local.year(),
        "month": local.month(),
        "day": local.day(),
        "hour": local.hour(),
        "minute": local.minute(),
        "second": local.second(),
        "weekday": local.format("%A").to_string(),
    })
}

/// A `datetime.add` amount.
#[derive(Default)]
struct Amount {
    months: i64,
    days: i64,
    millis: i64,
}

impl Amount {
    fn parse(v: &Value) -> Result<Amount, StepError> {
        let Value::Object(m) = v else {
            return Err(input_error(
                "amount",
                format!("expected an object like {{days: 1, hours: 2}}, got {}", type_name(v)),
            ));
        };
        let mut a = Amount::default();
        let units: &Map<String, Value> = m;
        for (unit, n) in units {
            let key = format!("amount.{unit}");
            if !AMOUNT_UNITS.contains(&unit.as_str()) {
                return Err(input_error(&key, format!("unknown unit (use {})", AMOUNT_UNITS.join(", "))));
            }
            let n = n.as_i64().ok_or_else(|| input_error(&key, format!("expected an integer, got {n}")))?;
            let overflow = || input_error(&key, "is too large");
            let add =
                |acc: i64, factor: i64| n.checked_mul(factor).and_then(|x| acc.checked_add(x)).ok_or_else(overflow);
            match unit.as_str() {
                "years" => a.months = add(a.months, 12)?,
                "months" => a.months = add(a.months, 1)?,
                "weeks" => a.days = add(a.days, 7)?,
                "days" => a.days = add(a.days, 1)?,
                "hours" => a.millis = add(a.millis, 3_600_000)?,
                "minutes" => a.millis = add(a.millis, 60_000)?,
                "seconds" => a.millis = add(a.millis, 1000)?,
                _ => a.millis = add(a.millis, 1)?,
            }
        }
        Ok(a)
    }

    fn apply(&self, at: DateTime<Utc>, zone: Zone) -> Result<DateTime<Utc>, StepError> {
        let out_of_range = || input_error("amount", "the result is out of the supported date range");
        let mut at = at;
        if self.months != 0 || self.days != 0 {
            // Calendar units move the wall clock, so "1 day later" keeps the time of day across
            // a DST change (23 or 25 hours later).
            let mut local = zone.at(at).naive_local();
            let months = Months::new(u32::try_from(self.months.unsigned_abs()).map_err(|_| out_of_range())?);
            local = if self.months >= 0 { local.checked_add_months(months) } else { local.checked_sub_months(months) }
                .ok_or_else(out_of_range)?;
            let days = Days::new(self.days.unsigned_abs());
            local = if self.days >= 0 { local.checked_add_days(days) } else { local.checked_sub_days(days) }
                .ok_or_else(out_of_range)?;
            at = zone.resolve_local_lenient(&local).ok_or_else(out_of_range)?;
        }
        at.checked_add_signed(chrono::Duration::milliseconds(self.millis)).ok_or_else(out_of_range)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_uses_the_given_clock() {
        let now = DateTime::parse_from_rfc3339("2024-07-01T10:00:00Z").unwrap().with_timezone(&Utc);
        let out = run_sync("datetime.now", json!({"timezone": "Europe/Berlin"}), now).unwrap();
        assert_eq!(out["iso"], "2024-07-01T12:00:00+02:00");
        assert_eq!(out["unix"], 1719828000);
    }
}
