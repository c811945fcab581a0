"""SageMaker for the emulator: moto's endpoints, with the gaps of EMULATOR.md closed, and inference components.

Loaded by aas_emulator.py. Each gap is one function or method named after what it closes (`gap_*`).

Control endpoint, for tests and the demo:
    POST /_emulator/sagemaker
        {"kind": "endpoint", "name": "e", "status": "InService", "failure_reason": null,
         "variants": [{"name": "AllTraffic", "instances": 1},
                      {"name": "sls", "serverless": {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": 2}}],
         "then": [{"after": 2, "status": "InService"}]}
        {"kind": "inference-component", "name": "ic", "status": "Creating", "copies": 1, "then": [...]}
    A resource that exists already is replaced, unless "if_absent" is true (the fixture's seeding). "then" changes the status (and FailureReason) once `after` seconds
    have passed since this call: SageMaker's transitions, which moto does not have.
"""

import time

from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import FakeEndpoint, sagemaker_backends


class AwsError(Exception):
    """Raised through aas_emulator's handler, which answers it in the JSON protocol."""


def arn(kind, name, region):
    return f"arn:aws:sagemaker:{region}:{DEFAULT_ACCOUNT_ID}:{kind}/{name}"


class SageMaker:
    def __init__(self, region, error):
        self.region = region
        self.error = error  # aas_emulator.AwsError
        self.components = {}  # gap: moto has no inference components
        self.transitions = {}  # (kind, name) -> [(at, status, failure_reason)]; gap: moto has no transitions

    def backend(self):
        return sagemaker_backends[DEFAULT_ACCOUNT_ID][self.region]

    def reset(self):
        self.backend().endpoints.clear()
        self.components.clear()
        self.transitions.clear()

    # --- control -------------------------------------------------------------------------------------------
    def control(self, spec):
        kind, name = spec["kind"], spec["name"]
        if spec.get("if_absent") and (name in self.backend().endpoints if kind == "endpoint" else name in self.components):
            return {"ok": True, "existed": True}
        if kind == "endpoint":
            variants = []
            for v in spec.get("variants") or [{"name": "AllTraffic", "instances": 1}]:
                variant = {"VariantName": v["name"], "ModelName": "model", "InitialVariantWeight": 1.0}
                if "serverless" in v:
                    variant["ServerlessConfig"] = v["serverless"]
                else:
                    variant["InstanceType"] = v.get("instance_type", "ml.m5.large")
                    variant["InitialInstanceCount"] = v.get("instances", 1)
                variants.append(variant)
            endpoint = FakeEndpoint(DEFAULT_ACCOUNT_ID, self.region, name, f"{name}-config", variants, None, [])
            endpoint.endpoint_status = spec.get("status", "InService")
            endpoint.failure_reason = spec.get("failure_reason")
            self.backend().endpoints[name] = endpoint
        elif kind == "inference-component":
            self.components[name] = {
                "InferenceComponentName": name,
                "InferenceComponentArn": arn("inference-component", name, self.region),
                "EndpointName": spec.get("endpoint", "ic-endpoint"),
                "VariantName": spec.get("variant", "AllTraffic"),
                "InferenceComponentStatus": spec.get("status", "InService"),
                "FailureReason": spec.get("failure_reason"),
                "RuntimeConfig": {"DesiredCopyCount": spec.get("copies", 1), "CurrentCopyCount": spec.get("copies", 1)},
                "CreationTime": time.time(),
                "LastModifiedTime": time.time(),
            }
        else:
            raise ValueError(f"unknown kind {kind!r}")
        now = time.monotonic()
        self.transitions[(kind, name)] = [(now + t["after"], t["status"], t.get("failure_reason")) for t in spec.get("then") or []]
        return {"ok": True}

    def apply_transitions(self, kind, name):
        """gap: SageMaker moves a resource through its statuses by itself; here, as the test scheduled it."""
        due = [t for t in self.transitions.get((kind, name), []) if t[0] <= time.monotonic()]
        for at, status, reason in due:
            if kind == "endpoint" and name in self.backend().endpoints:
                endpoint = self.backend().endpoints[name]
                endpoint.endpoint_status, endpoint.failure_reason = status, reason
            elif kind == "inference-component" and name in self.components:
                self.components[name]["InferenceComponentStatus"] = status
                self.components[name]["FailureReason"] = reason
            self.transitions[(kind, name)].remove((at, status, reason))

    # --- operations ----------------------------------------------------------------------------------------
    def op_DescribeEndpoint(self, body):
        """gap: AWS says `Could not find endpoint "<arn>".` (moto quotes it differently); transitions applied."""
        name = body.get("EndpointName")
        self.apply_transitions("endpoint", name)
        endpoint = self.backend().endpoints.get(name)
        if endpoint is None:
            raise self.error("ValidationException", f'Could not find endpoint "{arn("endpoint", name, self.region)}".')
        answer = {k: v for k, v in endpoint.response_object.items() if k not in ("CreationTime", "LastModifiedTime")}
        answer["CreationTime"] = answer["LastModifiedTime"] = time.time()
        return answer

    def op_DescribeInferenceComponent(self, body):
        """gap: moto has no inference components (HTTP 500)."""
        name = body.get("InferenceComponentName")
        self.apply_transitions("inference-component", name)
        component = self.components.get(name)
        if component is None:
            raise self.error("ValidationException",
                             f'Could not find inference component "{arn("inference-component", name, self.region)}".')
        return {k: v for k, v in component.items() if v is not None}

    def op_CreateInferenceComponent(self, body):
        """gap: moto has no inference components (HTTP 500). Created InService, with its copies."""
        name = body["InferenceComponentName"]
        copies = (body.get("RuntimeConfig") or {}).get("CopyCount", 1)
        self.control({"kind": "inference-component", "name": name, "copies": copies,
                      "endpoint": body.get("EndpointName"), "variant": body.get("VariantName")})
        return {"InferenceComponentArn": self.components[name]["InferenceComponentArn"]}

    def op_DeleteInferenceComponent(self, body):
        """gap: moto has no inference components (HTTP 500); deleting one deregisters its targets, as in AWS."""
        name = body.get("InferenceComponentName")
        if self.components.pop(name, None) is None:
            raise self.error("ValidationException",
                             f'Could not find inference component "{arn("inference-component", name, self.region)}".')
        return {}


def gap_delete_endpoint_deregisters_targets(emu, body, answer):
    """gap: deleting an endpoint deregisters its scalable targets in AWS; moto leaves them."""
    prefix = f"endpoint/{body.get('EndpointName')}/variant/"
    backend = emu.backend()
    for by_id in backend.targets.values():
        for resource_id in [r for r in by_id if r.startswith(prefix)]:
            del by_id[resource_id]
    return answer
