// What the typed props become in the custom resources' properties: the native resources' PascalCase shapes, which
// the function validates. Checks skip a value that is a token (a parameter, an attribute): CloudFormation resolves
// it, and the function validates it then.
import { Token } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';

/** A number known at synth time (not a token). */
export function known(n: number | undefined): n is number {
  return n !== undefined && !Token.isUnresolved(n);
}

export function checkCapacities(what: string, min: number | undefined, max: number | undefined) {
  if (known(min) && (!Number.isInteger(min) || min < 0)) throw new Error(`${what}minCapacity must be an integer, 0 or more, got ${min}`);
  if (known(max) && (!Number.isInteger(max) || max < 0)) throw new Error(`${what}maxCapacity must be an integer, 0 or more, got ${max}`);
  if (known(min) && known(max) && min > max) throw new Error(`${what}minCapacity ${min} is greater than maxCapacity ${max}`);
}

/** A scheduled action's properties, as `AWS::ApplicationAutoScaling::ScalableTarget`'s `ScheduledActions` has them. */
export function renderSchedule(s: appscaling.ScalingSchedule): { [key: string]: any } {
  if (s.minCapacity === undefined && s.maxCapacity === undefined) {
    throw new Error('a scheduled action needs minCapacity, maxCapacity or both');
  }
  checkCapacities('scheduled ', s.minCapacity, s.maxCapacity);
  return {
    Schedule: s.schedule.expressionString,
    Timezone: s.timeZone?.timezoneName,
    StartTime: s.startTime?.toISOString(),
    EndTime: s.endTime?.toISOString(),
    ScalableTargetAction: { MinCapacity: s.minCapacity, MaxCapacity: s.maxCapacity },
  };
}

function renderStat(stat: cloudwatch.MetricStatConfig) {
  return {
    MetricName: stat.metricName,
    Namespace: stat.namespace,
    Dimensions: stat.dimensions?.map((d) => ({ Name: d.name, Value: d.value })),
  };
}

/**
 * A `CustomizedMetricSpecification`: one metric (`cloudwatch.Metric`), or metric math (`cloudwatch.MathExpression`
 * over plain metrics), as Application Auto Scaling takes them.
 */
export function renderCustomMetric(metric: cloudwatch.IMetric): { [key: string]: any } {
  const config = metric.toMetricConfig();
  if (config.metricStat) {
    const stat = config.metricStat;
    if (/^(p|tm|wm|tc|ts|pr)\d/i.test(stat.statistic)) {
      throw new Error(`target tracking takes Average, Minimum, Maximum, SampleCount or Sum, not '${stat.statistic}'`);
    }
    return { ...renderStat(stat), Statistic: stat.statistic, Unit: stat.unitFilter };
  }
  const math = config.mathExpression!;
  const metrics: { [key: string]: any }[] = [{ Id: 'expression', Expression: math.expression, ReturnData: true }];
  for (const [id, used] of Object.entries(math.usingMetrics)) {
    const stat = used.toMetricConfig().metricStat;
    if (!stat) throw new Error(`metric math for target tracking takes plain metrics, and '${id}' is an expression`);
    metrics.push({ Id: id, MetricStat: { Metric: renderStat(stat), Stat: stat.statistic, Unit: stat.unitFilter }, ReturnData: false });
  }
  return { Metrics: metrics };
}
