//! Example connector for "Acme CRM", a REST API of the usual shape:
//!
//! - `GET {base_url}/contacts?q=&updated_since=&page_token=` → `{"items": [...], "next_page_token": "..."|null}`
//!   (contacts are `{"id", "name", "email", "list_id", "updated_at"}`, oldest first);
//! - `POST {base_url}/contacts` → the created contact;
//! - `GET {base_url}/lists` → `{"items": [{"id", "name"}]}`.
//!
//! Every request carries the customer's key in `X-Api-Key` (the `api_key` connection). What it
//! shows: a paginated list action with a page cap, a create action that sends the step's
//! idempotency key, a data source for a wizard picklist, and a poll trigger whose cursor is the
//! newest `updated_at` seen (plus the ids seen at that instant, so nothing is emitted twice).

use weft_sdk::{
    Action, Component, ComponentInfo, Connection, ConnectionKind, Context, DataSource, Error, Input, PollResult,
    Trigger, Value, http, json, log,
};

pub struct AcmeCrm;

/// Most pages one `list_contacts` call or one poll reads.
const MAX_PAGES: u64 = 50;

fn base_url(cx: &Context) -> Result<String, Error> {
    let url = cx
        .connection_field("base_url")
        .ok_or_else(|| Error::input("this action needs an Acme CRM connection (api_key and base_url)"))?;
    Ok(url.trim_end_matches('/').to_string())
}

fn api_key(cx: &Context) -> Result<&str, Error> {
    cx.connection_field("api_key").ok_or_else(|| Error::input("the Acme CRM connection has no api_key"))
}

fn get(cx: &Context, path: &str) -> Result<http::Request, Error> {
    Ok(http::get(format!("{}{path}", base_url(cx)?)).header("x-api-key", api_key(cx)?))
}

/// Reads pages of contacts until there is no next page or `max_pages` were read.
fn contacts(cx: &Context, query: Option<&str>, since: Option<&str>, max_pages: u64) -> Result<Vec<Value>, Error> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..max_pages {
        let mut req = get(cx, "/contacts")?;
        if let Some(q) = query {
            req = req.query("q", q);
        }
        if let Some(s) = since {
            req = req.query("updated_since", s);
        }
        if let Some(t) = &token {
            req = req.query("page_token", t);
        }
        let page: Value = req.send()?.error_for_status()?.json()?;
        let page_items = page["items"].as_array().ok_or_else(|| {
            Error::internal("Acme CRM answered without an `items` list").with_details(json!({"body": page}))
        })?;
        items.extend(page_items.iter().cloned());
        match page["next_page_token"].as_str() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(items),
        }
    }
    log::warn(format!("stopped after {max_pages} pages; more contacts are available"));
    Ok(items)
}

impl Component for AcmeCrm {
    fn describe() -> ComponentInfo {
        ComponentInfo::new("acme-crm", "Acme CRM", "1.0.0")
            .description("Contacts and lists in Acme CRM.")
            .connection(
                Connection::new("api_key", "API key", ConnectionKind::ApiKey)
                    .description("An API key from Acme CRM's settings page.")
                    .field(
                        Input::string("base_url")
                            .required()
                            .label("API base URL")
                            .help("e.g. https://acme.example/api"),
                    )
                    .field(Input::secret("api_key").required().label("API key")),
            )
            .action(
                Action::new("list_contacts", "List contacts")
                    .description("Lists contacts, following pagination.")
                    .input(Input::connection("connection").required())
                    .input(Input::string("query").help("Text to search for."))
                    .input(Input::date("updated_since").help("Only contacts changed since then."))
                    .input(
                        Input::number("max_pages").default(json!(10)).help("Stop after this many pages (at most 50)."),
                    ),
            )
            .action(
                Action::new("create_contact", "Create a contact")
                    .description("Creates a contact in a list. Retries of the step do not create it twice.")
                    .input(Input::connection("connection").required())
                    .input(Input::string("name").required())
                    .input(Input::string("email").required())
                    .input(Input::dynamic_picklist("list_id", "lists").required().label("List")),
            )
            .data_source(
                DataSource::new("lists", "Lists")
                    .description("The customer's contact lists, for a picklist.")
                    .input(Input::connection("connection").required()),
            )
            .trigger(
                Trigger::new("new_contacts", "New or changed contacts")
                    .description("Emits each contact created or changed since the last poll.")
                    .input(Input::connection("connection").required()),
            )
    }

