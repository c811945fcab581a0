// An auto-scaled endpoint whose instance type changes in place, with typed constructs (make test synthesizes it).
import { App, CfnParameter, Duration, Stack, TimeZone } from 'aws-cdk-lib';
import * as appscaling from 'aws-cdk-lib/aws-applicationautoscaling';
import { Endpoint, ScalableTarget } from 'cfn-sagemaker-autoscaling-cdk';

const app = new App({ outdir: 'cdk.out' });
const stack = new Stack(app, 'SageMakerScalingTypeScript');
const endpointConfigName = new CfnParameter(stack, 'EndpointConfigName').valueAsString;
const maxInstances = new CfnParameter(stack, 'MaxInstances', { type: 'Number', default: 4 }).valueAsNumber;

const endpoint = new Endpoint(stack, 'Endpoint', { endpointConfigName, endpointName: 'ts-endpoint' });
const variant = new ScalableTarget(stack, 'Variant', { endpointName: endpoint.endpointName, minCapacity: 1, maxCapacity: maxInstances });
variant.scaleOnInvocationsPerInstance('Invocations', { targetValue: 70, scaleInCooldown: Duration.minutes(5) });
variant.scaleOnSchedule('BusinessHours', {
  schedule: appscaling.Schedule.cron({ hour: '8', minute: '0', weekDay: 'MON-FRI' }),
  timeZone: TimeZone.EUROPE_BERLIN,
  minCapacity: 2,
});
app.synth();
