//! Bearer-token authentication and role checks. Every `/api/v1` route takes an [`Auth`] and calls
//! [`Auth::require`] with the permission it needs.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use weft_db::ApiToken;
use weft_model::Permission;

/// The authenticated caller.
pub struct Auth(pub ApiToken);

impl Auth {
    pub fn org(&self) -> &str {
        &self.0.org_id
    }

    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.0.role.allows(p) {
            return Ok(());
        }
        let what = match p {
            Permission::Read => "read",
            Permission::EditIntegrations => "edit integrations",
            Permission::Operate => "manage customers, instances and executions",
            Permission::Administer => "administer the organization",
        };
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "auth.forbidden",
            format!("a token with role `{}` may not {what}", self.0.role.name()),
        ))
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Auth, ApiError> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "auth.missing_token",
                "missing `Authorization: Bearer <token>` header",
            )
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "auth.invalid_token",
                    "the Authorization header must be `Bearer <token>`",
                )
            })?;
        match state.db.authenticate(token).await? {
            Some(t) => Ok(Auth(t)),
            None => Err(ApiError::new(StatusCode::UNAUTHORIZED, "auth.invalid_token", "the API token is not valid")),
        }
    }
}
