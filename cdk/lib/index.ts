// Typed CDK constructs for cfn-sagemaker-autoscaling. The function ships inside this package as a prebuilt arm64
// zip (assets/bootstrap.zip): no Rust on the user's machine. Every construct synthesizes the properties the
// function validates (checked by `make test`: each synthesized resource goes through the function's own validation).
import * as path from 'path';
import { ArnFormat, CustomResource, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';

/** How the function answers CloudFormation. */
export enum ProviderMode {
  /** The function is the ServiceToken and answers CloudFormation itself. */
  DIRECT = 'direct',
  /** CDK's Provider framework answers; the function is its onEvent and isComplete handler. */
  CDK_PROVIDER = 'cdk-provider',
}

/** Props of {@link SageMakerAutoScalingProvider}. */
export interface SageMakerAutoScalingProviderProps {
  /** @default ProviderMode.DIRECT */
  readonly mode?: ProviderMode;
  /** The function's code. @default the arm64 bootstrap shipped in this package */
  readonly code?: lambda.Code;
  /**
   * The endpoint names `Custom::SageMakerEndpoint` may create, update and delete (an IAM wildcard pattern, such as
   * `ml-prod-*`). Whoever may invoke the function may do what its role allows: scope it here.
   * @default '*'
   */
  readonly endpointNamePattern?: string;
  /**
   * The KMS keys of encrypted endpoint configurations (their `KmsKeyId`): CreateEndpoint and UpdateEndpoint need them.
   * @default none
   */
  readonly endpointKmsKeys?: kms.IKey[];
}

/** The function behind every construct of this library, with the role the SAM template gives it. */
export class SageMakerAutoScalingProvider extends Construct {
  /** The provider of `scope`'s stack: one per stack, made on first use. */
  public static of(scope: Construct, props?: SageMakerAutoScalingProviderProps): SageMakerAutoScalingProvider {
    const stack = Stack.of(scope);
    const id = 'SageMakerAutoScalingProvider';
    return (stack.node.tryFindChild(id) as SageMakerAutoScalingProvider) ?? new SageMakerAutoScalingProvider(stack, id, props);
  }

  /** The ServiceToken the custom resources use. */
  public readonly serviceToken: string;
  /** The function. */
  public readonly function: lambda.Function;
  /** How the function answers. */
  public readonly mode: ProviderMode;
  /** The operations journal of `Custom::SageMakerEndpoint` (one item per CloudFormation request). */
  public readonly operationsTable: dynamodb.TableV2;
  /** The function's log group (30 days). */
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: SageMakerAutoScalingProviderProps = {}) {
    super(scope, id);
    this.mode = props.mode ?? ProviderMode.DIRECT;
    this.logGroup = new logs.LogGroup(this, 'LogGroup', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    this.operationsTable = new dynamodb.TableV2(this, 'OperationsTable', {
      partitionKey: { name: 'Id', type: dynamodb.AttributeType.STRING },
      billing: dynamodb.Billing.onDemand(),
      timeToLiveAttribute: 'ExpiresAt',
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.function = new lambda.Function(this, 'Function', {
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: lambda.Architecture.ARM_64,
      handler: 'bootstrap',
      code: props.code ?? lambda.Code.fromAsset(path.join(__dirname, '..', 'assets', 'bootstrap.zip')),
      memorySize: 128,
      timeout: Duration.seconds(900),
      environment: { CUSTOM_RESOURCE_MODE: this.mode, OPERATIONS_TABLE: this.operationsTable.tableName },
      description: 'CloudFormation custom resources for SageMaker auto scaling',
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      logGroup: this.logGroup,
      // A long endpoint operation hands itself to the next invocation: a chain Lambda must not cut as a loop.
      recursiveLoop: lambda.RecursiveLoop.ALLOW,
    });
    // The reconcile: every 5 minutes, operations whose lease ran out (a dropped hand-over) are taken up.
    new events.Rule(this, 'Reconcile', {
      schedule: events.Schedule.rate(Duration.minutes(5)),
      description: 'cfn-sagemaker-autoscaling reconcile of endpoint operations',
      targets: [new targets.LambdaFunction(this.function)],
    });
    this.function.addToRolePolicy(new iam.PolicyStatement({
      actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Scan'],
      resources: [this.operationsTable.tableArn],
    }));
    const arn = (service: string, resource: string) => Stack.of(this).formatArn({ service, resource, resourceName: '*' });
    const statement = (actions: string[], resources: string[], conditions?: { [key: string]: any }) =>
      this.function.addToRolePolicy(new iam.PolicyStatement({ actions, resources, conditions }));
    statement(
      ['RegisterScalableTarget', 'DeregisterScalableTarget', 'TagResource', 'UntagResource', 'ListTagsForResource', 'PutScalingPolicy',
        'DeleteScalingPolicy', 'PutScheduledAction', 'DeleteScheduledAction'].map((a) => `application-autoscaling:${a}`),
      [arn('application-autoscaling', 'scalable-target')],
    );
    statement(['DescribeScalableTargets', 'DescribeScalingPolicies', 'DescribeScheduledActions'].map((a) => `application-autoscaling:${a}`), ['*']);
    statement(['iam:PassRole'], [Stack.of(this).formatArn({ service: 'iam', region: '', resource: 'role', resourceName: '*' })], {
      StringEquals: { 'iam:PassedToService': 'application-autoscaling.amazonaws.com' },
    });
    statement(['iam:CreateServiceLinkedRole'], [Stack.of(this).formatArn({ service: 'iam', region: '', resource: 'role',
      resourceName: 'aws-service-role/sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint' })], {
      StringLike: { 'iam:AWSServiceName': 'sagemaker.application-autoscaling.amazonaws.com' },
    });
    statement(['sagemaker:DescribeEndpoint', 'sagemaker:UpdateEndpointWeightsAndCapacities', 'sagemaker:AddTags', 'sagemaker:DeleteTags',
      'sagemaker:ListTags'], [arn('sagemaker', 'endpoint')]);
    const scoped = Stack.of(this).formatArn({ service: 'sagemaker', resource: 'endpoint', resourceName: props.endpointNamePattern ?? '*' });
    statement(['sagemaker:CreateEndpoint', 'sagemaker:UpdateEndpoint'], [scoped, arn('sagemaker', 'endpoint-config')]);
    statement(['sagemaker:DeleteEndpoint'], [scoped]);
    if (props.endpointKmsKeys?.length) {
      statement(['kms:CreateGrant', 'kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKey'], props.endpointKmsKeys.map((k) => k.keyArn));
    }
    statement(['sagemaker:DescribeEndpointConfig'], [arn('sagemaker', 'endpoint-config')]);
    statement(['sagemaker:DescribeInferenceComponent', 'sagemaker:UpdateInferenceComponentRuntimeConfig'], [arn('sagemaker', 'inference-component')]);
    const alarms = (name: string) => Stack.of(this).formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    statement(['cloudwatch:DescribeAlarms', 'cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms'], [alarms('TargetTracking-*')]);
    statement(['cloudwatch:DescribeAlarms', 'cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms', 'cloudwatch:TagResource', 'cloudwatch:ListTagsForResource'],
      [alarms('*-scale-out-from-zero')]);
    // A step policy's alarms are saved across an endpoint update and re-pointed at the re-created policy.
    statement(['cloudwatch:DescribeAlarms', 'cloudwatch:PutMetricAlarm'], [alarms('*')]);
    if (this.mode === ProviderMode.DIRECT) {
      // A long operation hands itself to the next invocation: invoke on itself only. A policy of its own, since
      // the function's default policy is a dependency of the function (a reference back would be a cycle).
      new iam.Policy(this, 'InvokeItself', {
        roles: [this.function.role!],
        statements: [new iam.PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: [this.function.functionArn, `${this.function.functionArn}:*`],
        })],
      });
      this.serviceToken = this.function.functionArn;
    } else {
      const provider = new cr.Provider(this, 'Provider', {
        onEventHandler: this.function,
        isCompleteHandler: this.function,
        queryInterval: Duration.seconds(30),
        totalTimeout: Duration.hours(1),
      });
      this.serviceToken = provider.serviceToken;
    }
  }
}

/** What every resource of this library may be given. */
export interface ResourceOptions {
  /** The provider. @default SageMakerAutoScalingProvider.of(this) */
  readonly provider?: SageMakerAutoScalingProvider;
  /** How long CloudFormation waits for an answer. @default 16 minutes (the function's 15, and one more) */
  readonly serviceTimeout?: Duration;
}

/** A scheduled action, inline on a target or on its own. */
export interface ScheduleOptions {
  /** `at(...)`, `cron(...)` or `rate(...)`. */
  readonly schedule: string;
  /** A tz database name (`Europe/Berlin`). @default UTC */
  readonly timezone?: string;
  readonly minCapacity?: number;
  readonly maxCapacity?: number;
  /** ISO 8601. */
  readonly startTime?: string;
  /** ISO 8601. */
  readonly endTime?: string;
}

/** Options of {@link ScalableTarget.scaleOnSchedule}. */
export interface ScheduleOnOptions extends ScheduleOptions {
  /** @default the construct id */
  readonly scheduledActionName?: string;
}

/** One inline scheduled action of a target. */
export interface InlineScheduledAction extends ScheduleOptions {
  readonly scheduledActionName: string;
}

/** Props of {@link ScalableTarget}: name the target by an endpoint variant, or by an inference component. */
export interface ScalableTargetProps extends ResourceOptions {
  readonly endpointName?: string;
  /** @default 'AllTraffic' with endpointName */
  readonly variantName?: string;
  readonly inferenceComponentName?: string;
  /** `sagemaker:variant:DesiredProvisionedConcurrency` for serverless. @default from the target */
  readonly scalableDimension?: string;
  readonly minCapacity: number;
  readonly maxCapacity: number;
  /** Inference components only, with minCapacity 0: the step policy and alarm that bring it back from zero. */
  readonly scaleToZero?: boolean;
  /** Take over a target registered by something else. @default false */
  readonly adoptExisting?: boolean;
  readonly tags?: { [key: string]: string };
  readonly scheduledActions?: InlineScheduledAction[];
}

/** Options of a target-tracking helper. */
export interface TrackingOptions {
  readonly targetValue: number;
  readonly policyName?: string;
  readonly scaleInCooldown?: Duration;
  readonly scaleOutCooldown?: Duration;
  readonly disableScaleIn?: boolean;
}

function schedule(s: ScheduleOptions): { [key: string]: any } {
  if (s.minCapacity === undefined && s.maxCapacity === undefined) {
    throw new Error('a scheduled action needs minCapacity, maxCapacity or both');
  }
  if (s.minCapacity !== undefined && s.maxCapacity !== undefined && s.minCapacity > s.maxCapacity) {
    throw new Error(`scheduled minCapacity ${s.minCapacity} is greater than maxCapacity ${s.maxCapacity}`);
  }
  return {
    Schedule: s.schedule,
    Timezone: s.timezone,
    StartTime: s.startTime,
    EndTime: s.endTime,
    ScalableTargetAction: { MinCapacity: s.minCapacity, MaxCapacity: s.maxCapacity },
  };
}

/** One of the function's custom resources, with the provider and ServiceTimeout of `options`. */
function resource(scope: Construct, resourceType: string, options: ResourceOptions, defaultTimeout: Duration,
  properties: { [key: string]: any }): CustomResource {
  return new CustomResource(scope, 'Resource', {
    serviceToken: (options.provider ?? SageMakerAutoScalingProvider.of(scope)).serviceToken,
    serviceTimeout: options.serviceTimeout ?? defaultTimeout,
    resourceType,
    properties,
  });
}

/** Tags as CloudFormation's `[{Key, Value}]`. */
function cfnTags(tags?: { [key: string]: string }): { Key: string; Value: string }[] | undefined {
  return tags ? Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) : undefined;
}

