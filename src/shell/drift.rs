//! Drift's calls: the applied state in the journal (GetItem, PutItem, DeleteItem, Scan of the `applied|` items)
//! and what Application Auto Scaling shows now (the resource's Describe, through the JSON client).

use serde_json::{Value, json};

use super::{NotFound, Session};
use crate::drift::{Applied, Lookup, applied_key};
use crate::journal::now_ms;
use crate::{Error, Result};

impl Session {
    /// The compared fields of what Application Auto Scaling holds now for `lookup` (`None`: gone).
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn drift_found(&self, lookup: &Lookup) -> Result<Option<Value>> {
        let answer = self
            .retrying(lookup.operation, NotFound::Final, || self.clients.autoscaling_json.call(lookup.operation, &lookup.request))
            .await?;
        Ok(lookup.state(&answer))
    }

    /// Keeps `applied` as the resource's applied state (replacing the one before).
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn drift_remember(&self, applied: &Applied) -> Result<()> {
        self.dynamodb("PutItem", json!({"Item": applied.to_item(now_ms())})).await.map(drop)
    }

    /// The applied state of `physical_id`, if the function applied it.
    ///
    /// # Errors
    /// The final AWS error, or an item that cannot be read.
    pub async fn drift_applied(&self, physical_id: &str) -> Result<Option<Applied>> {
        let answer = self.dynamodb("GetItem", json!({"Key": {"Id": {"S": applied_key(physical_id)}}, "ConsistentRead": true})).await?;
        answer
            .get("Item")
            .map(|item| Applied::from_item(item).map_err(|why| Error::Conflict(format!("applied state of {physical_id}: {why}"))))
            .transpose()
    }

    /// Forgets the applied state of a deleted resource.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn drift_forget(&self, physical_id: &str) -> Result<()> {
        self.dynamodb("DeleteItem", json!({"Key": {"Id": {"S": applied_key(physical_id)}}})).await.map(drop)
    }

    /// Every applied state in the journal (every page; at most `limit`); unreadable items are skipped, logged.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn drift_all(&self, limit: usize) -> Result<Vec<Applied>> {
        let mut all = Vec::new();
        let scan = json!({
            "FilterExpression": "begins_with(Id, :applied)",
            "ExpressionAttributeValues": {":applied": {"S": applied_key("")}},
        });
        self.journal_scan(scan, |items| {
            for item in items {
                match Applied::from_item(item) {
                    Ok(applied) => all.push(applied),
                    Err(why) => tracing::warn!(item = %item["Id"], %why, "an applied state that cannot be read is skipped"),
                }
            }
            all.len() >= limit
        })
        .await?;
        all.truncate(limit);
        Ok(all)
    }

    /// Whether an endpoint operation is under way (in the journal, not answered): its targets are deregistered
    /// on purpose until it restores them, so drift is not compared meanwhile.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn drift_endpoint_busy(&self) -> Result<bool> {
        let mut busy = false;
        let scan = json!({
            "FilterExpression": "attribute_exists(#op) AND attribute_not_exists(Answered)",
            "ExpressionAttributeNames": {"#op": "Operation"},
            "ProjectionExpression": "Id",
        });
        self.journal_scan(scan, |items| {
            busy = !items.is_empty();
            busy
        })
        .await?;
        Ok(busy)
    }
}
