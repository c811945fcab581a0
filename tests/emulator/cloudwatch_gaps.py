"""CloudWatch for the emulator: moto's alarms over the JSON protocol, with the gaps of EMULATOR.md closed.

Loaded by aas_emulator.py. Each gap is one function named after what it closes (`gap_*`).

Control endpoint, for tests:
    POST /_emulator/alarm {"name": "...", "tags": {"k": "v"}}  an alarm made by "someone else"
"""

from moto.cloudwatch.models import cloudwatch_backends
from moto.core import DEFAULT_ACCOUNT_ID


class CloudWatch:
    def __init__(self, region, error):
        self.region = region
        self.error = error  # aas_emulator.AwsError

    def backend(self):
        return cloudwatch_backends[DEFAULT_ACCOUNT_ID][self.region]

    def reset(self):
        backend = self.backend()
        for alarm in list(backend.alarms.values()):
            backend.tagger.delete_all_tags_for_resource(alarm.alarm_arn)
        backend.alarms.clear()

    def control(self, spec):
        backend = self.backend()
        alarm = backend.put_metric_alarm(
            name=spec["name"], namespace="AWS/SageMaker", metric_name="NoCapacityInvocationFailures",
            metric_data_queries=None, comparison_operator="GreaterThanOrEqualToThreshold", evaluation_periods=1,
            datapoints_to_alarm=1, period=60, threshold=1.0, statistic="Maximum", extended_statistic=None,
            description="made outside the function", dimensions=[], alarm_actions=[], ok_actions=[],
            insufficient_data_actions=[], unit=None, actions_enabled=True, treat_missing_data="missing",
            evaluate_low_sample_count_percentile=None, threshold_metric_id=None, rule=None,
            tags=[{"Key": k, "Value": v} for k, v in (spec.get("tags") or {}).items()])
        return {"AlarmArn": alarm.alarm_arn}

    def state(self):
        backend = self.backend()
        return [{
            "AlarmName": a.name, "AlarmArn": a.alarm_arn, "Namespace": a.namespace, "MetricName": a.metric_name,
            "Dimensions": [{"Name": d.name, "Value": d.value} for d in a.dimensions], "Statistic": a.statistic,
            "Period": a.period, "EvaluationPeriods": a.evaluation_periods, "DatapointsToAlarm": a.datapoints_to_alarm,
            "Threshold": a.threshold, "ComparisonOperator": a.comparison_operator,
            "TreatMissingData": a.treat_missing_data, "AlarmActions": list(a.alarm_actions),
            "Tags": backend.tagger.get_tag_dict_for_resource(a.alarm_arn),
        } for a in backend.alarms.values()]


def gap_put_alarm_keeps_tags_remember(emu, body):
    """gap: AWS ignores Tags when PutMetricAlarm updates an existing alarm; moto merges them."""
    backend = emu.extensions["cloudwatch"].backend()
    existing = backend.alarms.get(body.get("AlarmName"))
    body["__previous_tags"] = None if existing is None else backend.tagger.get_tag_dict_for_resource(existing.alarm_arn)


def gap_put_alarm_keeps_tags_restore(emu, body, answer):
    previous = body.pop("__previous_tags", None)
    if previous is not None:
        backend = emu.extensions["cloudwatch"].backend()
        arn = backend.alarms[body["AlarmName"]].alarm_arn
        backend.tagger.delete_all_tags_for_resource(arn)
        backend.tagger.tag_resource(arn, [{"Key": k, "Value": v} for k, v in previous.items()])
    return answer


def gap_list_tags_of_unknown_alarm(emu, body):
    """gap: ListTagsForResource of an alarm that does not exist is ResourceNotFoundException in AWS; moto: no tags."""
    cloudwatch = emu.extensions["cloudwatch"]
    arn = body.get("ResourceARN") or ""
    if ":alarm:" in arn and not any(a.alarm_arn == arn for a in cloudwatch.backend().alarms.values()):
        raise cloudwatch.error("ResourceNotFoundException", f"Unknown resource {arn}", 404)


def gap_delete_missing_alarm(emu, body):
    """gap: DeleteAlarms of an alarm that does not exist is ResourceNotFound in AWS; moto succeeds silently."""
    cloudwatch = emu.extensions["cloudwatch"]
    missing = [n for n in body.get("AlarmNames") or [] if n not in cloudwatch.backend().alarms]
    if missing:
        raise cloudwatch.error("ResourceNotFound", f"{missing[0]} does not exist", 404)