/** `Custom::SageMakerScalableTarget`. */
export class ScalableTarget extends Construct {
  /** The target's id (`<ResourceId>|<ScalableDimension>|sagemaker`), as the native `Ref`. */
  public readonly targetId: string;
  public readonly attrScalableTargetArn: string;
  public readonly attrCurrentCapacity: string;
  public readonly attrMinCapacity: string;
  public readonly attrMaxCapacity: string;
  private readonly props: ScalableTargetProps;

  constructor(scope: Construct, id: string, props: ScalableTargetProps) {
    super(scope, id);
    const byVariant = props.endpointName !== undefined;
    const byComponent = props.inferenceComponentName !== undefined;
    if (byVariant === byComponent) throw new Error('give endpointName (with variantName) or inferenceComponentName');
    if (!Number.isInteger(props.minCapacity) || props.minCapacity < 0) throw new Error(`minCapacity must be an integer, 0 or more, got ${props.minCapacity}`);
    if (props.minCapacity > props.maxCapacity) throw new Error(`minCapacity ${props.minCapacity} is greater than maxCapacity ${props.maxCapacity}`);
    if (props.scaleToZero && !byComponent) throw new Error('scaleToZero applies to inference components only');
    if (props.scaleToZero && props.minCapacity !== 0) throw new Error(`scaleToZero needs minCapacity 0, got ${props.minCapacity}`);
    const names = (props.scheduledActions ?? []).map((a) => a.scheduledActionName);
    if (new Set(names).size !== names.length) throw new Error('scheduledActions names an action twice');
    this.props = props;
    const created = resource(this, 'Custom::SageMakerScalableTarget', props, Duration.minutes(16), {
        EndpointName: props.endpointName,
        VariantName: byVariant ? (props.variantName ?? 'AllTraffic') : undefined,
        InferenceComponentName: props.inferenceComponentName,
        ScalableDimension: props.scalableDimension,
        MinCapacity: props.minCapacity,
        MaxCapacity: props.maxCapacity,
        ScaleToZero: props.scaleToZero,
        AdoptExisting: props.adoptExisting,
        Tags: cfnTags(props.tags),
        ScheduledActions: props.scheduledActions?.map((a) => ({ ScheduledActionName: a.scheduledActionName, ...schedule(a) })),
    });
    this.targetId = created.ref;
    this.attrScalableTargetArn = created.getAttString('ScalableTargetARN');
    this.attrCurrentCapacity = created.getAttString('CurrentCapacity');
    this.attrMinCapacity = created.getAttString('MinCapacity');
    this.attrMaxCapacity = created.getAttString('MaxCapacity');
  }

