//! `Custom::SageMakerScalableTarget`: ownership, and the calls each event needs.
//!
//! [`TargetSpec::from_properties`] (in [`crate::model::target_spec`]) validates once; `plan_*` decide the calls from the spec and the state
//! found in Application Auto Scaling (pure, unit-tested); [`put`] and [`delete`] run lookup → plan → calls → confirm.

use std::collections::BTreeMap;

use crate::model::action_spec::ActionSpec;
use crate::model::target_spec::{
    Described, Owner, Registration, Tags, TargetSpec, asked_scale_to_zero, old_action_names, old_scale_to_zero, old_tags,
};
use crate::model::{NAMESPACE, ResourceId, TargetId};
use crate::request::{Request, RequestType};
use crate::response::Response;
use crate::scale_to_zero::{self, AlarmOwner, AlarmSpec, ZeroAction};
use crate::shell::Session;
use crate::{Error, Result};

/// A registered target as this function sees it: what Describe shows and its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub described: Described,
    pub tags: Tags,
}

/// One Application Auto Scaling call a plan needs. Tag calls apply to the planned target's ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Register(Registration),
    Tag(Tags),
    Untag(Vec<String>),
}

/// Create, or the new target of an Update that replaces: the ownership rules of the contract.
///
/// # Errors
/// `Conflict` when the target is registered by anything but this resource and adoption was not asked for.
pub fn plan_create(spec: &TargetSpec, me: &Owner, current: Option<&Current>) -> Result<Vec<Call>> {
    let all_tags = spec.tags_owned_by(me);
    let Some(current) = current else { return Ok(vec![Call::Register(spec.registration(Some(all_tags)))]) };
    let owner = Owner::from_tags(&current.tags);
    if owner.as_ref() == Some(me) || spec.adopt {
        // A duplicate delivery, or an adoption: register the values, then (re)write the tags, ours included.
        return Ok(vec![Call::Register(spec.registration(None)), Call::Tag(all_tags)]);
    }
    let by = match owner {
        Some(owner) => owner.to_string(),
        None => "registered outside this function (it has no ownership tags)".to_owned(),
    };
    Err(Error::Conflict(format!(
        "scalable target {} is already registered, {by}; left untouched: set AdoptExisting to true to take it over",
        spec.id.physical_id()
    )))
}

/// An Update that keeps the target's identity: register the new values (again, with tags, if the target
/// vanished) and apply the difference between the old and new tags.
pub fn plan_update(spec: &TargetSpec, old_tags: &Tags, me: &Owner, current: Option<&Current>) -> Vec<Call> {
    if current.is_none() {
        return vec![Call::Register(spec.registration(Some(spec.tags_owned_by(me))))];
    }
    let mut calls = vec![Call::Register(spec.registration(None))];
    let changed: Tags = spec.tags.iter().filter(|(k, v)| old_tags.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    if !changed.is_empty() {
        calls.push(Call::Tag(changed));
    }
    let removed: Vec<String> = old_tags.keys().filter(|k| !spec.tags.contains_key(*k)).cloned().collect();
    if !removed.is_empty() {
        calls.push(Call::Untag(removed));
    }
    calls
}

/// What a Delete does with the target its physical id names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeletePlan {
    /// Not registered: nothing to do.
    Gone,
    /// Owned by this resource: deregister it.
    Deregister,
    /// Owned by someone else (adopted, or never ours): leave it, and say why in the log.
    Keep(String),
}

/// Delete deregisters only what this resource owns.
pub fn plan_delete(me: &Owner, current: Option<&Current>) -> DeletePlan {
    let Some(current) = current else { return DeletePlan::Gone };
    match Owner::from_tags(&current.tags) {
        Some(owner) if &owner == me => DeletePlan::Deregister,
        Some(owner) => DeletePlan::Keep(owner.to_string()),
        None => DeletePlan::Keep("it has no ownership tags, so it was not registered by this function".into()),
    }
}

/// The attributes `Fn::GetAtt` reads.
pub fn data(id: &TargetId, described: &Described) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("Id".to_owned(), id.physical_id()),
        ("ScalableTargetARN".to_owned(), described.arn.clone()),
        ("ResourceId".to_owned(), id.resource.to_string()),
        ("ScalableDimension".to_owned(), id.dimension.to_string()),
        ("ServiceNamespace".to_owned(), NAMESPACE.to_owned()),
        ("MinCapacity".to_owned(), described.min.to_string()),
        ("MaxCapacity".to_owned(), described.max.to_string()),
    ])
}

