//! Cron evaluation for schedule triggers: parsing an expression (5 fields, or 6 with seconds
//! first) in an IANA time zone and answering "when is the next fire time after t". Pure: no IO,
//! no clock — callers pass `now` — so the DST rules below are unit-tested here.
//!
//! # DST
//!
//! Fire times are wall-clock times in the schedule's zone (default UTC). A wall time skipped by a
//! spring-forward transition (02:30 on the night clocks jump from 02:00 to 03:00) fires at the
//! first valid instant after the gap (03:00), so a daily job never loses a day. A wall time that
//! occurs twice on a fall-back night (01:30 when clocks go from 02:00 back to 01:00 in New York)
//! fires once, at its first occurrence. Expressions whose hour field is a wildcard or a step
//! (`0 * * * *`, `*/10 * * * *`) follow the real clock instead, as Vixie cron does: an hourly job
//! runs in each real hour, so on a fall-back night it runs at both 01:00 (one hour apart) and on
//! a spring-forward night it runs at 01:00 and then 03:00 (also one hour apart).
//!
//! # Missed runs
//!
//! The policy after downtime is *run once*: when several fire times passed while no scheduler
//! was running, the schedule fires once, for the latest missed time, and then continues with the
//! first fire time after now ([`CronSchedule::plan`]). Catching up every missed run would flood
//! the customer's systems after an outage; skipping all of them would silently drop a daily job
//! whose time fell into a short restart.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde_json::Value;

/// Unix milliseconds, as stored by weft-db.
pub type Millis = i64;

/// Why a schedule cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The expression (after evaluating `{{ … }}`) is not a cron expression we accept.
    #[error("invalid cron expression `{cron}`: {message}")]
    InvalidCron { cron: String, message: String },
    /// The `{{ … }}` in the trigger's `cron` could not be evaluated, or did not yield a string.
    #[error("cannot evaluate the schedule's cron `{template}`: {message}")]
    Expression { template: String, message: String },
    #[error("unknown time zone `{0}` (use an IANA name such as Europe/Berlin, or UTC)")]
    UnknownTimeZone(String),
    /// The expression matches no time from the given instant on (e.g. `0 0 30 2 *`).
    #[error("cron expression `{0}` has no fire time after {1}")]
    NoNextTime(String, String),
}

/// A parsed cron expression in a time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    tz: Tz,
    text: String,
}

/// One firing decided by [`CronSchedule::plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Firing {
    /// The fire time this run stands for: the latest fire time at or before `now` (the due time
    /// itself unless runs were missed).
    pub scheduled_at: Millis,
    /// The next fire time after `now`: where the schedule continues.
    pub next_fire_at: Millis,
}

/// Evaluates a trigger's `cron` (which may be a `{{ … }}` expression over `config`, `instance`
/// and `customer`) to the expression text. `ctx` is the expression context.
pub fn resolve_cron(template: &str, ctx: &Value) -> Result<String, ScheduleError> {
    let err = |message: String| ScheduleError::Expression { template: template.to_string(), message };
    match weft_model::expr::eval_value(&Value::String(template.to_string()), ctx) {
        Ok(Value::String(s)) => Ok(s.trim().to_string()),
        Ok(other) => Err(err(format!("expected a string, got {other}"))),
        Err(e) => Err(err(e.to_string())),
    }
}

impl CronSchedule {
    /// Parses `cron` (5 fields, or 6 with seconds first) in `timezone` (IANA name; `None` = UTC).
    pub fn parse(cron: &str, timezone: Option<&str>) -> Result<CronSchedule, ScheduleError> {
        let tz = match timezone {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().map_err(|_| ScheduleError::UnknownTimeZone(name.to_string()))?,
        };
        let invalid = |message: String| ScheduleError::InvalidCron { cron: cron.to_string(), message };
        // weft-model's check gives the precise field-level message and rejects 7 fields, which
        // croner would read as a year; croner then decides what the expression means.
        weft_model::config::check_cron(cron).map_err(|m| invalid(m.to_string()))?;
        let parsed = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(cron)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(CronSchedule { cron: parsed, tz, text: cron.to_string() })
    }

