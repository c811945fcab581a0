import { CustomResource, Duration, ITaggable, Lazy, TagManager, TagType } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import { findAlarmThresholds, normalizeIntervals } from 'aws-cdk-lib/aws-autoscaling-common';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ISageMakerAutoScalingProvider, SageMakerAutoScalingProvider } from './provider';
import { checkCapacities, known, renderCustomMetric, renderSchedule } from './render';

/** What every resource of this library may be given. */
export interface ResourceOptions {
  /**
   * The provider: this library's, or one deployed elsewhere ({@link SageMakerAutoScalingProvider.fromServiceToken}).
   * @default SageMakerAutoScalingProvider.of(this)
   */
  readonly provider?: ISageMakerAutoScalingProvider;
  /**
   * How long CloudFormation waits for the function's answer.
   * @default 16 minutes for targets, policies and actions (the function's 15, and one more); 1 hour for endpoints
   */
  readonly serviceTimeout?: Duration;
}

/** What the function does about a resource changed outside its template (it reports it either way). */
export interface DriftOptions {
  /**
   * Put back what the template says when the function's scheduled run finds it changed outside the template.
   * @default false (drift is logged and counted in the DriftedResources metric only)
   */
  readonly repairDrift?: boolean;
}

/** One of the function's custom resources, with the provider and ServiceTimeout of `options`. */
export function customResource(scope: Construct, resourceType: string, options: ResourceOptions, defaultTimeout: Duration,
  properties: { [key: string]: any }): CustomResource {
  return new CustomResource(scope, 'Resource', {
    serviceToken: (options.provider ?? SageMakerAutoScalingProvider.of(scope)).serviceToken,
    serviceTimeout: options.serviceTimeout ?? defaultTimeout,
    resourceType,
    properties,
  });
}

/** A scheduled action with its name, inline on a target. */
export interface NamedScalingSchedule extends appscaling.ScalingSchedule {
  /** The action's name, unique on its target. */
  readonly scheduledActionName: string;
}

/** Which of Application Auto Scaling's activities are suspended on a target. All default to false. */
export interface SuspendedState {
  /** @default false */
  readonly dynamicScalingInSuspended?: boolean;
  /** @default false */
  readonly dynamicScalingOutSuspended?: boolean;
  /** @default false */
  readonly scheduledScalingSuspended?: boolean;
}

/** Props of {@link ScalableTarget}: name the target by an endpoint variant, or by an inference component. */
export interface ScalableTargetProps extends ResourceOptions, DriftOptions {
  /** The endpoint of the variant. Give this or `inferenceComponentName`. @default none */
  readonly endpointName?: string;
  /** The variant. @default 'AllTraffic' with endpointName */
  readonly variantName?: string;
  /** The inference component. Give this or `endpointName`. @default none */
  readonly inferenceComponentName?: string;
  /**
   * The dimension: `sagemaker:variant:DesiredProvisionedConcurrency` for a serverless variant.
   * @default instance count for a variant, copy count for an inference component
   */
  readonly scalableDimension?: string;
  /** The lowest capacity auto scaling may set (a token is checked by the function at deploy time). */
  readonly minCapacity: number;
  /** The highest capacity auto scaling may set. */
  readonly maxCapacity: number;
  /**
   * With minCapacity 0: the step policy and alarm that bring an inference component, or an asynchronous endpoint's
   * variant (`HasBacklogWithoutCapacity`), back from zero. A real-time endpoint's variant is refused at deploy time.
   * @default false
   */
  readonly scaleToZero?: boolean;
  /** Take over a target registered by something else. @default false */
  readonly adoptExisting?: boolean;
  /** The role Application Auto Scaling uses. @default its service-linked role */
  readonly role?: iam.IRole;
  /** Scaling activities to suspend. @default none suspended */
  readonly suspendedState?: SuspendedState;
  /** Tags of the target (`Tags.of()` adds to them). @default none */
  readonly tags?: { [key: string]: string };
  /** Scheduled actions, inline (as the native resource's `ScheduledActions`). @default none */
  readonly scheduledActions?: NamedScalingSchedule[];
}