async fn current(aas: &Session, id: &TargetId) -> Result<Option<Current>> {
    let Some(described) = aas.describe_target(id).await? else { return Ok(None) };
    let tags = aas.tags(&described.arn).await?;
    Ok(Some(Current { described, tags }))
}

/// Create or Update, with the properties already validated (by the handler's `validate`).
///
/// # Errors
/// Why the target could not be registered; the dispatcher turns it into a FAILED.
pub async fn put(req: &Request, spec: TargetSpec, aas: &Session) -> Result<Response> {
    let me = Owner::of(&req.echo);
    // SageMaker first: a missing, failed or mismatched endpoint is SageMaker's reason, not a registration error;
    // one still in transition is waited for, and the ownership state is read after the wait.
    let (current_capacity, asynchronous) = aas.await_ready(&spec.id).await?;
    if let Some(why) = scale_to_zero::refusal(&spec.id, spec.scale_to_zero, asynchronous) {
        return Err(Error::invalid(why));
    }
    let found = current(aas, &spec.id).await?;
    let same_identity = req.request_type == RequestType::Update
        && req.echo.physical_id.as_deref().and_then(TargetId::from_physical_id).as_ref() == Some(&spec.id);
    let calls = if same_identity {
        plan_update(&spec, &old_tags(&req.old_properties), &me, found.as_ref())
    } else {
        plan_create(&spec, &me, found.as_ref())?
    };
    let zero = scale_to_zero::action(req.request_type, spec.scale_to_zero, old_scale_to_zero(&req.old_properties), same_identity);
    let zero_name = Some(scale_to_zero::name(&spec.id)).filter(|_| zero != ZeroAction::Nothing);
    let alarm_owner = match &zero_name {
        Some(name) => scale_to_zero::owner_of(aas.alarm_tags(name).await?.as_ref(), &me),
        None => AlarmOwner::Absent,
    };
    // An alarm of that name that is not this resource's is never changed: fail before anything is written.
    if let (ZeroAction::Ensure, Some(name), AlarmOwner::Foreign(whose)) = (zero, &zero_name, &alarm_owner) {
        return Err(Error::Conflict(format!(
            "CloudWatch alarm {name} already exists, {whose}; left untouched: delete or rename it, or set ScaleToZero to false"
        )));
    }
    let mut arn = found.map(|c| c.described.arn);
    for call in &calls {
        match call {
            Call::Register(reg) => arn = aas.register(reg).await?.or(arn),
            Call::Tag(tags) => aas.tag(&target_arn(&arn, &spec.id, aas).await?, tags).await?,
            Call::Untag(keys) => aas.untag(&target_arn(&arn, &spec.id, aas).await?, keys).await?,
        }
    }
    let described = aas.describe_registered(&spec.id).await?;
    tracing::info!(target = %spec.id.physical_id(), min = described.min, max = described.max, "scalable target registered");
    let mut data = data(&spec.id, &described);
    if let Some(capacity) = current_capacity {
        data.insert("CurrentCapacity".to_owned(), capacity.to_string());
    }
    inline_actions(&spec, req, same_identity, aas).await?;
    if let Some(name) = &zero_name {
        scale_out_from_zero(&spec, zero, name, &alarm_owner, &me, aas, &mut data).await?;
    }
    Ok(Response::success(&req.echo, spec.id.physical_id(), data))
}

/// What the inline `ScheduledActions` need: the names the previous template listed and this one does not are
/// removed (only on the same target: a replaced target's actions go with it); every listed action is put (an
/// upsert, so a changed one is updated in place). Actions the template never named are not touched.
pub fn plan_actions(actions: Option<&[ActionSpec]>, old_names: &[String], same_identity: bool) -> (Vec<String>, Vec<ActionSpec>) {
    let listed = actions.unwrap_or_default();
    let removed =
        if same_identity { old_names.iter().filter(|old| !listed.iter().any(|a| &&a.name == old)).cloned().collect() } else { Vec::new() };
    (removed, listed.to_vec())
}