    fn run_action(action: &str, inputs: Value, cx: &Context) -> Result<Value, Error> {
        match action {
            "list_contacts" => {
                let max_pages = match &inputs["max_pages"] {
                    Value::Null => 10,
                    v => v.as_u64().filter(|n| (1..=MAX_PAGES).contains(n)).ok_or_else(|| {
                        Error::input(format!("max_pages must be a whole number from 1 to {MAX_PAGES}, got {v}"))
                    })?,
                };
                let items = contacts(cx, inputs["query"].as_str(), inputs["updated_since"].as_str(), max_pages)?;
                log::info(format!("listed {} contacts", items.len()));
                Ok(json!({"contacts": items, "count": items.len()}))
            }
            "create_contact" => {
                let field = |k: &str| {
                    inputs[k].as_str().filter(|s| !s.is_empty()).ok_or_else(|| Error::missing_input(k, "a string"))
                };
                let body = json!({"name": field("name")?, "email": field("email")?, "list_id": field("list_id")?});
                let created: Value = http::post(format!("{}/contacts", base_url(cx)?))
                    .header("x-api-key", api_key(cx)?)
                    .header("idempotency-key", &cx.idempotency_key)
                    .json(&body)
                    .send()?
                    .error_for_status()?
                    .json()?;
                Ok(created)
            }
            other => Err(Error::unknown_action(other)),
        }
    }

    fn data_source(key: &str, _inputs: Value, cx: &Context) -> Result<Value, Error> {
        match key {
            "lists" => {
                let lists: Value = get(cx, "/lists")?.send()?.error_for_status()?.json()?;
                let choices: Vec<Value> = lists["items"]
                    .as_array()
                    .map(|l| l.iter().map(|i| json!({"value": i["id"], "label": i["name"]})).collect())
                    .unwrap_or_default();
                Ok(Value::Array(choices))
            }
            other => Err(Error::input(format!("this component has no data source '{other}'"))),
        }
    }

    /// The cursor is `{"updated_at": <newest seen>, "ids": [<ids seen at that instant>]}`: the
    /// API's `updated_since` is inclusive, so contacts at exactly that instant come back and are
    /// skipped by id.
    fn poll(trigger: &str, _inputs: Value, cursor: Option<Value>, cx: &Context) -> Result<PollResult, Error> {
        if trigger != "new_contacts" {
            return Err(Error::input(format!("this component has no poll trigger '{trigger}'")));
        }
        let since = cursor.as_ref().and_then(|c| c["updated_at"].as_str()).map(str::to_string);
        let seen: Vec<Value> = cursor.as_ref().and_then(|c| c["ids"].as_array().cloned()).unwrap_or_default();
        let all = contacts(cx, None, since.as_deref(), MAX_PAGES)?;
        let records: Vec<Value> = all
            .into_iter()
            .filter(|c| !(since.as_deref() == c["updated_at"].as_str() && seen.contains(&c["id"])))
            .collect();
        let Some(newest) = records.iter().filter_map(|c| c["updated_at"].as_str()).max().map(str::to_string) else {
            return Ok(PollResult { records, next_cursor: None });
        };
        let mut ids: Vec<Value> =
            records.iter().filter(|c| c["updated_at"].as_str() == Some(&newest)).map(|c| c["id"].clone()).collect();
        if since.as_deref() == Some(&newest) {
            ids.extend(seen);
        }
        Ok(PollResult { records, next_cursor: Some(json!({"updated_at": newest, "ids": ids})) })
    }
}

weft_sdk::export_component!(AcmeCrm);

#[cfg(test)]
mod tests {
    use super::*;
    use weft_sdk::ErrorKind;
    use weft_sdk::http::{Request, Response};
    use weft_sdk::testing::FakeHost;

    fn cx() -> Context {
        Context::test().with_connection(json!({"base_url": "https://crm.example/api/", "api_key": "k-123"}))
    }