/** Options of the target-tracking helpers. */
export interface TrackingOptions {
  /** The metric's value to keep. */
  readonly targetValue: number;
  /** @default the construct id */
  readonly policyName?: string;
  /** @default Application Auto Scaling's default (300 s) */
  readonly scaleInCooldown?: Duration;
  /** @default Application Auto Scaling's default (300 s) */
  readonly scaleOutCooldown?: Duration;
  /** @default false */
  readonly disableScaleIn?: boolean;
}

/** Options of {@link ScalableTarget.scaleToTrackMetric}: a predefined metric, or any metric (metric math included). */
export interface TargetTrackingOptions extends TrackingOptions {
  /** One of the SageMaker metrics. Give this or `customMetric`. @default none */
  readonly predefinedMetric?: appscaling.PredefinedMetric;
  /** A metric, or metric math over metrics. Give this or `predefinedMetric`. @default none */
  readonly customMetric?: cloudwatch.IMetric;
}

/**
 * `Custom::SageMakerScalableTarget`: a SageMaker endpoint variant or inference component registered with Application
 * Auto Scaling, looked at before it is registered.
 */
export class ScalableTarget extends Construct implements ITaggable {
  /** The target's id (`<ResourceId>|<ScalableDimension>|sagemaker`), as the native `Ref`. */
  public readonly scalableTargetId: string;
  /** The target's ARN in Application Auto Scaling. */
  public readonly attrScalableTargetArn: string;
  /** The capacity SageMaker reported when the target was registered. */
  public readonly attrCurrentCapacity: string;
  /** The registered minimum capacity. */
  public readonly attrMinCapacity: string;
  /** The registered maximum capacity. */
  public readonly attrMaxCapacity: string;
  /** The target's tags (`Tags.of()` reaches them). */
  public readonly tags: TagManager;
  private readonly props: ScalableTargetProps;

  constructor(scope: Construct, id: string, props: ScalableTargetProps) {
    super(scope, id);
    const byVariant = props.endpointName !== undefined;
    const byComponent = props.inferenceComponentName !== undefined;
    if (byVariant === byComponent) throw new Error('give endpointName (with variantName) or inferenceComponentName');
    checkCapacities('', props.minCapacity, props.maxCapacity);
    if (props.scaleToZero && props.scalableDimension === 'sagemaker:variant:DesiredProvisionedConcurrency') {
      throw new Error('scaleToZero applies to inference components and to instance-based variants of asynchronous endpoints');
    }
    if (props.scaleToZero && known(props.minCapacity) && props.minCapacity !== 0) throw new Error(`scaleToZero needs minCapacity 0, got ${props.minCapacity}`);
    const names = (props.scheduledActions ?? []).map((a) => a.scheduledActionName);
    if (new Set(names).size !== names.length) throw new Error('scheduledActions names an action twice');
    this.props = props;
    this.tags = new TagManager(TagType.KEY_VALUE, 'Custom::SageMakerScalableTarget', props.tags);
    const suspended = props.suspendedState;
    const created = customResource(this, 'Custom::SageMakerScalableTarget', props, Duration.minutes(16), {
      EndpointName: props.endpointName,
      VariantName: byVariant ? (props.variantName ?? 'AllTraffic') : undefined,
      InferenceComponentName: props.inferenceComponentName,
      ScalableDimension: props.scalableDimension,
      MinCapacity: props.minCapacity,
      MaxCapacity: props.maxCapacity,
      ScaleToZero: props.scaleToZero,
      AdoptExisting: props.adoptExisting,
      RepairDrift: props.repairDrift,
      RoleARN: props.role?.roleArn,
      SuspendedState: suspended ? {
        DynamicScalingInSuspended: suspended.dynamicScalingInSuspended,
        DynamicScalingOutSuspended: suspended.dynamicScalingOutSuspended,
        ScheduledScalingSuspended: suspended.scheduledScalingSuspended,
      } : undefined,
      Tags: Lazy.any({ produce: () => this.tags.renderTags() }),
      ScheduledActions: props.scheduledActions?.map((a) => ({ ScheduledActionName: a.scheduledActionName, ...renderSchedule(a) })),
    });
    this.scalableTargetId = created.ref;
    this.attrScalableTargetArn = created.getAttString('ScalableTargetARN');
    this.attrCurrentCapacity = created.getAttString('CurrentCapacity');
    this.attrMinCapacity = created.getAttString('MinCapacity');
    this.attrMaxCapacity = created.getAttString('MaxCapacity');
  }