async fn inline_actions(spec: &TargetSpec, req: &Request, same_identity: bool, aas: &Session) -> Result<()> {
    let (removed, put) = plan_actions(spec.scheduled_actions.as_deref(), &old_action_names(&req.old_properties), same_identity);
    for name in removed {
        let existed = aas.delete_action(&name, &spec.id).await?;
        tracing::info!(action = %name, existed, "inline scheduled action removed");
    }
    for action in put {
        aas.put_action(&action).await?;
        tracing::info!(action = %action.name, "inline scheduled action put");
    }
    Ok(())
}

/// Puts, or removes, the step policy and the alarm that bring an inference component back from zero.
async fn scale_out_from_zero(
    spec: &TargetSpec,
    zero: ZeroAction,
    name: &str,
    alarm_owner: &AlarmOwner,
    me: &Owner,
    aas: &Session,
    data: &mut BTreeMap<String, String>,
) -> Result<()> {
    match zero {
        ZeroAction::Ensure => {
            let (policy_arn, _) = aas.put_policy(&scale_to_zero::step_policy(&spec.id, name)).await?;
            aas.put_alarm(&AlarmSpec::new(&spec.id, name, &policy_arn, me)).await?;
            tracing::info!(policy = %policy_arn, alarm = %name, "scale-out-from-zero policy and alarm put");
            data.insert("ScaleOutFromZeroPolicyARN".to_owned(), policy_arn);
            data.insert("ScaleOutFromZeroAlarmName".to_owned(), name.to_owned());
        }
        ZeroAction::Remove => {
            match alarm_owner {
                AlarmOwner::Me => drop(aas.delete_alarm(name).await?),
                AlarmOwner::Foreign(whose) => tracing::info!(alarm = %name, "alarm left in place: {whose}"),
                AlarmOwner::Absent => {}
            }
            let existed = aas.delete_policy(&spec.id.resource.to_string(), spec.id.dimension, name).await?;
            tracing::info!(alarm = %name, policy_existed = existed, "scale-out-from-zero policy and alarm removed");
        }
        ZeroAction::Nothing => {}
    }
    Ok(())
}

/// The ARN tag calls need: from the lookup or the register answer, else from a fresh Describe.
async fn target_arn(known: &Option<String>, id: &TargetId, aas: &Session) -> Result<String> {
    if let Some(arn) = known.as_ref().filter(|a| !a.is_empty()) {
        return Ok(arn.clone());
    }
    match aas.describe_target(id).await? {
        Some(d) if !d.arn.is_empty() => Ok(d.arn),
        _ => Err(Error::Conflict(format!("cannot tag {}: DescribeScalableTargets gives no ScalableTargetARN", id.physical_id()))),
    }
}

