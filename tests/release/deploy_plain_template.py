"""The release's plain CloudFormation template, deployed from the release zip against the emulator (moto's
CloudFormation, S3, Lambda, IAM, Logs, DynamoDB and EventBridge, in process): the same resources as template.yaml,
the function made from the zip, wired to the table, the log group and the reconcile rule.

    python deploy_plain_template.py <dist dir>
"""
import json
import os
import sys
from pathlib import Path

os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
import boto3  # noqa: E402
from cfnlint.decode import cfn_yaml  # noqa: E402
from moto import mock_aws  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent.parent

EXPECTED = {
    "AWS::Lambda::Function": 1,
    "AWS::IAM::Role": 1,
    "AWS::Logs::LogGroup": 1,
    "AWS::DynamoDB::Table": 1,
    "AWS::Events::Rule": 1,
    "AWS::Lambda::Permission": 1,  # the reconcile rule's, and nothing else may invoke it
}


def check(condition, what):
    if not condition:
        sys.exit(f"plain template: {what}")


@mock_aws
def main(dist):
    dist = Path(dist)
    (zip_path,) = dist.glob("cfn-sagemaker-autoscaling-*-arm64.zip")
    template = (dist / "cfn-sagemaker-autoscaling.template.yaml").read_text()
    check("Transform" not in template.split("Resources:")[0], "a Transform is left")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="releases")
    s3.put_object(Bucket="releases", Key=zip_path.name, Body=zip_path.read_bytes())
    cfn = boto3.client("cloudformation")
    cfn.create_stack(
        StackName="sma",
        TemplateBody=template,
        Parameters=[{"ParameterKey": "CodeBucket", "ParameterValue": "releases"}, {"ParameterKey": "CodeKey", "ParameterValue": zip_path.name}],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
    )
    stack = cfn.describe_stacks(StackName="sma")["Stacks"][0]
    check(stack["StackStatus"] == "CREATE_COMPLETE", f"stack {stack['StackStatus']}: {stack.get('StackStatusReason')}")
    # moto lists the stack itself too, without a logical id.
    resources = [r for r in cfn.describe_stack_resources(StackName="sma")["StackResources"] if "LogicalResourceId" in r]
    by_logical = {r["LogicalResourceId"]: r for r in resources}
    sam = cfn_yaml.loads((ROOT / "template.yaml").read_text())
    missing = set(sam["Resources"]) - {k for k, r in sam["Resources"].items() if r.get("Condition")} - set(by_logical)
    check(not missing, f"template.yaml's resources missing: {sorted(missing)}")
    counts = {}
    for r in resources:
        counts[r["ResourceType"]] = counts.get(r["ResourceType"], 0) + 1
    for kind, n in EXPECTED.items():
        check(counts.get(kind) == n, f"{kind}: {counts.get(kind)} (all: {json.dumps(counts)})")

    function = boto3.client("lambda").get_function(FunctionName=by_logical["Function"]["PhysicalResourceId"])["Configuration"]
    check(function["Runtime"] == "provided.al2023" and function["Handler"] == "bootstrap", function)
    # moto's CloudFormation drops Architectures and RecursiveLoop when it makes the function: read them as written.
    written = cfn_yaml.loads(template)["Resources"]["Function"]["Properties"]
    check(written["Architectures"] == ["arm64"] and written["RecursiveLoop"] == "Allow", written)
    check(function["Timeout"] == 900 and function["MemorySize"] == 128, function)
    check(function["CodeSize"] == zip_path.stat().st_size, f"code {function['CodeSize']} bytes, the zip {zip_path.stat().st_size}")
    env = function["Environment"]["Variables"]
    table = by_logical["OperationsTable"]["PhysicalResourceId"]
    check(env["OPERATIONS_TABLE"] == table, f"OPERATIONS_TABLE {env.get('OPERATIONS_TABLE')} is not the stack's table {table}")
    check(env["CUSTOM_RESOURCE_MODE"] == "direct", env)
    check(function["Role"].endswith(by_logical["FunctionRole"]["PhysicalResourceId"]), (function["Role"], by_logical["FunctionRole"]))

    described = boto3.client("dynamodb").describe_table(TableName=table)["Table"]
    check(described["KeySchema"] == [{"AttributeName": "Id", "KeyType": "HASH"}], described["KeySchema"])
    check(described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST", described.get("BillingModeSummary"))

    events = boto3.client("events")
    rule = events.describe_rule(Name=by_logical["FunctionReconcile"]["PhysicalResourceId"].split("|")[-1])
    check(rule["ScheduleExpression"] == "rate(5 minutes)", rule)
    targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    check([t["Arn"] for t in targets] == [function["FunctionArn"]], targets)

    groups = boto3.client("logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/sma-")["logGroups"]
    check([g.get("retentionInDays") for g in groups] == [30], groups)
    print(f"plain template: {len(resources)} resources created from {zip_path.name}: {json.dumps(counts, sort_keys=True)}")


if __name__ == "__main__":
    main(sys.argv[1])