  /** Target tracking on invocations per instance (endpoint variants). */
  public scaleOnInvocationsPerInstance(id: string, options: TrackingOptions): ScalingPolicy {
    if (this.props.endpointName === undefined) throw new Error('scaleOnInvocationsPerInstance applies to endpoint variants');
    return this.track(id, 'SageMakerVariantInvocationsPerInstance', options);
  }

  /** Target tracking on concurrent requests per copy (inference components). */
  public scaleOnConcurrentRequestsPerCopy(id: string, options: TrackingOptions): ScalingPolicy {
    if (this.props.inferenceComponentName === undefined) throw new Error('scaleOnConcurrentRequestsPerCopy applies to inference components');
    return this.track(id, 'SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution', options);
  }

  /** A scheduled action on this target. */
  public scaleOnSchedule(id: string, options: ScheduleOnOptions): ScheduledAction {
    return new ScheduledAction(this, id, { ...options, target: this, provider: this.props.provider, scheduledActionName: options.scheduledActionName ?? id });
  }

  private track(id: string, metric: string, options: TrackingOptions): ScalingPolicy {
    return new ScalingPolicy(this, id, {
      target: this,
      provider: this.props.provider,
      policyName: options.policyName ?? id,
      targetTracking: {
        targetValue: options.targetValue,
        predefinedMetric: metric,
        scaleInCooldown: options.scaleInCooldown,
        scaleOutCooldown: options.scaleOutCooldown,
        disableScaleIn: options.disableScaleIn,
      },
    });
  }
}

