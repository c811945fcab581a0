//! Reading CloudFormation property values: every value may arrive as a string ("5", "true") or as JSON.
//!
//! These helpers only check shape and type; the meaning of a value is checked by the resource modules.

use serde_json::{Map, Value};

use crate::{Error, Result};

/// Properties CloudFormation or SAM add to every custom resource, never passed on to AWS.
const IGNORED: [&str; 2] = ["ServiceToken", "ServiceTimeout"];

/// The `ResourceProperties` object of an event, or a nested object inside it.
#[derive(Debug, Clone, Copy)]
pub struct Props<'a> {
    map: &'a Map<String, Value>,
    /// The path of this object inside `ResourceProperties`, e.g. `SuspendedState.`; prefixes property names in errors.
    path: &'a str,
}

impl<'a> Props<'a> {
    /// Reads `value` as an object of properties.
    ///
    /// # Errors
    /// `Invalid` when it is not an object; `name` says which object that was.
    pub fn object(value: &'a Value, name: &str) -> Result<Self> {
        match value {
            Value::Object(map) => Ok(Self { map, path: "" }),
            Value::Null => Err(Error::invalid(format!("{name} is missing"))),
            other => Err(Error::invalid(format!("{name} must be an object, got {}", kind(other)))),
        }
    }

    /// The same object, reported as `path` + key in messages (e.g. `Tags[0].`).
    pub fn at<'b>(self, path: &'b str) -> Props<'b>
    where
        'a: 'b,
    {
        Props { map: self.map, path }
    }

    /// Rejects any key that is not in `known` (or ignored), naming the first one in sorted order.
    ///
    /// # Errors
    /// `Invalid` naming the unknown property and listing the accepted ones.
    pub fn only(&self, known: &[&str]) -> Result<()> {
        match self.map.keys().find(|k| !known.contains(&k.as_str()) && !IGNORED.contains(&k.as_str())) {
            None => Ok(()),
            Some(unknown) => Err(Error::invalid(format!("unknown property {}{unknown}; expected one of: {}", self.path, known.join(", ")))),
        }
    }

    /// The full name of property `key` for messages, e.g. `SuspendedState.DynamicScalingInSuspended`.
    pub fn name(&self, key: &str) -> String {
        format!("{}{key}", self.path)
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// True when `key` is present (and not null).
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// A string property; numbers and booleans are taken as their text, as CloudFormation would send them.
    ///
    /// # Errors
    /// `Invalid` for an object or a list.
    pub fn string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(other) => Err(Error::invalid(format!("{} must be a string, got {}", self.name(key), kind(other)))),
        }
    }

    /// A non-empty string property that must be present.
    ///
    /// # Errors
    /// `Invalid` when missing, empty or not a string.
    pub fn required_string(&self, key: &str) -> Result<String> {
        match self.string(key)? {
            Some(s) if !s.is_empty() => Ok(s),
            Some(_) => Err(Error::invalid(format!("{} must not be empty", self.name(key)))),
            None => Err(Error::invalid(format!("{} is required", self.name(key)))),
        }
    }

    /// An integer property: `5` or `"5"`.
    ///
    /// # Errors
    /// `Invalid` for anything that is not a whole number, quoting the value.
    pub fn integer(&self, key: &str) -> Result<Option<i64>> {
        let Some(value) = self.get(key) else { return Ok(None) };
        let parsed = match value {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e15).map(|f| f as i64)),
            Value::String(s) => s.parse::<i64>().ok(),
            _ => None,
        };
        parsed.map(Some).ok_or_else(|| Error::invalid(format!("{} must be an integer, got {}", self.name(key), quote(value))))
    }

    /// A number property: `1.5` or `"1.5"`.
    ///
    /// # Errors
    /// `Invalid` for anything that is not a finite number, quoting the value.
    pub fn number(&self, key: &str) -> Result<Option<f64>> {
        let Some(value) = self.get(key) else { return Ok(None) };
        let parsed = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
            _ => None,
        };
        parsed.map(Some).ok_or_else(|| Error::invalid(format!("{} must be a number, got {}", self.name(key), quote(value))))
    }

    /// A boolean property: `true`, `"true"`, `"True"`, `false`, ...
    ///
    /// # Errors
    /// `Invalid` for anything else, quoting the value.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>> {
        let Some(value) = self.get(key) else { return Ok(None) };
        let parsed = match value {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        };
        parsed.map(Some).ok_or_else(|| Error::invalid(format!("{} must be true or false, got {}", self.name(key), quote(value))))
    }

    /// A nested object property, whose own properties are reported as `Key.Inner`.
    ///
    /// # Errors
    /// `Invalid` when present but not an object.
    pub fn nested(&self, key: &str, path: &'a str) -> Result<Option<Props<'a>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Props { map, path })),
            Some(other) => Err(Error::invalid(format!("{} must be an object, got {}", self.name(key), kind(other)))),
        }
    }

    /// A list property.
    ///
    /// # Errors
    /// `Invalid` when present but not a list.
    pub fn list(&self, key: &str) -> Result<Option<&'a Vec<Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(Error::invalid(format!("{} must be a list, got {}", self.name(key), kind(other)))),
        }
    }
}