  /** Target tracking on invocations per instance (endpoint variants). */
  public scaleOnInvocationsPerInstance(id: string, options: TrackingOptions): ScalingPolicy {
    this.needs('endpointName', 'scaleOnInvocationsPerInstance');
    return this.track(id, appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE, options);
  }

  /** Target tracking on concurrent requests per model, high resolution (endpoint variants). */
  public scaleOnConcurrentRequestsPerModel(id: string, options: TrackingOptions): ScalingPolicy {
    this.needs('endpointName', 'scaleOnConcurrentRequestsPerModel');
    return this.track(id, appscaling.PredefinedMetric.SAGEMAKER_VARIANT_CONCURRENT_REQUESTS_PER_MODEL_HIGH_RESOLUTION, options);
  }

  /** Target tracking on provisioned concurrency utilization (serverless variants). */
  public scaleOnProvisionedConcurrencyUtilization(id: string, options: TrackingOptions): ScalingPolicy {
    this.needs('endpointName', 'scaleOnProvisionedConcurrencyUtilization');
    return this.track(id, appscaling.PredefinedMetric.SAGEMAKER_VARIANT_PROVISIONED_CONCURRENCY_UTILIZATION, options);
  }

  /** Target tracking on invocations per copy (inference components). */
  public scaleOnInvocationsPerCopy(id: string, options: TrackingOptions): ScalingPolicy {
    this.needs('inferenceComponentName', 'scaleOnInvocationsPerCopy');
    return this.track(id, appscaling.PredefinedMetric.SAGEMAKER_INFERENCE_COMPONENT_INVOCATIONS_PER_COPY, options);
  }

  /** Target tracking on concurrent requests per copy, high resolution (inference components). */
  public scaleOnConcurrentRequestsPerCopy(id: string, options: TrackingOptions): ScalingPolicy {
    this.needs('inferenceComponentName', 'scaleOnConcurrentRequestsPerCopy');
    return this.track(id, appscaling.PredefinedMetric.SAGEMAKER_INFERENCE_COMPONENT_CONCURRENT_REQUESTS_PER_COPY_HIGH_RESOLUTION, options);
  }

  /**
   * Target tracking on an asynchronous endpoint's backlog per instance (`ApproximateBacklogSizePerInstance`,
   * AWS/SageMaker, by EndpointName), as SageMaker's guide to autoscaling an asynchronous endpoint has it.
   */
  public scaleOnBacklogPerInstance(id: string, options: TrackingOptions): ScalingPolicy {
    this.needs('endpointName', 'scaleOnBacklogPerInstance');
    return this.scaleToTrackMetric(id, {
      ...options,
      customMetric: new cloudwatch.Metric({
        namespace: 'AWS/SageMaker',
        metricName: 'ApproximateBacklogSizePerInstance',
        dimensionsMap: { EndpointName: this.props.endpointName! },
        statistic: 'Average',
      }),
    });
  }

  /** Target tracking on any metric: a predefined one, or a `cloudwatch.IMetric` (metric math included). */
  public scaleToTrackMetric(id: string, options: TargetTrackingOptions): ScalingPolicy {
    return new ScalingPolicy(this, id, {
      target: this,
      provider: this.props.provider,
      policyName: options.policyName ?? id,
      targetTracking: options,
    });
  }

