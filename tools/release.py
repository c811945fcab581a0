"""The release's templates, from template.yaml, with SAM's own translator (no AWS call).

    python tools/release.py <version> <zip name> <out dir>

Writes, in <out dir>:
- cfn-sagemaker-autoscaling.template.yaml: plain CloudFormation (no Transform). The function's code comes from
  the parameters CodeBucket and CodeKey (upload the release zip there); everything else is template.yaml's: the
  role, the log group, the operations table, the reconcile rule and its permission, the same parameters.
- sar/template.yaml, with sar/LICENSE and sar/README.md: the Serverless Application Repository listing, its
  CodeUri the release zip beside it (`sam package` then uploads the zip as it is, and `sam publish` lists it).
"""
import copy
import os
import shutil
import sys
from pathlib import Path

from samcli.yamlhelper import yaml_dump, yaml_parse
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parent.parent


class NoManagedPolicies:
    """The function's role is its own resource: SAM has no managed policy to look up."""

    def load(self):
        return {}


def function_of(template):
    (name,) = [k for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
    return template["Resources"][name]


def sar_template(source, zip_name):
    template = copy.deepcopy(source)
    function = function_of(template)
    function["Properties"]["CodeUri"] = zip_name
    function["Metadata"].pop("BuildMethod", None)
    function["Metadata"].pop("BuildProperties", None)
    return template


def plain_template(source):
    template = copy.deepcopy(source)
    template["Metadata"].pop("AWS::ServerlessRepo::Application")
    if not template["Metadata"]:
        del template["Metadata"]
    function = function_of(template)
    function["Metadata"].pop("BuildMethod", None)
    function["Metadata"].pop("BuildProperties", None)
    function["Properties"]["CodeUri"] = {"Bucket": {"Ref": "CodeBucket"}, "Key": {"Ref": "CodeKey"}}
    parameters = {
        "CodeBucket": {"Type": "String", "Description": "The S3 bucket holding the release zip (in the stack's region)."},
        "CodeKey": {"Type": "String", "Description": "The release zip's key in CodeBucket."},
    }
    template["Parameters"] = {**parameters, **template["Parameters"]}
    # The translator wants a region for its pseudo parameters; the output keeps AWS::Region and AWS::Partition.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    translated = transform(template, {}, NoManagedPolicies())
    translated.pop("Transform", None)
    return translated


def main(version, zip_name, out):
    out = Path(out)
    source = yaml_parse((ROOT / "template.yaml").read_text())
    listed = source["Metadata"]["AWS::ServerlessRepo::Application"]["SemanticVersion"]
    if listed != version:
        sys.exit(f"template.yaml lists {listed}, the release is {version}")
    sar = out / "sar"
    sar.mkdir(parents=True, exist_ok=True)
    (sar / "template.yaml").write_text(yaml_dump(sar_template(source, zip_name)))
    shutil.copy(ROOT / "LICENSE", sar / "LICENSE")
    shutil.copy(ROOT / "README.md", sar / "README.md")
    shutil.copy(out / zip_name, sar / zip_name)
    (out / "cfn-sagemaker-autoscaling.template.yaml").write_text(yaml_dump(plain_template(source)))


if __name__ == "__main__":
    main(*sys.argv[1:])
