//! Customers: the vendor's tenants, addressed by id or `ext:<external id>`.

use super::{PageQuery, now_ms};
use crate::AppState;
use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBody, QueryParams};
use crate::views::{CustomerView, Listing};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use weft_db::{CustomerPatch, CustomerRef, NewCustomer};
use weft_model::Permission;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomerBody {
    /// The vendor's own id for the customer; unique in the organization.
    external_id: Option<String>,
    name: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    labels: Map<String, Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatchBody {
    name: Option<String>,
    /// A string sets it, null clears it, absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    external_id: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    labels: Option<Map<String, Value>>,
    /// At most this many executions of all the customer's instances run at once (≥ 1); null
    /// lifts the limit, absent leaves it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    max_concurrency: Option<Option<i64>>,
}

/// Tells "absent" (None) from "null" (Some(None)).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn check_name(name: &str) -> ApiResult<()> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid("request.invalid", "name: must not be empty", Value::Null));
    }
    Ok(())
}

fn check_external_id(ext: &Option<String>) -> ApiResult<()> {
    if let Some(e) = ext
        && (e.trim().is_empty() || e.len() > 200)
    {
        return Err(ApiError::invalid("request.invalid", "external_id: must be 1 to 200 characters", Value::Null));
    }
    Ok(())
}

pub(crate) async fn find(s: &AppState, org: &str, r: &str) -> ApiResult<weft_db::Customer> {
    s.db.get_customer(org, &CustomerRef::parse(r)).await?.ok_or_else(|| ApiError::not_found("customer", r))
}

/// Create a customer.
#[utoipa::path(post, path = "/customers", tag = "customers", request_body = NewCustomerBody,
    responses((status = 201, body = CustomerView), (status = 409, description = "external_id already used")))]
pub async fn create(
    State(s): State<AppState>,
    auth: Auth,
    JsonBody(b): JsonBody<NewCustomerBody>,
) -> ApiResult<(StatusCode, Json<CustomerView>)> {
    auth.require(Permission::Operate)?;
    check_name(&b.name)?;
    check_external_id(&b.external_id)?;
    let new = NewCustomer { external_id: b.external_id, name: b.name.trim().to_string(), labels: b.labels };
    let c = s.db.create_customer(auth.org(), &new, now_ms()).await.map_err(|e| ApiError::from_db("customer", e))?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

/// List customers, newest first.
#[utoipa::path(get, path = "/customers", tag = "customers", params(PageQuery), responses((status = 200, body = Listing<CustomerView>)))]
pub async fn list(
    State(s): State<AppState>,
    auth: Auth,
    QueryParams(q): QueryParams<PageQuery>,
) -> ApiResult<Json<Listing<CustomerView>>> {
    auth.require(Permission::Read)?;
    let page = s.db.list_customers(auth.org(), &q.page()?).await?;
    Ok(Json(Listing { items: page.items.into_iter().map(Into::into).collect(), next_cursor: page.next_cursor }))
}

/// Get a customer by id or `ext:<external id>`.
#[utoipa::path(get, path = "/customers/{customer}", tag = "customers",
    params(("customer" = String, Path, description = "id or ext:EXTERNAL_ID")),
    responses((status = 200, body = CustomerView), (status = 404, description = "no such customer")))]
pub async fn get(State(s): State<AppState>, auth: Auth, Path(r): Path<String>) -> ApiResult<Json<CustomerView>> {
    auth.require(Permission::Read)?;
    Ok(Json(find(&s, auth.org(), &r).await?.into()))
}

/// Change a customer's name, external id, labels or concurrency limit.
#[utoipa::path(patch, path = "/customers/{customer}", tag = "customers", request_body = CustomerPatchBody,
    params(("customer" = String, Path, description = "id or ext:EXTERNAL_ID")),
    responses((status = 200, body = CustomerView), (status = 404, description = "no such customer"), (status = 409, description = "external_id already used"),
              (status = 422, description = "invalid field, e.g. max_concurrency below 1")))]
pub async fn update(
    State(s): State<AppState>,
    auth: Auth,
    Path(r): Path<String>,
    JsonBody(b): JsonBody<CustomerPatchBody>,
) -> ApiResult<Json<CustomerView>> {
    auth.require(Permission::Operate)?;
    if let Some(n) = &b.name {
        check_name(n)?;
    }
    if let Some(ext) = &b.external_id {
        check_external_id(ext)?;
    }
    // Checked before anything is written, so a refused body changes nothing.
    if let Some(Some(limit)) = b.max_concurrency
        && limit < 1
    {
        return Err(ApiError::invalid("request.invalid", "max_concurrency: must be at least 1, or null", Value::Null));
    }
    let c = find(&s, auth.org(), &r).await?;
    let patch =
        CustomerPatch { external_id: b.external_id, name: b.name.map(|n| n.trim().to_string()), labels: b.labels };
    let mut c =
        s.db.update_customer(auth.org(), &c.id, &patch, now_ms())
            .await
            .map_err(|e| ApiError::from_db("customer", e))?;
    if let Some(limit) = b.max_concurrency {
        // Written after the update, so a refused update (409 on external_id) leaves the limit
        // alone; the value was checked above, so only a concurrent delete can fail here.
        s.db.set_customer_max_concurrency(auth.org(), &c.id, limit)
            .await
            .map_err(|e| ApiError::from_db("customer", e))?;
        c.max_concurrency = limit;
    }
    s.targets.clear();
    Ok(Json(c.into()))
}

/// Delete a customer that has no instances.
#[utoipa::path(delete, path = "/customers/{customer}", tag = "customers",
    params(("customer" = String, Path, description = "id or ext:EXTERNAL_ID")),
    responses((status = 204), (status = 404, description = "no such customer"), (status = 409, description = "the customer still has instances")))]
pub async fn delete(State(s): State<AppState>, auth: Auth, Path(r): Path<String>) -> ApiResult<StatusCode> {
    auth.require(Permission::Operate)?;
    let c = find(&s, auth.org(), &r).await?;
    s.db.delete_customer(auth.org(), &c.id).await.map_err(|e| ApiError::from_db("customer", e))?;
    s.targets.clear();
    Ok(StatusCode::NO_CONTENT)
}
