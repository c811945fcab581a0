"""AWS emulator: moto's server (Application Auto Scaling, SageMaker, CloudWatch) with the gaps of EMULATOR.md
closed, plus fault injection.

Used by the Rust tests (the testkit crate), `make demo`, `make watch` and `make bench`. It serves on 127.0.0.1 only.

    python tests/emulator/aas_emulator.py [--port 0]

prints one line `listening <port>` on stdout once it accepts connections.

Every JSON-protocol request (`X-Amz-Target: AnyScaleFrontendService.<Operation>` for Application Auto Scaling,
`SageMaker.<Operation>`, `GraniteServiceVersion20100801.<Operation>` for CloudWatch) passes through
`Emulator.__call__`. It checks the SigV4 signature, records the call, applies any injected fault, then either answers
the request itself (where moto 5.2.5 lacks the operation or gets it wrong) or hands it to moto and fixes
the answer. Each correction is one function named after the gap it closes (`gap_*`): see GAPS at the bottom.

Control endpoints, for tests only:
    POST /_emulator/faults   {"operation": "RegisterScalableTarget", "match": "<substring of the request body>",
                              "error": "ThrottlingException", "message": "...", "status": 400, "times": 2}
                             or {"operation": ..., "match": ..., "hang": 30, "times": 1}  (sleep, then 500)
                             "operation": "*" matches every operation; "probability": 0.2 hits a fifth of them
                             or {"operation": "RegisterScalableTarget", "match": ..., "late": 6, "times": 1}:
                             the request takes effect, and its answer comes `late` seconds later (see gap_late_answer)
    POST /_emulator/consistency {"match": "<substring of the ResourceId>", "lag": 2.0}: a target registered with a
                             matching id stays invisible for `lag` seconds (see gap_new_target_not_visible)
    GET  /_emulator/model_errors  every request that did not follow botocore's model (see model_check.py)
    GET  /_emulator/invocations  takes the queued asynchronous self-invocations: [{"function": ..., "payload": {...}}]
    GET  /_emulator/calls    every call so far: [{"service": ..., "operation": ..., "resource": ..., "body": {...}}]
                             ("resource" is the ResourceId, resolved from ResourceARN for the tagging calls; the
                             EndpointName or InferenceComponentName for SageMaker; the alarm for CloudWatch)
    POST /_emulator/alarm    {"name": ..., "tags": {...}}: a CloudWatch alarm made by "someone else"
    POST /_emulator/sagemaker  an endpoint or inference component, with its status and later transitions
                             (see sagemaker_gaps.py)
    GET  /_emulator/state    every target with its tags, every policy and scheduled action, every alarm with its tags
    POST /_emulator/seed     {"ResourceId", "ScalableDimension", "MinCapacity", "MaxCapacity", "Tags": {...}}: a target
                             registered by "someone else", without going through the function
    POST /_emulator/reset    forget targets, policies, actions, tags, faults and calls
"""

import argparse
import enum
import hashlib
import hmac
import json
import os
import random
import re
import sys
import threading
import time
import uuid

from moto.applicationautoscaling import models as aas_models
from moto.applicationautoscaling import responses as aas_responses
from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import WSGIRequestHandler, make_server

import cloudwatch_gaps
import durable_gaps
import model_check
import sagemaker_gaps

# The JSON-protocol services the emulator stands between the function and moto for, by X-Amz-Target prefix.
SERVICES = {"AnyScaleFrontendService.": "autoscaling", "SageMaker.": "sagemaker", "GraniteServiceVersion20100801.": "cloudwatch",
            "DynamoDB_20120810.": "dynamodb"}
MAX_HANG_SECONDS = 120
LAMBDA_INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")  # a hang is bounded too, so no test can wait forever on the emulator


class AwsError(Exception):
    """An error answer in the JSON protocol: `{"__type": code, "message": ...}`."""

    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