    /// The expression as given.
    pub fn expression(&self) -> &str {
        &self.text
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    fn at(&self, ms: Millis) -> DateTime<Tz> {
        let utc = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC);
        utc.with_timezone(&self.tz)
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: Millis) -> Result<Millis, ScheduleError> {
        let start = self.at(after);
        self.cron
            .find_next_occurrence(&start, false)
            .map(|t| t.timestamp_millis())
            .map_err(|_| ScheduleError::NoNextTime(self.text.clone(), rfc3339(after, self.tz)))
    }

    /// The latest fire time at or before `at`, if any.
    fn latest_at_or_before(&self, at: Millis) -> Option<Millis> {
        self.cron.find_previous_occurrence(&self.at(at), true).ok().map(|t| t.timestamp_millis())
    }

    /// The firing for a schedule due at `due_at` (≤ `now`), by the run-once policy: one run for
    /// the latest fire time that has passed, then the first fire time after `now`.
    pub fn plan(&self, due_at: Millis, now: Millis) -> Result<Firing, ScheduleError> {
        let now = now.max(due_at);
        let scheduled_at = self.latest_at_or_before(now).map_or(due_at, |t| t.max(due_at));
        Ok(Firing { scheduled_at, next_fire_at: self.next_after(now)? })
    }
}

