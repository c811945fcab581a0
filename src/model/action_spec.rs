//! `Custom::SageMakerScheduledAction` as the template describes it: the schedule expression, the time zone
//! and the start and end times checked before any call; the physical id
//! `<name>|<ResourceId>|<dimension>|sagemaker` that names the action.

use serde_json::Value;

use crate::model::{TargetId, check_action_name, named_target};
use crate::props::Props;
use crate::{Error, Result};

/// The properties of a scheduled action, separate or inline, besides its target.
pub const PROPERTIES: [&str; 7] =
    ["ScheduledActionName", "Schedule", "Timezone", "StartTime", "EndTime", "ScalableTargetAction", "RepairDrift"];

/// A scheduled action as the template describes it, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionSpec {
    pub name: String,
    pub target: TargetId,
    pub schedule: String,
    pub timezone: Option<String>,
    /// Seconds since the epoch.
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub min: Option<i32>,
    pub max: Option<i32>,
}

impl ActionSpec {
    /// Validates `ResourceProperties`.
    ///
    /// # Errors
    /// `Invalid`, naming the first property that is wrong.
    pub fn from_properties(value: &Value) -> Result<Self> {
        let (props, name, target) = named_target(value, &PROPERTIES, "ScheduledActionName")?;
        props.boolean("RepairDrift")?;
        Self::read(&props, name, target)
    }

    /// The inline `ScheduledActions` of a scalable target, validated by the same code as the separate resource
    /// (each Reason prefixed with the entry it is about); a name given twice is refused.
    ///
    /// # Errors
    /// `Invalid`, naming the entry and its property.
    pub fn inline_list(list: &[Value], target: &TargetId) -> Result<Vec<Self>> {
        let mut actions: Vec<Self> = Vec::new();
        for (i, item) in list.iter().enumerate() {
            let entry = format!("ScheduledActions[{i}]");
            let action = Props::object(item, &entry)
                .and_then(|props| {
                    props.only(&PROPERTIES[..6])?;
                    let name = props.required_string("ScheduledActionName")?;
                    check_action_name(&name, "ScheduledActionName")?;
                    Self::read(&props, name, target.clone())
                })
                .map_err(|err| Error::invalid(format!("{entry}: {err}")))?;
            if actions.iter().any(|a| a.name == action.name) {
                return Err(Error::invalid(format!(
                    "ScheduledActions names {:?} twice: each name must be unique on the target",
                    action.name
                )));
            }
            actions.push(action);
        }
        Ok(actions)
    }

    /// The rest of an action once its name and target are known (both ways of declaring one).
    fn read(props: &Props<'_>, name: String, target: TargetId) -> Result<Self> {
        let schedule = props.required_string("Schedule")?;
        check_schedule(&schedule)?;
        let timezone = props.string("Timezone")?;
        if let Some(tz) = &timezone {
            check_timezone(tz)?;
        }
        let start = props.string("StartTime")?.map(|t| parse_time(&t, "StartTime")).transpose()?;
        let end = props.string("EndTime")?.map(|t| parse_time(&t, "EndTime")).transpose()?;
        if let (Some(s), Some(e)) = (start, end)
            && e <= s
        {
            return Err(Error::invalid("EndTime must be after StartTime"));
        }
        let action = props
            .nested("ScalableTargetAction", "ScalableTargetAction.")?
            .ok_or_else(|| Error::invalid("ScalableTargetAction is required (MinCapacity, MaxCapacity or both)"))?;
        action.only(&["MinCapacity", "MaxCapacity"])?;
        let capacity = |key: &str| -> Result<Option<i32>> {
            match action.integer(key)? {
                None => Ok(None),
                Some(v) if (0..=i64::from(i32::MAX)).contains(&v) => Ok(Some(v as i32)),
                Some(v) => Err(Error::invalid(format!("{} must be 0 or more, got {v}", action.name(key)))),
            }
        };
        let (min, max) = (capacity("MinCapacity")?, capacity("MaxCapacity")?);
        match (min, max) {
            (None, None) => return Err(Error::invalid("ScalableTargetAction needs MinCapacity, MaxCapacity or both")),
            (Some(lo), Some(hi)) if lo > hi => {
                return Err(Error::invalid(format!(
                    "ScalableTargetAction.MinCapacity {lo} is greater than ScalableTargetAction.MaxCapacity {hi}"
                )));
            }
            _ => {}
        }
        Ok(Self { name, target, schedule, timezone, start, end, min, max })
    }

