//! The response CloudFormation waits for: its fields, its physical id rules, and its 4096-byte limit.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::request::{Echo, RequestType};

/// CloudFormation rejects response bodies larger than this.
pub const MAX_BODY: usize = 4096;

/// SUCCESS or FAILED.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    Failed,
}

impl Status {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::Failed => "FAILED",
        }
    }
}

/// One response to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: Status,
    /// Set on FAILED; cleaned of control characters when the body is rendered.
    pub reason: Option<String>,
    pub physical_id: String,
    pub echo: Echo,
    /// `Fn::GetAtt` attributes.
    pub data: BTreeMap<String, String>,
}

impl Response {
    /// A SUCCESS with the resource's physical id and attributes.
    pub fn success(echo: &Echo, physical_id: impl Into<String>, data: BTreeMap<String, String>) -> Self {
        Self { status: Status::Success, reason: None, physical_id: physical_id.into(), echo: echo.clone(), data }
    }

    /// A SUCCESS that keeps the request's own physical id (Delete).
    pub fn done(echo: &Echo) -> Self {
        Self::success(echo, echo.physical_id.clone().unwrap_or_else(|| failed_create_id(echo)), BTreeMap::new())
    }

    /// A FAILED. Its physical id follows the contract: a failed Create gets an id that names no target, so
    /// the rollback Delete touches nothing; a failed Update or Delete echoes the request's id unchanged.
    pub fn failed(echo: &Echo, request_type: Option<RequestType>, reason: impl Into<String>) -> Self {
        let physical_id = match (request_type, &echo.physical_id) {
            (Some(RequestType::Create), _) | (_, None) => failed_create_id(echo),
            (_, Some(id)) if id.is_empty() => failed_create_id(echo),
            (_, Some(id)) => id.clone(),
        };
        Self { status: Status::Failed, reason: Some(reason.into()), physical_id, echo: echo.clone(), data: BTreeMap::new() }
    }

    /// The JSON body to PUT, at most [`MAX_BODY`] bytes: the Reason is cut first (on a character boundary);
    /// if Data alone is too large, the response becomes a FAILED that says so.
    pub fn body(&self) -> Vec<u8> {
        let reason = self.reason.as_deref().map(clean_reason);
        let base = self.render("");
        if base.len() > MAX_BODY {
            let size = base.len();
            let mut failed = Self::failed(
                &self.echo,
                Some(RequestType::Update),
                format!("response Data is {size} bytes with the other fields, over CloudFormation's {MAX_BODY}-byte limit"),
            );
            failed.physical_id = self.physical_id.clone();
            return failed.body();
        }
        let Some(reason) = reason else { return base.into_bytes() };
        let room = MAX_BODY - base.len();
        self.render(&cut_to_escaped_len(&reason, room)).into_bytes()
    }

    /// A response read back from its body (as [`Response::body`] rendered it): the journal's recorded answer.
    pub fn from_body(body: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(body).ok()?;
        let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
        let status = match text("Status")?.as_str() {
            "SUCCESS" => Status::Success,
            "FAILED" => Status::Failed,
            _ => return None,
        };
        let data = value.get("Data")?.as_object()?.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect();
        let echo =
            Echo { stack_id: text("StackId")?, request_id: text("RequestId")?, logical_id: text("LogicalResourceId")?, physical_id: None };
        Some(Self { status, reason: text("Reason"), physical_id: text("PhysicalResourceId")?, echo, data })
    }

    fn render(&self, reason: &str) -> String {
        let mut body = Map::new();
        body.insert("Status".into(), json!(self.status.as_str()));
        if self.reason.is_some() || self.status == Status::Failed {
            body.insert("Reason".into(), json!(reason));
        }
        body.insert("PhysicalResourceId".into(), json!(self.physical_id));
        body.insert("StackId".into(), json!(self.echo.stack_id));
        body.insert("RequestId".into(), json!(self.echo.request_id));
        body.insert("LogicalResourceId".into(), json!(self.echo.logical_id));
        // The function never hides its Data (none of it is secret), so NoEcho is always false.
        body.insert("NoEcho".into(), json!(false));
        body.insert("Data".into(), Value::Object(self.data.iter().map(|(k, v)| (k.clone(), json!(v))).collect()));
        Value::Object(body).to_string()
    }
}

/// The physical id of a Create that failed: recognisably not a target id (it has no `|`), and unique per request.
pub fn failed_create_id(echo: &Echo) -> String {
    let request: String = echo.request_id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(64).collect();
    format!("create-failed-{request}")
}