/// The JSON kind of a value, for messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A value as the user wrote it, shortened so that one bad property cannot fill the Reason.
fn quote(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(64) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with(value: Value, f: impl FnOnce(Props<'_>)) {
        f(Props::object(&value, "ResourceProperties").unwrap());
    }

    #[test]
    fn integers_arrive_as_strings_or_numbers() {
        with(json!({"A": "5", "B": 7, "C": 3.0, "D": "-2"}), |p| {
            assert_eq!(p.integer("A").unwrap(), Some(5));
            assert_eq!(p.integer("B").unwrap(), Some(7));
            assert_eq!(p.integer("C").unwrap(), Some(3));
            assert_eq!(p.integer("D").unwrap(), Some(-2));
            assert_eq!(p.integer("Missing").unwrap(), None);
        });
    }

    #[test]
    fn a_non_integer_is_rejected_by_name_and_value() {
        with(json!({"MinCapacity": "abc", "F": 1.5, "L": [1], "S": " 5"}), |p| {
            assert_eq!(p.integer("MinCapacity").unwrap_err().to_string(), r#"MinCapacity must be an integer, got "abc""#);
            assert!(p.integer("F").unwrap_err().to_string().starts_with("F must be an integer"));
            assert!(p.integer("L").is_err());
            assert!(p.integer("S").is_err());
        });
    }

    #[test]
    fn booleans_arrive_as_strings_or_booleans() {
        with(json!({"A": "true", "B": false, "C": "False", "D": "yes"}), |p| {
            assert_eq!(p.boolean("A").unwrap(), Some(true));
            assert_eq!(p.boolean("B").unwrap(), Some(false));
            assert_eq!(p.boolean("C").unwrap(), Some(false));
            assert_eq!(p.boolean("D").unwrap_err().to_string(), r#"D must be true or false, got "yes""#);
        });
    }

    #[test]
    fn unknown_properties_are_named_and_service_token_is_ignored() {
        with(json!({"ServiceToken": "arn", "ServiceTimeout": "60", "MinCapacty": 1}), |p| {
            let err = p.only(&["MinCapacity"]).unwrap_err().to_string();
            assert!(err.starts_with("unknown property MinCapacty;"), "{err}");
        });
        with(json!({"ServiceToken": "arn", "ServiceTimeout": 60, "MinCapacity": 1}), |p| {
            assert!(p.only(&["MinCapacity"]).is_ok());
        });
    }

    #[test]
    fn nested_names_carry_their_path() {
        with(json!({"SuspendedState": {"Bogus": 1}}), |p| {
            let inner = p.nested("SuspendedState", "SuspendedState.").unwrap().unwrap();
            let err = inner.only(&["DynamicScalingInSuspended"]).unwrap_err().to_string();
            assert!(err.starts_with("unknown property SuspendedState.Bogus;"), "{err}");
        });
    }

    #[test]
    fn properties_that_are_not_an_object_are_rejected() {
        let value = json!("oops");
        let err = Props::object(&value, "ResourceProperties").unwrap_err().to_string();
        assert_eq!(err, "ResourceProperties must be an object, got a string");
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        with(json!({"N": "x".repeat(500)}), |p| {
            assert!(p.integer("N").unwrap_err().to_string().len() < 120);
        });
    }
}
