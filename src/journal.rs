//! The operations journal's pure side: what one item holds, how it reads from and writes to DynamoDB's
//! attribute values, and who may take an operation's lease. The calls are in `shell::journal`.
//!
//! One item per endpoint operation, keyed by the CloudFormation request (StackId, LogicalResourceId,
//! RequestId), so that the same event delivered again finds its operation. The item holds the event (its
//! ResponseURL too: the table is encrypted at rest and the URL is never logged), the step reached, the
//! operation's state (what was saved before anything was deregistered), a lease, and once answered the answer.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use std::time::{SystemTime, UNIX_EPOCH};

use crate::endpoint_plan::Operation;
use crate::request::{self, Echo, Request};
use crate::{Error, Result};

/// Milliseconds since the epoch: leases and deadlines are wall-clock times shared by every invocation.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The CloudFormation request as the journal keeps it (the envelope and the properties).
pub fn event_of(req: &Request) -> Value {
    let mut event = json!({
        "RequestType": req.request_type.as_str(),
        "ResponseURL": req.response_url,
        "StackId": req.echo.stack_id,
        "RequestId": req.echo.request_id,
        "LogicalResourceId": req.echo.logical_id,
        "ResourceType": req.resource_type.as_str(),
        "ResourceProperties": req.properties,
    });
    if let Some(id) = &req.echo.physical_id {
        event["PhysicalResourceId"] = json!(id);
    }
    if !req.old_properties.is_null() {
        event["OldResourceProperties"] = req.old_properties.clone();
    }
    event
}

/// The request a journal item holds.
///
/// # Errors
/// An event that is not a complete CloudFormation request.
pub fn request_of(record: &Record) -> Result<Request> {
    // The Provider framework's onEvent has no ResponseURL to keep (it answers CloudFormation itself).
    let has_url = record.event.get("ResponseURL").and_then(Value::as_str).is_some_and(|u| !u.is_empty());
    let mode = if has_url { crate::settings::Mode::Direct } else { crate::settings::Mode::CdkProvider };
    match request::requests(&record.event.to_string(), mode).into_iter().next() {
        Some(request::Envelope::Request(req)) => Ok(req),
        _ => Err(Error::Conflict(format!("operation {}: the journal's event is not a complete CloudFormation request", record.id))),
    }
}

/// The lease holder while a hand-over is queued: the invocation that receives it may take the lease.
pub const HANDED_OVER: &str = "hand-over";
/// How long a journal item is kept after its operation started (DynamoDB's TTL, seconds): long enough for an
/// operator to read what happened.
pub const KEEP_SECONDS: u64 = 30 * 24 * 3600;
/// The prefix of the items that map a step policy's ARN before an endpoint update to the ARN it has after.
const POLICY_ARN_PREFIX: &str = "policy-arn|";

/// The journal key of the operation a CloudFormation request starts: the same event delivered again has it.
pub fn key(echo: &Echo) -> String {
    format!("{}|{}|{}", echo.stack_id, echo.logical_id, echo.request_id)
}

/// The key of the item that says which ARN a policy that had `old_arn` has now.
pub fn policy_arn_key(old_arn: &str) -> String {
    format!("{POLICY_ARN_PREFIX}{old_arn}")
}