# --- gap: the two newer SageMaker dimensions --------------------------------------------------------
# moto validates dimensions against an enum without them; both its models and its responses module look the
# enum up by name at call time, so a wider enum bound to the same name is enough.
def gap_sagemaker_dimensions():
    values = {d.name: d.value for d in aas_models.ScalableDimensionValueSet}
    values["SAGEMAKER_VARIANT_DESIRED_PROVISIONED_CONCURRENCY"] = "sagemaker:variant:DesiredProvisionedConcurrency"
    values["SAGEMAKER_INFERENCE_COMPONENT_DESIRED_COPY_COUNT"] = "sagemaker:inference-component:DesiredCopyCount"
    wider = enum.Enum("ScalableDimensionValueSet", values)
    aas_models.ScalableDimensionValueSet = wider
    aas_responses.ScalableDimensionValueSet = wider


SAGEMAKER_RESOURCE_ID = re.compile(r"^(endpoint/[^/]+/variant/[^/]+|inference-component/[^/]+)$")


class Emulator:
    def __init__(self, region="us-east-1"):
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.region = region
        self.lock = threading.Lock()
        self.tags = {}  # ScalableTargetARN -> {key: value}; gap: moto has no tagging
        self.faults = []
        self.calls = []
        self.models = model_check.ModelCheck()
        self.model_errors = []  # requests botocore's model refuses; each also fails the call that sent it
        self.lags = []  # [{"match": ..., "lag": seconds}]: see gap_new_target_not_visible
        self.invocations = []  # queued asynchronous self-invocations: see gap_lambda_invoke
        self.born = {}  # (ScalableDimension, ResourceId) -> when the target was registered as new
        # Services beyond Application Auto Scaling, each in its own module: op_<Operation> methods, reset().
        self.extensions = {
            "sagemaker": sagemaker_gaps.SageMaker(region, AwsError, self.registered, self.deregister_prefix),
            "cloudwatch": cloudwatch_gaps.CloudWatch(region, AwsError),
        }

    # --- plumbing -------------------------------------------------------------------------------------
    def registered(self, resource_id):
        return any(resource_id in by_id for by_id in self.backend().targets.values())

    def deregister_prefix(self, prefix):
        """Deregisters every target whose ResourceId starts with `prefix`, with its policies and actions."""
        backend = self.backend()
        for dimension, by_id in backend.targets.items():
            for resource_id in [r for r in by_id if r.startswith(prefix)]:
                gap_deregister_cascades(self, {"ServiceNamespace": "sagemaker", "ResourceId": resource_id,
                                               "ScalableDimension": dimension}, None)
                del by_id[resource_id]
        gap_deregister_cascades(self, {}, None)

    def backend(self):
        return applicationautoscaling_backends[DEFAULT_ACCOUNT_ID][self.region]

    def find_target(self, body):
        targets = self.backend().targets.get(body.get("ScalableDimension"), {})
        return targets.get(body.get("ResourceId"))

    def resource_of(self, service, body):
        if service == "sagemaker":
            return body.get("EndpointName") or body.get("InferenceComponentName")
        if service == "cloudwatch":
            return body.get("AlarmName") or (body.get("AlarmNames") or [None])[0] or body.get("ResourceARN")
        if "ResourceId" in body:
            return body["ResourceId"]
        if len(body.get("ResourceIds") or []) == 1:
            return body["ResourceIds"][0]
        for by_id in self.backend().targets.values():
            for target in by_id.values():
                if target.arn == body.get("ResourceARN"):
                    return target.resource_id
        return None

    def state(self):
        backend = self.backend()
        targets = [dict(aas_responses._build_target(t), Tags=dict(self.tags.get(t.arn, {})))
                   for by_id in backend.targets.values() for t in by_id.values()]
        policies = [aas_responses._build_policy(p) for p in backend.policies.values()]
        actions = [aas_responses._build_scheduled_action(a) for a in backend.scheduled_actions]
        alarms = self.extensions["cloudwatch"].state()
        endpoints = self.extensions["sagemaker"].state()
        return {"targets": targets, "policies": policies, "actions": actions, "alarms": alarms, "endpoints": endpoints}

    def seed(self, body):
        target = self.backend().register_scalable_target(
            "sagemaker", body["ResourceId"], body["ScalableDimension"], min_capacity=body["MinCapacity"],
            max_capacity=body["MaxCapacity"], role_arn=None, suspended_state=None)
        self.tags[target.arn] = dict(body.get("Tags") or {})
        return {"ScalableTargetARN": target.arn}

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_emulator/"):
            return self.control(environ, start_response, path)
        if LAMBDA_INVOKE.match(path) and environ.get("REQUEST_METHOD") == "POST":
            return self.gap_lambda_invoke(environ, start_response, LAMBDA_INVOKE.match(path).group(1))
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        prefix = next((p for p in SERVICES if target.startswith(p)), None)
        if prefix is None:
            return self.moto(environ, start_response)
        service, operation = SERVICES[prefix], target[len(prefix):]
        raw = read_body(environ)
        try:
            gap_signature_verified(environ, raw)
        except AwsError as err:
            return send(start_response, err.status, {"__type": err.code, "message": err.message})
        body = json.loads(raw or b"{}")
        problems = self.models.check(service, operation, environ, body)
        with self.lock:
            self.calls.append({"service": service, "operation": operation, "resource": self.resource_of(service, body), "body": body})
            if problems:
                self.model_errors.append({"service": service, "operation": operation, "problems": problems})
            fault = None if problems else self.take_fault(operation, raw.decode("utf-8", "replace"))
        try:
            if problems:
                # Not an AWS code on purpose: no retry rule of the function knows it, so the test that sent it fails.
                raise AwsError("EmulatorModelMismatch", f"{operation} does not follow botocore's model: " + "; ".join(problems))
            if fault is not None and "late" in fault:
                return self.gap_late_answer(environ, start_response, service, operation, body, raw, fault)
            if fault is not None:
                if "hang" in fault:
                    time.sleep(min(float(fault["hang"]), MAX_HANG_SECONDS))
                    raise AwsError("InternalServiceException", "the emulator hung on purpose", 500)
                raise AwsError(fault["error"], fault.get("message", "injected by the test"), fault.get("status", 400))
            with self.lock:  # moto's backends are not thread-safe; one request at a time keeps them consistent
                return self.handle(environ, start_response, service, operation, body, raw)
        except AwsError as err:
            return self.send_error(start_response, service, environ, err)

    # --- gap: Lambda's asynchronous Invoke ---------------------------------------------------------------------
    # AWS (Lambda API reference, Invoke): with X-Amz-Invocation-Type: Event, Lambda queues the payload and answers
    # 202; the function runs later with that payload. moto tries to run the function in a container (none here):
    # the payload is queued for the test, which delivers it to the function through its Runtime API.
    def gap_lambda_invoke(self, environ, start_response, function):
        raw = read_body(environ)
        problems = []
        if environ.get("HTTP_X_AMZ_INVOCATION_TYPE") != "Event":
            problems.append(f"X-Amz-Invocation-Type {environ.get('HTTP_X_AMZ_INVOCATION_TYPE')!r} is not 'Event'")
        if len(raw) > 1024 * 1024:
            problems.append(f"the payload is {len(raw)} bytes, over Lambda's 1 MB for asynchronous invocations")
        try:
            payload = json.loads(raw)
        except ValueError:
            problems.append("the payload is not JSON")
            payload = None
        with self.lock:
            self.calls.append({"service": "lambda", "operation": "Invoke", "resource": function, "body": payload})
            fault = None if problems else self.take_fault("Invoke", raw.decode("utf-8", "replace"))
            if problems:
                self.model_errors.append({"service": "lambda", "operation": "Invoke", "problems": problems})
            elif fault is None:
                # Lambda answers 202 with the request id the queued invocation will have (and keeps on its retries).
                request_id = str(uuid.uuid4())
                self.invocations.append({"function": function, "payload": payload, "request_id": request_id})
        if problems:
            return send(start_response, 400, {"__type": "EmulatorModelMismatch", "message": "; ".join(problems)})
        if fault is not None:
            return send(start_response, fault.get("status", 400), {"__type": fault["error"], "message": fault.get("message", "injected")})
        start_response("202 Accepted", [("Content-Length", "0"), ("x-amzn-RequestId", request_id)])
        return [b""]

    def send_error(self, start_response, service, environ, err):
        """An error answer as the service sends it. A query-compatible service (CloudWatch) answered in query
        mode also names the query protocol's code in `x-amzn-query-error: <Code>;<Sender|Receiver>`
        (Smithy's awsQueryCompatible trait); its JSON `__type` is the error shape's name."""
        extra = []
        if self.models.is_query_compatible(service) and environ.get("HTTP_X_AMZN_QUERY_MODE") == "true":
            fault = "Receiver" if err.status >= 500 else "Sender"
            extra.append(("x-amzn-query-error", f"{self.models.query_code(service, err.code)};{fault}"))
        return send(start_response, err.status, {"__type": err.code, "message": err.message}, extra)

    # --- gap: a request that takes effect but whose answer comes late ---------------------------------------
    # AWS: a call can succeed on the service and its answer be lost or late (the client's attempt limit, a
    # reset connection): RegisterScalableTarget on a first registration may take seconds while the service-
    # linked role is created. The SDK then retries a call that already took effect.
    def gap_late_answer(self, environ, start_response, service, operation, body, raw, fault):
        with self.lock:
            captured = {}

            def keep(status, headers, exc_info=None):
                captured["status"], captured["headers"] = status, headers

            answer = self.handle(environ, keep, service, operation, body, raw)
        time.sleep(min(float(fault["late"]), MAX_HANG_SECONDS))
        start_response(captured["status"], captured["headers"])
        return answer

    def call_moto(self, environ, raw):
        """Hands the request to moto and returns (status, headers, json body)."""
        captured = {}

        def start(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers

        environ = dict(environ)
        environ["wsgi.input"] = _Input(raw)
        environ["CONTENT_LENGTH"] = str(len(raw))
        chunks = b"".join(self.moto(environ, start))
        answer = json.loads(chunks or b"{}")
        status = int(captured["status"].split()[0])
        if status >= 400:
            raise AwsError(answer.get("__type", "InternalServiceException"), answer.get("message", ""), status)
        return answer

    def handle(self, environ, start_response, service, operation, body, raw):
        special = getattr(self, f"op_{service}_{operation}", None) or getattr(self.extensions.get(service), "op_" + operation, None)
        if special is not None:
            return send(start_response, 200, special(body))
        for check in GAPS_BEFORE.get(service, {}).get(operation, ()):
            check(self, body)
        answer = self.call_moto(environ, raw)
        for fix in GAPS_AFTER.get(service, {}).get(operation, ()):
            answer = fix(self, body, answer)
        return send(start_response, 200, answer)

    def take_fault(self, operation, raw):
        for fault in self.faults:
            if fault["operation"] in (operation, "*") and fault.get("match", "") in raw and fault["times"] > 0:
                if fault.get("skip", 0) > 0:  # "skip": let this many matching calls through first
                    fault["skip"] -= 1
                    continue
                # "probability": the fault hits that share of matching calls (the benchmark's load run).
                if "probability" in fault and random.random() >= fault["probability"]:
                    continue
                fault["times"] -= 1
                return fault
        return None

    def control(self, environ, start_response, path):
        with self.lock:
            if path == "/_emulator/faults":
                fault = json.loads(read_body(environ))
                fault.setdefault("times", 1)
                self.faults.append(fault)
                return send(start_response, 200, {"ok": True})
            if path == "/_emulator/consistency":
                self.lags.append(json.loads(read_body(environ)))
                return send(start_response, 200, {"ok": True})
            if path == "/_emulator/invocations":
                taken, self.invocations = self.invocations, []
                return send(start_response, 200, taken)
            if path == "/_emulator/model_errors":
                return send(start_response, 200, self.model_errors)
            if path == "/_emulator/calls":
                return send(start_response, 200, self.calls)
            if path == "/_emulator/state":
                return send(start_response, 200, self.state())
            if path == "/_emulator/alarm":
                return send(start_response, 200, self.extensions["cloudwatch"].control(json.loads(read_body(environ))))
            if path == "/_emulator/sagemaker":
                return send(start_response, 200, self.extensions["sagemaker"].control(json.loads(read_body(environ))))
            if path == "/_emulator/seed":
                return send(start_response, 200, self.seed(json.loads(read_body(environ))))
            if path == "/_emulator/reset":
                backend = self.backend()
                backend.targets.clear()
                backend.policies.clear()
                backend.scheduled_actions.clear()
                self.tags.clear()
                self.faults.clear()
                self.calls.clear()
                self.model_errors.clear()
                self.lags.clear()
                self.born.clear()
                self.invocations.clear()
                for extension in self.extensions.values():
                    extension.reset()
                return send(start_response, 200, {"ok": True})
        return send(start_response, 404, {"message": "unknown control path"})

    # --- operations moto does not have: tagging ---------------------------------------------------------
    def target_by_arn(self, arn):
        for by_id in self.backend().targets.values():
            for target in by_id.values():
                if target.arn == arn:
                    return target
        raise AwsError("ResourceNotFoundException", f"No scalable target found for ARN {arn}")

    def op_autoscaling_TagResource(self, body):
        target = self.target_by_arn(body.get("ResourceARN"))
        gap_new_target_not_visible(self, {"ResourceId": target.resource_id, "ScalableDimension": target.scalable_dimension})
        self.tags.setdefault(target.arn, {}).update(body.get("Tags") or {})
        return {}

    def op_autoscaling_UntagResource(self, body):
        target = self.target_by_arn(body.get("ResourceARN"))
        for key in body.get("TagKeys") or []:
            self.tags.get(target.arn, {}).pop(key, None)
        return {}

    def op_autoscaling_ListTagsForResource(self, body):
        target = self.target_by_arn(body.get("ResourceARN"))
        gap_new_target_not_visible(self, {"ResourceId": target.resource_id, "ScalableDimension": target.scalable_dimension})
        return {"Tags": dict(self.tags.get(target.arn, {}))}

    def still_invisible(self, resource_id, dimension):
        born = self.born.get((dimension, resource_id))
        if born is None:
            return False
        lag = max((l["lag"] for l in self.lags if l.get("match", "") in resource_id), default=0)
        return time.monotonic() - born < lag

    def op_autoscaling_DescribeScalingPolicies(self, body):
        return durable_gaps.gap_policies_paged(self, body)

    def op_autoscaling_DescribeScheduledActions(self, body):
        return durable_gaps.gap_actions_paged(self, body)

    # gap: DescribeScalableTargets paging never ends in moto (NextToken is always a fixed number)
    def op_autoscaling_DescribeScalableTargets(self, body):
        targets = self.backend().describe_scalable_targets(
            body.get("ServiceNamespace"), body.get("ResourceIds"), body.get("ScalableDimension")
        )
        targets = [t for t in targets if not self.still_invisible(t.resource_id, t.scalable_dimension)]
        return durable_gaps.answer_page(targets, body, durable_gaps.TARGET_PAGE, "ScalableTargets", aas_responses._build_target)


# --- gap: moto does not check SigV4 signatures; AWS refuses a request whose signature does not match ------------
# Checked for the fixtures' credentials (access key "testing", secret "testing"), so a client that signs one
# header and sends another, or signs a body it does not send, fails here as it would in AWS.
FIXTURE_KEYS = {"testing": "testing"}


def gap_signature_verified(environ, raw):
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        return
    fields = dict(part.strip().split("=", 1) for part in authorization[len("AWS4-HMAC-SHA256 "):].split(","))
    key_id, scope = fields["Credential"].split("/", 1)
    secret = FIXTURE_KEYS.get(key_id)
    if secret is None:
        return
    signed = fields["SignedHeaders"].split(";")

    def header(name):
        if name == "content-type":
            return environ.get("CONTENT_TYPE", "")
        if name == "content-length":
            return environ.get("CONTENT_LENGTH", "")
        return environ.get("HTTP_" + name.upper().replace("-", "_"), "")

    canonical_headers = "".join(f"{name}:{' '.join(header(name).split())}\n" for name in signed)
    query = "&".join(sorted(q for q in environ.get("QUERY_STRING", "").split("&") if q))
    canonical = "\n".join([environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/", query, canonical_headers,
                           fields["SignedHeaders"], hashlib.sha256(raw).hexdigest()])
    amz_date = header("x-amz-date")
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    date, region, service, _ = scope.split("/")
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields["Signature"]):
        raise AwsError("InvalidSignatureException", "The request signature we calculated does not match the signature "
                       "you provided. Check your AWS Secret Access Key and signing method.", 403)


