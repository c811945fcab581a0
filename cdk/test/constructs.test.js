// The constructs synthesize exactly the properties the function validates; synth-time checks refuse what the
// function would refuse. Run with `node --test` after `jsii`. Writes test/synthesized.json: every custom resource
// synthesized here, which `make test` feeds through the function's own validation (examples/validate.rs).
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { App, Stack, Duration } = require('aws-cdk-lib');
const { Template, Match } = require('aws-cdk-lib/assertions');
const lib = require('../lib');

const synthesized = [];
function template(build, mode) {
  const app = new App();
  const stack = new Stack(app, 'S');
  const provider = new lib.SageMakerAutoScalingProvider(stack, 'P', { mode });
  build(stack, provider);
  const t = Template.fromStack(stack);
  for (const [id, r] of Object.entries(t.toJSON().Resources)) {
    if (r.Type.startsWith('Custom::SageMaker')) synthesized.push({ id, type: r.Type, properties: r.Properties });
  }
  return t;
}

test('a variant target with the helpers synthesizes the contract properties', () => {
  const t = template((stack, provider) => {
    const target = new lib.ScalableTarget(stack, 'Target', { provider, endpointName: 'e', minCapacity: 1, maxCapacity: 4, tags: { team: 'ml' },
      scheduledActions: [{ scheduledActionName: 'mornings', schedule: 'cron(0 8 * * ? *)', timezone: 'Europe/Berlin', minCapacity: 2 }] });
    target.scaleOnInvocationsPerInstance('Invocations', { targetValue: 70, scaleInCooldown: Duration.minutes(5) });
    target.scaleOnSchedule('Nights', { schedule: 'cron(0 20 * * ? *)', maxCapacity: 2 });
  });
  t.hasResourceProperties('Custom::SageMakerScalableTarget', {
    EndpointName: 'e', VariantName: 'AllTraffic', MinCapacity: 1, MaxCapacity: 4, Tags: [{ Key: 'team', Value: 'ml' }],
    ScheduledActions: [{ ScheduledActionName: 'mornings', Schedule: 'cron(0 8 * * ? *)', Timezone: 'Europe/Berlin', ScalableTargetAction: { MinCapacity: 2 } }],
    ServiceTimeout: '960',
  });
  t.hasResourceProperties('Custom::SageMakerScalingPolicy', {
    PolicyName: 'Invocations', PolicyType: 'TargetTrackingScaling', ScalingTargetId: { Ref: Match.stringLikeRegexp('Target') },
    TargetTrackingScalingPolicyConfiguration: { TargetValue: 70, ScaleInCooldown: 300, PredefinedMetricSpecification: { PredefinedMetricType: 'SageMakerVariantInvocationsPerInstance' } },
  });
  t.hasResourceProperties('Custom::SageMakerScheduledAction', { ScheduledActionName: 'Nights', ScalableTargetAction: { MaxCapacity: 2 } });
  t.hasResourceProperties('AWS::Lambda::Function', { Runtime: 'provided.al2023', Architectures: ['arm64'], Timeout: 900, Handler: 'bootstrap',
    Environment: { Variables: { CUSTOM_RESOURCE_MODE: 'direct' } } });
});

test('scale to zero and an endpoint that keeps its auto scaling, through the Provider framework', () => {
  const t = template((stack, provider) => {
    const endpoint = new lib.Endpoint(stack, 'Endpoint', { provider, endpointConfigName: 'c1', endpointName: 'e1' });
    const component = new lib.ScalableTarget(stack, 'Llm', { provider, inferenceComponentName: 'llm', minCapacity: 0, maxCapacity: 4, scaleToZero: true });
    component.scaleOnConcurrentRequestsPerCopy('Concurrency', { targetValue: 5 });
    new lib.ScalableTarget(stack, 'Variant', { provider, endpointName: endpoint.endpointName, minCapacity: 1, maxCapacity: 2 });
  }, lib.ProviderMode.CDK_PROVIDER);
  t.hasResourceProperties('Custom::SageMakerEndpoint', { EndpointName: 'e1', EndpointConfigName: 'c1', ServiceTimeout: '3600' });
  t.hasResourceProperties('Custom::SageMakerScalableTarget', { InferenceComponentName: 'llm', MinCapacity: 0, ScaleToZero: true });
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
  const cases = [
    [{ endpointName: 'e', minCapacity: 5, maxCapacity: 2 }, /minCapacity 5 is greater than maxCapacity 2/],
    [{ endpointName: 'e', minCapacity: 0, maxCapacity: 2, scaleToZero: true }, /scaleToZero applies to inference components only/],
    [{ inferenceComponentName: 'c', minCapacity: 1, maxCapacity: 2, scaleToZero: true }, /scaleToZero needs minCapacity 0/],
    [{ minCapacity: 1, maxCapacity: 2 }, /give endpointName/],
    [{ endpointName: 'e', minCapacity: 1, maxCapacity: 2, scheduledActions: [{ scheduledActionName: 'a', schedule: 'rate(1 day)', minCapacity: 1 }, { scheduledActionName: 'a', schedule: 'rate(2 days)', minCapacity: 1 }] }, /names an action twice/],
  ];
  for (const [props, expected] of cases) {
    assert.throws(() => new lib.ScalableTarget(new Stack(new App(), 'S'), 'T', props), expected);
  }
  const stack = new Stack(new App(), 'S');
  const component = new lib.ScalableTarget(stack, 'C', { inferenceComponentName: 'c', minCapacity: 0, maxCapacity: 2 });
  assert.throws(() => component.scaleOnInvocationsPerInstance('P', { targetValue: 5 }), /applies to endpoint variants/);
});

test.after(() => fs.writeFileSync(path.join(__dirname, 'synthesized.json'), JSON.stringify(synthesized, null, 1)));
