//! Reading CloudFormation's request envelope from raw JSON, so that even a broken event can be answered.
//!
//! Nothing here trusts the shape of the event: each field is read on its own, and whatever could be read
//! is kept for the FAILED response's echo fields.

use serde_json::Value;

use crate::settings::Mode;

/// The three request types CloudFormation sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestType {
    Create,
    Update,
    Delete,
}

impl RequestType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "Create",
            Self::Update => "Update",
            Self::Delete => "Delete",
        }
    }
}

/// The fields a response copies from its request. Empty strings where the request lacked them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Echo {
    pub stack_id: String,
    pub request_id: String,
    pub logical_id: String,
    /// The request's `PhysicalResourceId`: present on Update and Delete.
    pub physical_id: Option<String>,
}

/// A request whose envelope is complete. The properties are still raw: each resource type reads its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub request_type: RequestType,
    pub resource_type: String,
    pub response_url: String,
    pub echo: Echo,
    pub properties: Value,
    /// `OldResourceProperties` on Update; `Value::Null` otherwise.
    pub old_properties: Value,
}

/// What reading an envelope gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Envelope {
    /// Everything needed to handle the request.
    Request(Request),
    /// A ResponseURL could be read, but the rest is broken: answer FAILED with `reason`.
    Broken { response_url: String, request_type: Option<RequestType>, resource_type: String, echo: Echo, reason: String },
    /// Not even a ResponseURL: log it and fail the invocation.
    Unreadable(String),
}

/// Splits an invocation payload into CloudFormation requests: one for a direct invocation, one per record
/// for an SNS-backed custom resource (`{"Records":[{"Sns":{"Message":"<request JSON>"}}]}`).
///
/// In CDK's Provider framework (`Mode::CdkProvider`) the framework answers CloudFormation itself, so a
/// request needs no ResponseURL.
pub fn requests(event: Value, mode: Mode) -> Vec<Envelope> {
    let records = match &event {
        Value::Object(map) if !map.contains_key("RequestType") => map.get("Records").and_then(Value::as_array),
        _ => None,
    };
    match records {
        None => vec![read(&event, mode)],
        Some(records) => records.iter().map(|r| read_sns_record(r, mode)).collect(),
    }
}

fn read_sns_record(record: &Value, mode: Mode) -> Envelope {
    match record.pointer("/Sns/Message").and_then(Value::as_str) {
        None => Envelope::Unreadable("SNS record has no Sns.Message string".into()),
        Some(message) => match serde_json::from_str::<Value>(message) {
            Ok(inner) => read(&inner, mode),
            Err(err) => Envelope::Unreadable(format!("SNS message is not JSON: {err}")),
        },
    }
}