/// Where an operation stands. Each step is recorded before it acts, so that an invocation that takes the
/// operation over knows what may have been done already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Step {
    /// Looking at the endpoint (waiting while it is in a transition) before saving.
    Look,
    /// What SageMaker would refuse is saved; deregistering it (repeated, it is idempotent).
    Saved,
    /// UpdateEndpoint is being called (it may have taken effect).
    Updating,
    /// Waiting for SageMaker's outcome.
    Waiting,
    /// The outcome is known: putting back what was saved, then the capacity.
    Restoring,
    /// The answer is recorded; sending it (a repeated send sends the same body).
    Answering,
    /// The answer was delivered.
    Answered,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Look => "Look",
            Self::Saved => "Saved",
            Self::Updating => "Updating",
            Self::Waiting => "Waiting",
            Self::Restoring => "Restoring",
            Self::Answering => "Answering",
            Self::Answered => "Answered",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Look, Self::Saved, Self::Updating, Self::Waiting, Self::Restoring, Self::Answering, Self::Answered]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One operation as the journal holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: String,
    /// The CloudFormation request, as it arrived.
    pub event: Value,
    pub step: Step,
    pub op: Operation,
    /// The invocation (Lambda request id) that holds the lease, or [`HANDED_OVER`].
    pub holder: String,
    /// Until when the lease holds (milliseconds since the epoch).
    pub lease_until_ms: u64,
    /// The answer's body, recorded before it is sent.
    pub answer: Option<String>,
    /// Why an invocation ended without finishing (a panic, its deadline), if one did.
    pub interrupted: Option<String>,
}

impl Record {
    /// The item as DynamoDB takes it (attribute values).
    pub fn to_item(&self) -> Value {
        let mut item = json!({
            "Id": {"S": self.id},
            "Event": {"S": self.event.to_string()},
            "Step": {"S": self.step.as_str()},
            "Operation": {"S": serde_json::to_string(&self.op).unwrap_or_default()},
            "Deadline": {"N": self.op.deadline_ms().to_string()},
            "LeaseHolder": {"S": self.holder},
            "LeaseUntil": {"N": self.lease_until_ms.to_string()},
            "ExpiresAt": {"N": (self.op.started_ms / 1000 + KEEP_SECONDS).to_string()},
        });
        if let Some(answer) = &self.answer {
            item["Answer"] = json!({"S": answer});
        }
        if let Some(why) = &self.interrupted {
            item["Interrupted"] = json!({"S": why});
        }
        item
    }

    /// Reads an item.
    ///
    /// # Errors
    /// What is missing or unreadable, for a log line or a Reason.
    pub fn from_item(item: &Value) -> Result<Self, String> {
        let text = |name: &str| item.get(name).and_then(|v| v.get("S")).and_then(Value::as_str);
        let number = |name: &str| item.get(name).and_then(|v| v.get("N")).and_then(Value::as_str).and_then(|n| n.parse::<u64>().ok());
        let id = text("Id").ok_or("the journal item has no Id")?.to_owned();
        let event = serde_json::from_str(text("Event").ok_or("the journal item has no Event")?).map_err(|e| format!("its Event: {e}"))?;
        let step = text("Step").and_then(Step::parse).ok_or("the journal item has no readable Step")?;
        let op: Operation = serde_json::from_str(text("Operation").ok_or("the journal item has no Operation")?)
            .map_err(|e| format!("its Operation: {e}"))?;
        if op.version > crate::endpoint_plan::VERSION {
            return Err(format!("the operation is version {}, newer than this function's {}", op.version, crate::endpoint_plan::VERSION));
        }
        Ok(Self {
            id,
            event,
            step,
            op,
            holder: text("LeaseHolder").unwrap_or_default().to_owned(),
            lease_until_ms: number("LeaseUntil").unwrap_or(0),
            answer: text("Answer").map(str::to_owned),
            interrupted: text("Interrupted").map(str::to_owned),
        })
    }
}