def read_body(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


class _Input:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def read(self, size=-1):
        end = len(self.data) if size is None or size < 0 else self.pos + size
        chunk, self.pos = self.data[self.pos:end], min(end, len(self.data))
        return chunk

    def readline(self, size=-1):
        return self.read(size)


def send(start_response, status, payload, extra=()):
    data = json.dumps(payload).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}.get(status, "Error")
    headers = [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))]
    headers.extend(extra)
    if status >= 400:
        headers.append(("x-amzn-ErrorType", payload.get("__type", "")))
    start_response(f"{status} {reason}", headers)
    return [data]


# --- gap: a malformed SageMaker resource id is an HTTP 500 in moto; ids over 1600 characters are accepted --------
def gap_resource_id_validation(emu, body):
    resource_id = body.get("ResourceId") or ""
    if len(resource_id) > 1600:
        raise AwsError("ValidationException", "1 validation error detected: Value at 'resourceId' failed to satisfy "
                       "constraint: Member must have length less than or equal to 1600")
    if body.get("ServiceNamespace") == "sagemaker" and not SAGEMAKER_RESOURCE_ID.match(resource_id):
        raise AwsError("ValidationException", f"Unsupported resource id {resource_id!r} for namespace sagemaker")


# --- gap: moto accepts Min > Max, negative capacities, and a new target without Min/Max -------------------------
def gap_capacity_validation(emu, body):
    existing = emu.find_target(body)
    low, high = body.get("MinCapacity"), body.get("MaxCapacity")
    if existing is None and (low is None or high is None):
        raise AwsError("ValidationException", "MinCapacity and MaxCapacity are required to register a new scalable target")
    for name, value in (("MinCapacity", low), ("MaxCapacity", high)):
        if value is not None and value < 0:
            raise AwsError("ValidationException", f"{name} must be greater than or equal to 0")
    low = existing.min_capacity if low is None else low
    high = existing.max_capacity if high is None else high
    if low > high:
        raise AwsError("ValidationException", f"Minimum capacity {low} cannot be greater than maximum capacity {high}")