/// `ms` as RFC 3339 with the zone's offset at that instant (what a user of that zone expects to
/// read), millisecond precision.
pub fn rfc3339(ms: Millis, tz: Tz) -> String {
    match tz.timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Millis, false),
        None => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Milliseconds of an RFC 3339 instant.
    fn ms(s: &str) -> Millis {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    /// The next `n` fire times after `from`, as RFC 3339 in the schedule's zone.
    fn fires(cron: &str, tz: &str, from: &str, n: usize) -> Vec<String> {
        let s = CronSchedule::parse(cron, Some(tz)).unwrap();
        let mut t = ms(from);
        (0..n)
            .map(|_| {
                t = s.next_after(t).unwrap();
                rfc3339(t, s.timezone()).replace(".000", "")
            })
            .collect()
    }

    #[test]
    fn berlin_spring_forward_runs_skipped_time_at_first_valid_instant() {
        // 2026-03-29: 02:00 CET → 03:00 CEST; 02:30 does not exist that night.
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", "2026-03-27T12:00:00+01:00", 4),
            [
                "2026-03-28T02:30:00+01:00",
                "2026-03-29T03:00:00+02:00",
                "2026-03-30T02:30:00+02:00",
                "2026-03-31T02:30:00+02:00"
            ]
        );
    }

    #[test]
    fn berlin_fall_back_runs_repeated_time_once() {
        // 2026-10-25: 03:00 CEST → 02:00 CET; 02:30 happens twice.
        assert_eq!(
            fires("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00+02:00", 3),
            ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00", "2026-10-27T02:30:00+01:00"]
        );
    }

    #[test]
    fn new_york_spring_forward_and_fall_back() {
        // 2026-03-08: 02:00 EST → 03:00 EDT.
        assert_eq!(
            fires("30 2 * * *", "America/New_York", "2026-03-07T12:00:00-05:00", 3),
            ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"]
        );
        // 2026-11-01: 02:00 EDT → 01:00 EST; 01:30 happens twice, runs once.
        assert_eq!(
            fires("30 1 * * *", "America/New_York", "2026-10-31T12:00:00-04:00", 3),
            ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00", "2026-11-03T01:30:00-05:00"]
        );
        // A time outside the transitions is not shifted.
        assert_eq!(
            fires("30 1 * * *", "America/New_York", "2026-03-07T12:00:00-05:00", 2),
            ["2026-03-08T01:30:00-05:00", "2026-03-09T01:30:00-04:00"]
        );
    }

    #[test]
    fn hourly_across_transitions() {
        // Spring forward in Berlin: the 02:00 hour does not exist, the next run is 03:00 CEST
        // (one hour of real time after 01:00 CET).
        assert_eq!(
            fires("0 * * * *", "Europe/Berlin", "2026-03-29T00:30:00+01:00", 3),
            ["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"]
        );
        // Fall back in New York: an hourly job runs in each real hour, so the repeated 01:00
        // runs at both of its instants (one hour apart), unlike a job fixed at 01:xx.
        let got = fires("0 * * * *", "America/New_York", "2026-11-01T00:30:00-04:00", 3);
        assert_eq!(got, ["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"]);
        // Same in Berlin (03:00 CEST → 02:00 CET on 2026-10-25).
        let got = fires("0 * * * *", "Europe/Berlin", "2026-10-25T01:30:00+02:00", 3);
        assert_eq!(got, ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"]);
    }

    #[test]
    fn six_fields_have_seconds() {
        assert_eq!(
            fires("*/15 * * * * *", "UTC", "2026-01-01T00:00:07Z", 3),
            ["2026-01-01T00:00:15+00:00", "2026-01-01T00:00:30+00:00", "2026-01-01T00:00:45+00:00"]
        );
        // Five fields fire at second 0.
        assert_eq!(fires("* * * * *", "UTC", "2026-01-01T00:00:07Z", 1), ["2026-01-01T00:01:00+00:00"]);
        // Strictly after: a time that is itself a fire time is not returned again.
        assert_eq!(fires("0 9 * * *", "UTC", "2026-01-01T09:00:00Z", 1), ["2026-01-02T09:00:00+00:00"]);
    }

    #[test]
    fn bad_expressions_are_clear_errors() {
        let err = CronSchedule::parse("61 * * * *", None).unwrap_err();
        assert!(matches!(&err, ScheduleError::InvalidCron { cron, .. } if cron == "61 * * * *"), "{err:?}");
        assert!(err.to_string().contains("minute"), "{err}");
        let err = CronSchedule::parse("every day", None).unwrap_err();
        assert!(err.to_string().contains("5 fields"), "{err}");
        let err = CronSchedule::parse("0 0 0 1 1 * 2030", None).unwrap_err();
        assert!(err.to_string().contains("found 7 fields"), "{err}");
        let err = CronSchedule::parse("0 9 * * *", Some("Mars/Olympus")).unwrap_err();
        assert_eq!(err, ScheduleError::UnknownTimeZone("Mars/Olympus".into()));
        let never = CronSchedule::parse("0 0 30 2 *", None).unwrap();
        assert!(matches!(never.next_after(0), Err(ScheduleError::NoNextTime(..))));
    }

    #[test]
    fn missed_runs_run_once_for_the_latest() {
        let s = CronSchedule::parse("0 * * * *", None).unwrap();
        // On time (scheduler a little late): the run stands for its due time.
        let f = s.plan(ms("2026-01-01T10:00:00Z"), ms("2026-01-01T10:00:00.700Z")).unwrap();
        assert_eq!(f, Firing { scheduled_at: ms("2026-01-01T10:00:00Z"), next_fire_at: ms("2026-01-01T11:00:00Z") });
        // Down from 10:00 to 13:20: one run for 13:00, then 14:00.
        let f = s.plan(ms("2026-01-01T10:00:00Z"), ms("2026-01-01T13:20:00Z")).unwrap();
        assert_eq!(f, Firing { scheduled_at: ms("2026-01-01T13:00:00Z"), next_fire_at: ms("2026-01-01T14:00:00Z") });
    }

    #[test]
    fn cron_from_config() {
        let ctx = serde_json::json!({"config": {"schedule": " */5 * * * * "}, "instance": {}, "customer": null});
        assert_eq!(resolve_cron("{{ config.schedule }}", &ctx).unwrap(), "*/5 * * * *");
        assert_eq!(resolve_cron("0 9 * * *", &ctx).unwrap(), "0 9 * * *");
        let err = resolve_cron("{{ config.missing }}", &ctx).unwrap_err();
        assert!(matches!(err, ScheduleError::Expression { .. }), "{err:?}");
    }
}
