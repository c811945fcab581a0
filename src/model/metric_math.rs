//! Metric math in target tracking (`CustomizedMetricSpecification.Metrics`): the queries, read from
//! CloudFormation's strings and validated as Application Auto Scaling validates them, before any call.

use crate::props::Props;
use crate::{Error, Result};

/// The classic form's members; metric math (`Metrics`) takes none of them.
pub const SINGLE_METRIC: [&str; 5] = ["MetricName", "Namespace", "Dimensions", "Statistic", "Unit"];

/// One metric of a metric-math query (`MetricStat.Metric`).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricStat {
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Vec<(String, String)>,
    /// Any CloudWatch statistic, extended ones (`p90`) included.
    pub stat: String,
    pub unit: Option<String>,
}

/// What one query of `Metrics` computes: a metric, or an expression over the other queries.
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    Stat(MetricStat),
    Expression(String),
}

/// One entry of `CustomizedMetricSpecification.Metrics` (metric math).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    pub id: String,
    pub query: Query,
    pub label: Option<String>,
    pub return_data: Option<bool>,
}

pub(crate) fn dimensions(props: &Props<'_>) -> Result<Vec<(String, String)>> {
    let mut dimensions = Vec::new();
    for (i, item) in props.list("Dimensions")?.map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
        let name = format!("{}[{i}]", props.name("Dimensions"));
        let path = format!("{name}.");
        let dim = Props::object(item, &name)?.at(&path);
        dim.only(&["Name", "Value"])?;
        dimensions.push((dim.required_string("Name")?, dim.required_string("Value")?));
    }
    Ok(dimensions)
}

/// `Metrics`, validated as Application Auto Scaling does before any call: ids unique and starting with a
/// lower-case letter (then letters, digits, `_`); each query exactly one of `Expression` and `MetricStat`;
/// exactly one query returning data (`ReturnData` left out counts as true). Each Reason names the query by its Id.
pub(crate) fn metric_math(props: &Props<'_>) -> Result<Vec<MetricQuery>> {
    if let Some(single) = SINGLE_METRIC.iter().find(|key| props.has(key)) {
        return Err(Error::invalid(format!(
            "{} cannot be used with {}: give Metrics or the single metric, not both",
            props.name(single),
            props.name("Metrics")
        )));
    }
    props.only(&["Metrics"])?;
    let items = props
        .list("Metrics")?
        .filter(|l| !l.is_empty())
        .ok_or_else(|| Error::invalid(format!("{} needs at least one query", props.name("Metrics"))))?;
    let mut queries: Vec<MetricQuery> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let name = format!("{}[{i}]", props.name("Metrics"));
        let path = format!("{name}.");
        let stat_path = format!("{name}.MetricStat.");
        let entry = Props::object(item, &name)?.at(&path);
        entry.only(&["Id", "Expression", "MetricStat", "Label", "ReturnData"])?;
        let id = entry.required_string("Id")?;
        let well_formed = id.starts_with(|c: char| c.is_ascii_lowercase())
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && id.len() <= 255;
        if !well_formed {
            return Err(Error::invalid(format!(
                "{name}.Id {id:?} must start with a lower-case letter and hold only letters, digits and _"
            )));
        }
        if queries.iter().any(|q| q.id == id) {
            return Err(Error::invalid(format!("{} has the Id {id:?} twice: ids must be unique", props.name("Metrics"))));
        }
        let at = format!("{} query {id:?}", props.name("Metrics"));
        let query = match (entry.string("Expression")?, entry.nested("MetricStat", &stat_path)?) {
            (Some(expression), None) if !expression.trim().is_empty() => Query::Expression(expression),
            (None, Some(stat)) => Query::Stat(metric_stat(&stat)?),
            (Some(_), Some(_)) => return Err(Error::invalid(format!("{at} has both Expression and MetricStat: give exactly one"))),
            _ => return Err(Error::invalid(format!("{at} needs an Expression or a MetricStat"))),
        };
        queries.push(MetricQuery { id, query, label: entry.string("Label")?, return_data: entry.boolean("ReturnData")? });
    }
    let returning: Vec<&str> = queries.iter().filter(|q| q.return_data != Some(false)).map(|q| q.id.as_str()).collect();
    if returning.len() != 1 {
        return Err(Error::invalid(format!(
            "{} must have exactly one query that returns data (ReturnData left out counts as true), found {}: {}; set ReturnData to false on the others",
            props.name("Metrics"),
            returning.len(),
            if returning.is_empty() { "none".to_owned() } else { returning.join(", ") }
        )));
    }
    Ok(queries)
}

fn metric_stat(props: &Props<'_>) -> Result<MetricStat> {
    props.only(&["Metric", "Stat", "Unit"])?;
    let path = format!("{}.", props.name("Metric"));
    let metric = props.nested("Metric", &path)?.ok_or_else(|| Error::invalid(format!("{} is required", props.name("Metric"))))?;
    metric.only(&["Namespace", "MetricName", "Dimensions"])?;
    Ok(MetricStat {
        namespace: metric.required_string("Namespace")?,
        metric_name: metric.required_string("MetricName")?,
        dimensions: dimensions(&metric)?,
        stat: props.required_string("Stat")?,
        unit: props.string("Unit")?,
    })
}
