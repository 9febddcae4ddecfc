//! The HTTP face of Weft: the REST API under `/api/v1` (with its OpenAPI document), webhook
//! ingress at `/hooks/{token}`, and health probes. This is the only crate that knows HTTP
//! status codes; handlers translate requests into storage and worker calls and back.

mod auth;
mod error;
mod extract;
mod routes;
mod targets;
mod views;
mod wait;

pub use error::ApiError;

use axum::Router;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use weft_db::Db;
use weft_worker::Worker;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Absolute base URL that webhook URLs are built on (`http://127.0.0.1:8080`).
    pub public_url: String,
    /// Largest accepted request body (default 32 MiB); larger bodies get 413.
    pub body_limit: usize,
    /// How long a sync webhook waits for its flow before answering 202 with the execution id.
    pub sync_timeout: Duration,
    /// Serve `POST /demo/fulfilment/orders`, the stand-in customer API of `weft serve --demo`.
    pub demo_fulfilment: bool,
    /// Whether this process runs the executions it accepts (it has the runner role). When
    /// false (an api-only node) they are queued for the runners of the fleet, and sync
    /// webhooks wait for the end announced by whichever runner ran them (see `wait`).
    pub run_locally: bool,
}

impl ApiConfig {
    pub fn new(public_url: impl Into<String>) -> ApiConfig {
        ApiConfig {
            public_url: public_url.into(),
            body_limit: 32 << 20,
            sync_timeout: Duration::from_secs(30),
            demo_fulfilment: false,
            run_locally: true,
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub worker: Worker,
    pub cfg: Arc<ApiConfig>,
    /// False while draining on shutdown: `/readyz` answers 503 so load balancers move on.
    pub ready: Arc<AtomicBool>,
    /// Requests waiting for executions run on other nodes (see `wait`).
    waiters: Arc<wait::Waiters>,
    /// Recently used webhook targets (see `targets`).
    targets: Arc<targets::Targets>,
}

impl AppState {
    pub fn new(db: Db, worker: Worker, cfg: ApiConfig) -> AppState {
        AppState {
            db,
            worker,
            cfg: Arc::new(cfg),
            ready: Arc::new(AtomicBool::new(true)),
            waiters: Default::default(),
            targets: Default::default(),
        }
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Weft API", description = "REST API of Weft, the self-hostable embedded integration platform."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The whole application: API, webhooks, probes and the OpenAPI document.
pub fn router(state: AppState) -> Router {
    // Nested on the OpenApiRouter (not on the axum Router after the split) so the document's
    // paths carry the `/api/v1` prefix and are callable exactly as documented.
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", routes::api_routes(OpenApiRouter::new()))
        .split_for_parts();
    let openapi = Arc::new(openapi);
    let body_limit = state.cfg.body_limit;
    let demo = state.cfg.demo_fulfilment;
    let app = Router::new()
        .merge(api)
        .route("/api/v1/openapi.json", axum::routing::get(move || async move { axum::Json(openapi.as_ref().clone()) }))
        .merge(routes::public_routes())
        .fallback(routes::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state(state);
    let app = if demo { app.merge(routes::demo_routes()) } else { app };
    // Last, so it reaches every route's method router: a wrong method gets a JSON error too.
    app.method_not_allowed_fallback(routes::method_not_allowed)
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}