# --- gap: Tags on RegisterScalableTarget are dropped by moto; AWS stores them, and refuses them for an existing target --
def gap_register_tags_refused_on_existing(emu, body):
    if body.get("Tags") and emu.find_target(body) is not None:
        # AWS's own words (Application Auto Scaling, RegisterScalableTarget "Tags"):
        raise AwsError("ValidationException", "The scalable target that you tried to tag already exists. To update "
                       "tags on an existing scalable target, use the TagResource API.")


def gap_register_tags_stored(emu, body, answer):
    if body.get("Tags"):
        emu.tags.setdefault(answer["ScalableTargetARN"], {}).update(body["Tags"])
    return answer


# --- gap: a new target is not visible at once -------------------------------------------------------------------
# AWS (Application Auto Scaling API reference, RegisterScalableTarget and "eventual consistency"; terraform-provider-
# aws retries Describe for 2 minutes and PutScalingPolicy/PutScheduledAction on ObjectNotFoundException for 5):
# right after RegisterScalableTarget, DescribeScalableTargets may not list the target and PutScalingPolicy,
# PutScheduledAction, TagResource and ListTagsForResource may answer that it does not exist. moto is consistent
# at once; here a target whose ResourceId matches a /_emulator/consistency entry stays invisible for its lag.
def gap_new_target_remember(emu, body):
    body["__new"] = emu.find_target(body) is None


