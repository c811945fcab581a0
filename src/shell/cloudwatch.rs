//! CloudWatch: the scale-out-from-zero alarm (DescribeAlarms, ListTagsForResource, PutMetricAlarm,
//! DeleteAlarms), over the JSON protocol.

use serde_json::{Value, json};

use super::{NotFound, Session};
use crate::Result;
use crate::model::target_spec::Tags;
use crate::scale_to_zero::{AlarmSpec, alarm_request};

impl Session {
    /// The tags of the metric alarm named `name`; `None` when there is no such alarm.
    ///
    /// # Errors
    /// The final AWS error; AccessDenied names the permission the function's role lacks.
    pub async fn alarm_tags(&self, name: &str) -> Result<Option<Tags>> {
        let body = json!({"AlarmNames": [name], "AlarmTypes": ["MetricAlarm"]});
        let found = self.cloudwatch("DescribeAlarms", &body).await?;
        let arn = found
            .get("MetricAlarms")
            .and_then(Value::as_array)
            .and_then(|alarms| alarms.iter().find(|a| a.get("AlarmName").and_then(Value::as_str) == Some(name)))
            .and_then(|a| a.get("AlarmArn").and_then(Value::as_str).map(str::to_owned));
        let Some(arn) = arn else { return Ok(None) };
        let tagged = self.cloudwatch("ListTagsForResource", &json!({"ResourceARN": arn})).await;
        let listed = match tagged {
            Ok(listed) => listed,
            // Deleted between the two calls: there is no alarm.
            Err(err) if err.is_not_found() => return Ok(None),
            Err(err) => return Err(err),
        };
        let tags = listed.get("Tags").and_then(Value::as_array).map_or_else(Tags::new, |list| {
            list.iter()
                .filter_map(|t| {
                    Some((t.get("Key")?.as_str()?.to_owned(), t.get("Value").and_then(Value::as_str).unwrap_or_default().to_owned()))
                })
                .collect()
        });
        Ok(Some(tags))
    }

    /// PutMetricAlarm, with the alarm's ownership tags.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn put_alarm(&self, alarm: &AlarmSpec) -> Result<()> {
        self.cloudwatch("PutMetricAlarm", &alarm_request(alarm)).await.map(drop)
    }

    /// DeleteAlarms of one alarm. An alarm already gone is not an error: returns `false`.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn delete_alarm(&self, name: &str) -> Result<bool> {
        match self.cloudwatch("DeleteAlarms", &json!({"AlarmNames": [name]})).await {
            Ok(_) => Ok(true),
            Err(err) if err.is_not_found() => Ok(false),
            Err(err) => Err(err),
        }
    }

    pub(super) async fn cloudwatch(&self, operation: &'static str, body: &Value) -> Result<Value> {
        self.retrying(operation, NotFound::Final, || self.clients.cloudwatch.call(operation, body)).await
    }
}
