import * as path from 'path';
import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
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

/** What the resources of this library need of a provider: the ServiceToken their custom resources use. */
export interface ISageMakerAutoScalingProvider {
  /** The ServiceToken (a Lambda function ARN, or the Provider framework's). */
  readonly serviceToken: string;
}

/** Props of {@link SageMakerAutoScalingProvider}. */
export interface SageMakerAutoScalingProviderProps {
  /**
   * How the function answers CloudFormation.
   * @default ProviderMode.DIRECT
   */
  readonly mode?: ProviderMode;
  /**
   * The function's code.
   * @default the arm64 bootstrap shipped in this package
   */
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
  /**
   * The application log level (Lambda's advanced logging controls; logs are JSON).
   * @default lambda.ApplicationLogLevel.INFO
   */
  readonly logLevel?: lambda.ApplicationLogLevel;
  /**
   * How long the function's logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
}

/** A provider deployed elsewhere, known by its ServiceToken. */
class ImportedProvider extends Construct implements ISageMakerAutoScalingProvider {
  constructor(scope: Construct, id: string, public readonly serviceToken: string) {
    super(scope, id);
  }
}

const PROVIDER_ID = 'SageMakerAutoScalingProvider';

/**
 * The function behind every resource of this library, with what template.yaml gives it: its least-privilege role,
 * a 30-day JSON log group, the operations journal of endpoint updates (a DynamoDB table) and the reconcile rule
 * that takes up an operation whose hand-over was lost.
 */
export class SageMakerAutoScalingProvider extends Construct implements ISageMakerAutoScalingProvider {
  /**
   * The provider of `scope`'s stack: one per stack, made on first use. Given `props` that differ from those the
   * stack's provider was made with, it throws: make a second provider and pass it as `provider` instead.
   */
  public static of(scope: Construct, props?: SageMakerAutoScalingProviderProps): SageMakerAutoScalingProvider {
    const stack = Stack.of(scope);
    const existing = stack.node.tryFindChild(PROVIDER_ID) as SageMakerAutoScalingProvider | undefined;
    if (!existing) {
      return new SageMakerAutoScalingProvider(stack, PROVIDER_ID, props);
    }
    if (props !== undefined && !sameProps(existing.props, props)) {
      throw new Error(`${stack.node.path} already has a SageMakerAutoScalingProvider made with other props; create another one and pass it as \`provider\``);
    }
    return existing;
  }

  /** A provider deployed in another stack or app (its exported ServiceToken, or its function's ARN). */
  public static fromServiceToken(scope: Construct, id: string, serviceToken: string): ISageMakerAutoScalingProvider {
    return new ImportedProvider(scope, id, serviceToken);
  }

  /** The ServiceToken the custom resources use. */
  public readonly serviceToken: string;
  /** The function. */
  public readonly function: lambda.Function;
  /** How the function answers. */
  public readonly mode: ProviderMode;
  /** The operations journal of `Custom::SageMakerEndpoint` (one item per CloudFormation request). */
  public readonly operationsTable: dynamodb.TableV2;
  /** The function's log group. */
  public readonly logGroup: logs.LogGroup;
  private readonly props: SageMakerAutoScalingProviderProps;

  constructor(scope: Construct, id: string, props: SageMakerAutoScalingProviderProps = {}) {
    super(scope, id);
    this.props = props;
    this.mode = props.mode ?? ProviderMode.DIRECT;
    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
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
      applicationLogLevelV2: props.logLevel ?? lambda.ApplicationLogLevel.INFO,
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
    this.grantRole(props);
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

  private grantRole(props: SageMakerAutoScalingProviderProps) {
    const stack = Stack.of(this);
    const arn = (service: string, resource: string, resourceName = '*') => stack.formatArn({ service, resource, resourceName });
    const statement = (actions: string[], resources: string[], conditions?: { [key: string]: any }) =>
      this.function.addToRolePolicy(new iam.PolicyStatement({ actions, resources, conditions }));
    statement(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:Scan'],
      [this.operationsTable.tableArn]);
    statement(
      ['RegisterScalableTarget', 'DeregisterScalableTarget', 'TagResource', 'UntagResource', 'ListTagsForResource', 'PutScalingPolicy',
        'DeleteScalingPolicy', 'PutScheduledAction', 'DeleteScheduledAction'].map((a) => `application-autoscaling:${a}`),
      [arn('application-autoscaling', 'scalable-target')],
    );
    statement(['DescribeScalableTargets', 'DescribeScalingPolicies', 'DescribeScheduledActions'].map((a) => `application-autoscaling:${a}`), ['*']);
    statement(['iam:PassRole'], [stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: '*' })], {
      StringEquals: { 'iam:PassedToService': 'application-autoscaling.amazonaws.com' },
    });
    statement(['iam:CreateServiceLinkedRole'], [stack.formatArn({ service: 'iam', region: '', resource: 'role',
      resourceName: 'aws-service-role/sagemaker.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint' })], {
      StringLike: { 'iam:AWSServiceName': 'sagemaker.application-autoscaling.amazonaws.com' },
    });
    statement(['sagemaker:DescribeEndpoint', 'sagemaker:UpdateEndpointWeightsAndCapacities', 'sagemaker:AddTags', 'sagemaker:DeleteTags',
      'sagemaker:ListTags'], [arn('sagemaker', 'endpoint')]);
    const scoped = arn('sagemaker', 'endpoint', props.endpointNamePattern ?? '*');
    statement(['sagemaker:CreateEndpoint', 'sagemaker:UpdateEndpoint'], [scoped, arn('sagemaker', 'endpoint-config')]);
    statement(['sagemaker:DeleteEndpoint'], [scoped]);
    statement(['sagemaker:DescribeEndpointConfig'], [arn('sagemaker', 'endpoint-config')]);
    statement(['sagemaker:DescribeInferenceComponent', 'sagemaker:UpdateInferenceComponentRuntimeConfig'], [arn('sagemaker', 'inference-component')]);
    if (props.endpointKmsKeys?.length) {
      statement(['kms:CreateGrant', 'kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKey'], props.endpointKmsKeys.map((k) => k.keyArn));
    }
    const alarms = (name: string) => stack.formatArn({ service: 'cloudwatch', resource: 'alarm', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    statement(['cloudwatch:DescribeAlarms', 'cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms'], [alarms('TargetTracking-*')]);
    statement(['cloudwatch:DescribeAlarms', 'cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms', 'cloudwatch:TagResource', 'cloudwatch:ListTagsForResource'],
      [alarms('*-scale-out-from-zero')]);
    // A step policy's alarms are saved across an endpoint update and re-pointed at the re-created policy.
    statement(['cloudwatch:DescribeAlarms', 'cloudwatch:PutMetricAlarm'], [alarms('*')]);
  }
}

function sameProps(a: SageMakerAutoScalingProviderProps, b: SageMakerAutoScalingProviderProps): boolean {
  const keys: (keyof SageMakerAutoScalingProviderProps)[] = ['mode', 'code', 'endpointNamePattern', 'logLevel', 'logRetention'];
  const keysOf = (p: SageMakerAutoScalingProviderProps) => (p.endpointKmsKeys ?? []).map((k) => k.node.path).join(',');
  return keys.every((k) => (a[k] ?? undefined) === (b[k] ?? undefined)) && keysOf(a) === keysOf(b);
}
