#!/usr/bin/env node
// Two ways to reach cfn-sagemaker-autoscaling from CDK; `make test` synthesizes both offline and lints the output.
import { App } from 'aws-cdk-lib';
import { DirectStack, ProviderStack } from '../lib/stacks';

const app = new App();
new DirectStack(app, 'SageMakerScalingDirect');
new ProviderStack(app, 'SageMakerScalingProvider');
app.synth();