    /// The physical id: `<ScheduledActionName>|<ResourceId>|<ScalableDimension>|sagemaker`.
    pub fn physical_id(&self) -> String {
        format!("{}|{}", self.name, self.target.physical_id())
    }
}

/// Reads a physical id back into the action name and its target. `None` for anything else (a failed create).
pub fn parse_physical_id(text: &str) -> Option<(String, TargetId)> {
    let (name, target) = text.split_once('|')?;
    check_action_name(name, "ScheduledActionName").ok()?;
    Some((name.to_owned(), TargetId::from_physical_id(target)?))
}

/// `at(yyyy-mm-ddThh:mm:ss)`, `cron(minutes hours day-of-month month day-of-week year)` or `rate(value unit)`.
///
/// # Errors
/// `Invalid` naming `Schedule` and what is wrong with it.
pub fn check_schedule(schedule: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(format!("Schedule {schedule:?} is not valid: {why}")));
    let inner = |prefix: &str| schedule.strip_prefix(prefix).and_then(|s| s.strip_suffix(')'));
    if let Some(at) = inner("at(") {
        return match parse_local_time(at) {
            Some(_) => Ok(()),
            None => bad("at(...) takes a time as yyyy-mm-ddThh:mm:ss"),
        };
    }
    if let Some(rate) = inner("rate(") {
        let mut parts = rate.split(' ');
        let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return bad("rate(...) takes a value and a unit, e.g. rate(5 minutes)");
        };
        let Ok(value) = value.parse::<u32>() else { return bad("the rate value must be a positive whole number") };
        let singular = ["minute", "hour", "day"].contains(&unit);
        let plural = ["minutes", "hours", "days"].contains(&unit);
        return match (value, singular, plural) {
            (0, _, _) => bad("the rate value must be a positive whole number"),
            (1, true, _) | (2.., _, true) => Ok(()),
            (1, _, true) => bad("a rate of 1 takes a singular unit (minute, hour or day)"),
            (_, true, _) => bad("a rate above 1 takes a plural unit (minutes, hours or days)"),
            _ => bad("the rate unit must be minute(s), hour(s) or day(s)"),
        };
    }
    if let Some(cron) = inner("cron(") {
        let fields: Vec<&str> = cron.split(' ').collect();
        if fields.len() != 6 || fields.iter().any(|f| f.is_empty()) {
            return bad("cron(...) takes six fields: minutes hours day-of-month month day-of-week year");
        }
        if let Some(field) = fields.iter().find(|f| !f.chars().all(|c| c.is_ascii_alphanumeric() || "*?,-/#".contains(c))) {
            return bad(&format!("cron field {field:?} has characters other than digits, letters and * ? , - / #"));
        }
        let (day_of_month, day_of_week) = (fields[2], fields[4]);
        if (day_of_month == "?") == (day_of_week == "?") {
            return bad("exactly one of day-of-month and day-of-week must be ?");
        }
        return Ok(());
    }
    bad("use at(...), cron(...) or rate(...)")
}

/// The time zone names AWS accepts (Application Auto Scaling: "the canonical names of the IANA time zones
/// supported by Joda-Time"), backward links such as `US/Eastern`, `CET` and `EST5EDT` included: the `zones`
/// list of the tz database as the pinned `tzdata` package ships it (requirements-dev.txt), sorted, one per line.
/// `tests/aws_as_it_is.rs` checks this copy against that package.
pub const TIME_ZONES: &str = include_str!("timezones.txt");