def gap_new_target_born(emu, body, answer):
    if body.pop("__new", False):
        emu.born[(body.get("ScalableDimension"), body.get("ResourceId"))] = time.monotonic()
    return answer


def gap_new_target_not_visible(emu, body):
    if emu.still_invisible(body.get("ResourceId") or "", body.get("ScalableDimension")):
        raise AwsError("ObjectNotFoundException", f"No scalable target registered for service namespace: sagemaker, "
                       f"resource ID: {body.get('ResourceId')}, scalable dimension: {body.get('ScalableDimension')}")


def policy_key(body):
    """moto's key of the policy a request names."""
    return aas_models.FakeApplicationAutoscalingPolicy.formulate_key(
        body.get("ServiceNamespace"), body.get("ResourceId"), body.get("ScalableDimension"), body.get("PolicyName"))


# --- gap: ObjectNotFoundException where moto answers ValidationException or nothing ------------------------------
def gap_deregister_missing(emu, body):
    if emu.find_target(body) is None:
        raise AwsError("ObjectNotFoundException", "No scalable target found for service namespace: "
                       f"{body.get('ServiceNamespace')}, resource ID: {body.get('ResourceId')}, "
                       f"scalable dimension: {body.get('ScalableDimension')}")


def gap_delete_policy_missing(emu, body):
    key = policy_key(body)
    if key not in emu.backend().policies:
        raise AwsError("ObjectNotFoundException", f"No scaling policy found for service namespace: "
                       f"{body.get('ServiceNamespace')}, resource ID: {body.get('ResourceId')}, scalable dimension: "
                       f"{body.get('ScalableDimension')}, policy name: {body.get('PolicyName')}")