  /**
   * Step scaling on a metric, as aws-cdk-lib's `scaleOnMetric`: the steps become a lower and an upper step policy,
   * each with the CloudWatch alarm that fires it.
   */
  public scaleOnMetric(id: string, props: appscaling.BasicStepScalingPolicyProps): StepScalingPolicy {
    return new StepScalingPolicy(this, id, { ...props, target: this, provider: this.props.provider });
  }

  /** A scheduled action on this target, named by its id. */
  public scaleOnSchedule(id: string, action: appscaling.ScalingSchedule): ScheduledAction {
    return new ScheduledAction(this, id, { ...action, target: this, provider: this.props.provider, scheduledActionName: id });
  }

  private needs(prop: 'endpointName' | 'inferenceComponentName', helper: string) {
    if (this.props[prop] === undefined) {
      throw new Error(`${helper} applies to ${prop === 'endpointName' ? 'endpoint variants' : 'inference components'}`);
    }
  }

  private track(id: string, metric: appscaling.PredefinedMetric, options: TrackingOptions): ScalingPolicy {
    return this.scaleToTrackMetric(id, { ...options, predefinedMetric: metric });
  }
}

/** Where a policy or an action goes: this library's target, a native one, or a target id. */
export interface TargetOptions {
  /** This library's target, or a native `appscaling.ScalableTarget`. Give this or `scalingTargetId`. @default none */
  readonly target?: ScalableTarget | appscaling.IScalableTarget;
  /** A target id (`<ResourceId>|<ScalableDimension>|sagemaker`, as the native `Ref`). @default none */
  readonly scalingTargetId?: string;
}

function targetIdOf(options: TargetOptions): string {
  if ((options.target === undefined) === (options.scalingTargetId === undefined)) throw new Error('give target or scalingTargetId');
  return options.scalingTargetId ?? options.target!.scalableTargetId;
}

/** One step of a step scaling policy, its bounds relative to the alarm's threshold. */
export interface StepAdjustment {
  /** The change (by the policy's adjustment type). */
  readonly scalingAdjustment: number;
  /** @default minus infinity */
  readonly metricIntervalLowerBound?: number;
  /** @default infinity */
  readonly metricIntervalUpperBound?: number;
}

/** A step scaling policy's configuration, as `StepScalingPolicyConfiguration`. */
export interface StepScalingOptions {
  /** The steps: each a change for an interval of the metric relative to the alarm's threshold. */
  readonly stepAdjustments: StepAdjustment[];
  /** @default appscaling.AdjustmentType.CHANGE_IN_CAPACITY */
  readonly adjustmentType?: appscaling.AdjustmentType;
  /** @default Application Auto Scaling's default */
  readonly cooldown?: Duration;
  /** @default none */
  readonly minAdjustmentMagnitude?: number;
  /** @default Application Auto Scaling's default (Average) */
  readonly metricAggregationType?: appscaling.MetricAggregationType;
}

/** Props of {@link ScalingPolicy}. */
export interface ScalingPolicyProps extends ResourceOptions, TargetOptions, DriftOptions {
  /** The policy's name, unique on its target. */
  readonly policyName: string;
  /** Target tracking. Give this or `stepScaling`. @default none */
  readonly targetTracking?: TargetTrackingOptions;
  /** Step scaling: the policy does nothing until an alarm's action is it (`policyArn`). @default none */
  readonly stepScaling?: StepScalingOptions;
}

/** `Custom::SageMakerScalingPolicy`. */
export class ScalingPolicy extends Construct {
  /** The policy ARN (its `Ref`: an alarm's action). */
  public readonly policyArn: string;
  /** The target-tracking alarms Application Auto Scaling made, comma-separated. */
  public readonly attrAlarms: string;

