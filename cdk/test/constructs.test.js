// The constructs synthesize exactly the properties the function validates; synth-time checks refuse what the
// function would refuse. Run with `node --test` after `jsii`. Writes test/synthesized.json: every custom resource
// synthesized here, which `make test` feeds through the function's own validation (examples/validate.rs).
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { App, CfnParameter, Duration, Stack, Tags, TimeZone } = require('aws-cdk-lib');
const appscaling = require('aws-cdk-lib/aws-applicationautoscaling');
const cloudwatch = require('aws-cdk-lib/aws-cloudwatch');
const iam = require('aws-cdk-lib/aws-iam');
const { Template, Match } = require('aws-cdk-lib/assertions');
const lib = require('../lib');

const synthesized = [];
/** Records `t`'s custom resources (with its stack and parameter defaults) for the function's own validation. */
function record(t) {
  const json = t.toJSON();
  const stack = String(synthesized.length);
  const parameters = Object.fromEntries(Object.entries(json.Parameters ?? {}).map(([k, p]) => [k, p.Default]));
  for (const [id, r] of Object.entries(json.Resources)) {
    if (r.Type.startsWith('Custom::SageMaker') || r.Type === 'AWS::ApplicationAutoScaling::ScalableTarget') {
      synthesized.push({ stack, id, type: r.Type, properties: r.Properties, parameters });
    }
  }
}
function template(build, mode) {
  const app = new App();
  const stack = new Stack(app, 'S');
  const provider = new lib.SageMakerAutoScalingProvider(stack, 'P', { mode });
  build(stack, provider);
  const t = Template.fromStack(stack);
  record(t);
  return t;
}

