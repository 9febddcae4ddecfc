//! Route table: one module per resource. `api_routes` are under `/api/v1` and in the OpenAPI
//! document; `public_routes` are webhooks, the OAuth callback and probes.

mod components;
mod connections;
mod customers;
mod executions;
mod health;
mod hooks;
mod instances;
mod integrations;
mod settings;
mod tokens;
mod wizard;

use crate::AppState;
use crate::error::ApiError;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn api_routes(r: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    r.routes(routes!(customers::create, customers::list))
        .routes(routes!(customers::get, customers::update, customers::delete))
        .routes(routes!(integrations::import, integrations::list))
        .routes(routes!(integrations::get))
        .routes(routes!(integrations::publish, integrations::versions))
        .routes(routes!(instances::deploy, instances::list))
        .routes(routes!(instances::get, instances::delete))
        .routes(routes!(instances::pause))
        .routes(routes!(instances::resume))
        .routes(routes!(instances::upgrade))
        .routes(routes!(instances::run))
        .routes(routes!(executions::list))
        .routes(routes!(executions::get))
        .routes(routes!(executions::logs))
        .routes(routes!(executions::replay))
        .routes(routes!(executions::cancel))
        .routes(routes!(tokens::create))
        .routes(routes!(settings::instance_settings))
        .routes(routes!(settings::get_retention, settings::put_retention))
        .routes(routes!(components::publish, components::list))
        .routes(routes!(components::get))
        .routes(routes!(wizard::options))
        .routes(routes!(connections::list_clients))
        .routes(routes!(connections::put_client, connections::delete_client))
        .routes(routes!(connections::list))
        .routes(routes!(connections::authorize))
        .routes(routes!(connections::test))
        .routes(routes!(connections::list_customer_connections))
        .routes(routes!(connections::put_customer_connection, connections::delete_customer_connection))
}

pub fn public_routes() -> axum::Router<AppState> {
    use axum::routing::{any, get};
    axum::Router::new()
        .route("/hooks/{token}", any(hooks::receive))
        .route("/oauth2/callback", get(connections::callback))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
}

/// The demo's stand-in for a customer's fulfilment API: accepts any order.
pub fn demo_routes() -> axum::Router {
    axum::Router::new().route(
        "/demo/fulfilment/orders",
        axum::routing::post(
            |crate::extract::JsonBody(order): crate::extract::JsonBody<serde_json::Value>| async move {
                axum::Json(serde_json::json!({"accepted": true, "order": order.get("id").cloned()}))
            },
        ),
    )
}

pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "route.not_found", format!("no route for `{}`", uri.path()))
}

/// A known path called with a method it does not serve (axum adds the `Allow` header).
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "request.method_not_allowed",
        format!("`{}` does not accept {method}", uri.path()),
    )
}

/// `cursor` and `limit` of every listing.
#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

impl PageQuery {
    pub fn page(&self) -> Result<weft_db::Page, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::bad_request(format!("limit: must be between 1 and 500, got {limit}")));
        }
        Ok(weft_db::Page { cursor: self.cursor.clone(), limit })
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
