//! CloudFormation events under construction.

use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};

use crate::TARGET;
use crate::receiver::Receiver;
static COUNTER: OnceLock<Mutex<u64>> = OnceLock::new();

fn next_number() -> u64 {
    let mut n = COUNTER.get_or_init(|| Mutex::new(0)).lock().unwrap();
    *n += 1;
    *n
}

/// A CloudFormation request under construction. `name` is unique: it names the ResponseURL path.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub body: Value,
}

/// A stack: gives events their StackId.
#[derive(Debug, Clone)]
pub struct Stack {
    pub id: String,
}

impl Stack {
    pub fn new(name: &str) -> Self {
        Self { id: format!("arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/{:08x}-test", next_number()) }
    }

    pub fn create(&self, logical_id: &str, props: Value) -> Event {
        self.event("Create", logical_id, TARGET, props, None, None)
    }

    pub fn update(&self, logical_id: &str, physical_id: &str, props: Value, old_props: Value) -> Event {
        self.event("Update", logical_id, TARGET, props, Some(physical_id), Some(old_props))
    }

    pub fn delete(&self, logical_id: &str, physical_id: &str, props: Value) -> Event {
        self.event("Delete", logical_id, TARGET, props, Some(physical_id), None)
    }

    pub fn event(
        &self,
        request_type: &str,
        logical_id: &str,
        resource_type: &str,
        props: Value,
        physical_id: Option<&str>,
        old: Option<Value>,
    ) -> Event {
        let n = next_number();
        let mut body = json!({
            "RequestType": request_type,
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:cfn-sagemaker-autoscaling",
            "StackId": self.id,
            "RequestId": format!("{n:08x}-1111-2222-3333-444444444444"),
            "LogicalResourceId": logical_id,
            "ResourceType": resource_type,
            "ResourceProperties": props,
        });
        if let Some(id) = physical_id {
            body["PhysicalResourceId"] = json!(id);
        }
        if let Some(old) = old {
            body["OldResourceProperties"] = old;
        }
        Event { name: format!("{}-{logical_id}-{n}", request_type.to_lowercase()), body }
    }
}

impl Event {
    /// The event as sent, with a ResponseURL on `receiver`.
    pub fn json(&self, receiver: &Receiver) -> Value {
        let mut body = self.body.clone();
        if body.get("ResponseURL").is_none() && body.is_object() {
            body["ResponseURL"] = json!(receiver.url(&self.name));
        }
        body
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.body[key] = value;
        self
    }
}

/// Replays events/ as CloudFormation would: an Update or Delete carries the physical id that the earlier
/// answer for the same logical id returned, whatever id the file was written with (a policy's ARN is new
/// each time it is created, as in AWS).
#[derive(Debug, Default)]
pub struct Replay {
    ids: std::collections::HashMap<String, String>,
}

impl Replay {
    /// Every `*.json` file of `dir`, in name order: (file stem, event).
    pub fn files(dir: &std::path::Path) -> Vec<(String, Value)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                (p.file_stem().expect("a file name").to_string_lossy().into_owned(), json)
            })
            .collect()
    }

    /// The event to send for a file's `body`: its own physical id replaced by the one answered earlier.
    pub fn prepare(&self, body: &Value) -> Value {
        let mut body = body.clone();
        let logical = body["LogicalResourceId"].as_str().unwrap_or_default().to_owned();
        if body.get("PhysicalResourceId").is_some()
            && let Some(id) = self.ids.get(&logical)
        {
            body["PhysicalResourceId"] = json!(id);
        }
        body
    }

    /// Remembers the physical id answered for a sent event.
    pub fn answered(&mut self, sent: &Value, physical_id: &str) {
        let logical = sent["LogicalResourceId"].as_str().unwrap_or_default().to_owned();
        self.ids.insert(logical, physical_id.to_owned());
    }
}