/// Who asks for an operation's lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimant<'a> {
    /// CloudFormation's event (first delivery, a duplicate, or Lambda's retry, which keeps the invocation's
    /// request id): the lease when it is free or already this invocation's.
    Event(&'a str),
    /// A hand-over: the lease when it is handed over, free, or this invocation's.
    HandOver(&'a str),
    /// The scheduled reconcile: only a lease that has run out.
    Reconcile(&'a str),
}

impl Claimant<'_> {
    /// The invocation's request id, which becomes the holder.
    pub fn holder(self) -> String {
        match self {
            Self::Event(id) | Self::HandOver(id) | Self::Reconcile(id) => id.to_owned(),
        }
    }

    /// DynamoDB's condition for taking the lease (`:me`, `:now`, `:handed` bound by [`Claimant::values`]),
    /// the same rule as [`Claimant::may_take`].
    pub fn condition(self) -> &'static str {
        match self {
            Self::Event(_) => "attribute_exists(Id) AND attribute_not_exists(Answered) AND (LeaseUntil < :now OR LeaseHolder = :me)",
            Self::HandOver(_) => {
                "attribute_exists(Id) AND attribute_not_exists(Answered) AND (LeaseUntil < :now OR LeaseHolder = :me OR LeaseHolder = :handed)"
            }
            Self::Reconcile(_) => "attribute_exists(Id) AND attribute_not_exists(Answered) AND LeaseUntil < :now",
        }
    }

    /// The values [`Claimant::condition`] names (only those it uses: DynamoDB refuses unused ones).
    pub fn values(self, now_ms: u64, until_ms: u64) -> Value {
        let mut values = json!({":now": {"N": now_ms.to_string()}, ":until": {"N": until_ms.to_string()}, ":me": {"S": self.holder()}});
        if matches!(self, Self::HandOver(_)) {
            values[":handed"] = json!({"S": HANDED_OVER});
        }
        values
    }

    /// Whether this claimant may take the lease of `record` at `now_ms` (the rule the condition applies).
    pub fn may_take(self, record: &Record, answered: bool, now_ms: u64) -> bool {
        let free = record.lease_until_ms < now_ms;
        let mine = record.holder == self.holder();
        !answered
            && match self {
                Self::Event(_) => free || mine,
                Self::HandOver(_) => free || mine || record.holder == HANDED_OVER,
                Self::Reconcile(_) => free,
            }
    }
}

/// The hand-over event: only the operation's key (any other field is ignored).
pub fn handover_event(id: &str) -> Value {
    json!({crate::endpoint_plan::OPERATION_KEY: {"id": id}})
}

/// The key a hand-over event carries; `None` for any other event.
pub fn handed_over_key(event: &str) -> Option<String> {
    if !event.contains(crate::endpoint_plan::OPERATION_KEY) {
        return None;
    }
    let value: Value = serde_json::from_str(event).ok()?;
    value.get(crate::endpoint_plan::OPERATION_KEY)?.get("id")?.as_str().map(str::to_owned)
}

/// The Provider framework's `isComplete` call for a resource with no operation: the request with onEvent's
/// answer merged in (`Data` at the top level, which a CloudFormation request never has), and no operation key.
pub fn is_complete_without_operation(event: &str) -> bool {
    if !event.contains("\"Data\"") || event.contains(crate::endpoint_plan::OPERATION_KEY) {
        return false;
    }
    let Ok(fields) = serde_json::from_str::<std::collections::HashMap<String, Box<serde_json::value::RawValue>>>(event) else {
        return false;
    };
    fields.contains_key("Data") && fields.contains_key("RequestType")
}

