"""The writable properties of the native AWS::ApplicationAutoScaling resources, as cfn-lint's bundled
CloudFormation resource schemas have them: one dotted path per line. tests/native_parity.rs holds the README's
native-properties table against this list and against the properties the function accepts.

    python tools/native_properties.py
"""

from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER

TYPES = ("AWS::ApplicationAutoScaling::ScalableTarget", "AWS::ApplicationAutoScaling::ScalingPolicy")
NESTED = {
    "ScalableTarget": [("ScheduledActions", "ScheduledAction")],
    "ScalingPolicy": [
        ("TargetTrackingScalingPolicyConfiguration", "TargetTrackingScalingPolicyConfiguration"),
        ("TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification", "CustomizedMetricSpecification"),
        ("StepScalingPolicyConfiguration", "StepScalingPolicyConfiguration"),
    ],
}


def paths():
    for type_name in TYPES:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", type_name).schema
        short = type_name.rsplit("::", 1)[1]
        read_only = {p.rsplit("/", 1)[1] for p in schema.get("readOnlyProperties", [])}
        for name in sorted(schema["properties"]):
            if name not in read_only:
                yield f"{short}.{name}"
        for prefix, definition in NESTED[short]:
            for name in sorted(schema["definitions"][definition]["properties"]):
                yield f"{short}.{prefix}.{name}"


if __name__ == "__main__":
    for path in paths():
        print(path)