/** Target tracking: a predefined metric, or the raw `CustomizedMetricSpecification` (metric math included). */
export interface TargetTrackingOptions {
  readonly targetValue: number;
  readonly predefinedMetric?: string;
  /** As the native property, in CloudFormation's PascalCase (`{ Metrics: [...] }` for metric math). */
  readonly customizedMetric?: { [key: string]: any };
  readonly scaleInCooldown?: Duration;
  readonly scaleOutCooldown?: Duration;
  readonly disableScaleIn?: boolean;
}

/** Props of {@link ScalingPolicy}. */
export interface ScalingPolicyProps extends ResourceOptions {
  readonly target: ScalableTarget;
  readonly policyName: string;
  readonly targetTracking?: TargetTrackingOptions;
  /** The native `StepScalingPolicyConfiguration`, in PascalCase. A step policy needs an alarm whose action is it. */
  readonly stepScaling?: { [key: string]: any };
}

/** `Custom::SageMakerScalingPolicy`. */
export class ScalingPolicy extends Construct {
  /** The policy ARN (its `Ref`: an alarm's action). */
  public readonly policyArn: string;
  public readonly attrAlarms: string;

  constructor(scope: Construct, id: string, props: ScalingPolicyProps) {
    super(scope, id);
    const t = props.targetTracking;
    if ((t === undefined) === (props.stepScaling === undefined)) throw new Error('give targetTracking or stepScaling');
    if (t && (t.predefinedMetric === undefined) === (t.customizedMetric === undefined)) throw new Error('give predefinedMetric or customizedMetric');
    if (t && !(t.targetValue > 0)) throw new Error(`targetValue must be greater than 0, got ${t.targetValue}`);
    const created = resource(this, 'Custom::SageMakerScalingPolicy', props, Duration.minutes(16), {
        PolicyName: props.policyName,
        PolicyType: t ? 'TargetTrackingScaling' : 'StepScaling',
        ScalingTargetId: props.target.targetId,
        TargetTrackingScalingPolicyConfiguration: t ? {
          TargetValue: t.targetValue,
          PredefinedMetricSpecification: t.predefinedMetric ? { PredefinedMetricType: t.predefinedMetric } : undefined,
          CustomizedMetricSpecification: t.customizedMetric,
          ScaleInCooldown: t.scaleInCooldown?.toSeconds(),
          ScaleOutCooldown: t.scaleOutCooldown?.toSeconds(),
          DisableScaleIn: t.disableScaleIn,
        } : undefined,
        StepScalingPolicyConfiguration: props.stepScaling,
    });
    this.policyArn = created.ref;
    this.attrAlarms = created.getAttString('Alarms');
  }
}

