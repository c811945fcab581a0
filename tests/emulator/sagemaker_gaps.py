"""SageMaker for the emulator: moto's endpoints, with the gaps of EMULATOR.md closed, and inference components.

Loaded by aas_emulator.py. Each gap is one function or method named after what it closes (`gap_*`).

Control endpoint, for tests and the demo:
    POST /_emulator/sagemaker
        {"kind": "endpoint", "name": "e", "status": "InService", "failure_reason": null,
         "variants": [{"name": "AllTraffic", "instances": 1},
                      {"name": "sls", "serverless": {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": 2}}],
         "then": [{"after": 2, "status": "InService"}]}
        {"kind": "inference-component", "name": "ic", "status": "Creating", "copies": 1, "then": [...]}
        An endpoint with "async": true is asynchronous: DescribeEndpoint shows its AsyncInferenceConfig.
    A resource that exists already is replaced, unless "if_absent" is true (the fixture's seeding). "then" changes the status (and FailureReason) once `after` seconds
    have passed since this call: SageMaker's transitions, which moto does not have.
        {"kind": "endpoint-config", "name": "c", "variants": [{"name": "AllTraffic", "instance_type": "ml.m5.large", "instances": 1}]}
        {"kind": "timing", "create": 2, "update": 2, "delete": 1}   how long CreateEndpoint, UpdateEndpoint, DeleteEndpoint take
                                                                    (with "name": for that endpoint only)
        {"kind": "fail-next-update", "name": "e", "reason": "..."}  the next update of e rolls back: InService on the old
                                                                    configuration, with this FailureReason
        {"kind": "fail-next-create", "name": "e", "reason": "..."}  the next creation of e ends Failed
"""

import time

from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, sagemaker_backends


class AwsError(Exception):
    """Raised through aas_emulator's handler, which answers it in the JSON protocol."""


def arn(kind, name, region):
    return f"arn:aws:sagemaker:{region}:{DEFAULT_ACCOUNT_ID}:{kind}/{name}"


