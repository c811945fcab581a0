//! The operations journal's calls: DynamoDB, through the same signed JSON client (JSON 1.0) and the same retry
//! rules as every other service. Every write that moves an operation is conditional on the lease (and on the
//! step it moves from), so that two invocations never act on one operation at once.

use serde_json::{Value, json};

use super::json::JsonService;
use super::{NotFound, Session};
use crate::journal::{Claimant, HANDED_OVER, Record, Step, policy_arn_key};
use crate::{Error, Result};

/// The table and the client that reaches it.
#[derive(Debug, Clone)]
pub struct JournalTable {
    pub service: JsonService,
    /// `OPERATIONS_TABLE`.
    pub table: String,
}

/// DynamoDB's answer to a write whose condition does not hold.
fn condition_failed(err: &Error) -> bool {
    matches!(err, Error::Aws { code, .. } if code == "ConditionalCheckFailedException")
}

impl Session {
    fn journal(&self) -> Result<&JournalTable> {
        self.clients.journal.as_ref().ok_or_else(|| self.journal_missing())
    }

    /// The error of an endpoint operation without a journal.
    pub fn journal_missing(&self) -> Error {
        Error::invalid(
            "OPERATIONS_TABLE is not set: Custom::SageMakerEndpoint keeps its operations in a DynamoDB table (template.yaml creates it)",
        )
    }

    /// Whether the function has a journal (`OPERATIONS_TABLE`).
    pub fn has_journal(&self) -> bool {
        self.clients.journal.is_some()
    }

    pub(super) async fn dynamodb(&self, operation: &'static str, mut body: Value) -> Result<Value> {
        let journal = self.journal()?;
        body["TableName"] = json!(journal.table);
        self.retrying(operation, NotFound::Final, || journal.service.call(operation, &body)).await
    }

    /// The operation of `id` and whether it was answered; `None` when the journal has no such operation.
    ///
    /// # Errors
    /// The final AWS error, or an item that cannot be read.
    pub async fn journal_get(&self, id: &str) -> Result<Option<(Record, bool)>> {
        let answer = self.dynamodb("GetItem", json!({"Key": {"Id": {"S": id}}, "ConsistentRead": true})).await?;
        let Some(item) = answer.get("Item") else { return Ok(None) };
        let record = Record::from_item(item).map_err(|why| Error::Conflict(format!("operation {id} in the journal: {why}")))?;
        Ok(Some((record, item.get("Answered").is_some())))
    }