    fn query<'r>(req: &'r Request, name: &str) -> Option<&'r str> {
        let q = req.url.split_once('?')?.1;
        q.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    }

    /// Three pages of contacts, two per page, each newer than the last.
    fn crm(req: &Request) -> Response {
        let contacts: Vec<Value> = (1..=6)
            .map(|n| json!({"id": n, "name": format!("C{n}"), "updated_at": format!("2026-01-0{n}T00:00:00Z")}))
            .collect();
        if req.url.contains("/lists") {
            return Response::json_ok(&json!({"items": [{"id": "l1", "name": "Leads"}, {"id": "l2", "name": "VIP"}]}));
        }
        let since = query(req, "updated_since").map(|s| s.replace("%3A", ":"));
        let matching: Vec<Value> = contacts
            .into_iter()
            .filter(|c| since.as_deref().is_none_or(|s| c["updated_at"].as_str().unwrap() >= s))
            .collect();
        let page: usize = query(req, "page_token").map_or(0, |t| t.parse().unwrap());
        let items: Vec<Value> = matching.iter().skip(page * 2).take(2).cloned().collect();
        let next = (matching.len() > (page + 1) * 2).then(|| (page + 1).to_string());
        Response::json_ok(&json!({"items": items, "next_page_token": next}))
    }

    #[test]
    fn list_contacts_follows_pages_with_the_api_key() {
        let host = FakeHost::new().respond(crm).install();
        let out = AcmeCrm::run_action("list_contacts", json!({}), &cx()).unwrap();
        assert_eq!(out["count"], 6);
        let reqs = host.requests();
        assert_eq!(reqs.len(), 3, "three pages");
        assert!(reqs[0].url.starts_with("https://crm.example/api/contacts"), "{}", reqs[0].url);
        assert!(reqs.iter().all(|r| r.header_value("x-api-key") == Some("k-123")));
        assert_eq!(query(&reqs[2], "page_token"), Some("2"));

        let out = AcmeCrm::run_action("list_contacts", json!({"max_pages": 2}), &cx()).unwrap();
        assert_eq!(out["count"], 4);
        assert!(host.logs().iter().any(|(_, m)| m.contains("stopped after 2 pages")));
        let err = AcmeCrm::run_action("list_contacts", json!({"max_pages": 0}), &cx()).unwrap_err();
        assert!(err.message.contains("max_pages must be a whole number from 1 to 50"), "{err:?}");
    }

    #[test]
    fn no_connection_and_api_errors_are_clear() {
        let _host = FakeHost::new().respond(|_| Response::new(401)).install();
        let err = AcmeCrm::run_action("list_contacts", json!({}), &Context::test()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Input);
        assert!(err.message.contains("needs an Acme CRM connection"), "{err:?}");
        let err = AcmeCrm::run_action("list_contacts", json!({}), &cx()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Auth, "{err:?}");
    }

    #[test]
    fn create_contact_sends_the_idempotency_key() {
        let host = FakeHost::new().respond(|req| Response::json_ok(&req.json_body().unwrap())).install();
        let inputs = json!({"name": "Ada", "email": "ada@example.com", "list_id": "l1"});
        let out = AcmeCrm::run_action("create_contact", inputs, &cx()).unwrap();
        assert_eq!(out, json!({"name": "Ada", "email": "ada@example.com", "list_id": "l1"}));
        let req = &host.requests()[0];
        assert_eq!((req.method.as_str(), req.header_value("idempotency-key")), ("POST", Some("exe_test:step")));
        let err = AcmeCrm::run_action("create_contact", json!({"name": "Ada"}), &cx()).unwrap_err();
        assert!(err.message.contains("email"), "{err:?}");
    }

    #[test]
    fn lists_become_picklist_choices() {
        let _host = FakeHost::new().respond(crm).install();
        let out = AcmeCrm::data_source("lists", json!({}), &cx()).unwrap();
        assert_eq!(out, json!([{"value": "l1", "label": "Leads"}, {"value": "l2", "label": "VIP"}]));
    }

    #[test]
    fn polling_emits_each_contact_once() {
        let _host = FakeHost::new().respond(crm).install();
        let first = AcmeCrm::poll("new_contacts", json!({}), None, &cx()).unwrap();
        assert_eq!(first.records.len(), 6);
        let cursor = first.next_cursor.unwrap();
        assert_eq!(cursor, json!({"updated_at": "2026-01-06T00:00:00Z", "ids": [6]}));
        // The API returns the contact at the cursor's instant again: not emitted twice, and the
        // cursor stays (None keeps the previous one).
        let again = AcmeCrm::poll("new_contacts", json!({}), Some(cursor), &cx()).unwrap();
        assert!(again.records.is_empty(), "{:?}", again.records);
        assert_eq!(again.next_cursor, None);
    }
}
