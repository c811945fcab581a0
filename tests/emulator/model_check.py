"""Every request the emulator receives, held against botocore's service model for its operation.

moto accepts almost anything: unknown members, wrong types, misspelt enum values, strings too long. AWS does
not. This module walks the request body along the operation's input shape (botocore's `service-2.json`, the
same models the AWS SDKs are generated from) and lists every mismatch: unknown and missing required members,
types, enums, lengths, ranges and patterns; and, for the JSON protocols, `X-Amz-Target`, `Content-Type` and
(for a query-compatible service such as CloudWatch) `x-amzn-query-mode: true`.
"""

import re

from botocore.loaders import Loader
from botocore.model import ServiceModel

# The emulator's service names → botocore's.
BOTOCORE_NAMES = {"autoscaling": "application-autoscaling", "sagemaker": "sagemaker", "cloudwatch": "cloudwatch",
                  "dynamodb": "dynamodb"}


class ModelCheck:
    def __init__(self):
        loader = Loader()
        self.models = {ours: ServiceModel(loader.load_service_model(name, "service-2"))
                       for ours, name in BOTOCORE_NAMES.items()}
        self.patterns = {}

    def query_code(self, service, code):
        """For a query-compatible service: the query protocol's code of the error shape named `code`."""
        model = self.models[service]
        for shape in model.error_shapes:
            if shape.name == code:
                return (shape.metadata.get("error") or {}).get("code", code)
        return code

    def is_query_compatible(self, service):
        model = self.models[service]
        return "awsQueryCompatible" in model.metadata or "query" in (model.metadata.get("protocols") or [])

    def check(self, service, operation, environ, body):
        """The mismatches of one request, as sentences; empty when it follows the model."""
        model = self.models[service]
        problems = []
        expected_target = f"{model.metadata['targetPrefix']}.{operation}"
        if environ.get("HTTP_X_AMZ_TARGET") != expected_target:
            problems.append(f"X-Amz-Target {environ.get('HTTP_X_AMZ_TARGET')!r} is not {expected_target!r}")
        content_type = f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.1')}"
        if environ.get("CONTENT_TYPE", "").split(";")[0].strip() != content_type:
            problems.append(f"Content-Type {environ.get('CONTENT_TYPE')!r} is not {content_type!r}")
        if self.is_query_compatible(service) and environ.get("HTTP_X_AMZN_QUERY_MODE") != "true":
            problems.append("x-amzn-query-mode: true is missing (the service is query-compatible)")
        if operation not in model.operation_names:
            return problems + [f"{operation} is not an operation of {model.service_name}"]
        shape = model.operation_model(operation).input_shape
        if shape is not None:
            self.walk(shape, body, operation, problems)
        elif body not in ({}, None):
            problems.append(f"{operation} takes no input")
        return problems

    def walk(self, shape, value, path, problems):
        kind = shape.type_name
        if value is None:
            # AWS's JSON protocols leave a member with no value out; an explicit null is refused.
            return problems.append(f"{path} is null: a member with no value is left out")
        if kind == "structure":
            if not isinstance(value, dict):
                return problems.append(f"{path} must be an object")
            for name in value:
                if name not in shape.members:
                    problems.append(f"{path}.{name} is not a member of {shape.name}")
            for name in shape.required_members:
                if name not in value:
                    problems.append(f"{path}.{name} is required")
            for name, member in shape.members.items():
                if name in value:
                    self.walk(member, value[name], f"{path}.{name}", problems)
        elif kind == "list":
            if not isinstance(value, list):
                return problems.append(f"{path} must be a list")
            self.bounds(shape, len(value), path, problems, "length ")
            for i, item in enumerate(value):
                self.walk(shape.member, item, f"{path}[{i}]", problems)
        elif kind == "map":
            if not isinstance(value, dict):
                return problems.append(f"{path} must be a map")
            self.bounds(shape, len(value), path, problems, "length ")
            for key, item in value.items():
                self.walk(shape.key, key, f"{path} key", problems)
                self.walk(shape.value, item, f"{path}[{key}]", problems)
        elif kind == "string":
            if not isinstance(value, str):
                return problems.append(f"{path} must be a string, not {type(value).__name__}")
            if shape.enum and value not in shape.enum:
                problems.append(f"{path} {value!r} is not one of {shape.enum}")
            self.bounds(shape, len(value), path, problems, "length ")
            pattern = shape.metadata.get("pattern")
            if pattern and not self.matches(pattern, value):
                problems.append(f"{path} {value!r} does not match the pattern {pattern}")
        elif kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                return problems.append(f"{path} must be an integer, not {type(value).__name__}")
            self.bounds(shape, value, path, problems)
        elif kind in ("double", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return problems.append(f"{path} must be a number, not {type(value).__name__}")
            self.bounds(shape, value, path, problems)
        elif kind == "boolean":
            if not isinstance(value, bool):
                problems.append(f"{path} must be a boolean, not {type(value).__name__}")
        elif kind == "timestamp":
            # The JSON protocols send epoch seconds.
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                problems.append(f"{path} must be epoch seconds, not {value!r}")
        elif kind == "blob":
            if not isinstance(value, str):
                problems.append(f"{path} must be base64 text")

    @staticmethod
    def bounds(shape, measured, path, problems, what=""):
        """The model's min and max: of a length (`what` is "length ") or of a number (`what` empty)."""
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and measured < low:
            problems.append(f"{path} {what}{measured} is less than {low}")
        if high is not None and measured > high:
            problems.append(f"{path} {what}{measured} is more than {high}")

    def matches(self, pattern, value):
        """Smithy patterns are ECMA 262; AWS's services check the whole value against them (an EndpointName with a
        space is refused although its pattern has no `$`), so the whole value must match. Java's surrogate-pair ranges
        (`\\uD800\\uDC00-\\uDBFF\\uDFFF`) mean "any supplementary character" and are rewritten for Python."""
        compiled = self.patterns.get(pattern)
        if compiled is None:
            text = pattern.replace("\\uD800\\uDC00-\\uDBFF\\uDFFF", "\\U00010000-\\U0010FFFF")
            text = text.replace("\\p{Print}", "[\\x20-\\x7e]")  # Java's POSIX class: printable ASCII
            try:
                compiled = re.compile(text)
            except re.error:
                compiled = False  # a construct Python cannot read: not checked, rather than a false alarm
            self.patterns[pattern] = compiled
        return compiled is False or compiled.fullmatch(value) is not None
