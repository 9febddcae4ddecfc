//! Schedule triggers through the HTTP API: deploying stores each schedule with its cron taken
//! from the config and shows its next fire time; upgrade recomputes it; an invalid schedule
//! refuses the deploy and stores nothing; delete removes the schedules.

mod common;

use common::*;
use serde_json::{Value, json};

const NIGHTLY: &str = r#"
key: nightly
name: Nightly
config:
  - page: Settings
    vars:
      - key: schedule
        label: When to run
        type: schedule
        default: "0 3 * * *"
      - key: when
        type: string
        default: "0 4 * * *"
flows:
  - key: tick
    trigger:
      schedule:
        cron: "{{ config.schedule }}"
        timezone: Europe/Berlin
    steps:
      - key: noop
        transform: "{{ trigger.body.scheduled_at }}"
  - key: other
    trigger:
      schedule:
        cron: "{{ config.when }}"
    steps:
      - key: noop
        transform: 1
  - key: by-hand
    trigger: {manual: {}}
    steps:
      - key: noop
        transform: 1
"#;

fn next_fire(inst: &Value, flow: &str) -> chrono::DateTime<chrono::FixedOffset> {
    let at = inst["schedules"][flow].as_str().unwrap_or_else(|| panic!("no schedule for {flow}: {inst}"));
    chrono::DateTime::parse_from_rfc3339(at).unwrap()
}

async fn setup(s: &Server) {
    assert_eq!(s.import(NIGHTLY).await.0, 201);
    assert_eq!(s.post("/api/v1/integrations/nightly/versions", Value::Null).await.0, 201);
    assert_eq!(s.post("/api/v1/customers", json!({"external_id": "acme", "name": "Acme"})).await.0, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_stores_schedules_from_config() {
    let s = start().await;
    setup(&s).await;
    let before = chrono::Utc::now();
    let (st, inst) = s
        .post(
            "/api/v1/instances",
            json!({"integration": "nightly", "customer": "ext:acme", "config": {"schedule": "*/5 * * * *"}}),
        )
        .await;
    assert_eq!(st, 201, "{inst}");
    let id = inst["id"].as_str().unwrap().to_string();

    // Only schedule-triggered flows have a schedule; the next fire time is the next 5-minute mark.
    let keys: Vec<&String> = inst["schedules"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["other", "tick"]);
    let next = next_fire(&inst, "tick");
    assert!(next > before && next <= before + chrono::Duration::minutes(5), "{next}");
    assert_eq!(chrono::Timelike::minute(&next) % 5, 0);
    assert_eq!(chrono::Timelike::second(&next), 0);
    let stored = s.db.list_schedules(&s.org, &id).await.unwrap();
    assert_eq!(stored[1].flow_key, "tick");
    assert_eq!(stored[1].cron, "*/5 * * * *");
    assert_eq!(stored[1].timezone, "Europe/Berlin");
    assert_eq!(stored[0].cron, "0 4 * * *");
    assert_eq!(stored[0].timezone, "UTC");
    assert_eq!(stored[0].next_fire_at, next_fire(&inst, "other").timestamp_millis());

    // GET shows the same.
    let (st, got) = s.get(&format!("/api/v1/instances/{id}")).await;
    assert_eq!(st, 200);
    assert_eq!(got["schedules"], inst["schedules"]);

    // Upgrading with a new value recomputes the schedule (03:00 in Berlin).
    let before_upgrade = chrono::Utc::now().timestamp_millis();
    let (st, up) =
        s.post(&format!("/api/v1/instances/{id}/upgrade"), json!({"config": {"schedule": "0 3 * * *"}})).await;
    assert_eq!(st, 200, "{up}");
    let berlin_3am = weft_worker::CronSchedule::parse("0 3 * * *", Some("Europe/Berlin")).unwrap();
    assert_eq!(next_fire(&up, "tick").timestamp_millis(), berlin_3am.next_after(before_upgrade).unwrap());
    assert_eq!(s.db.list_schedules(&s.org, &id).await.unwrap()[1].cron, "0 3 * * *");

    // Pause and resume keep the schedules.
    assert_eq!(s.post(&format!("/api/v1/instances/{id}/pause"), Value::Null).await.0, 200);
    let (st, resumed) = s.post(&format!("/api/v1/instances/{id}/resume"), Value::Null).await;
    assert_eq!(st, 200);
    assert_eq!(resumed["schedules"], up["schedules"]);

    // Delete removes them.
    assert_eq!(s.call(Some(&s.owner), "DELETE", &format!("/api/v1/instances/{id}"), Body::None).await.0, 204);
    assert!(s.db.list_schedules(&s.org, &id).await.unwrap().is_empty());
    assert!(s.db.due_schedules(i64::MAX, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_schedule_refuses_the_deploy() {
    let s = start().await;
    setup(&s).await;
    // Valid syntax, but 30 February never comes: the error names the flow, nothing is stored.
    let got = s
        .post(
            "/api/v1/instances",
            json!({"integration": "nightly", "customer": "ext:acme", "config": {"when": "0 0 30 2 *"}}),
        )
        .await;
    assert_error(&got, 422, "instance.invalid_config");
    assert!(got.1["error"]["message"].as_str().unwrap().contains("`other`"), "{}", got.1);
    assert_eq!(got.1["error"]["details"][0]["flow"], "other");
    // A string that is not a cron expression at all.
    let got = s
        .post(
            "/api/v1/instances",
            json!({"integration": "nightly", "customer": "ext:acme", "config": {"when": "every day"}}),
        )
        .await;
    assert_error(&got, 422, "instance.invalid_config");
    assert!(got.1["error"]["message"].as_str().unwrap().contains("5 fields"), "{}", got.1);
    let (st, list) = s.get("/api/v1/instances").await;
    assert_eq!(st, 200);
    assert_eq!(list["items"], json!([]));

    // An upgrade to an invalid value is refused too and keeps the old schedule.
    let (st, inst) = s.post("/api/v1/instances", json!({"integration": "nightly", "customer": "ext:acme"})).await;
    assert_eq!(st, 201, "{inst}");
    let id = inst["id"].as_str().unwrap();
    let got = s.post(&format!("/api/v1/instances/{id}/upgrade"), json!({"config": {"when": "61 * * * *"}})).await;
    assert_error(&got, 422, "instance.invalid_config");
    assert_eq!(s.db.list_schedules(&s.org, id).await.unwrap()[0].cron, "0 4 * * *");
}