/// EventBridge's scheduled event (`source` `aws.events`, `detail-type` `Scheduled Event`): the reconcile.
pub fn is_scheduled(event: &str) -> bool {
    if !event.contains("aws.events") {
        return false;
    }
    let Ok(value) = serde_json::from_str::<Value>(event) else { return false };
    value.get("source").and_then(Value::as_str) == Some("aws.events")
        && value.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint_plan::Kind;

    fn record(holder: &str, until: u64) -> Record {
        Record {
            id: "stack|Endpoint|req".into(),
            event: json!({"RequestType": "Update"}),
            step: Step::Waiting,
            op: Operation::start(Kind::Update, "e".into(), "arn".into(), "c2".into(), 600, 1_000_000),
            holder: holder.into(),
            lease_until_ms: until,
            answer: None,
            interrupted: None,
        }
    }

    #[test]
    fn an_item_round_trips_through_dynamodbs_attribute_values() {
        let mut r = record("inv-1", 5_000);
        r.answer = Some("{\"Status\":\"SUCCESS\"}".into());
        let back = Record::from_item(&r.to_item()).unwrap();
        assert_eq!(back, r);
        assert_eq!(r.to_item()["ExpiresAt"]["N"], (1_000 + KEEP_SECONDS).to_string());
        assert_eq!(r.to_item()["Deadline"]["N"], (1_000_000 + 600_000).to_string());
        let mut newer = r.to_item();
        let mut op = serde_json::to_value(&r.op).unwrap();
        op["version"] = json!(99);
        newer["Operation"] = json!({"S": op.to_string()});
        assert!(Record::from_item(&newer).unwrap_err().contains("version 99"));
        assert!(Record::from_item(&json!({"Id": {"S": "x"}})).unwrap_err().contains("Event"));
    }

    #[test]
    fn the_lease_goes_to_a_free_slot_its_own_holder_or_a_queued_hand_over() {
        let held = record("inv-1", 10_000);
        assert!(Claimant::Event("inv-1").may_take(&held, false, 5_000), "Lambda's retry keeps the request id");
        assert!(!Claimant::Event("inv-2").may_take(&held, false, 5_000), "a duplicate in another sandbox waits for the holder");
        assert!(Claimant::Event("inv-2").may_take(&held, false, 10_001), "a lease that ran out is free");
        assert!(!Claimant::HandOver("inv-3").may_take(&held, false, 5_000), "a duplicate hand-over while the holder works");
        assert!(!Claimant::Reconcile("inv-4").may_take(&held, false, 5_000));
        assert!(Claimant::Reconcile("inv-4").may_take(&held, false, 10_001));
        let handed = record(HANDED_OVER, 60_000);
        assert!(Claimant::HandOver("inv-5").may_take(&handed, false, 5_000));
        assert!(!Claimant::Event("inv-1").may_take(&handed, false, 5_000), "the queued hand-over carries it on");
        assert!(!Claimant::Reconcile("inv-4").may_take(&handed, false, 5_000), "the reconcile leaves a fresh hand-over alone");
        assert!(Claimant::Reconcile("inv-4").may_take(&handed, false, 60_001), "a dropped hand-over costs the grace, not the operation");
        assert!(!Claimant::HandOver("inv-5").may_take(&handed, true, 5_000), "an answered operation is never taken again");
        for c in [Claimant::Event("a"), Claimant::HandOver("a"), Claimant::Reconcile("a")] {
            let values = c.values(1, 2);
            for name in [":now", ":handed"] {
                assert_eq!(c.condition().contains(name), values.get(name).is_some(), "{c:?} {name}");
            }
        }
    }

    #[test]
    fn hand_overs_and_scheduled_events_are_told_apart_from_cloudformations() {
        let id = "arn:aws:cloudformation:us-east-1:1:stack/s/x|Endpoint|r";
        assert_eq!(handed_over_key(&handover_event(id).to_string()).as_deref(), Some(id));
        assert_eq!(handed_over_key(r#"{"cfnSageMakerOperation": {"id": "k"}, "extra": 1}"#).as_deref(), Some("k"));
        assert_eq!(handed_over_key(r#"{"RequestType": "Create"}"#), None);
        assert!(is_scheduled(r#"{"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}"#));
        assert!(!is_scheduled(r#"{"source": "aws.events", "detail-type": "Other"}"#));
        assert!(!is_scheduled(r#"{"RequestType": "Create", "ResourceProperties": {"x": "aws.events"}}"#));
        assert!(is_complete_without_operation(r#"{"RequestType": "Create", "PhysicalResourceId": "p", "Data": {}}"#));
        assert!(!is_complete_without_operation(r#"{"RequestType": "Create", "ResourceProperties": {"Data": 1}}"#));
    }
}
