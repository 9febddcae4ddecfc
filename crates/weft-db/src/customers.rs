//! Customers: the vendor's tenants, addressed by id or by the vendor's own external id.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::util::{get_json, id_cursor, json_text, new_id, paginate};
use crate::{Customer, CustomerPatch, CustomerRef, Db, DbError, Millis, NewCustomer, Page, Paged};

macro_rules! customer_cols {
    () => {
        "id, org_id, external_id, name, labels, max_concurrency, created_at, updated_at"
    };
}

fn customer_from_row(row: &AnyRow) -> Result<Customer, DbError> {
    Ok(Customer {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        external_id: row.try_get("external_id")?,
        name: row.try_get("name")?,
        labels: get_json(row, "labels")?,
        max_concurrency: row.try_get("max_concurrency")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn external_id_conflict(e: sqlx::Error, external_id: Option<&str>) -> DbError {
    if DbError::is_unique_violation(&e) {
        DbError::Conflict(format!("a customer with external_id `{}` already exists", external_id.unwrap_or_default()))
    } else {
        e.into()
    }
}

impl Db {
    /// Creates a customer; [`DbError::Conflict`] if its external id is taken in the organization.
    pub async fn create_customer(&self, org: &str, new: &NewCustomer, now: Millis) -> Result<Customer, DbError> {
        let row = sqlx::query(concat!(
            "INSERT INTO customers (id, org_id, external_id, name, labels, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING ",
            customer_cols!()
        ))
        .bind(new_id("cus"))
        .bind(org)
        .bind(new.external_id.as_deref())
        .bind(&new.name)
        .bind(json_text(&new.labels))
        .bind(now)
        .fetch_one(&self.write)
        .await
        .map_err(|e| external_id_conflict(e, new.external_id.as_deref()))?;
        customer_from_row(&row)
    }

    /// Customers in creation order.
    pub async fn list_customers(&self, org: &str, page: &Page) -> Result<Paged<Customer>, DbError> {
        let limit = page.effective_limit();
        let rows = sqlx::query(concat!(
            "SELECT ",
            customer_cols!(),
            " FROM customers WHERE org_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        ))
        .bind(org)
        .bind(id_cursor(page, "cus")?.unwrap_or(""))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let items = rows.iter().map(customer_from_row).collect::<Result<Vec<_>, _>>()?;
        Ok(paginate(items, limit, |c| c.id.clone()))
    }

    pub async fn get_customer(&self, org: &str, r: &CustomerRef) -> Result<Option<Customer>, DbError> {
        let query = match r {
            CustomerRef::Id(id) => {
                sqlx::query(concat!("SELECT ", customer_cols!(), " FROM customers WHERE org_id = $1 AND id = $2"))
                    .bind(org)
                    .bind(id)
            }
            CustomerRef::External(ext) => sqlx::query(concat!(
                "SELECT ",
                customer_cols!(),
                " FROM customers WHERE org_id = $1 AND external_id = $2"
            ))
            .bind(org)
            .bind(ext),
        };
        let row = query.fetch_optional(&self.read).await?;
        row.as_ref().map(customer_from_row).transpose()
    }

    /// Applies the patch in one statement; [`DbError::NotFound`] / [`DbError::Conflict`].
    pub async fn update_customer(
        &self,
        org: &str,
        id: &str,
        patch: &CustomerPatch,
        now: Millis,
    ) -> Result<Customer, DbError> {
        let new_external = patch.external_id.as_ref().and_then(|e| e.as_deref());
        let row = sqlx::query(concat!(
            "UPDATE customers SET name = COALESCE($1, name), labels = COALESCE($2, labels),
                 external_id = CASE WHEN $3 = 1 THEN $4 ELSE external_id END, updated_at = $5
             WHERE org_id = $6 AND id = $7 RETURNING ",
            customer_cols!()
        ))
        .bind(patch.name.as_deref())
        .bind(patch.labels.as_ref().map(json_text))
        .bind(i64::from(patch.external_id.is_some()))
        .bind(new_external)
        .bind(now)
        .bind(org)
        .bind(id)
        .fetch_optional(&self.write)
        .await
        .map_err(|e| external_id_conflict(e, new_external))?;
        match row {
            Some(row) => customer_from_row(&row),
            None => Err(DbError::NotFound(format!("customer {id}"))),
        }
    }

    /// Deletes a customer that has no instances left ([`DbError::Conflict`] otherwise, so
    /// running integrations are never orphaned). Its executions are kept as history.
    pub async fn delete_customer(&self, org: &str, id: &str) -> Result<(), DbError> {
        let mut tx = self.begin_write().await?;
        let instances: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM instances WHERE org_id = $1 AND customer_id = $2")
                .bind(org)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if instances > 0 {
            return Err(DbError::Conflict(format!("customer has {instances} instances; delete them first")));
        }
        // The customer's own connections (and their pending authorizations) go with it.
        sqlx::query(
            "DELETE FROM oauth_states WHERE connection_id IN (SELECT id FROM connections WHERE org_id = $1 AND customer_id = $2)",
        )
        .bind(org)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM connections WHERE org_id = $1 AND customer_id = $2")
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM customers WHERE org_id = $1 AND id = $2")
            .bind(org)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                // An instance created concurrently (PostgreSQL) still trips the foreign key.
                if DbError::is_foreign_key_violation(&e) {
                    DbError::Conflict("customer has instances; delete them first".into())
                } else {
                    e.into()
                }
            })?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound(format!("customer {id}")));
        }
        tx.commit().await?;
        Ok(())
    }
}