/// Delete. Never validates properties; something already gone is done.
///
/// # Errors
/// An AWS error that leaves the resource in place; the dispatcher turns it into a FAILED.
pub async fn delete(req: &Request, aas: &Session) -> Result<()> {
    let Some(id) = req.echo.physical_id.as_deref().and_then(TargetId::from_physical_id) else {
        tracing::info!("physical id names no scalable target (a failed create); nothing to delete");
        return Ok(());
    };
    let found = current(aas, &id).await?;
    match plan_delete(&Owner::of(&req.echo), found.as_ref()) {
        DeletePlan::Gone => tracing::info!(target = %id.physical_id(), "scalable target already gone"),
        DeletePlan::Keep(why) => tracing::info!(target = %id.physical_id(), "scalable target left in place: {why}"),
        DeletePlan::Deregister => {
            let existed = aas.deregister(&id).await?;
            tracing::info!(target = %id.physical_id(), existed, "scalable target deregistered");
        }
    }
    // ScaleToZero's alarm goes with the resource that made it (the policy went with the target): an inference
    // component's whatever the properties say; a variant's when its properties asked for one (every variant
    // target is not worth a CloudWatch call).
    let asked = matches!(id.resource, ResourceId::InferenceComponent { .. }) || asked_scale_to_zero(&req.properties);
    if let Some(name) = Some(scale_to_zero::name(&id)).filter(|_| asked) {
        match scale_to_zero::owner_of(aas.alarm_tags(&name).await?.as_ref(), &Owner::of(&req.echo)) {
            AlarmOwner::Me => {
                let existed = aas.delete_alarm(&name).await?;
                tracing::info!(alarm = %name, existed, "scale-out-from-zero alarm deleted");
            }
            AlarmOwner::Foreign(whose) => tracing::info!(alarm = %name, "alarm left in place: {whose}"),
            AlarmOwner::Absent => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::target_spec::{OWNER_LOGICAL_TAG, OWNER_STACK_TAG, Suspended};
    use serde_json::Value;
    use serde_json::json;

    fn spec(props: Value) -> Result<TargetSpec> {
        TargetSpec::from_properties(&props)
    }

    fn err(props: Value) -> String {
        spec(props).unwrap_err().to_string()
    }

    fn me() -> Owner {
        Owner { stack_id: "arn:aws:cloudformation:us-east-1:1:stack/s/1".into(), logical_id: "Target".into() }
    }

    fn current(tags: Tags) -> Current {
        Current { described: Described { arn: "arn:t".into(), min: 1, max: 2, suspended: Suspended::default() }, tags }
    }

    fn basic() -> TargetSpec {
        spec(
            json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": "1", "MaxCapacity": "4", "Tags": [{"Key": "team", "Value": "ml"}]}),
        )
        .unwrap()
    }

    fn with_actions(actions: Value) -> Result<TargetSpec> {
        spec(json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 4, "ScheduledActions": actions}))
    }

    #[test]
    fn inline_actions_are_validated_like_the_separate_resource_and_named_by_entry() {
        let ok = with_actions(json!([
            {"ScheduledActionName": "morning", "Schedule": "cron(0 8 * * ? *)", "Timezone": "US/Eastern", "ScalableTargetAction": {"MinCapacity": "2"}},
            {"ScheduledActionName": "evening", "Schedule": "cron(0 20 * * ? *)", "ScalableTargetAction": {"MinCapacity": 1, "MaxCapacity": "2"}}
        ]))
        .unwrap();
        let actions = ok.scheduled_actions.unwrap();
        assert_eq!(actions.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["morning", "evening"]);
        assert_eq!(actions[0].target, ok.id, "inline actions act on their target");
        assert_eq!(actions[0].timezone.as_deref(), Some("US/Eastern"));
        for (actions, expected) in [
            (
                json!([{"ScheduledActionName": "a", "Schedule": "cron(0 8 * * ? *)", "Timezone": "Europe/Berlln", "ScalableTargetAction": {"MinCapacity": 1}}]),
                "ScheduledActions[0]: Timezone \"Europe/Berlln\"",
            ),
            (
                json!([{"ScheduledActionName": "a", "Schedule": "sometimes", "ScalableTargetAction": {"MinCapacity": 1}}]),
                "ScheduledActions[0]: Schedule",
            ),
            (
                json!([{"ScheduledActionName": "a", "Schedule": "rate(1 day)", "ScalableTargetAction": {"MinCapacity": 1}}, {"ScheduledActionName": "a", "Schedule": "rate(2 days)", "ScalableTargetAction": {"MinCapacity": 1}}]),
                "ScheduledActions names \"a\" twice",
            ),
            (
                json!([{"Schedule": "rate(1 day)", "ScalableTargetAction": {"MinCapacity": 1}}]),
                "ScheduledActions[0]: ScheduledActionName is required",
            ),
            (
                json!([{"ScheduledActionName": "a", "Schedule": "rate(1 day)", "ScalableTargetAction": {"MinCapacity": 1}, "ResourceId": "x"}]),
                "ScheduledActions[0]: unknown property ResourceId",
            ),
        ] {
            let err = with_actions(actions).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn inline_actions_change_only_the_names_the_template_listed() {
        let spec =
            with_actions(json!([{"ScheduledActionName": "kept", "Schedule": "rate(1 day)", "ScalableTargetAction": {"MinCapacity": 1}}]))
                .unwrap();
        let old = vec!["kept".to_owned(), "dropped".to_owned()];
        let (removed, put) = plan_actions(spec.scheduled_actions.as_deref(), &old, true);
        assert_eq!(removed, vec!["dropped".to_owned()]);
        assert_eq!(put.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["kept"]);
        let (removed, _) = plan_actions(None, &old, true);
        assert_eq!(removed, old, "removing the property removes every action it listed, and only those");
        let (removed, put) = plan_actions(spec.scheduled_actions.as_deref(), &old, false);
        assert!(removed.is_empty(), "a replaced target's actions go with it: {removed:?}");
        assert_eq!(put.len(), 1);
        assert_eq!(plan_actions(None, &[], true), (vec![], vec![]));
    }

    #[test]
    fn data_carries_the_native_id() {
        let described = Described { arn: "arn:t".into(), min: 1, max: 4, suspended: Suspended::default() };
        let data = data(&basic().id, &described);
        assert_eq!(data["Id"], "endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker");
    }

    #[test]
    fn strings_and_numbers_give_the_same_spec() {
        let a =
            spec(json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": "1", "MaxCapacity": "4", "AdoptExisting": "true"})).unwrap();
        let b = spec(json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 4, "AdoptExisting": true})).unwrap();
        assert_eq!(a, b);
        assert_eq!((a.min, a.max, a.adopt), (1, 4, true));
        assert_eq!(a.id.physical_id(), "endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker");
    }

    #[test]
    fn shorthands_build_the_resource_id_and_default_dimension() {
        let v = spec(json!({"EndpointName": "e", "VariantName": "v", "MinCapacity": 0, "MaxCapacity": 0})).unwrap();
        assert_eq!(v.id.physical_id(), "endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker");
        let ic = spec(json!({"InferenceComponentName": "ic", "MinCapacity": 0, "MaxCapacity": 2})).unwrap();
        assert_eq!(ic.id.physical_id(), "inference-component/ic|sagemaker:inference-component:DesiredCopyCount|sagemaker");
        let pc = spec(json!({"EndpointName": "e", "VariantName": "v", "ScalableDimension": "sagemaker:variant:DesiredProvisionedConcurrency", "MinCapacity": 1, "MaxCapacity": 2})).unwrap();
        assert_eq!(pc.id.dimension, crate::model::ScalableDimension::VariantProvisionedConcurrency);
    }

    #[test]
    fn every_bad_property_is_named() {
        let cases = [
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 5, "MaxCapacity": 2}),
                "MinCapacity 5 is greater than MaxCapacity 2",
            ),
            (json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": "abc", "MaxCapacity": 2}), "MinCapacity must be an integer"),
            (json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": -1, "MaxCapacity": 2}), "MinCapacity must be 0 or more"),
            (json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1}), "MaxCapacity is required"),
            (json!({"MinCapacity": 1, "MaxCapacity": 2}), "ResourceId is required"),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "MaxCapcity": 3}),
                "unknown property MaxCapcity",
            ),
            (
                json!({"ResourceId": "inference-component/c", "ScalableDimension": "sagemaker:variant:DesiredInstanceCount", "MinCapacity": 1, "MaxCapacity": 2}),
                "ScalableDimension sagemaker:variant:DesiredInstanceCount does not fit",
            ),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": 1, "MaxCapacity": 2}),
                "ScalableDimension \"ecs:service:DesiredCount\" is not a SageMaker dimension",
            ),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "ServiceNamespace": "ecs", "MinCapacity": 1, "MaxCapacity": 2}),
                "ServiceNamespace \"ecs\" is not supported",
            ),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "EndpointName": "e", "MinCapacity": 1, "MaxCapacity": 2}),
                "ResourceId and EndpointName cannot both be set",
            ),
            (json!({"EndpointName": "e", "MinCapacity": 1, "MaxCapacity": 2}), "VariantName is required with EndpointName"),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "RoleARN": "role"}),
                "RoleARN \"role\" is not an IAM role ARN",
            ),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "SuspendedState": {"DynamicScalingInSuspended": "maybe"}}),
                "SuspendedState.DynamicScalingInSuspended must be true or false",
            ),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "SuspendedState": {"Paused": true}}),
                "unknown property SuspendedState.Paused",
            ),
            (json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "Tags": {"a": "b"}}), "Tags must be a list"),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "Tags": [{"Value": "b"}]}),
                "Tags[0].Key is required",
            ),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "Tags": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}),
                "Tags has the key \"a\" twice",
            ),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "Tags": [{"Key": "cfn-sagemaker-autoscaling:logical-id", "Value": "x"}]}),
                "Tags[0].Key \"cfn-sagemaker-autoscaling:logical-id\" uses a reserved prefix",
            ),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "AdoptExisting": "yes"}),
                "AdoptExisting must be true or false",
            ),
            (json!("not an object"), "ResourceProperties must be an object"),
            (Value::Null, "ResourceProperties is missing"),
        ];
        for (props, expected) in cases {
            let text = err(props.clone());
            assert!(text.starts_with(expected), "{props}: {text}");
        }
    }

    #[test]
    fn create_registers_with_user_and_ownership_tags() {
        let calls = plan_create(&basic(), &me(), None).unwrap();
        let [Call::Register(reg)] = calls.as_slice() else { panic!("{calls:?}") };
        let tags = reg.tags.as_ref().unwrap();
        assert_eq!(tags.get("team").map(String::as_str), Some("ml"));
        assert_eq!(tags.get(OWNER_LOGICAL_TAG).map(String::as_str), Some("Target"));
        assert_eq!(tags.get(OWNER_STACK_TAG), Some(&me().stack_id));
    }

    #[test]
    fn a_duplicate_create_re_registers_without_tags_then_tags() {
        let calls = plan_create(&basic(), &me(), Some(&current(me().tags()))).unwrap();
        assert!(matches!(&calls[0], Call::Register(reg) if reg.tags.is_none()));
        assert!(matches!(&calls[1], Call::Tag(tags) if tags.contains_key("team") && tags.contains_key(OWNER_STACK_TAG)));
    }

    #[test]
    fn create_over_someone_elses_target_fails_naming_the_owner_unless_adopting() {
        let other = Owner { stack_id: "arn:other".into(), logical_id: "Theirs".into() };
        let text = plan_create(&basic(), &me(), Some(&current(other.tags()))).unwrap_err().to_string();
        assert!(text.contains("already registered, owned by Theirs in stack arn:other"), "{text}");
        let text = plan_create(&basic(), &me(), Some(&current(Tags::new()))).unwrap_err().to_string();
        assert!(text.contains("no ownership tags"), "{text}");
        let adopt = TargetSpec { adopt: true, ..basic() };
        let calls = plan_create(&adopt, &me(), Some(&current(other.tags()))).unwrap();
        assert!(matches!(&calls[1], Call::Tag(tags) if tags.get(OWNER_LOGICAL_TAG).map(String::as_str) == Some("Target")));
    }

    #[test]
    fn update_applies_the_tag_difference() {
        let old =
            Tags::from([("team".to_owned(), "old".to_owned()), ("gone".to_owned(), "x".to_owned()), ("same".to_owned(), "s".to_owned())]);
        let mut new = basic();
        new.tags.insert("same".into(), "s".into());
        let calls = plan_update(&new, &old, &me(), Some(&current(me().tags())));
        assert_eq!(calls.len(), 3);
        assert!(matches!(&calls[0], Call::Register(reg) if reg.tags.is_none()));
        assert_eq!(calls[1], Call::Tag(Tags::from([("team".to_owned(), "ml".to_owned())])));
        assert_eq!(calls[2], Call::Untag(vec!["gone".to_owned()]));
        assert_eq!(plan_update(&new, &new.tags, &me(), Some(&current(me().tags()))).len(), 1);
    }

    #[test]
    fn update_of_a_vanished_target_registers_it_again_with_tags() {
        let calls = plan_update(&basic(), &Tags::new(), &me(), None);
        assert!(matches!(&calls[..], [Call::Register(reg)] if reg.tags.as_ref().is_some_and(|t| t.contains_key(OWNER_STACK_TAG))));
    }

    #[test]
    fn delete_deregisters_only_what_it_owns() {
        assert_eq!(plan_delete(&me(), None), DeletePlan::Gone);
        assert_eq!(plan_delete(&me(), Some(&current(me().tags()))), DeletePlan::Deregister);
        let renamed = Owner { logical_id: "NewName".into(), ..me() };
        assert!(matches!(plan_delete(&me(), Some(&current(renamed.tags()))), DeletePlan::Keep(why) if why.contains("NewName")));
        assert!(matches!(plan_delete(&me(), Some(&current(Tags::new()))), DeletePlan::Keep(_)));
    }

    #[test]
    fn removing_suspended_state_resets_every_flag() {
        let with = spec(json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "SuspendedState": {"DynamicScalingInSuspended": "true"}})).unwrap();
        assert!(with.suspended.dynamic_in && !with.suspended.scheduled);
        let without = spec(json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2})).unwrap();
        assert_eq!(without.registration(None).suspended, Suspended::default());
    }

    #[test]
    fn old_tags_are_read_leniently() {
        assert_eq!(old_tags(&json!({"Tags": [{"Key": "a", "Value": "1"}], "MinCapacity": "abc"})).len(), 1);
        assert!(old_tags(&json!("garbage")).is_empty());
    }
}