class SageMaker:
    def __init__(self, region, error, registered=lambda resource_id: False, deregister=lambda prefix: None):
        self.region = region
        self.error = error  # aas_emulator.AwsError
        self.registered = registered  # is a target registered for this ResourceId (any dimension)?
        self.deregister = deregister  # deregister every target whose ResourceId starts with this prefix
        self.components = {}  # gap: moto has no inference components
        self.transitions = {}  # (kind, name) -> [(at, status, failure_reason, then)]; gap: moto has no transitions
        self.timing = dict(DEFAULT_TIMING)
        self.timing_for = {}  # endpoint name -> its own timing
        self.failing = {}  # ("update" | "create", endpoint) -> FailureReason
        self.asynchronous = set()  # endpoints with an AsyncInferenceConfig: see gap_async_inference_config

    def backend(self):
        return sagemaker_backends[DEFAULT_ACCOUNT_ID][self.region]

    def reset(self):
        self.backend().endpoints.clear()
        self.backend().endpoint_configs.clear()
        self.components.clear()
        self.transitions.clear()
        self.timing = dict(DEFAULT_TIMING)
        self.timing_for.clear()
        self.failing.clear()
        self.asynchronous.clear()

    # --- control -------------------------------------------------------------------------------------------
    def control(self, spec):
        kind = spec["kind"]
        if kind == "timing":
            seconds = {k: float(v) for k, v in spec.items() if k not in ("kind", "name")}
            (self.timing_for.setdefault(spec["name"], dict(self.timing)) if "name" in spec else self.timing).update(seconds)
            return {"ok": True}
        if kind in ("fail-next-update", "fail-next-create"):
            self.failing[(kind.split("-")[2], spec["name"])] = spec.get("reason", "the emulator failed it on purpose")
            return {"ok": True}
        if kind == "endpoint-config":
            config = FakeEndpointConfig(DEFAULT_ACCOUNT_ID, self.region, spec["name"], config_variants(spec["variants"]),
                                        None, None, [], None)
            self.backend().endpoint_configs[spec["name"]] = config
            return {"ok": True}
        name = spec["name"]
        if spec.get("if_absent") and (name in self.backend().endpoints if kind == "endpoint" else name in self.components):
            return {"ok": True, "existed": True}
        if kind == "endpoint":
            variants = config_variants(spec.get("variants") or [{"name": "AllTraffic", "instances": 1}])
            endpoint = FakeEndpoint(DEFAULT_ACCOUNT_ID, self.region, name, spec.get("config", f"{name}-config"), variants, None,
                                    [{"Key": k, "Value": v} for k, v in (spec.get("tags") or {}).items()])
            endpoint.endpoint_status = spec.get("status", "InService")
            endpoint.failure_reason = spec.get("failure_reason")
            self.backend().endpoints[name] = endpoint
            (self.asynchronous.add if spec.get("async") else self.asynchronous.discard)(name)
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
        self.transitions[(kind, name)] = [(now + t["after"], t["status"], t.get("failure_reason"), None) for t in spec.get("then") or []]
        return {"ok": True}

    def state(self):
        """Every endpoint as DescribeEndpoint shows it, with its tags (transitions applied)."""
        out = []
        for name in list(self.backend().endpoints):
            self.apply_transitions("endpoint", name)
            endpoint = self.backend().endpoints.get(name)
            if endpoint is not None:
                view = {k: v for k, v in endpoint.response_object.items() if k not in ("CreationTime", "LastModifiedTime")}
                out.append(dict(view, Tags={t["Key"]: t["Value"] for t in endpoint.tags}))
        return out

    def apply_transitions(self, kind, name):
        """gap: SageMaker moves a resource through its statuses by itself; here, as the test scheduled it."""
        due = [t for t in self.transitions.get((kind, name), []) if t[0] <= time.monotonic()]
        for transition in due:
            _, status, reason, then = transition
            if kind == "endpoint" and name in self.backend().endpoints:
                endpoint = self.backend().endpoints[name]
                endpoint.endpoint_status, endpoint.failure_reason = status, reason
                if then is not None:
                    then(endpoint)
            elif kind == "inference-component" and name in self.components:
                self.components[name]["InferenceComponentStatus"] = status
                self.components[name]["FailureReason"] = reason
            self.transitions[(kind, name)].remove(transition)

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
        self.gap_async_inference_config(name, answer)
        return answer

    def gap_async_inference_config(self, name, answer):
        """gap: DescribeEndpoint shows an asynchronous endpoint's AsyncInferenceConfig (SageMaker API reference,
        DescribeEndpoint: "AsyncInferenceConfig: Returns the description of an endpoint configuration created using
        the CreateEndpointConfig API"); moto's endpoints never have one."""
        if name in self.asynchronous:
            answer["AsyncInferenceConfig"] = {"OutputConfig": {"S3OutputPath": f"s3://{name}-async-output/"}}
        else:
            answer.pop("AsyncInferenceConfig", None)

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


    # --- gap: endpoints as SageMaker runs them: timed transitions, the update rule, tags -------------------
    # AWS (SageMaker API reference): CreateEndpoint is Creating for minutes; UpdateEndpoint is Updating, then
    # InService on the new configuration (instance counts from its InitialInstanceCount unless variant properties
    # are retained), or, when it fails, InService on the old one with a FailureReason; DeleteEndpoint is Deleting,
    # then gone. moto makes an endpoint InService at once, overwrites one that exists, and has no UpdateEndpoint.
    def endpoint(self, name):
        self.apply_transitions("endpoint", name)
        endpoint = self.backend().endpoints.get(name)
        if endpoint is None:
            raise self.error("ValidationException", f'Could not find endpoint "{arn("endpoint", name, self.region)}".')
        return endpoint

    def config(self, name):
        config = self.backend().endpoint_configs.get(name)
        if config is None:
            raise self.error("ValidationException",
                             f'Could not find endpoint configuration "{arn("endpoint-config", name, self.region)}".')
        return config

    def seconds(self, operation, name):
        return self.timing_for.get(name, self.timing)[operation]

    def later(self, name, seconds, status, reason, then):
        self.transitions.setdefault(("endpoint", name), []).append((time.monotonic() + seconds, status, reason, then))

    def op_CreateEndpoint(self, body):
        name = body["EndpointName"]
        self.apply_transitions("endpoint", name)
        if name in self.backend().endpoints:
            raise self.error("ValidationException", f'Cannot create already existing endpoint "{arn("endpoint", name, self.region)}".')
        config = self.config(body["EndpointConfigName"])
        endpoint = FakeEndpoint(DEFAULT_ACCOUNT_ID, self.region, name, config.endpoint_config_name,
                                config.production_variants, None, list(body.get("Tags") or []))
        endpoint.endpoint_status = "Creating"
        self.backend().endpoints[name] = endpoint
        reason = self.failing.pop(("create", name), None)
        self.later(name, self.seconds("create", name), "Failed" if reason else "InService", reason, None)
        return {"EndpointArn": endpoint.arn}

    def op_UpdateEndpoint(self, body):
        name = body["EndpointName"]
        endpoint = self.endpoint(name)
        if endpoint.endpoint_status != "InService":
            raise self.error("ValidationException", f"Cannot update in-progress endpoint \"{endpoint.arn}\".")
        old, new = self.config(endpoint.endpoint_config_name), self.config(body["EndpointConfigName"])
        # SageMaker developer guide, "Update or delete endpoints that use auto scaling": a variant whose instance
        # type changes, or that the new configuration drops, must be deregistered first.
        serving = lambda v: v.get("InstanceType") if "ServerlessConfig" not in v else "serverless"
        new_by_name = {v["VariantName"]: v for v in new.production_variants}
        for variant in old.production_variants:
            changed = variant["VariantName"] not in new_by_name or serving(new_by_name[variant["VariantName"]]) != serving(variant)
            if changed and self.registered(f"endpoint/{name}/variant/{variant['VariantName']}"):
                raise self.error("ValidationException", f"The variant {variant['VariantName']} of endpoint {name} is registered "
                                 "with Application Auto Scaling; deregister it before changing its instance type or removing it "
                                 "(see \"Update or delete endpoints that use auto scaling\")")
        endpoint.endpoint_status = "Updating"
        reason = self.failing.pop(("update", name), None)
        # RetainAllVariantProperties keeps each variant's instance count unless ExcludeRetainedVariantProperties
        # names DesiredInstanceCount (SageMaker API reference, UpdateEndpoint).
        excluded = {p.get("VariantPropertyType") for p in body.get("ExcludeRetainedVariantProperties") or []}
        retain = bool(body.get("RetainAllVariantProperties")) and "DesiredInstanceCount" not in excluded
        # gap_failure_reason_kept: SageMaker may keep the FailureReason of an earlier failed update after a later
        # one succeeds (moto has none; the emulator used to clear it): an old reason is not this update's.
        kept_reason = endpoint.failure_reason

        def apply_update(endpoint):
            counts = {v["VariantName"]: v.get("CurrentInstanceCount") for v in endpoint.production_variants}
            endpoint.endpoint_config_name = new.endpoint_config_name
            endpoint.production_variants = endpoint._process_production_variants(new.production_variants)
            for variant in endpoint.production_variants:
                if retain and counts.get(variant["VariantName"]) is not None and "CurrentInstanceCount" in variant:
                    variant["CurrentInstanceCount"] = variant["DesiredInstanceCount"] = counts[variant["VariantName"]]

        self.later(name, self.seconds("update", name), "InService", reason or kept_reason, None if reason else apply_update)
        return {"EndpointArn": endpoint.arn}

    def op_DeleteEndpoint(self, body):
        name = body["EndpointName"]
        endpoint = self.endpoint(name)
        endpoint.endpoint_status = "Deleting"
        # Deleting an endpoint deregisters its scalable targets (AWS); moto leaves them.
        self.deregister(f"endpoint/{name}/variant/")
        self.later(name, self.seconds("delete", name), "Deleting", None,
                   lambda e: self.backend().endpoints.pop(e.endpoint_name, None))
        return {}

    def op_UpdateEndpointWeightsAndCapacities(self, body):
        """gap (durable_gaps): refused while the endpoint is not InService ("Cannot update in-progress endpoint");
        otherwise an update: Updating for a while, then the counts (moto: instant, never refused)."""
        endpoint = self.endpoint(body["EndpointName"])
        if endpoint.endpoint_status != "InService":
            raise self.error("ValidationException", f"Cannot update in-progress endpoint \"{endpoint.arn}\".")
        counts = {}
        for wanted in body.get("DesiredWeightsAndCapacities") or []:
            variant = next((v for v in endpoint.production_variants if v["VariantName"] == wanted["VariantName"]), None)
            if variant is None:
                raise self.error("ValidationException", f"The variant {wanted['VariantName']} does not exist.")
            if "DesiredInstanceCount" in wanted:
                counts[wanted["VariantName"]] = wanted["DesiredInstanceCount"]
        self.capacity_update(endpoint, counts)
        return {"EndpointArn": endpoint.arn}

    def capacity_update(self, endpoint, counts):
        """An update of instance counts (UpdateEndpointWeightsAndCapacities, or Application Auto Scaling moving a
        count into Min..Max): Updating for the endpoint's "capacity" timing, then InService with the counts. A
        FailureReason from an earlier update stays (gap_failure_reason_kept)."""
        endpoint.endpoint_status = "Updating"
        for variant in endpoint.production_variants:
            if variant["VariantName"] in counts:
                variant["DesiredInstanceCount"] = counts[variant["VariantName"]]

        def apply(e):
            for variant in e.production_variants:
                if variant["VariantName"] in counts:
                    variant["CurrentInstanceCount"] = counts[variant["VariantName"]]

        self.later(endpoint.endpoint_name, self.seconds("capacity", endpoint.endpoint_name), "InService",
                   endpoint.failure_reason, apply)

    def by_arn(self, resource_arn):
        for endpoint in self.backend().endpoints.values():
            if endpoint.arn.lower() == resource_arn.lower():
                return endpoint
        raise self.error("ValidationException", f"Could not find resource {resource_arn}")

    def op_AddTags(self, body):
        """gap: moto appends a tag whose key exists already; SageMaker replaces its value."""
        endpoint = self.by_arn(body["ResourceArn"])
        keys = {t["Key"] for t in body.get("Tags") or []}
        endpoint.tags = [t for t in endpoint.tags if t["Key"] not in keys] + list(body.get("Tags") or [])
        return {"Tags": endpoint.tags}

    def op_DeleteTags(self, body):
        endpoint = self.by_arn(body["ResourceArn"])
        endpoint.tags = [t for t in endpoint.tags if t["Key"] not in set(body.get("TagKeys") or [])]
        return {}

    def op_ListTags(self, body):
        return {"Tags": list(self.by_arn(body["ResourceArn"]).tags)}


DEFAULT_TIMING = {"create": 2.0, "update": 2.0, "delete": 1.0, "capacity": 1.0}


def config_variants(variants):
    """Endpoint-configuration variants as the control endpoint takes them."""
    out = []
    for v in variants:
        variant = {"VariantName": v["name"], "ModelName": v.get("model", "model"), "InitialVariantWeight": 1.0}
        if "serverless" in v:
            variant["ServerlessConfig"] = v["serverless"]
        else:
            variant["InstanceType"] = v.get("instance_type", "ml.m5.large")
            variant["InitialInstanceCount"] = v.get("instances", 1)
        out.append(variant)
    return out
