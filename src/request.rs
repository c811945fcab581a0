//! Reading CloudFormation's request envelope from raw JSON, so that even a broken event can be answered.
//!
//! A well-formed request is read as aws_lambda_events' CloudFormation types (the custom-resource request,
//! or the CDK Provider framework's in `cdk-provider` mode). Anything else falls back to a reader that trusts
//! nothing: the payload stays raw text, the envelope's fields are read one by one without descending into the
//! properties, and whatever could be read is kept for the FAILED response's echo fields. Properties nested
//! deeper than serde_json's recursion limit become a FAILED naming the property, never silence.

use std::collections::HashMap;

use aws_lambda_events::event::cloudformation::{self as cfn, provider};
use serde_json::Value;
use serde_json::value::RawValue;

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

/// The resource types this function serves, parsed once from `ResourceType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceType {
    /// `Custom::SageMakerScalableTarget`
    ScalableTarget,
    /// `Custom::SageMakerScalingPolicy`
    ScalingPolicy,
    /// `Custom::SageMakerScheduledAction`
    ScheduledAction,
    /// `Custom::SageMakerEndpoint`
    Endpoint,
    /// Anything else, as the event named it.
    Other(String),
}

impl ResourceType {
    /// Every type served, for the Reason of an unsupported one.
    pub const SUPPORTED: [&str; 4] = [
        "Custom::SageMakerScalableTarget",
        "Custom::SageMakerScalingPolicy",
        "Custom::SageMakerScheduledAction",
        "Custom::SageMakerEndpoint",
    ];