  constructor(scope: Construct, id: string, props: ScalingPolicyProps) {
    super(scope, id);
    const t = props.targetTracking;
    const s = props.stepScaling;
    if ((t === undefined) === (s === undefined)) throw new Error('give targetTracking or stepScaling');
    if (t && (t.predefinedMetric === undefined) === (t.customMetric === undefined)) throw new Error('give predefinedMetric or customMetric');
    if (t && known(t.targetValue) && !(t.targetValue > 0)) throw new Error(`targetValue must be greater than 0, got ${t.targetValue}`);
    if (s && s.stepAdjustments.length === 0) throw new Error('stepScaling needs at least one step adjustment');
    const created = customResource(this, 'Custom::SageMakerScalingPolicy', props, Duration.minutes(16), {
      PolicyName: props.policyName,
      PolicyType: t ? 'TargetTrackingScaling' : 'StepScaling',
      ScalingTargetId: targetIdOf(props),
      RepairDrift: props.repairDrift,
      TargetTrackingScalingPolicyConfiguration: t ? {
        TargetValue: t.targetValue,
        PredefinedMetricSpecification: t.predefinedMetric ? { PredefinedMetricType: t.predefinedMetric } : undefined,
        CustomizedMetricSpecification: t.customMetric ? renderCustomMetric(t.customMetric) : undefined,
        ScaleInCooldown: t.scaleInCooldown?.toSeconds(),
        ScaleOutCooldown: t.scaleOutCooldown?.toSeconds(),
        DisableScaleIn: t.disableScaleIn,
      } : undefined,
      StepScalingPolicyConfiguration: s ? {
        AdjustmentType: s.adjustmentType ?? appscaling.AdjustmentType.CHANGE_IN_CAPACITY,
        Cooldown: s.cooldown?.toSeconds(),
        MinAdjustmentMagnitude: s.minAdjustmentMagnitude,
        MetricAggregationType: s.metricAggregationType,
        StepAdjustments: s.stepAdjustments.map((a) => ({
          ScalingAdjustment: a.scalingAdjustment,
          MetricIntervalLowerBound: a.metricIntervalLowerBound,
          MetricIntervalUpperBound: a.metricIntervalUpperBound,
        })),
      } : undefined,
    });
    this.policyArn = created.ref;
    this.attrAlarms = created.getAttString('Alarms');
  }
}

/** Props of {@link StepScalingPolicy}. */
export interface StepScalingPolicyProps extends appscaling.BasicStepScalingPolicyProps, ResourceOptions, TargetOptions {}

/**
 * Step scaling on a metric with its alarms, as aws-cdk-lib's `appscaling.StepScalingPolicy`: the steps below the
 * gap become the lower policy and its alarm, the steps above it the upper policy and its alarm.
 */