    /// Writes a new operation, only if its key is not in the journal yet (write ahead: before any change).
    /// False when it is there already (the same event delivered twice).
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn journal_start(&self, record: &Record) -> Result<bool> {
        let put = json!({"Item": record.to_item(), "ConditionExpression": "attribute_not_exists(Id)"});
        match self.dynamodb("PutItem", put).await {
            Ok(_) => Ok(true),
            Err(err) if condition_failed(&err) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// Takes the lease of `id` for `claimant` until `until_ms`, as [`Claimant`] rules; the operation as it is
    /// then, or `None` when the lease is someone else's (or the operation is answered, or unknown).
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn journal_claim(&self, id: &str, claimant: Claimant<'_>, now_ms: u64, until_ms: u64) -> Result<Option<Record>> {
        let update = json!({
            "Key": {"Id": {"S": id}},
            "UpdateExpression": "SET LeaseHolder = :me, LeaseUntil = :until",
            "ConditionExpression": claimant.condition(),
            "ExpressionAttributeValues": claimant.values(now_ms, until_ms),
            "ReturnValues": "ALL_NEW",
        });
        match self.dynamodb("UpdateItem", update).await {
            Ok(answer) => {
                let item = answer.get("Attributes").cloned().unwrap_or_default();
                Record::from_item(&item).map(Some).map_err(|why| Error::Conflict(format!("operation {id} in the journal: {why}")))
            }
            Err(err) if condition_failed(&err) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Records `record`'s step and state, moving from step `from`, only while this invocation holds the lease.
    ///
    /// # Errors
    /// The lease was lost (another invocation took the operation), or the final AWS error.
    pub async fn journal_step(&self, record: &Record, from: Step) -> Result<()> {
        let update = json!({
            "Key": {"Id": {"S": record.id}},
            "UpdateExpression": "SET #step = :step, #op = :op REMOVE Interrupted",
            "ConditionExpression": "LeaseHolder = :me AND #step = :from",
            "ExpressionAttributeNames": {"#step": "Step", "#op": "Operation"},
            "ExpressionAttributeValues": {
                ":step": {"S": record.step.as_str()},
                ":op": {"S": serde_json::to_string(&record.op).unwrap_or_default()},
                ":me": {"S": record.holder},
                ":from": {"S": from.as_str()},
            },
        });
        self.lease_write(&record.id, update).await
    }

    /// Records the answer's body before it is sent (once: a later send reads it back).
    ///
    /// # Errors
    /// As [`Session::journal_step`].
    pub async fn journal_answer(&self, record: &Record, body: &str) -> Result<()> {
        let update = json!({
            "Key": {"Id": {"S": record.id}},
            "UpdateExpression": "SET #step = :step, Answer = :answer, #op = :op",
            "ConditionExpression": "LeaseHolder = :me AND attribute_not_exists(Answer)",
            "ExpressionAttributeNames": {"#step": "Step", "#op": "Operation"},
            "ExpressionAttributeValues": {
                ":step": {"S": Step::Answering.as_str()},
                ":answer": {"S": body},
                ":op": {"S": serde_json::to_string(&record.op).unwrap_or_default()},
                ":me": {"S": record.holder},
            },
        });
        self.lease_write(&record.id, update).await
    }

    /// Marks the operation answered: no invocation takes it again.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn journal_answered(&self, id: &str, holder: &str) -> Result<()> {
        let update = json!({
            "Key": {"Id": {"S": id}},
            "UpdateExpression": "SET #step = :step, Answered = :yes, LeaseUntil = :zero",
            "ConditionExpression": "LeaseHolder = :me",
            "ExpressionAttributeNames": {"#step": "Step"},
            "ExpressionAttributeValues": {":step": {"S": Step::Answered.as_str()}, ":yes": {"BOOL": true}, ":zero": {"N": "0"}, ":me": {"S": holder}},
        });
        self.lease_write(id, update).await
    }

    /// Records why an invocation ended without finishing the operation (a panic, its deadline): the next one
    /// restores what was saved and answers FAILED.
    ///
    /// # Errors
    /// As [`Session::journal_step`].
    pub async fn journal_interrupt(&self, id: &str, holder: &str, why: &str) -> Result<()> {
        let update = json!({
            "Key": {"Id": {"S": id}},
            "UpdateExpression": "SET Interrupted = :why",
            "ConditionExpression": "LeaseHolder = :me",
            "ExpressionAttributeValues": {":why": {"S": why}, ":me": {"S": holder}},
        });
        self.lease_write(id, update).await
    }

    /// Gives the lease up: to a queued hand-over until `until_ms` ([`HANDED_OVER`]), or free (`until_ms` 0).
    ///
    /// # Errors
    /// As [`Session::journal_step`].
    pub async fn journal_release(&self, id: &str, holder: &str, handed_over: bool, until_ms: u64) -> Result<()> {
        let to = if handed_over { HANDED_OVER } else { "" };
        let update = json!({
            "Key": {"Id": {"S": id}},
            "UpdateExpression": "SET LeaseHolder = :to, LeaseUntil = :until",
            "ConditionExpression": "LeaseHolder = :me",
            "ExpressionAttributeValues": {":to": {"S": to}, ":until": {"N": until_ms.to_string()}, ":me": {"S": holder}},
        });
        self.lease_write(id, update).await
    }

    /// A queued hand-over's lease goes to the request id Lambda gave it (a duplicate or stale hand-over, with
    /// another id, then finds the lease taken); only while the lease is still the hand-over's.
    ///
    /// # Errors
    /// The final AWS error. A lease already taken (by that invocation, quick to start) is not an error.
    pub async fn journal_lease_to(&self, id: &str, request_id: &str) -> Result<()> {
        let update = json!({
            "Key": {"Id": {"S": id}},
            "UpdateExpression": "SET LeaseHolder = :to",
            "ConditionExpression": "LeaseHolder = :handed",
            "ExpressionAttributeValues": {":to": {"S": request_id}, ":handed": {"S": HANDED_OVER}},
        });
        match self.dynamodb("UpdateItem", update).await {
            Err(err) if !condition_failed(&err) => Err(err),
            _ => Ok(()),
        }
    }

    async fn lease_write(&self, id: &str, update: Value) -> Result<()> {
        match self.dynamodb("UpdateItem", update).await {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => {
                Err(Error::Superseded(format!("operation {id}: another invocation holds it now (its lease ran out here)")))
            }
            Err(err) => Err(err),
        }
    }

    /// Scans the table with `scan` (a filter, a projection), page by page, handing each page's items to `visit`
    /// until it says it has enough or the pages run out (at most 100).
    ///
    /// # Errors
    /// The final AWS error.
    pub(super) async fn journal_scan(&self, scan: Value, mut visit: impl FnMut(&[Value]) -> bool) -> Result<()> {
        let mut start: Option<Value> = None;
        for _ in 0..100 {
            let mut page_request = scan.clone();
            if let Some(key) = start.take() {
                page_request["ExclusiveStartKey"] = key;
            }
            let page = self.dynamodb("Scan", page_request).await?;
            let enough = visit(page.get("Items").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default());
            match page.get("LastEvaluatedKey").filter(|k| k.is_object()) {
                Some(next) if !enough => start = Some(next.clone()),
                _ => break,
            }
        }
        Ok(())
    }

    /// The keys of the operations not answered whose lease has run out (every page; at most `limit`).
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn journal_open(&self, now_ms: u64, limit: usize) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let scan = json!({
            "FilterExpression": "attribute_exists(#op) AND attribute_not_exists(Answered) AND LeaseUntil < :now",
            "ExpressionAttributeNames": {"#op": "Operation"},
            "ExpressionAttributeValues": {":now": {"N": now_ms.to_string()}},
            "ProjectionExpression": "Id",
        });
        self.journal_scan(scan, |items| {
            keys.extend(items.iter().filter_map(|i| i.get("Id")?.get("S")?.as_str().map(str::to_owned)));
            keys.len() >= limit
        })
        .await?;
        keys.truncate(limit);
        Ok(keys)
    }

    /// Records that the policy that had `old_arn` has `new_arn` now (an endpoint update put it back).
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn journal_map_policy(&self, old_arn: &str, new_arn: &str) -> Result<()> {
        let item = json!({"Id": {"S": policy_arn_key(old_arn)}, "NewArn": {"S": new_arn}});
        self.dynamodb("PutItem", json!({"Item": item})).await.map(drop)
    }

    /// The ARNs the policy that had `arn` has had since, in order (an endpoint update may have put it back more
    /// than once); empty without a journal.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn journal_policy_successors(&self, arn: &str) -> Result<Vec<String>> {
        let mut chain = Vec::new();
        if !self.has_journal() {
            return Ok(chain);
        }
        let mut current = arn.to_owned();
        for _ in 0..20 {
            let answer = self.dynamodb("GetItem", json!({"Key": {"Id": {"S": policy_arn_key(&current)}}, "ConsistentRead": true})).await?;
            let Some(next) = answer.get("Item").and_then(|i| i.get("NewArn")).and_then(|v| v.get("S")).and_then(Value::as_str) else {
                break;
            };
            if chain.iter().any(|seen| seen == next) {
                break;
            }
            chain.push(next.to_owned());
            current = next.to_owned();
        }
        Ok(chain)
    }
}
