"""Checks the function role in template.yaml against AWS's service authorization reference, as parliament
carries it: every action exists, and each statement's resources and condition keys are ones its actions
support. `make test` runs it; any finding fails the build.

    python tools/iam_check.py template.yaml
"""

import json
import sys

from cfnlint.decode import decode
from parliament import analyze_policy_string

SAMPLE = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::StackName": "s",
          "EndpointNamePattern": "ml-prod-*",
          "Function.Arn": "arn:aws:lambda:us-east-1:123456789012:function:s-cfn-sagemaker-autoscaling"}
REFS = {"EndpointKmsKeyArns": ["arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"]}
GETATT = {"LogGroup.Arn": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/s-cfn-sagemaker-autoscaling:*",
          "Function.Arn": "arn:aws:lambda:us-east-1:123456789012:function:s-cfn-sagemaker-autoscaling",
          "OperationsTable.Arn": "arn:aws:dynamodb:us-east-1:123456789012:table/s-OperationsTable-1"}


def resolve(value):
    """The template's intrinsic functions, with sample values for one account and region."""
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Fn::Sub":
            text = arg if isinstance(arg, str) else arg[0]
            for name, sample in SAMPLE.items():
                text = text.replace("${" + name + "}", sample)
            return text
        if key == "Ref" and arg in REFS:
            return REFS[arg]
        if key == "Fn::GetAtt":
            return GETATT[arg if isinstance(arg, str) else ".".join(arg)]
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def main(path):
    template, matches = decode(path)
    if matches:
        print(matches)
        return 1
    failures = 0
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Policy":
            policies = [resource["Properties"]]
        elif resource["Type"] == "AWS::IAM::Role":
            policies = resource["Properties"].get("Policies", [])
        else:
            continue
        for policy in policies:
            document = resolve(policy["PolicyDocument"])
            findings = analyze_policy_string(json.dumps(document)).findings
            for finding in findings:
                failures += 1
                print(f"{name}/{policy['PolicyName']}: {finding.issue} {finding.detail}")
            actions = sum(len(s["Action"]) if isinstance(s["Action"], list) else 1 for s in document["Statement"])
            print(f"{name}/{policy['PolicyName']}: {actions} actions, {len(findings)} findings")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
