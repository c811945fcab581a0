"""The peer the benchmark compares against: a custom resource written the way most teams write one today,
Python with crhelper and boto3, run under awslambdaric. It makes the same register/deregister (and policy and
schedule) calls, with boto3's default retries, and no ownership checks or confirmation."""

import os

import boto3
from crhelper import CfnResource

# crhelper PUTs over https only; the benchmark's ResponseURL receiver has a throwaway self-signed certificate.
helper = CfnResource(json_logging=False, log_level="WARNING", boto_level="CRITICAL", sleep_on_delete=0,
                     ssl_verify=os.environ.get("PEER_CA_BUNDLE"))
aas = boto3.client("application-autoscaling")

DEFAULT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


def target_of(props):
    if "ScalingTargetId" in props:
        resource_id, dimension, _ = props["ScalingTargetId"].split("|")
        return resource_id, dimension
    return props["ResourceId"], props.get("ScalableDimension", DEFAULT_DIMENSION)


@helper.create
@helper.update
def put(event, _context):
    props, kind = event["ResourceProperties"], event["ResourceType"]
    resource_id, dimension = target_of(props)
    if kind == "Custom::SageMakerScalableTarget":
        aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource_id, ScalableDimension=dimension,
                                     MinCapacity=int(props["MinCapacity"]), MaxCapacity=int(props["MaxCapacity"]))
        return f"{resource_id}|{dimension}|sagemaker"
    if kind == "Custom::SageMakerScalingPolicy":
        config = props["TargetTrackingScalingPolicyConfiguration"]
        answer = aas.put_scaling_policy(
            PolicyName=props["PolicyName"], ServiceNamespace="sagemaker", ResourceId=resource_id,
            ScalableDimension=dimension, PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={
                "TargetValue": float(config["TargetValue"]),
                "PredefinedMetricSpecification": config["PredefinedMetricSpecification"]})
        helper.Data["Arn"] = answer["PolicyARN"]
        return answer["PolicyARN"]
    if kind == "Custom::SageMakerScheduledAction":
        action = props["ScalableTargetAction"]
        aas.put_scheduled_action(
            ScheduledActionName=props["ScheduledActionName"], ServiceNamespace="sagemaker", ResourceId=resource_id,
            ScalableDimension=dimension, Schedule=props["Schedule"],
            ScalableTargetAction={k: int(v) for k, v in action.items()})
        return f"{props['ScheduledActionName']}|{resource_id}|{dimension}|sagemaker"
    raise ValueError(f"unsupported resource type {kind}")


@helper.delete
def delete(event, _context):
    props, kind = event["ResourceProperties"], event["ResourceType"]
    resource_id, dimension = target_of(props)
    try:
        if kind == "Custom::SageMakerScalableTarget":
            aas.deregister_scalable_target(ServiceNamespace="sagemaker", ResourceId=resource_id, ScalableDimension=dimension)
        elif kind == "Custom::SageMakerScalingPolicy":
            aas.delete_scaling_policy(PolicyName=props["PolicyName"], ServiceNamespace="sagemaker",
                                      ResourceId=resource_id, ScalableDimension=dimension)
        elif kind == "Custom::SageMakerScheduledAction":
            aas.delete_scheduled_action(ScheduledActionName=props["ScheduledActionName"], ServiceNamespace="sagemaker",
                                        ResourceId=resource_id, ScalableDimension=dimension)
    except aas.exceptions.ObjectNotFoundException:
        pass


def handler(event, context):
    helper(event, context)
