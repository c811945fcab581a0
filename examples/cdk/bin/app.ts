#!/usr/bin/env node
// Two ways to reach cfn-sagemaker-autoscaling from CDK, and an inference component scaled to zero; `make test`
// synthesizes them offline and lints the output.
import { App } from 'aws-cdk-lib';
import { DirectStack, ProviderStack, ScaleToZeroStack } from '../lib/stacks';

const app = new App();
new DirectStack(app, 'SageMakerScalingDirect');
new ProviderStack(app, 'SageMakerScalingProvider');
new ScaleToZeroStack(app, 'SageMakerScaleToZero');
app.synth();
