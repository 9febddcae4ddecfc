//! API errors: one place that maps domain and storage failures to HTTP statuses and stable
//! error codes, rendered as `{"error": {"code", "message", "details"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use weft_db::DbError;

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, documented, dotted code (`customer.not_found`): scripts match on it.
    pub code: String,
    pub message: String,
    /// Boxed: a `Value` is large and errors travel through every `Result` of the crate.
    pub details: Box<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError { status, code: code.into(), message: message.into(), details: Box::new(Value::Null) }
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Box::new(details);
        self
    }

    pub fn not_found(resource: &str, id: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{resource}.not_found"),
            format!("{resource} `{id}` does not exist"),
        )
    }

    /// 422 with a list of problems in `details`.
    pub fn invalid(code: &str, message: impl Into<String>, details: Value) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).with_details(details)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "request.invalid", message)
    }

    pub fn internal(message: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %message, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
    }

    /// Maps a storage error, naming the resource a plain NotFound/Conflict is about.
    pub fn from_db(resource: &str, e: DbError) -> ApiError {
        match e {
            DbError::NotFound(what) => {
                ApiError::new(StatusCode::NOT_FOUND, format!("{resource}.not_found"), format!("{what} does not exist"))
            }
            DbError::Conflict(msg) => ApiError::new(StatusCode::CONFLICT, format!("{resource}.conflict"), msg),
            DbError::Invalid(msg) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "request.invalid", msg),
            other => ApiError::internal(other),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> ApiError {
        ApiError::from_db("resource", e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message, "details": self.details}});
        (self.status, axum::Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
