//! The validated specs as the SDK's request types. Only the shell sees SDK types; the model never does.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_applicationautoscaling::types::{self as sdk, SuspendedState};

use crate::model::policy_spec::{Metric, MetricQuery, Query, StepScaling, TargetTracking};
use crate::model::target_spec::Suspended;
use crate::{Error, Result};

pub(super) fn sdk_target_tracking(t: &TargetTracking) -> Result<sdk::TargetTrackingScalingPolicyConfiguration> {
    let mut config = sdk::TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(t.target_value)
        .set_scale_in_cooldown(t.scale_in_cooldown)
        .set_scale_out_cooldown(t.scale_out_cooldown)
        .set_disable_scale_in(t.disable_scale_in);
    config = match &t.metric {
        Metric::Predefined { metric, resource_label } => config.predefined_metric_specification(
            sdk::PredefinedMetricSpecification::builder()
                .predefined_metric_type(sdk::MetricType::from(metric.as_str()))
                .set_resource_label(resource_label.clone())
                .build()
                .map_err(build_error)?,
        ),
        Metric::Customized(m) => {
            let dimensions = m
                .dimensions
                .iter()
                .map(|(n, v)| sdk::MetricDimension::builder().name(n).value(v).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(build_error)?;
            config.customized_metric_specification(
                sdk::CustomizedMetricSpecification::builder()
                    .metric_name(&m.metric_name)
                    .namespace(&m.namespace)
                    .set_dimensions(Some(dimensions))
                    .statistic(sdk::MetricStatistic::from(m.statistic.as_str()))
                    .set_unit(m.unit.clone())
                    .build(),
            )
        }
        Metric::Math(queries) => {
            let metrics = queries.iter().map(sdk_query).collect::<Result<Vec<_>>>()?;
            config.customized_metric_specification(sdk::CustomizedMetricSpecification::builder().set_metrics(Some(metrics)).build())
        }
    };
    config.build().map_err(build_error)
}

fn sdk_query(q: &MetricQuery) -> Result<sdk::TargetTrackingMetricDataQuery> {
    let mut query = sdk::TargetTrackingMetricDataQuery::builder().id(&q.id).set_label(q.label.clone()).set_return_data(q.return_data);
    query = match &q.query {
        Query::Expression(expression) => query.expression(expression),
        Query::Stat(stat) => {
            let dimensions = stat
                .dimensions
                .iter()
                .map(|(n, v)| sdk::TargetTrackingMetricDimension::builder().name(n).value(v).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(build_error)?;
            let metric = sdk::TargetTrackingMetric::builder()
                .namespace(&stat.namespace)
                .metric_name(&stat.metric_name)
                .set_dimensions((!dimensions.is_empty()).then_some(dimensions))
                .build();
            query.metric_stat(
                sdk::TargetTrackingMetricStat::builder()
                    .metric(metric)
                    .stat(&stat.stat)
                    .set_unit(stat.unit.clone())
                    .build()
                    .map_err(build_error)?,
            )
        }
    };
    query.build().map_err(build_error)
}

pub(super) fn sdk_step_scaling(s: &StepScaling) -> Result<sdk::StepScalingPolicyConfiguration> {
    let steps = s
        .steps
        .iter()
        .map(|step| {
            sdk::StepAdjustment::builder()
                .set_metric_interval_lower_bound(step.lower)
                .set_metric_interval_upper_bound(step.upper)
                .scaling_adjustment(step.adjustment)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(build_error)?;
    Ok(sdk::StepScalingPolicyConfiguration::builder()
        .adjustment_type(sdk::AdjustmentType::from(s.adjustment_type.as_str()))
        .set_cooldown(s.cooldown)
        .set_metric_aggregation_type(s.metric_aggregation_type.as_deref().map(sdk::MetricAggregationType::from))
        .set_min_adjustment_magnitude(s.min_adjustment_magnitude)
        .set_step_adjustments(Some(steps))
        .build())
}

/// The SDK's builders check required fields that validation has already checked; should one still
/// complain, it becomes a FAILED rather than a panic.
fn build_error(err: aws_sdk_applicationautoscaling::error::BuildError) -> Error {
    Error::invalid(format!("cannot build the request: {err}"))
}

pub(super) fn to_hash_map(tags: &BTreeMap<String, String>) -> HashMap<String, String> {
    tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

impl From<&SuspendedState> for Suspended {
    fn from(s: &SuspendedState) -> Self {
        Self {
            dynamic_in: s.dynamic_scaling_in_suspended().unwrap_or(false),
            dynamic_out: s.dynamic_scaling_out_suspended().unwrap_or(false),
            scheduled: s.scheduled_scaling_suspended().unwrap_or(false),
        }
    }
}