test('a variant target with typed schedules, time zones and metrics synthesizes the contract properties', () => {
  const t = template((stack, provider) => {
    const role = iam.Role.fromRoleArn(stack, 'Role', 'arn:aws:iam::123456789012:role/scaling');
    const target = new lib.ScalableTarget(stack, 'Target', { provider, endpointName: 'e', minCapacity: 1, maxCapacity: 4, tags: { team: 'ml' },
      role, repairDrift: true, suspendedState: { scheduledScalingSuspended: true },
      scheduledActions: [{ scheduledActionName: 'mornings', schedule: appscaling.Schedule.cron({ hour: '8', minute: '0' }),
        timeZone: TimeZone.EUROPE_BERLIN, minCapacity: 2 }] });
    target.scaleOnInvocationsPerInstance('Invocations', { targetValue: 70, scaleInCooldown: Duration.minutes(5) });
    target.scaleOnSchedule('Nights', { schedule: appscaling.Schedule.cron({ hour: '20', minute: '0' }), maxCapacity: 2,
      startTime: new Date(Date.UTC(2027, 0, 1)) });
    target.scaleToTrackMetric('Latency', { targetValue: 200, customMetric: new cloudwatch.Metric({ namespace: 'AWS/SageMaker',
      metricName: 'ModelLatency', dimensionsMap: { EndpointName: 'e', VariantName: 'AllTraffic' }, statistic: 'Average' }) });
    target.scaleToTrackMetric('PerInstance', { targetValue: 5, customMetric: new cloudwatch.MathExpression({ expression: 'm1 / m2',
      usingMetrics: { m1: new cloudwatch.Metric({ namespace: 'AWS/SageMaker', metricName: 'Invocations', dimensionsMap: { EndpointName: 'e' }, statistic: 'Sum' }),
        m2: new cloudwatch.Metric({ namespace: '/aws/sagemaker/Endpoints', metricName: 'CPUUtilization', dimensionsMap: { EndpointName: 'e' } }) } }) });
    target.scaleOnBacklogPerInstance('Backlog', { targetValue: 5 });
    const queue = new lib.ScalableTarget(stack, 'Queue', { provider, endpointName: 'async', minCapacity: 0, maxCapacity: 4, scaleToZero: true });
    queue.scaleOnBacklogPerInstance('QueueBacklog', { targetValue: 5 });
  });
  t.hasResourceProperties('Custom::SageMakerScalableTarget', { EndpointName: 'async', MinCapacity: 0, ScaleToZero: true });
  t.hasResourceProperties('Custom::SageMakerScalableTarget', {
    EndpointName: 'e', VariantName: 'AllTraffic', MinCapacity: 1, MaxCapacity: 4, Tags: [{ Key: 'team', Value: 'ml' }],
    RoleARN: 'arn:aws:iam::123456789012:role/scaling', SuspendedState: { ScheduledScalingSuspended: true }, RepairDrift: true,
    ScheduledActions: [{ ScheduledActionName: 'mornings', Schedule: 'cron(0 8 * * ? *)', Timezone: 'Europe/Berlin', ScalableTargetAction: { MinCapacity: 2 } }],
    ServiceTimeout: '960',
  });
  t.hasResourceProperties('Custom::SageMakerScalingPolicy', {
    PolicyName: 'Invocations', PolicyType: 'TargetTrackingScaling', ScalingTargetId: { Ref: Match.stringLikeRegexp('Target') },
    TargetTrackingScalingPolicyConfiguration: { TargetValue: 70, ScaleInCooldown: 300, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' } },
  });
  t.hasResourceProperties('Custom::SageMakerScalingPolicy', { PolicyName: 'Latency', TargetTrackingScalingPolicyConfiguration: { CustomizedMetricSpecification: {
    MetricName: 'ModelLatency', Namespace: 'AWS/SageMaker', Statistic: 'Average',
    Dimensions: [{ Name: 'EndpointName', Value: 'e' }, { Name: 'VariantName', Value: 'AllTraffic' }] } } });
  t.hasResourceProperties('Custom::SageMakerScalingPolicy', { PolicyName: 'PerInstance', TargetTrackingScalingPolicyConfiguration: { CustomizedMetricSpecification: {
    Metrics: [{ Id: 'expression', Expression: 'm1 / m2', ReturnData: true },
      { Id: 'm1', ReturnData: false, MetricStat: { Stat: 'Sum', Metric: { MetricName: 'Invocations', Namespace: 'AWS/SageMaker', Dimensions: [{ Name: 'EndpointName', Value: 'e' }] } } },
      { Id: 'm2', ReturnData: false, MetricStat: { Stat: 'Average', Metric: Match.objectLike({ MetricName: 'CPUUtilization' }) } }] } } });
  t.hasResourceProperties('Custom::SageMakerScalingPolicy', { PolicyName: 'Backlog', TargetTrackingScalingPolicyConfiguration: { TargetValue: 5, CustomizedMetricSpecification: {
    MetricName: 'ApproximateBacklogSizePerInstance', Namespace: 'AWS/SageMaker', Statistic: 'Average', Dimensions: [{ Name: 'EndpointName', Value: 'e' }] } } });
  t.hasResourceProperties('Custom::SageMakerScheduledAction', { ScheduledActionName: 'Nights', Schedule: 'cron(0 20 * * ? *)',
    StartTime: '2027-01-01T00:00:00.000Z', ScalableTargetAction: { MaxCapacity: 2 } });
});

test('scaleOnMetric makes the lower and upper step policies and the alarms that fire them', () => {
  const t = template((stack, provider) => {
    const target = new lib.ScalableTarget(stack, 'Target', { provider, endpointName: 'e', minCapacity: 1, maxCapacity: 8 });
    target.scaleOnMetric('Backlog', {
      metric: new cloudwatch.Metric({ namespace: 'AWS/SageMaker', metricName: 'ApproximateBacklogSize', dimensionsMap: { EndpointName: 'e' }, statistic: 'Maximum' }),
      scalingSteps: [{ upper: 0, change: -1 }, { lower: 10, change: +1 }, { lower: 100, change: +3 }],
      cooldown: Duration.minutes(2),
    });
  });
  t.resourceCountIs('Custom::SageMakerScalingPolicy', 2);
  t.hasResourceProperties('Custom::SageMakerScalingPolicy', { PolicyType: 'StepScaling', StepScalingPolicyConfiguration: {
    AdjustmentType: 'ChangeInCapacity', Cooldown: 120, MetricAggregationType: 'Maximum',
    StepAdjustments: [{ ScalingAdjustment: 1, MetricIntervalLowerBound: 0, MetricIntervalUpperBound: 90 }, { ScalingAdjustment: 3, MetricIntervalLowerBound: 90 }] } });
  t.hasResourceProperties('Custom::SageMakerScalingPolicy', { StepScalingPolicyConfiguration: { StepAdjustments: [{ ScalingAdjustment: -1, MetricIntervalUpperBound: 0 }] } });
  const alarms = t.findResources('AWS::CloudWatch::Alarm');
  assert.strictEqual(Object.keys(alarms).length, 2);
  const byOperator = Object.fromEntries(Object.values(alarms).map((a) => [a.Properties.ComparisonOperator, a.Properties]));
  assert.strictEqual(byOperator.GreaterThanOrEqualToThreshold.Threshold, 10);
  assert.strictEqual(byOperator.LessThanOrEqualToThreshold.Threshold, 0);
  for (const a of Object.values(alarms)) {
    assert.match(JSON.stringify(a.Properties.AlarmActions), /BacklogUpperPolicy|BacklogLowerPolicy/, 'each alarm fires its own policy');
  }
});

test('capacities given as tokens synthesize, and are checked by the function at deploy time', () => {
  const t = template((stack, provider) => {
    const min = new CfnParameter(stack, 'Min', { type: 'Number', default: 1 }).valueAsNumber;
    const max = new CfnParameter(stack, 'Max', { type: 'Number', default: 3 }).valueAsNumber;
    const target = new lib.ScalableTarget(stack, 'Target', { provider, endpointName: 'e', minCapacity: min, maxCapacity: max });
    target.scaleOnSchedule('Nights', { schedule: appscaling.Schedule.rate(Duration.days(1)), minCapacity: min });
  });
  t.hasResourceProperties('Custom::SageMakerScalableTarget', { MinCapacity: { Ref: 'Min' }, MaxCapacity: { Ref: 'Max' } });
});

test('a native target, a target id or a provider from elsewhere can be given', () => {
  const app = new App();
  const stack = new Stack(app, 'S');
  const provider = lib.SageMakerAutoScalingProvider.fromServiceToken(stack, 'Shared', 'arn:aws:lambda:us-east-1:123456789012:function:shared');
  const native = new appscaling.ScalableTarget(stack, 'Native', { serviceNamespace: appscaling.ServiceNamespace.SAGEMAKER,
    resourceId: 'endpoint/e/variant/AllTraffic', scalableDimension: 'sagemaker:variant:DesiredInstanceCount', minCapacity: 1, maxCapacity: 2 });
  new lib.ScalingPolicy(stack, 'OnNative', { provider, target: native, policyName: 'n',
    targetTracking: { targetValue: 5, predefinedMetric: appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE } });
  new lib.ScheduledAction(stack, 'ById', { provider, scalingTargetId: 'endpoint/e/variant/AllTraffic|sagemaker:variant:DesiredInstanceCount|sagemaker',
    scheduledActionName: 'weekly', schedule: appscaling.Schedule.expression('rate(7 days)'), maxCapacity: 1 });
  const t = Template.fromStack(stack);
  t.hasResourceProperties('Custom::SageMakerScalingPolicy', { ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:shared',
    ScalingTargetId: { Ref: Match.stringLikeRegexp('Native') } });
  t.hasResourceProperties('Custom::SageMakerScheduledAction', { ScalingTargetId: 'endpoint/e/variant/AllTraffic|sagemaker:variant:DesiredInstanceCount|sagemaker' });
  record(t);
  t.resourceCountIs('AWS::Lambda::Function', 0);
  assert.throws(() => new lib.ScheduledAction(stack, 'Neither', { provider, scheduledActionName: 'x', schedule: appscaling.Schedule.rate(Duration.days(1)), maxCapacity: 1 }),
    /give target or scalingTargetId/);
});

test('Tags.of() reaches the targets and endpoints, and of() refuses props it cannot honour', () => {
  const app = new App();
  const stack = new Stack(app, 'S');
  new lib.ScalableTarget(stack, 'Target', { inferenceComponentName: 'c', minCapacity: 0, maxCapacity: 2, tags: { own: 'yes' } });
  new lib.Endpoint(stack, 'Endpoint', { endpointConfigName: 'c1', excludeRetainedVariantProperties: [lib.VariantPropertyType.DESIRED_WEIGHT],
    retainDeploymentConfig: true });
  Tags.of(stack).add('cost-center', '42');
  const t = Template.fromStack(stack);
  t.hasResourceProperties('Custom::SageMakerScalableTarget', { Tags: Match.arrayWith([{ Key: 'cost-center', Value: '42' }, { Key: 'own', Value: 'yes' }]) });
  t.hasResourceProperties('Custom::SageMakerEndpoint', { Tags: [{ Key: 'cost-center', Value: '42' }],
    ExcludeRetainedVariantProperties: [{ VariantPropertyType: 'DesiredWeight' }], RetainDeploymentConfig: true });
  t.hasResourceProperties('AWS::Lambda::Function', { Tags: Match.arrayWith([{ Key: 'cost-center', Value: '42' }]) });
  assert.strictEqual(lib.SageMakerAutoScalingProvider.of(stack), lib.SageMakerAutoScalingProvider.of(stack, {}), 'one provider per stack');
  assert.throws(() => lib.SageMakerAutoScalingProvider.of(stack, { mode: lib.ProviderMode.CDK_PROVIDER }), /made with other props/);
  record(t);
});

test('scale to zero and an endpoint that keeps its auto scaling, through the Provider framework', () => {
  const t = template((stack, provider) => {
    const endpoint = new lib.Endpoint(stack, 'Endpoint', { provider, endpointConfigName: 'c1', endpointName: 'e1' });
    const component = new lib.ScalableTarget(stack, 'Llm', { provider, inferenceComponentName: 'llm', minCapacity: 0, maxCapacity: 4, scaleToZero: true });
    component.scaleOnConcurrentRequestsPerCopy('Concurrency', { targetValue: 5 });
    component.scaleOnInvocationsPerCopy('Invocations', { targetValue: 50 });
    const variant = new lib.ScalableTarget(stack, 'Variant', { provider, endpointName: endpoint.endpointName, minCapacity: 1, maxCapacity: 2 });
    variant.scaleOnConcurrentRequestsPerModel('Concurrency', { targetValue: 4 });
    const serverless = new lib.ScalableTarget(stack, 'Serverless', { provider, endpointName: 's', scalableDimension: 'sagemaker:variant:DesiredProvisionedConcurrency',
      minCapacity: 1, maxCapacity: 10 });
    serverless.scaleOnProvisionedConcurrencyUtilization('Utilization', { targetValue: 0.7 });
  }, lib.ProviderMode.CDK_PROVIDER);
  t.hasResourceProperties('Custom::SageMakerEndpoint', { EndpointName: 'e1', EndpointConfigName: 'c1', ServiceTimeout: '3600' });
  t.hasResourceProperties('Custom::SageMakerScalableTarget', { InferenceComponentName: 'llm', MinCapacity: 0, ScaleToZero: true });
  for (const metric of ['SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution', 'SageMakerInferenceComponentInvocationsPerCopy',
    'SageMakerVariantConcurrentRequestsPerModelHighResolution', 'SageMakerVariantProvisionedConcurrencyUtilization']) {
    t.hasResourceProperties('Custom::SageMakerScalingPolicy', { TargetTrackingScalingPolicyConfiguration: { PredefinedMetricSpecification: { PredefinedMetricType: metric } } });
  }
  // The framework's isComplete handler is the function itself (long endpoint operations).
  t.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: { USER_ON_EVENT_FUNCTION_ARN: Match.anyValue(), USER_IS_COMPLETE_FUNCTION_ARN: Match.anyValue() } } });
});
test('the provider has the journal, the reconcile and the function settings of template.yaml', () => {
  for (const mode of [lib.ProviderMode.DIRECT, lib.ProviderMode.CDK_PROVIDER]) {
    const app = new App();
    const stack = new Stack(app, 'S');
    new lib.SageMakerAutoScalingProvider(stack, 'P', { mode, endpointNamePattern: 'ml-prod-*' });
    const t = Template.fromStack(stack);
    t.hasResourceProperties('AWS::DynamoDB::GlobalTable', {
      KeySchema: [{ AttributeName: 'Id', KeyType: 'HASH' }], BillingMode: 'PAY_PER_REQUEST',
      TimeToLiveSpecification: { AttributeName: 'ExpiresAt', Enabled: true },
    });
    t.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'provided.al2023', RecursiveLoop: 'Allow',
      LoggingConfig: { LogFormat: 'JSON', ApplicationLogLevel: 'INFO', SystemLogLevel: 'WARN' },
      Environment: { Variables: { CUSTOM_RESOURCE_MODE: mode, OPERATIONS_TABLE: { Ref: Match.stringLikeRegexp('OperationsTable') } } },
    });
    t.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
    t.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(5 minutes)', State: 'ENABLED',
      Targets: [{ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('PFunction'), 'Arn'] } }] });
    t.hasResourceProperties('AWS::Lambda::Permission', { Principal: 'events.amazonaws.com', Action: 'lambda:InvokeFunction' });
    const statements = Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement);
    const allowing = (action) => statements.filter((s) => [].concat(s.Action).includes(action));
    const journal = allowing('dynamodb:Scan');
    assert.strictEqual(journal.length, 1);
    const table = Object.keys(t.findResources('AWS::DynamoDB::GlobalTable'))[0];
    assert.deepStrictEqual(journal[0].Resource, { 'Fn::GetAtt': [table, 'Arn'] }, 'the journal only');
    assert.match(JSON.stringify(allowing('sagemaker:DeleteEndpoint')), /endpoint\/ml-prod-\*/, 'the pattern scopes DeleteEndpoint');
    assert.match(JSON.stringify(allowing('sagemaker:UpdateEndpoint')), /endpoint\/ml-prod-\*/, 'the pattern scopes UpdateEndpoint');
    assert.doesNotMatch(JSON.stringify(allowing('sagemaker:CreateEndpoint')), /endpoint\/\*"/, 'no endpoint/* for CreateEndpoint');
    assert.match(JSON.stringify(allowing('cloudwatch:PutMetricAlarm')), /alarm:\*/, 'step-policy alarms are put back');
    if (mode === lib.ProviderMode.DIRECT) {
      const invoke = JSON.stringify(allowing('lambda:InvokeFunction'));
      assert.match(invoke, /":\*"/, `invoke by qualified ARN too: ${invoke}`);
    }
  }
});