/// A time zone name of the tz database: a misspelt one (`Europe/Berlln`) would only fail at deploy time.
///
/// # Errors
/// `Invalid` naming `Timezone`.
pub fn check_timezone(tz: &str) -> Result<()> {
    let names: Vec<&str> = TIME_ZONES.lines().collect();
    if names.binary_search(&tz).is_ok() {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "Timezone {tz:?} is not a time zone name of the tz database (IANA), such as UTC, Europe/Berlin, America/New_York or US/Eastern"
        )))
    }
}

/// Parses ISO 8601 `yyyy-mm-ddThh:mm[:ss[.fff]][Z|±hh:mm]` into seconds since the epoch; a time without
/// an offset is taken as UTC.
///
/// # Errors
/// `Invalid` naming `property`.
pub fn parse_time(text: &str, property: &str) -> Result<i64> {
    let invalid = || Error::invalid(format!("{property} {text:?} is not an ISO 8601 time such as 2026-12-01T08:00:00Z"));
    let (local, offset) = if let Some(local) = text.strip_suffix('Z') {
        (local, 0)
    } else if text.len() > 6 && matches!(text.as_bytes()[text.len() - 6], b'+' | b'-') && text.as_bytes()[text.len() - 3] == b':' {
        let (local, off) = text.split_at(text.len() - 6);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let hours: i64 = off[1..3].parse().map_err(|_| invalid())?;
        let minutes: i64 = off[4..6].parse().map_err(|_| invalid())?;
        if hours > 23 || minutes > 59 {
            return Err(invalid());
        }
        (local, sign * (hours * 3600 + minutes * 60))
    } else {
        (text, 0)
    };
    parse_local_time(local).map(|t| t - offset).ok_or_else(invalid)
}

/// `yyyy-mm-ddThh:mm[:ss[.fff]]` as seconds since the epoch.
fn parse_local_time(text: &str) -> Option<i64> {
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-');
    let (y, m, day) = (d.next()?, d.next()?, d.next()?);
    if d.next().is_some() || y.len() != 4 || m.len() != 2 || day.len() != 2 {
        return None;
    }
    let (year, month, day): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, day.parse().ok()?);
    let time = time.split_once('.').map_or(time, |(whole, frac)| if frac.chars().all(|c| c.is_ascii_digit()) { whole } else { "bad" });
    let mut t = time.split(':');
    let (h, mi, s) = (t.next()?, t.next()?, t.next().unwrap_or("00"));
    if t.next().is_some() || h.len() != 2 || mi.len() != 2 || s.len() != 2 {
        return None;
    }
    let (hour, minute, second): (i64, i64, i64) = (h.parse().ok()?, mi.parse().ok()?, s.parse().ok()?);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if !(1970..=9999).contains(&year) || day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// True when an Update keeps the action (same name, same target).
