"""An auto-scaled SageMaker endpoint whose instance type changes in place, and an inference component that
scales to zero, in Python CDK (make test synthesizes this file and lints the result)."""
import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from cfn_sagemaker_autoscaling_cdk import Endpoint, ScalableTarget

app = cdk.App(outdir="cdk.out")
stack = cdk.Stack(app, "SageMakerScalingPython")
config = cdk.CfnParameter(stack, "EndpointConfigName").value_as_string
component = cdk.CfnParameter(stack, "InferenceComponentName").value_as_string

# A new EndpointConfigName updates the endpoint in place; its auto scaling is kept.
endpoint = Endpoint(stack, "Endpoint", endpoint_config_name=config, endpoint_name="python-endpoint")
variant = ScalableTarget(stack, "Variant", endpoint_name=endpoint.endpoint_name, min_capacity=1, max_capacity=4)
variant.scale_on_invocations_per_instance("Invocations", target_value=70)
nights = appscaling.Schedule.cron(hour="20", minute="0")
variant.scale_on_schedule("Nights", schedule=nights, time_zone=cdk.TimeZone.EUROPE_BERLIN, max_capacity=2)

# Scale to zero: the function adds the step policy and alarm that bring the component back.
llm = ScalableTarget(stack, "Llm", inference_component_name=component, min_capacity=0, max_capacity=4, scale_to_zero=True)
llm.scale_on_concurrent_requests_per_copy("Concurrency", target_value=5)

app.synth()