/// Reads one CloudFormation request.
pub fn read(event: &Value, mode: Mode) -> Envelope {
    let text = |key: &str| event.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let url = event.get("ResponseURL").and_then(Value::as_str).filter(|u| !u.is_empty());
    let url = match (mode, url) {
        (Mode::CdkProvider, None) if event.is_object() => Some(""),
        _ => url,
    };
    let Some(response_url) = url else {
        return Envelope::Unreadable(match event {
            Value::Object(_) => "event has no ResponseURL string".into(),
            other => format!("event is {}, not a CloudFormation request", crate::props::kind(other)),
        });
    };
    let echo = Echo {
        stack_id: text("StackId"),
        request_id: text("RequestId"),
        logical_id: text("LogicalResourceId"),
        physical_id: event.get("PhysicalResourceId").and_then(Value::as_str).map(str::to_owned),
    };
    let resource_type = text("ResourceType");
    let raw_type = event.get("RequestType");
    let request_type = match raw_type.and_then(Value::as_str) {
        Some("Create") => Some(RequestType::Create),
        Some("Update") => Some(RequestType::Update),
        Some("Delete") => Some(RequestType::Delete),
        _ => None,
    };
    let broken = |reason: String| Envelope::Broken {
        response_url: response_url.to_owned(),
        request_type,
        resource_type: resource_type.clone(),
        echo: echo.clone(),
        reason,
    };
    let Some(kind) = request_type else {
        return broken(match raw_type {
            None => "RequestType is missing".into(),
            Some(other) => format!("RequestType {other} is not Create, Update or Delete"),
        });
    };
    for (key, value) in [("StackId", &echo.stack_id), ("RequestId", &echo.request_id), ("LogicalResourceId", &echo.logical_id)] {
        if value.is_empty() {
            return broken(format!("{key} is missing from the request"));
        }
    }
    if kind != RequestType::Create && echo.physical_id.as_deref().is_none_or(str::is_empty) {
        return broken(format!("PhysicalResourceId is missing from the {} request", kind.as_str()));
    }
    if resource_type.is_empty() {
        return broken("ResourceType is missing from the request".into());
    }
    Envelope::Request(Request {
        request_type: kind,
        resource_type,
        response_url: response_url.to_owned(),
        echo,
        properties: event.get("ResourceProperties").cloned().unwrap_or(Value::Null),
        old_properties: event.get("OldResourceProperties").cloned().unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create() -> Value {
        json!({
            "RequestType": "Create",
            "ResponseURL": "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?sig=1",
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
            "RequestId": "r-1",
            "LogicalResourceId": "Target",
            "ResourceType": "Custom::SageMakerScalableTarget",
            "ResourceProperties": {"MinCapacity": "1"}
        })
    }

    #[test]
    fn a_complete_request_is_read() {
        let Envelope::Request(req) = read(&create(), Mode::Direct) else { panic!("not a request") };
        assert_eq!(req.request_type, RequestType::Create);
        assert_eq!(req.echo.logical_id, "Target");
        assert_eq!(req.properties, json!({"MinCapacity": "1"}));
        assert_eq!(req.old_properties, Value::Null);
    }

    #[test]
    fn an_unknown_request_type_is_broken_but_answerable() {
        let mut event = create();
        event["RequestType"] = json!("Upsert");
        event["PhysicalResourceId"] = json!("p-1");
        let Envelope::Broken { reason, echo, request_type, .. } = read(&event, Mode::Direct) else { panic!("not broken") };
        assert_eq!(reason, r#"RequestType "Upsert" is not Create, Update or Delete"#);
        assert_eq!(request_type, None);
        assert_eq!(echo.physical_id.as_deref(), Some("p-1"));
        assert_eq!(echo.request_id, "r-1");
    }

    #[test]
    fn missing_echo_fields_are_broken() {
        for key in ["StackId", "RequestId", "LogicalResourceId", "ResourceType"] {
            let mut event = create();
            event.as_object_mut().unwrap().remove(key);
            let Envelope::Broken { reason, .. } = read(&event, Mode::Direct) else { panic!("{key}: not broken") };
            assert!(reason.starts_with(key), "{reason}");
        }
    }

    #[test]
    fn update_and_delete_need_a_physical_id() {
        let mut event = create();
        event["RequestType"] = json!("Delete");
        let Envelope::Broken { reason, .. } = read(&event, Mode::Direct) else { panic!("not broken") };
        assert_eq!(reason, "PhysicalResourceId is missing from the Delete request");
    }

    #[test]
    fn no_response_url_is_unreadable() {
        let mut event = create();
        event.as_object_mut().unwrap().remove("ResponseURL");
        assert!(matches!(read(&event, Mode::Direct), Envelope::Unreadable(_)));
        assert!(matches!(read(&json!([1, 2]), Mode::Direct), Envelope::Unreadable(_)));
        assert!(matches!(read(&json!({"ResponseURL": 5}), Mode::Direct), Envelope::Unreadable(_)));
    }

    #[test]
    fn sns_records_are_unwrapped_one_request_each() {
        let message = create().to_string();
        let event = json!({"Records": [{"Sns": {"Message": message}}, {"Sns": {"Message": "not json"}}]});
        let all = requests(event, Mode::Direct);
        assert_eq!(all.len(), 2);
        assert!(matches!(all[0], Envelope::Request(_)));
        assert!(matches!(all[1], Envelope::Unreadable(_)));
        assert_eq!(requests(create(), Mode::Direct).len(), 1);
    }
}