export class StepScalingPolicy extends Construct {
  /** The policy of the steps below the gap, if any. */
  public readonly lowerAction?: ScalingPolicy;
  /** The alarm that fires the lower policy. */
  public readonly lowerAlarm?: cloudwatch.Alarm;
  /** The policy of the steps above the gap, if any. */
  public readonly upperAction?: ScalingPolicy;
  /** The alarm that fires the upper policy. */
  public readonly upperAlarm?: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: StepScalingPolicyProps) {
    super(scope, id);
    if (props.scalingSteps.length < 2) throw new Error('scalingSteps needs at least 2 intervals');
    if (props.scalingSteps.length > 40) throw new Error(`scalingSteps can have at most 40 steps, got ${props.scalingSteps.length}`);
    if (known(props.evaluationPeriods) && props.evaluationPeriods < 1) throw new Error(`evaluationPeriods must be 1 or more, got ${props.evaluationPeriods}`);
    const adjustmentType = props.adjustmentType ?? appscaling.AdjustmentType.CHANGE_IN_CAPACITY;
    const intervals = normalizeIntervals(props.scalingSteps, adjustmentType === appscaling.AdjustmentType.EXACT_CAPACITY);
    const alarms = findAlarmThresholds(intervals);
    const statistic = props.metric.toMetricConfig().metricStat?.statistic;
    const aggregation = props.metricAggregationType ?? (statistic === 'Minimum' ? appscaling.MetricAggregationType.MINIMUM
      : statistic === 'Maximum' ? appscaling.MetricAggregationType.MAXIMUM : appscaling.MetricAggregationType.AVERAGE);
    const policy = (name: string, steps: StepAdjustment[]) => new ScalingPolicy(this, name, {
      target: props.target, scalingTargetId: props.scalingTargetId, provider: props.provider, serviceTimeout: props.serviceTimeout,
      policyName: `${this.node.path.replace(/\//g, '-').slice(-200)}-${name}`,
      stepScaling: { stepAdjustments: steps, adjustmentType, cooldown: props.cooldown, minAdjustmentMagnitude: props.minAdjustmentMagnitude,
        metricAggregationType: aggregation },
    });
    const alarm = (name: string, action: ScalingPolicy, threshold: number, comparisonOperator: cloudwatch.ComparisonOperator, description: string) => {
      const made = new cloudwatch.Alarm(this, name, { metric: props.metric, alarmDescription: description, comparisonOperator,
        evaluationPeriods: props.evaluationPeriods ?? 1, datapointsToAlarm: props.datapointsToAlarm, threshold });
      made.addAlarmAction({ bind: () => ({ alarmActionArn: action.policyArn }) });
      return made;
    };
    if (alarms.lowerAlarmIntervalIndex !== undefined) {
      const threshold = intervals[alarms.lowerAlarmIntervalIndex].upper;
      const steps: StepAdjustment[] = [];
      for (let i = alarms.lowerAlarmIntervalIndex; i >= 0; i--) {
        steps.push({ scalingAdjustment: intervals[i].change!, metricIntervalLowerBound: i !== 0 ? intervals[i].lower - threshold : undefined,
          metricIntervalUpperBound: intervals[i].upper - threshold });
      }
      this.lowerAction = policy('LowerPolicy', steps);
      this.lowerAlarm = alarm('LowerAlarm', this.lowerAction, threshold, cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
        'Lower threshold scaling alarm');
    }
    if (alarms.upperAlarmIntervalIndex !== undefined) {
      const threshold = intervals[alarms.upperAlarmIntervalIndex].lower;
      const steps: StepAdjustment[] = [];
      for (let i = alarms.upperAlarmIntervalIndex; i < intervals.length; i++) {
        steps.push({ scalingAdjustment: intervals[i].change!, metricIntervalLowerBound: intervals[i].lower - threshold,
          metricIntervalUpperBound: i !== intervals.length - 1 ? intervals[i].upper - threshold : undefined });
      }
      this.upperAction = policy('UpperPolicy', steps);
      this.upperAlarm = alarm('UpperAlarm', this.upperAction, threshold, cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        'Upper threshold scaling alarm');
    }
  }
}

/** Props of {@link ScheduledAction}. */
export interface ScheduledActionProps extends appscaling.ScalingSchedule, ResourceOptions, TargetOptions, DriftOptions {
  /** The action's name, unique on its target. */
  readonly scheduledActionName: string;
}

/** `Custom::SageMakerScheduledAction`. */
export class ScheduledAction extends Construct {
  /** The scheduled action's ARN. */
  public readonly attrScheduledActionArn: string;

  constructor(scope: Construct, id: string, props: ScheduledActionProps) {
    super(scope, id);
    const created = customResource(this, 'Custom::SageMakerScheduledAction', props, Duration.minutes(16),
      { ScheduledActionName: props.scheduledActionName, ScalingTargetId: targetIdOf(props), RepairDrift: props.repairDrift, ...renderSchedule(props) });
    this.attrScheduledActionArn = created.getAttString('ScheduledActionARN');
  }
}
