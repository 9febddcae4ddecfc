//! API tokens minted over the API (owners and admins only).

use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::JsonBody;
use crate::views::TokenCreated;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use weft_model::{Permission, Role};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What the token is for (shown in listings).
    #[serde(default)]
    name: Option<String>,
    /// owner | admin | builder | support | viewer
    role: String,
}

/// Create an API token; the answer holds the token, which is never shown again.
#[utoipa::path(post, path = "/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = TokenCreated), (status = 403, description = "not an owner or admin")))]
pub async fn create(
    State(s): State<AppState>,
    auth: Auth,
    JsonBody(body): JsonBody<NewToken>,
) -> ApiResult<(StatusCode, Json<TokenCreated>)> {
    auth.require(Permission::Administer)?;
    let role = Role::from_name(&body.role).ok_or_else(|| {
        ApiError::invalid(
            "request.invalid",
            format!("role: unknown role `{}`", body.role),
            serde_json::json!(["owner", "admin", "builder", "support", "viewer"]),
        )
    })?;
    if role == Role::Owner && auth.0.role != Role::Owner {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "auth.forbidden", "only an owner may create owner tokens"));
    }
    let name = body.name.unwrap_or_else(|| format!("{} token", role.name()));
    let (tok, plaintext) = s.db.create_token(auth.org(), &name, role, super::now_ms()).await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated { id: tok.id, name: tok.name, role: role.name().into(), token: plaintext }),
    ))
}
