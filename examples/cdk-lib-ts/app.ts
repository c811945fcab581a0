// An auto-scaled endpoint whose instance type changes in place, with typed constructs (make test synthesizes it).
import { App, CfnParameter, Duration, Stack } from 'aws-cdk-lib';
import { Endpoint, ScalableTarget } from 'cfn-sagemaker-autoscaling-cdk';

const app = new App({ outdir: 'cdk.out' });
const stack = new Stack(app, 'SageMakerScalingTypeScript');
const endpointConfigName = new CfnParameter(stack, 'EndpointConfigName').valueAsString;

const endpoint = new Endpoint(stack, 'Endpoint', { endpointConfigName, endpointName: 'ts-endpoint' });
const variant = new ScalableTarget(stack, 'Variant', { endpointName: endpoint.endpointName, minCapacity: 1, maxCapacity: 4 });
variant.scaleOnInvocationsPerInstance('Invocations', { targetValue: 70, scaleInCooldown: Duration.minutes(5) });
variant.scaleOnSchedule('BusinessHours', { schedule: 'cron(0 8 ? * MON-FRI *)', timezone: 'Europe/Berlin', minCapacity: 2 });
app.synth();