/// Removes ANSI escape sequences and replaces control characters (newlines included) with spaces,
/// so the Reason reads as one line in the console.
pub fn clean_reason(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut chars = reason.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters... final byte in @..~; other escapes: ESC plus one character.
            if chars.next_if_eq(&'[').is_some() {
                for n in chars.by_ref() {
                    if ('@'..='~').contains(&n) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if c.is_control() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    out.trim().to_owned()
}

/// The longest prefix of `text` whose JSON-escaped form fits in `room` bytes, marked with "..." when cut.
/// `text` has no control characters (see [`clean_reason`]), so only `"` and `\` grow when escaped.
fn cut_to_escaped_len(text: &str, room: usize) -> String {
    let escaped_len = |c: char| if c == '"' || c == '\\' { 2 } else { c.len_utf8() };
    if text.chars().map(escaped_len).sum::<usize>() <= room {
        return text.to_owned();
    }
    let budget = room.saturating_sub(3);
    let mut used = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        if used + escaped_len(c) > budget {
            break;
        }
        used += escaped_len(c);
        end = i + c.len_utf8();
    }
    if room >= 3 { format!("{}...", &text[..end]) } else { String::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo() -> Echo {
        Echo {
            stack_id: "arn:aws:cloudformation:us-east-1:1:stack/s/1".into(),
            request_id: "req-1".into(),
            logical_id: "Target".into(),
            physical_id: Some("endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker".into()),
        }
    }

    fn parse(response: &Response) -> Value {
        serde_json::from_slice(&response.body()).unwrap()
    }

    #[test]
    fn a_success_carries_every_field() {
        let data = BTreeMap::from([("MinCapacity".to_owned(), "1".to_owned())]);
        let body = parse(&Response::success(&echo(), "pid", data));
        assert_eq!(body["Status"], "SUCCESS");
        assert_eq!(body["PhysicalResourceId"], "pid");
        assert_eq!(body["StackId"], "arn:aws:cloudformation:us-east-1:1:stack/s/1");
        assert_eq!(body["RequestId"], "req-1");
        assert_eq!(body["LogicalResourceId"], "Target");
        assert_eq!(body["NoEcho"], false);
        assert_eq!(body["Data"]["MinCapacity"], "1");
        assert!(body.get("Reason").is_none());
    }

    #[test]
    fn a_failed_create_gets_an_id_that_is_no_target() {
        let body = parse(&Response::failed(&echo(), Some(RequestType::Create), "bad"));
        let id = body["PhysicalResourceId"].as_str().unwrap();
        assert_eq!(id, "create-failed-req-1");
        assert!(crate::model::TargetId::from_physical_id(id).is_none());
        assert_eq!(body["Reason"], "bad");
    }

    #[test]
    fn a_failed_update_or_delete_echoes_the_request_id() {
        for kind in [RequestType::Update, RequestType::Delete] {
            let body = parse(&Response::failed(&echo(), Some(kind), "bad"));
            assert_eq!(body["PhysicalResourceId"], echo().physical_id.unwrap().as_str());
        }
        let unknown_type = parse(&Response::failed(&echo(), None, "bad"));
        assert_eq!(unknown_type["PhysicalResourceId"], echo().physical_id.unwrap().as_str());
    }

    #[test]
    fn reasons_lose_control_and_ansi_characters() {
        assert_eq!(clean_reason("\u{1b}[31mred\u{1b}[0m line\none\r\n\ttab\u{7}"), "red line one tab");
    }

    #[test]
    fn a_long_reason_is_cut_on_a_character_boundary_to_fit() {
        for filler in ["é", "\"", "x", "日本"] {
            let reason = filler.repeat(5000);
            let body = Response::failed(&echo(), Some(RequestType::Update), reason).body();
            assert!(body.len() <= MAX_BODY, "{filler}: {}", body.len());
            assert!(body.len() > MAX_BODY - 8, "{filler}: cut too much: {}", body.len());
            let parsed: Value = serde_json::from_slice(&body).unwrap();
            assert!(parsed["Reason"].as_str().unwrap().ends_with("..."));
        }
    }

    #[test]
    fn data_too_large_becomes_a_failed_that_says_so() {
        let data = BTreeMap::from([("Big".to_owned(), "x".repeat(5000))]);
        let body = Response::success(&echo(), "pid", data).body();
        assert!(body.len() <= MAX_BODY);
        let parsed: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed["Status"], "FAILED");
        assert_eq!(parsed["PhysicalResourceId"], "pid");
        assert!(parsed["Reason"].as_str().unwrap().contains("4096-byte limit"));
        assert_eq!(parsed["Data"], json!({}));
    }
}