/** Props of {@link ScheduledAction}. */
export interface ScheduledActionProps extends ScheduleOptions, ResourceOptions {
  readonly target: ScalableTarget;
  readonly scheduledActionName: string;
}

/** `Custom::SageMakerScheduledAction`. */
export class ScheduledAction extends Construct {
  public readonly attrScheduledActionArn: string;

  constructor(scope: Construct, id: string, props: ScheduledActionProps) {
    super(scope, id);
    const created = resource(this, 'Custom::SageMakerScheduledAction', props, Duration.minutes(16), { ScheduledActionName: props.scheduledActionName, ScalingTargetId: props.target.targetId, ...schedule(props) });
    this.attrScheduledActionArn = created.getAttString('ScheduledActionARN');
  }
}

/** Props of {@link Endpoint}. */
export interface EndpointProps extends ResourceOptions {
  readonly endpointConfigName: string;
  /** @default CloudFormation's name for the resource */
  readonly endpointName?: string;
  /** As UpdateEndpoint's, in PascalCase. */
  readonly deploymentConfig?: { [key: string]: any };
  readonly retainAllVariantProperties?: boolean;
  readonly tags?: { [key: string]: string };
  readonly adoptExisting?: boolean;
}

/** `Custom::SageMakerEndpoint`: an endpoint whose configuration updates keep its auto scaling. */
export class Endpoint extends Construct {
  public readonly endpointArn: string;
  public readonly endpointName: string;
  public readonly attrRestoredTargets: string;
  public readonly attrRemovedTargets: string;

  constructor(scope: Construct, id: string, props: EndpointProps) {
    super(scope, id);
    const created = resource(this, 'Custom::SageMakerEndpoint', props, Duration.hours(1), {
        EndpointName: props.endpointName,
        EndpointConfigName: props.endpointConfigName,
        DeploymentConfig: props.deploymentConfig,
        RetainAllVariantProperties: props.retainAllVariantProperties,
        AdoptExisting: props.adoptExisting,
        Tags: cfnTags(props.tags),
    });
    this.endpointArn = created.ref;
    this.endpointName = created.getAttString('EndpointName');
    this.attrRestoredTargets = created.getAttString('RestoredTargets');
    this.attrRemovedTargets = created.getAttString('RemovedTargets');
  }
}