def gap_delete_action_missing(emu, body):
    if not any(a.scheduled_action_name == body.get("ScheduledActionName") and a.resource_id == body.get("ResourceId")
               and a.scalable_dimension == body.get("ScalableDimension") for a in emu.backend().scheduled_actions):
        raise AwsError("ObjectNotFoundException", f"No scheduled action found for service namespace: "
                       f"{body.get('ServiceNamespace')}, resource ID: {body.get('ResourceId')}, scalable dimension: "
                       f"{body.get('ScalableDimension')}, scheduled action name: {body.get('ScheduledActionName')}")


def gap_put_on_unregistered_target(emu, body):
    if emu.find_target(body) is None:
        raise AwsError("ObjectNotFoundException", f"No scalable target registered for service namespace: "
                       f"{body.get('ServiceNamespace')}, resource ID: {body.get('ResourceId')}, scalable dimension: "
                       f"{body.get('ScalableDimension')}")


# --- gap: deregistering a target leaves its policies, scheduled actions (and, here, tags) behind in moto ----------
def gap_deregister_cascades(emu, body, answer):
    backend = emu.backend()
    same = (body.get("ServiceNamespace"), body.get("ResourceId"), body.get("ScalableDimension"))
    deleted = set()
    for key, policy in list(backend.policies.items()):
        if (policy.service_namespace, policy.resource_id, policy.scalable_dimension) == same:
            deleted.add(policy.policy_arn)
            del backend.policies[key]
    durable_gaps.gap_step_policy_alarm_action_deleted(emu, deleted)
    backend.scheduled_actions[:] = [
        a for a in backend.scheduled_actions
        if (a.service_namespace, a.resource_id, a.scalable_dimension) != same
    ]
    live = {t.arn for by_id in backend.targets.values() for t in by_id.values()}
    for arn in [arn for arn in emu.tags if arn not in live]:
        del emu.tags[arn]
    return answer


