//! Inventories, stored once per content hash: identical nodes send
//! identical inventories, so thousands of nodes share a few hundred rows and
//! a check-in with a known hash carries no body at all.

use jiff::Timestamp;
use patchline_api::checkin::{Inventory, InventoryHash};
use sqlx::Row;

use super::{Result, Store, StoreError, from_json, millis, to_json};

/// `inventories.encoding` of a body stored as plain JSON text.
const JSON_ENCODING: &str = "json";

impl Store {
    pub async fn has_inventory(&self, hash: &InventoryHash) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM inventories WHERE hash = $1")
            .bind(&hash.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// Stores an inventory under its hash; storing a known hash again
    /// changes nothing. The caller has checked that `hash` is the
    /// inventory's [`Inventory::content_hash`]. Returns whether it was new.
    pub async fn put_inventory(&self, hash: &InventoryHash, inventory: &Inventory) -> Result<bool> {
        if !hash.is_well_formed() {
            return Err(StoreError::Invalid {
                reason: format!("inventory hash {hash:?} is not 64 lower-case hex digits"),
            });
        }
        let body = to_json(inventory, "inventory")?;
        let _writer = self.sqlite_write_lock().await;
        let inserted = sqlx::query(
            "INSERT INTO inventories (hash, encoding, body, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (hash) DO NOTHING",
        )
        .bind(&hash.0)
        .bind(JSON_ENCODING)
        .bind(body)
        .bind(millis(Timestamp::now()))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted > 0)
    }

    pub async fn inventory(&self, hash: &InventoryHash) -> Result<Option<Inventory>> {
        let row = sqlx::query("SELECT encoding, body FROM inventories WHERE hash = $1")
            .bind(&hash.0)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let encoding: String = row.try_get("encoding")?;
        let what = format!("inventory {hash}");
        if encoding != JSON_ENCODING {
            return Err(StoreError::Corrupt {
                what,
                reason: format!("unknown encoding {encoding:?}"),
            });
        }
        from_json(&row.try_get::<String, _>("body")?, &what).map(Some)
    }
}
