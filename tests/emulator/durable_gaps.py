"""What AWS does during an endpoint update that moto does not: the strict behaviours of EMULATOR.md's table "For
durable endpoint operations", each one function named after what it closes (`gap_*`), with its AWS source.

Loaded by aas_emulator.py (Application Auto Scaling's patches) and sagemaker_gaps.py (SageMaker's).
"""

from moto.applicationautoscaling import responses as aas_responses

# Application Auto Scaling API reference, DescribeScalingPolicies: "MaxResults ... Valid values are 1 through 10.
# The default is 10"; DescribeScheduledActions and DescribeScalableTargets: "1 through 50. The default is 50".
POLICY_PAGE = 10
ACTION_PAGE = 50
TARGET_PAGE = 50


def answer_page(items, body, size, member, build):
    """One page of `items` as the service pages them, under `member`: `NextToken` is where the next page starts."""
    start = int(body.get("NextToken") or 0)
    size = min(int(body.get("MaxResults") or size), size)
    answer = {member: [build(item) for item in items[start:start + size]]}
    if start + size < len(items):
        answer["NextToken"] = str(start + size)
    return answer


def same_target(item, body):
    return (item.service_namespace == body.get("ServiceNamespace")
            and (not body.get("ResourceId") or item.resource_id == body.get("ResourceId"))
            and (not body.get("ScalableDimension") or item.scalable_dimension == body.get("ScalableDimension")))


def gap_policies_paged(emu, body):
    """gap: AWS answers at most 10 policies per page (moto 100): a reader of the first page only loses the rest."""
    policies = [p for p in emu.backend().policies.values() if same_target(p, body)
                and (not body.get("PolicyNames") or p.policy_name in body["PolicyNames"])]
    return answer_page(policies, body, POLICY_PAGE, "ScalingPolicies", aas_responses._build_policy)


def gap_actions_paged(emu, body):
    """gap: AWS answers at most 50 scheduled actions per page (moto: everything at once)."""
    actions = [a for a in emu.backend().scheduled_actions if same_target(a, body)
               and (not body.get("ScheduledActionNames") or a.scheduled_action_name in body["ScheduledActionNames"])]
    return answer_page(actions, body, ACTION_PAGE, "ScheduledActions", aas_responses._build_scheduled_action)


def gap_step_policy_alarm_action_deleted(emu, policy_arns):
    """gap: deleting a step scaling policy (DeleteScalingPolicy, or deregistering its target) deletes the alarm
    action that named it and leaves the alarm (Application Auto Scaling user guide, "Step scaling policies":
    "...deletes the underlying alarm action, but it does not delete the CloudWatch alarm"); moto leaves the action."""
    if not policy_arns:
        return
    for alarm in emu.extensions["cloudwatch"].backend().alarms.values():
        for actions in ("alarm_actions", "ok_actions", "insufficient_data_actions"):
            kept = [a for a in getattr(alarm, actions) or [] if a not in policy_arns]
            setattr(alarm, actions, kept)


def gap_register_moves_capacity(emu, body, answer):
    """gap: RegisterScalableTarget with a MinCapacity above (or a MaxCapacity below) a variant's instance count sets
    the count into Min..Max at once, which is an endpoint update: Updating for minutes (Application Auto Scaling
    user guide, RegisterScalableTarget: "If the current capacity is outside the range, it is adjusted"). moto:
    nothing happens."""
    resource = body.get("ResourceId") or ""
    if body.get("ScalableDimension") != "sagemaker:variant:DesiredInstanceCount" or not resource.startswith("endpoint/"):
        return answer
    _, endpoint_name, _, variant_name = (resource.split("/") + ["", "", "", ""])[:4]
    sagemaker = emu.extensions["sagemaker"]
    endpoint = sagemaker.backend().endpoints.get(endpoint_name)
    target = emu.find_target(body)
    if endpoint is None or target is None:
        return answer
    variant = next((v for v in endpoint.production_variants if v["VariantName"] == variant_name), None)
    count = (variant or {}).get("CurrentInstanceCount")
    if count is None:
        return answer
    wanted = min(max(count, target.min_capacity), target.max_capacity)
    if wanted != count:
        sagemaker.capacity_update(endpoint, {variant_name: wanted})
    return answer