    /// Reads the wire name.
    pub fn parse(text: &str) -> Self {
        match text {
            "Custom::SageMakerScalableTarget" => Self::ScalableTarget,
            "Custom::SageMakerScalingPolicy" => Self::ScalingPolicy,
            "Custom::SageMakerScheduledAction" => Self::ScheduledAction,
            "Custom::SageMakerEndpoint" => Self::Endpoint,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::ScalableTarget => Self::SUPPORTED[0],
            Self::ScalingPolicy => Self::SUPPORTED[1],
            Self::ScheduledAction => Self::SUPPORTED[2],
            Self::Endpoint => Self::SUPPORTED[3],
            Self::Other(text) => text,
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
    pub resource_type: ResourceType,
    /// Empty in `cdk-provider` mode, where the Provider framework answers CloudFormation.
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

/// An object's members, each left as raw JSON until it is needed.
type Fields = HashMap<String, Box<RawValue>>;

/// Splits an invocation payload into CloudFormation requests: one for a direct invocation, one per record
/// for an SNS-backed custom resource (`{"Records":[{"Sns":{"Message":"<request JSON>"}}]}`).
///
/// In CDK's Provider framework (`Mode::CdkProvider`) the framework answers CloudFormation itself, so a
/// request needs no ResponseURL.
pub fn requests(payload: &str, mode: Mode) -> Vec<Envelope> {
    // The common case, a well-formed request, is read once; only what it cannot take is read field by field.
    if let Some(req) = typed(payload, mode) {
        return vec![Envelope::Request(req)];
    }
    let Ok(fields) = serde_json::from_str::<Fields>(payload) else {
        return vec![Envelope::Unreadable(format!("event is {}, not a CloudFormation request", kind_of(payload)))];
    };
    let records = match fields.get("Records") {
        Some(records) if !fields.contains_key("RequestType") => records,
        _ => return vec![read_fields(&fields, mode)],
    };
    match serde_json::from_str::<Vec<Fields>>(records.get()) {
        Ok(records) => records.iter().map(|r| read_sns_record(r, mode)).collect(),
        Err(_) => vec![Envelope::Unreadable("Records is not a list of SNS records".into())],
    }
}

fn read_sns_record(record: &Fields, mode: Mode) -> Envelope {
    let sns = record.get("Sns").and_then(|sns| serde_json::from_str::<Fields>(sns.get()).ok());
    let message = sns.as_ref().and_then(|sns| string(sns, "Message"));
    let Some(message) = message else { return Envelope::Unreadable("SNS record has no Sns.Message string".into()) };
    if let Some(req) = typed(&message, mode) {
        return Envelope::Request(req);
    }
    match serde_json::from_str::<Fields>(&message) {
        Ok(inner) => read_fields(&inner, mode),
        Err(_) => Envelope::Unreadable(format!("SNS message is {}, not a CloudFormation request", kind_of(&message))),
    }
}

/// What kind of JSON value a text is, from its first character (the text may be too deep to parse).
fn kind_of(text: &str) -> &'static str {
    match text.trim_start().chars().next() {
        Some('{') => "an object that is not valid JSON",
        Some('[') => "a list",
        Some('"') => "a string",
        Some('t' | 'f') => "a boolean",
        Some('n') => "null",
        Some('-' | '0'..='9') => "a number",
        _ => "not JSON",
    }
}

fn string(fields: &Fields, key: &str) -> Option<String> {
    fields.get(key).and_then(|raw| serde_json::from_str::<String>(raw.get()).ok())
}

/// Reads properties into a value. Too deep for serde_json: an error naming the deepest member that could
/// still be named (`ResourceProperties.Tags`).
fn read_properties(fields: &Fields, key: &str) -> Result<Value, String> {
    let Some(raw) = fields.get(key) else { return Ok(Value::Null) };
    serde_json::from_str(raw.get()).map_err(|_| {
        let members = serde_json::from_str::<Fields>(raw.get()).unwrap_or_default();
        let mut names: Vec<&String> = members.keys().collect();
        names.sort();
        let deep = names.into_iter().find(|name| serde_json::from_str::<Value>(members[*name].get()).is_err());
        let path = deep.map_or_else(|| key.to_owned(), |name| format!("{key}.{name}"));
        format!("{path} is nested too deeply to read (more than 127 levels); no property of this resource takes such a value")
    })
}

/// A well-formed request as aws_lambda_events reads it. `None` when anything about it is off (a missing,
/// empty or mistyped field, an unknown RequestType, properties too deep for a `Value`): the field reader then
/// says precisely what, and echoes whatever could be read.
fn typed(text: &str, mode: Mode) -> Option<Request> {
    let req = match mode {
        Mode::Direct => match serde_json::from_str::<cfn::CloudFormationCustomResourceRequest>(text).ok()? {
            cfn::CloudFormationCustomResourceRequest::Create(r) => typed_request(
                RequestType::Create,
                r.response_url,
                [r.stack_id, r.request_id, r.logical_resource_id],
                None,
                r.resource_type,
                r.resource_properties,
                Value::Null,
            ),
            cfn::CloudFormationCustomResourceRequest::Update(r) => typed_request(
                RequestType::Update,
                r.response_url,
                [r.stack_id, r.request_id, r.logical_resource_id],
                Some(r.physical_resource_id),
                r.resource_type,
                r.resource_properties,
                r.old_resource_properties,
            ),
            cfn::CloudFormationCustomResourceRequest::Delete(r) => typed_request(
                RequestType::Delete,
                r.response_url,
                [r.stack_id, r.request_id, r.logical_resource_id],
                Some(r.physical_resource_id),
                r.resource_type,
                r.resource_properties,
                Value::Null,
            ),
            _ => return None,
        },
        // The Provider framework answers CloudFormation itself: its request carries no ResponseURL to use.
        Mode::CdkProvider => match serde_json::from_str::<provider::CloudFormationCustomResourceRequest>(text).ok()? {
            provider::CloudFormationCustomResourceRequest::Create(r) => {
                let c = r.common;
                typed_request(
                    RequestType::Create,
                    String::new(),
                    [c.stack_id, c.request_id, c.logical_resource_id],
                    None,
                    c.resource_type,
                    c.resource_properties,
                    Value::Null,
                )
            }
            provider::CloudFormationCustomResourceRequest::Update(r) => {
                let c = r.common;
                let ids = [c.stack_id, c.request_id, c.logical_resource_id];
                typed_request(
                    RequestType::Update,
                    String::new(),
                    ids,
                    Some(r.physical_resource_id),
                    c.resource_type,
                    c.resource_properties,
                    r.old_resource_properties,
                )
            }
            provider::CloudFormationCustomResourceRequest::Delete(r) => {
                let c = r.common;
                let ids = [c.stack_id, c.request_id, c.logical_resource_id];
                typed_request(
                    RequestType::Delete,
                    String::new(),
                    ids,
                    Some(r.physical_resource_id),
                    c.resource_type,
                    c.resource_properties,
                    Value::Null,
                )
            }
            _ => return None,
        },
    };
    let incomplete = req.echo.stack_id.is_empty()
        || req.echo.request_id.is_empty()
        || req.echo.logical_id.is_empty()
        || (mode == Mode::Direct && req.response_url.is_empty())
        || (req.request_type != RequestType::Create && req.echo.physical_id.as_deref().is_none_or(str::is_empty))
        || req.resource_type.as_str().is_empty();
    (!incomplete).then_some(req)
}

fn typed_request(
    request_type: RequestType,
    response_url: String,
    [stack_id, request_id, logical_id]: [String; 3],
    physical_id: Option<String>,
    resource_type: String,
    properties: Value,
    old_properties: Value,
) -> Request {
    Request {
        request_type,
        resource_type: ResourceType::parse(&resource_type),
        response_url,
        echo: Echo { stack_id, request_id, logical_id, physical_id },
        properties,
        old_properties,
    }
}

/// Reads one CloudFormation request field by field, trusting nothing.
fn read_fields(fields: &Fields, mode: Mode) -> Envelope {
    let text = |key: &str| string(fields, key).unwrap_or_default();
    let url = string(fields, "ResponseURL").filter(|u| !u.is_empty());
    let url = match (mode, url) {
        (Mode::CdkProvider, None) => Some(String::new()),
        (_, url) => url,
    };
    let Some(response_url) = url else { return Envelope::Unreadable("event has no ResponseURL string".into()) };
    let echo = Echo {
        stack_id: text("StackId"),
        request_id: text("RequestId"),
        logical_id: text("LogicalResourceId"),
        physical_id: string(fields, "PhysicalResourceId"),
    };
    let resource_type = text("ResourceType");
    let raw_type = fields.get("RequestType").map(|raw| raw.get());
    let request_type = match string(fields, "RequestType").as_deref() {
        Some("Create") => Some(RequestType::Create),
        Some("Update") => Some(RequestType::Update),
        Some("Delete") => Some(RequestType::Delete),
        _ => None,
    };
    let broken = |reason: String| Envelope::Broken {
        response_url: response_url.clone(),
        request_type,
        resource_type: resource_type.clone(),
        echo: echo.clone(),
        reason,
    };
    let Some(kind) = request_type else {
        return broken(match raw_type {
            None => "RequestType is missing".into(),
            Some(other) => format!("RequestType {} is not Create, Update or Delete", clip(other)),
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
    // Properties are never validated on Delete, and old ones only guide an Update: neither may block.
    let properties = match (kind, read_properties(fields, "ResourceProperties")) {
        (_, Ok(value)) => value,
        (RequestType::Delete, Err(_)) => Value::Null,
        (_, Err(reason)) => return broken(reason),
    };
    Envelope::Request(Request {
        request_type: kind,
        resource_type: ResourceType::parse(&resource_type),
        response_url,
        echo,
        properties,
        old_properties: read_properties(fields, "OldResourceProperties").unwrap_or(Value::Null),
    })
}

/// Raw JSON of a field, short enough for a Reason.
fn clip(raw: &str) -> String {
    if raw.chars().count() > 64 { format!("{}...", raw.chars().take(64).collect::<String>()) } else { raw.to_owned() }
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

    fn one(event: &Value, mode: Mode) -> Envelope {
        let mut all = requests(&event.to_string(), mode);
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    /// `depth` nested lists around a number: valid JSON that serde_json's `Value` cannot hold past 128.
    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn a_complete_request_is_read() {
        let Envelope::Request(req) = one(&create(), Mode::Direct) else { panic!("not a request") };
        assert_eq!(req.request_type, RequestType::Create);
        assert_eq!(req.resource_type, ResourceType::ScalableTarget);
        assert_eq!(req.echo.logical_id, "Target");
        assert_eq!(req.properties, json!({"MinCapacity": "1"}));
        assert_eq!(req.old_properties, Value::Null);
    }

    #[test]
    fn resource_types_are_parsed_once() {
        for text in ResourceType::SUPPORTED {
            assert_eq!(ResourceType::parse(text).as_str(), text);
            assert!(!matches!(ResourceType::parse(text), ResourceType::Other(_)));
        }
        assert_eq!(ResourceType::parse("Custom::Nope"), ResourceType::Other("Custom::Nope".into()));
    }

    #[test]
    fn an_unknown_request_type_is_broken_but_answerable() {
        let mut event = create();
        event["RequestType"] = json!("Upsert");
        event["PhysicalResourceId"] = json!("p-1");
        let Envelope::Broken { reason, echo, request_type, .. } = one(&event, Mode::Direct) else { panic!("not broken") };
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
            let Envelope::Broken { reason, .. } = one(&event, Mode::Direct) else { panic!("{key}: not broken") };
            assert!(reason.starts_with(key), "{reason}");
        }
    }

    #[test]
    fn update_and_delete_need_a_physical_id() {
        let mut event = create();
        event["RequestType"] = json!("Delete");
        let Envelope::Broken { reason, .. } = one(&event, Mode::Direct) else { panic!("not broken") };
        assert_eq!(reason, "PhysicalResourceId is missing from the Delete request");
    }

    #[test]
    fn no_response_url_is_unreadable() {
        let mut event = create();
        event.as_object_mut().unwrap().remove("ResponseURL");
        assert!(matches!(one(&event, Mode::Direct), Envelope::Unreadable(_)));
        assert!(matches!(one(&json!([1, 2]), Mode::Direct), Envelope::Unreadable(_)));
        assert!(matches!(one(&json!({"ResponseURL": 5}), Mode::Direct), Envelope::Unreadable(_)));
        assert!(matches!(requests("not json", Mode::Direct)[..], [Envelope::Unreadable(_)]));
    }

    #[test]
    fn sns_records_are_unwrapped_one_request_each() {
        let message = create().to_string();
        let event = json!({"Records": [{"Sns": {"Message": message}}, {"Sns": {"Message": "not json"}}]});
        let all = requests(&event.to_string(), Mode::Direct);
        assert_eq!(all.len(), 2);
        assert!(matches!(all[0], Envelope::Request(_)));
        assert!(matches!(all[1], Envelope::Unreadable(_)));
    }

    #[test]
    fn properties_too_deep_for_serde_json_are_a_failed_naming_the_property() {
        assert!(serde_json::from_str::<Value>(&nested(200)).is_err(), "the premise: Value stops at 128 levels");
        let event = create().to_string().replace(r#"{"MinCapacity":"1"}"#, &format!(r#"{{"MinCapacity":"1","Tags":{}}}"#, nested(200)));
        let Envelope::Broken { reason, response_url, echo, .. } = requests(&event, Mode::Direct).remove(0) else { panic!("not broken") };
        assert!(reason.starts_with("ResourceProperties.Tags is nested too deeply"), "{reason}");
        assert!(response_url.starts_with("https://"));
        assert_eq!(echo.request_id, "r-1");
        let whole = create().to_string().replace(r#"{"MinCapacity":"1"}"#, &nested(300));
        let Envelope::Broken { reason, .. } = requests(&whole, Mode::Direct).remove(0) else { panic!("not broken") };
        assert!(reason.starts_with("ResourceProperties is nested too deeply"), "{reason}");
    }

    #[test]
    fn a_delete_with_deep_properties_is_still_a_request() {
        let mut event = create();
        event["RequestType"] = json!("Delete");
        event["PhysicalResourceId"] = json!("p-1");
        let text = event.to_string().replace(r#"{"MinCapacity":"1"}"#, &nested(500));
        let Envelope::Request(req) = requests(&text, Mode::Direct).remove(0) else { panic!("not a request") };
        assert_eq!(req.properties, Value::Null);
    }

    #[test]
    fn the_typed_and_the_field_reader_agree_on_well_formed_requests() {
        let mut update = create();
        update["RequestType"] = json!("Update");
        update["PhysicalResourceId"] = json!("p-1");
        update["OldResourceProperties"] = json!({"MinCapacity": "0"});
        update["ServiceToken"] = json!("arn:aws:lambda:us-east-1:1:function:f");
        let mut delete = create();
        delete["RequestType"] = json!("Delete");
        delete["PhysicalResourceId"] = json!("p-1");
        for event in [create(), update, delete] {
            for mode in [Mode::Direct, Mode::CdkProvider] {
                let text = event.to_string();
                let fields: Fields = serde_json::from_str(&text).unwrap();
                let typed = typed(&text, mode).unwrap_or_else(|| panic!("{event}: not read as aws_lambda_events' type"));
                let Envelope::Request(mut by_field) = read_fields(&fields, mode) else { panic!("{event}") };
                if mode == Mode::CdkProvider {
                    by_field.response_url = String::new();
                }
                assert_eq!(typed, by_field, "{mode:?}");
            }
        }
    }

    #[test]
    fn what_the_typed_reader_cannot_take_falls_back_to_the_field_reader() {
        let mut empty_id = create();
        empty_id["RequestId"] = json!("");
        let mut token = create();
        token["ServiceToken"] = json!(5);
        for event in [empty_id.clone(), token.clone()] {
            assert!(typed(&event.to_string(), Mode::Direct).is_none(), "{event}");
        }
        assert!(matches!(one(&empty_id, Mode::Direct), Envelope::Broken { .. }));
        assert!(matches!(one(&token, Mode::Direct), Envelope::Request(_)), "a stray field type does not break the request");
    }

    #[test]
    fn a_deep_unrelated_field_does_not_stop_the_envelope() {
        let text = create().to_string().replacen('{', &format!(r#"{{"Extra":{},"#, nested(1000)), 1);
        assert!(matches!(requests(&text, Mode::Direct)[..], [Envelope::Request(_)]));
    }
}
