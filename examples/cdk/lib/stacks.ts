import { CfnParameter, CustomResource, Duration, Fn, Stack, StackProps } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';

/** The resources of one scaled variant, whatever answers CloudFormation (the function, or CDK's Provider). */
function scaledVariant(scope: Construct, serviceToken: string, endpointName: string, serviceTimeout?: Duration) {
  const target = new CustomResource(scope, 'VariantScaling', {
    serviceToken,
    serviceTimeout,
    resourceType: 'Custom::SageMakerScalableTarget',
    properties: {
      EndpointName: endpointName,
      VariantName: 'AllTraffic',
      MinCapacity: 1,
      MaxCapacity: 4,
    },
  });
  // target.ref is the physical id <ResourceId>|<ScalableDimension>|sagemaker: referencing it orders creation
  // (target first) and deletion (policy and schedule first).
  const policy = new CustomResource(scope, 'InvocationsPolicy', {
    serviceToken,
    serviceTimeout,
    resourceType: 'Custom::SageMakerScalingPolicy',
    properties: {
      PolicyName: 'invocations-per-instance',
      ScalingTargetId: target.ref,
      TargetTrackingScalingPolicyConfiguration: {
        TargetValue: 70,
        PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' },
      },
    },
  });
  new CustomResource(scope, 'BusinessHours', {
    serviceToken,
    serviceTimeout,
    resourceType: 'Custom::SageMakerScheduledAction',
    properties: {
      ScheduledActionName: 'business-hours-start',
      ScalingTargetId: target.ref,
      Schedule: 'cron(0 8 ? * MON-FRI *)',
      Timezone: 'Europe/Berlin',
      ScalableTargetAction: { MinCapacity: 2, MaxCapacity: 4 },
    },
  });
  return { target, policy };
}

/** The function itself is the ServiceToken (CUSTOM_RESOURCE_MODE=direct, the default). */
export class DirectStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const endpointName = new CfnParameter(this, 'EndpointName', { type: 'String' }).valueAsString;
    const serviceToken = Fn.importValue('cfn-sagemaker-autoscaling-ServiceToken');
    scaledVariant(this, serviceToken, endpointName, Duration.minutes(16));
  }
}

/**
 * CDK's Provider framework with the function as onEvent and as isComplete (deployed with Mode=cdk-provider): an
 * endpoint whose instance type changes in place is an operation longer than one invocation, which the
 * framework polls.
 */
export class ProviderStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const endpointConfigName = new CfnParameter(this, 'EndpointConfigName', { type: 'String' }).valueAsString;
    const handler = lambda.Function.fromFunctionArn(this, 'Handler', Fn.importValue('cfn-sagemaker-autoscaling-cdk-ServiceToken'));
    const provider = new cr.Provider(this, 'Provider', {
      onEventHandler: handler,
      isCompleteHandler: handler,
      queryInterval: Duration.seconds(30),
      totalTimeout: Duration.hours(1),
    });
    const endpoint = new CustomResource(this, 'Endpoint', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::SageMakerEndpoint',
      properties: { EndpointName: `${this.stackName}-endpoint`, EndpointConfigName: endpointConfigName },
    });
    scaledVariant(this, provider.serviceToken, endpoint.getAttString('EndpointName'));
  }
}

/**
 * An inference component that scales to zero (the CDK form of
 * examples/cloudformation/inference-component-scale-to-zero.yaml): ScaleToZero on the target makes the function
 * manage the step policy and the alarm that bring the component back from zero copies; the target-tracking
 * policy scales it in to zero and out beyond one copy.
 */
export class ScaleToZeroStack extends Stack {
  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);
    const inferenceComponentName = new CfnParameter(this, 'InferenceComponentName', { type: 'String' }).valueAsString;
    const serviceToken = Fn.importValue('cfn-sagemaker-autoscaling-ServiceToken');
    const serviceTimeout = Duration.minutes(16);
    const target = new CustomResource(this, 'ComponentScaling', {
      serviceToken,
      serviceTimeout,
      resourceType: 'Custom::SageMakerScalableTarget',
      properties: { InferenceComponentName: inferenceComponentName, MinCapacity: 0, MaxCapacity: 4, ScaleToZero: true },
    });
    new CustomResource(this, 'ConcurrencyPolicy', {
      serviceToken,
      serviceTimeout,
      resourceType: 'Custom::SageMakerScalingPolicy',
      properties: {
        PolicyName: 'concurrent-requests-per-copy',
        ScalingTargetId: target.ref,
        TargetTrackingScalingPolicyConfiguration: {
          TargetValue: 5,
          PredefinedMetricSpecification: {
            PredefinedMetricType: 'SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution',
          },
          ScaleInCooldown: 300,
          ScaleOutCooldown: 60,
        },
      },
    });
  }
}