# --- gap: PutScalingPolicy on an existing policy gets a new PolicyARN in moto; AWS updates it in place ------------
def gap_policy_arn_stable_remember(emu, body):
    key = policy_key(body)
    old = emu.backend().policies.get(key)
    body["__previous_arn"] = old.policy_arn if old is not None else None


def gap_policy_arn_stable_restore(emu, body, answer):
    key = policy_key(body)
    # A new policy gets a new random id, as in AWS: a policy deleted and created again under the same name
    # has another ARN, which is how a stale Delete tells it is not its policy. (events/ replays by carrying
    # the ARN each Create answered, as CloudFormation does.)
    arn = body.pop("__previous_arn", None) or re.sub(
        r":scalingPolicy:[^:]+:", f":scalingPolicy:{uuid.uuid4()}:", answer["PolicyARN"])
    emu.backend().policies[key].policy_arn = arn
    answer["PolicyARN"] = arn
    return answer


def gap_policy_alarm_actions_remember(emu, body):
    policy = emu.backend().policies.get(policy_key(body))
    body["__deleted_arn"] = policy.policy_arn if policy is not None else None


def gap_policy_alarm_actions_forget(emu, body, answer):
    """See durable_gaps.gap_step_policy_alarm_action_deleted."""
    arn = body.pop("__deleted_arn", None)
    durable_gaps.gap_step_policy_alarm_action_deleted(emu, {arn} if arn else set())
    return answer