test('what the function would refuse is refused at synth time, naming it', () => {
  const daily = appscaling.Schedule.rate(Duration.days(1));
  const cases = [
    [{ endpointName: 'e', minCapacity: 5, maxCapacity: 2 }, /minCapacity 5 is greater than maxCapacity 2/],
    [{ endpointName: 'e', minCapacity: 1.5, maxCapacity: 2 }, /minCapacity must be an integer/],
    [{ endpointName: 'e', scalableDimension: 'sagemaker:variant:DesiredProvisionedConcurrency', minCapacity: 0, maxCapacity: 2, scaleToZero: true },
      /scaleToZero applies to inference components and to instance-based variants of asynchronous endpoints/],
    [{ endpointName: 'e', minCapacity: 1, maxCapacity: 2, scaleToZero: true }, /scaleToZero needs minCapacity 0/],
    [{ inferenceComponentName: 'c', minCapacity: 1, maxCapacity: 2, scaleToZero: true }, /scaleToZero needs minCapacity 0/],
    [{ minCapacity: 1, maxCapacity: 2 }, /give endpointName/],
    [{ endpointName: 'e', minCapacity: 1, maxCapacity: 2, scheduledActions: [{ scheduledActionName: 'a', schedule: daily, minCapacity: 1 },
      { scheduledActionName: 'a', schedule: daily, minCapacity: 1 }] }, /names an action twice/],
    [{ endpointName: 'e', minCapacity: 1, maxCapacity: 2, scheduledActions: [{ scheduledActionName: 'a', schedule: daily }] }, /needs minCapacity, maxCapacity or both/],
    [{ endpointName: 'e', minCapacity: 1, maxCapacity: 2, scheduledActions: [{ scheduledActionName: 'a', schedule: daily, minCapacity: 3, maxCapacity: 2 }] },
      /scheduled minCapacity 3 is greater than maxCapacity 2/],
  ];
  for (const [props, expected] of cases) {
    assert.throws(() => new lib.ScalableTarget(new Stack(new App(), 'S'), 'T', props), expected);
  }
  const stack = new Stack(new App(), 'S');
  const component = new lib.ScalableTarget(stack, 'C', { inferenceComponentName: 'c', minCapacity: 0, maxCapacity: 2 });
  assert.throws(() => component.scaleOnInvocationsPerInstance('P', { targetValue: 5 }), /applies to endpoint variants/);
  assert.throws(() => component.scaleOnBacklogPerInstance('B', { targetValue: 5 }), /applies to endpoint variants/);
  assert.throws(() => component.scaleToTrackMetric('T', { targetValue: 0, predefinedMetric: appscaling.PredefinedMetric.SAGEMAKER_INFERENCE_COMPONENT_INVOCATIONS_PER_COPY }),
    /targetValue must be greater than 0/);
  assert.throws(() => component.scaleToTrackMetric('P90', { targetValue: 1, customMetric: new cloudwatch.Metric({ namespace: 'n', metricName: 'm', statistic: 'p90' }) }),
    /not 'p90'/);
  assert.throws(() => component.scaleOnMetric('One', { metric: new cloudwatch.Metric({ namespace: 'n', metricName: 'm' }), scalingSteps: [{ lower: 1, change: 1 }] }),
    /at least 2 intervals/);
});

test.after(() => fs.writeFileSync(path.join(__dirname, 'synthesized.json'), JSON.stringify(synthesized, null, 1)));