pub fn same_action(new: &ActionSpec, request_physical_id: Option<&str>) -> bool {
    request_physical_id.is_some_and(|id| id == new.physical_id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn props() -> Value {
        json!({
            "ScheduledActionName": "business-hours",
            "ScalingTargetId": "endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker",
            "Schedule": "cron(0 8 ? * MON-FRI *)",
            "Timezone": "Europe/Berlin",
            "StartTime": "2026-12-01T00:00:00Z",
            "EndTime": "2027-12-01T00:00:00+01:00",
            "ScalableTargetAction": {"MinCapacity": "2", "MaxCapacity": "6"}
        })
    }

    #[test]
    fn a_complete_action_is_read() {
        let spec = ActionSpec::from_properties(&props()).unwrap();
        assert_eq!(spec.physical_id(), "business-hours|endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker");
        assert_eq!((spec.min, spec.max), (Some(2), Some(6)));
        assert_eq!(spec.start, Some(1_796_083_200));
        assert_eq!(parse_physical_id(&spec.physical_id()), Some((spec.name.clone(), spec.target.clone())));
        assert_eq!(parse_physical_id("create-failed-x"), None);
    }

    #[test]
    fn schedules_follow_the_service_syntax() {
        for ok in [
            "at(2026-12-01T08:00:00)",
            "rate(1 hour)",
            "rate(5 minutes)",
            "cron(0 8 ? * MON-FRI *)",
            "cron(0/15 * * * ? *)",
            "cron(0 18 L * ? 2026)",
        ] {
            assert!(check_schedule(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("every day", "use at(...), cron(...) or rate(...)"),
            ("cron(0 8 * * *)", "six fields"),
            ("cron(0 8 * * MON *)", "exactly one of day-of-month and day-of-week must be ?"),
            ("cron(0 8 ? * MON-FRI; *)", "characters"),
            ("rate(0 minutes)", "positive"),
            ("rate(1 minutes)", "singular"),
            ("rate(5 hour)", "plural"),
            ("rate(5 weeks)", "unit"),
            ("at(2026-13-01T08:00:00)", "yyyy-mm-ddThh:mm:ss"),
            ("at(2026-12-01)", "yyyy-mm-ddThh:mm:ss"),
        ] {
            let err = check_schedule(bad).unwrap_err().to_string();
            assert!(err.starts_with("Schedule ") && err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn times_and_zones_are_checked() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z", "StartTime").unwrap(), 0);
        assert_eq!(parse_time("1970-01-01T01:00:00+01:00", "StartTime").unwrap(), 0);
        assert_eq!(parse_time("2000-02-29T12:30", "StartTime").unwrap(), 951_827_400);
        assert_eq!(parse_time("2026-11-27T10:00:00.250Z", "StartTime").unwrap(), parse_time("2026-11-27T10:00:00Z", "StartTime").unwrap());
        for bad in ["2026-02-30T00:00:00Z", "yesterday", "2026-1-1T00:00:00Z", "2026-01-01 00:00:00", "2026-01-01T24:00:00Z"] {
            assert!(parse_time(bad, "EndTime").unwrap_err().to_string().starts_with("EndTime "), "{bad}");
        }
        for ok in
            ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "US/Eastern", "US/Pacific", "CET", "EST5EDT", "GMT"]
        {
            assert!(check_timezone(ok).is_ok(), "{ok}");
        }
        for bad in ["Mars/Olympus", "Berlin", "Europe/", "Europe/Ber lin", "Europe/Berlln", "utc"] {
            assert!(check_timezone(bad).unwrap_err().to_string().starts_with("Timezone "), "{bad}");
        }
    }

    #[test]
    fn bad_actions_are_named() {
        let cases = [
            ("EndTime", json!("2026-11-30T00:00:00Z"), "EndTime must be after StartTime"),
            ("ScalableTargetAction", json!({"MinCapacity": 5, "MaxCapacity": 1}), "ScalableTargetAction.MinCapacity 5 is greater"),
            ("ScalableTargetAction", json!({}), "ScalableTargetAction needs MinCapacity"),
            ("ScalableTargetAction", json!({"MinCapacity": "-1"}), "ScalableTargetAction.MinCapacity must be 0 or more"),
            ("ScalableTargetAction", json!({"Min": 1}), "unknown property ScalableTargetAction.Min"),
            ("ScheduledActionName", json!("a|b"), "ScheduledActionName \"a|b\" is not valid"),
            ("Timezone", json!("Nowhere"), "Timezone \"Nowhere\""),
            ("Schedulee", json!("x"), "unknown property Schedulee"),
        ];
        for (key, value, expected) in cases {
            let mut p = props();
            p[key] = value;
            let err = ActionSpec::from_properties(&p).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{key}: {err}");
        }
    }

    #[test]
    fn a_new_name_or_target_is_a_replacement() {
        let spec = ActionSpec::from_properties(&props()).unwrap();
        assert!(same_action(&spec, Some(&spec.physical_id())));
        assert!(!same_action(&spec, Some("other|endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker")));
    }
}