GAPS_BEFORE = {"autoscaling": {
    "RegisterScalableTarget": (gap_resource_id_validation, gap_capacity_validation,
                               gap_register_tags_refused_on_existing, gap_new_target_remember),
    "DeregisterScalableTarget": (gap_resource_id_validation, gap_deregister_missing),
    "PutScalingPolicy": (gap_resource_id_validation, gap_put_on_unregistered_target, gap_new_target_not_visible,
                         gap_policy_arn_stable_remember),
    "PutScheduledAction": (gap_resource_id_validation, gap_put_on_unregistered_target, gap_new_target_not_visible),
    "DeleteScalingPolicy": (gap_delete_policy_missing, gap_policy_alarm_actions_remember),
    "DeleteScheduledAction": (gap_delete_action_missing,),
}, "cloudwatch": {
    "PutMetricAlarm": (cloudwatch_gaps.gap_put_alarm_keeps_tags_remember,),
    "ListTagsForResource": (cloudwatch_gaps.gap_list_tags_of_unknown_alarm,),
    "DeleteAlarms": (cloudwatch_gaps.gap_delete_missing_alarm,),
}}
GAPS_AFTER = {"autoscaling": {
    "RegisterScalableTarget": (gap_register_tags_stored, gap_new_target_born, durable_gaps.gap_register_moves_capacity),
    "DeregisterScalableTarget": (gap_deregister_cascades,),
    "DeleteScalingPolicy": (gap_policy_alarm_actions_forget,),
    "PutScalingPolicy": (gap_policy_arn_stable_restore,),
}, "cloudwatch": {
    "PutMetricAlarm": (cloudwatch_gaps.gap_put_alarm_keeps_tags_restore,),
}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--operations-table", default="cfn-sma-operations", help="the journal table created at start")
    parser.add_argument("--exit-with-stdin", action="store_true", help="exit when stdin closes (used by the tests)")
    parser.add_argument("--receiver-port", type=int, help="also serve a ResponseURL receiver here that prints every PUT (make watch)")
    parser.add_argument("--seed-events", action="store_true",
                        help="create the SageMaker resources events/ names, InService (make watch)")
    args = parser.parse_args()
    gap_sagemaker_dimensions()
    emulator = Emulator(args.region)
    if args.seed_events:
        emulator.extensions["sagemaker"].control({"kind": "endpoint", "name": "demo-endpoint"})
        emulator.extensions["sagemaker"].control({"kind": "inference-component", "name": "demo-llm"})
        emulator.extensions["sagemaker"].control({"kind": "endpoint", "name": "demo-async-endpoint", "async": True})
    server = make_server("127.0.0.1", args.port, emulator, threaded=True, request_handler=QuietHandler)
    if args.exit_with_stdin:
        threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    if args.receiver_port:
        receiver = make_server("127.0.0.1", args.receiver_port, print_response, threaded=True, request_handler=QuietHandler)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        print(f"ResponseURL receiver on http://127.0.0.1:{args.receiver_port}/", flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    create_operations_table(server.server_port, args.region, args.operations_table)
    print(f"listening {server.server_port}", flush=True)
    threading.Event().wait()


def create_operations_table(port, region, name):
    """The operations journal as template.yaml declares it: on demand, partition key Id (String), TTL ExpiresAt."""
    import boto3
    client = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name=region,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "Id", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "Id", "KeyType": "HASH"}])
    client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ExpiresAt"})


def print_response(environ, start_response):
    """A stand-in for CloudFormation's presigned S3 URL: prints what the function PUTs."""
    body = read_body(environ)
    try:
        shown = json.dumps(json.loads(body), indent=2)
    except ValueError:
        shown = body.decode("utf-8", "replace")
    print(f"--- {environ['REQUEST_METHOD']} {environ.get('PATH_INFO')} ({len(body)} bytes)\n{shown}", flush=True)
    start_response("200 OK", [("Content-Length", "0")])
    return [b""]


class QuietHandler(WSGIRequestHandler):
    """No access log: the tests read the emulator's state, not its chatter."""

    def log_request(self, *args, **kwargs):
        pass


def exit_when_stdin_closes():
    """A test process that dies without cleaning up closes our stdin: follow it instead of lingering."""
    sys.stdin.read()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
