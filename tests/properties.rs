//! Property tests over the event reader, the validation every event goes through (`handler::validate`, the
//! same function the dispatcher calls) and the target planner: valid and near-valid properties of all three
//! resource types, any JSON at all, and every ownership the planner can meet.

use cfn_sagemaker_autoscaling::handler::{Work, validate};
use cfn_sagemaker_autoscaling::model::TargetId;
use cfn_sagemaker_autoscaling::model::target_spec::{Described, OWNER_LOGICAL_TAG, OWNER_STACK_TAG, Owner, Suspended, Tags, TargetSpec};
use cfn_sagemaker_autoscaling::request::{Envelope, RequestType, requests};
use cfn_sagemaker_autoscaling::response::{MAX_BODY, Response, Status};
use cfn_sagemaker_autoscaling::settings::Mode;
use cfn_sagemaker_autoscaling::target::{self, Call, Current, DeletePlan};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Value, json};

/// Any JSON value, biased towards the shapes and words CloudFormation events use.
fn any_json() -> impl Strategy<Value = Value> {
    let words = prop_oneof![
        Just("Create".to_owned()),
        Just("5".to_owned()),
        Just("-1".to_owned()),
        Just("true".to_owned()),
        Just("endpoint/e/variant/v".to_owned()),
        Just("inference-component/c".to_owned()),
        Just("sagemaker:variant:DesiredInstanceCount".to_owned()),
        "\\PC{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        words.prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let keys = prop_oneof![
            Just("ResourceId".to_owned()),
            Just("MinCapacity".to_owned()),
            Just("MaxCapacity".to_owned()),
            Just("Tags".to_owned()),
            Just("PolicyName".to_owned()),
            Just("Schedule".to_owned()),
            "[A-Za-z]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A number as CloudFormation sends it (a string) or as a template author might write it.
fn number(range: std::ops::Range<i64>) -> impl Strategy<Value = Value> {
    (range, any::<bool>()).prop_map(|(n, text)| if text { json!(n.to_string()) } else { json!(n) })
}

fn resource_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("endpoint/e/variant/v".to_owned()),
        Just("endpoint/prod-1/variant/AllTraffic".to_owned()),
        Just("inference-component/ic-1".to_owned())
    ]
}

/// Valid `Custom::SageMakerScalableTarget` properties.
fn target_props() -> impl Strategy<Value = Value> {
    (resource_id(), number(0..3), number(3..6), proptest::option::of("[a-z]{1,6}"), any::<bool>()).prop_map(|(id, min, max, tag, adopt)| {
        let mut props = json!({"ResourceId": id, "MinCapacity": min, "MaxCapacity": max, "ServiceToken": "arn:aws:lambda:x"});
        if let Some(tag) = tag {
            props["Tags"] = json!([{"Key": "team", "Value": tag}]);
        }
        if adopt {
            props["AdoptExisting"] = json!("true");
        }
        props
    })
}

/// Valid `Custom::SageMakerScalingPolicy` properties: target tracking or step scaling.
fn policy_props() -> impl Strategy<Value = Value> {
    let tracking = (number(1..100), any::<bool>()).prop_map(|(value, by_id)| {
        let mut props = json!({
            "PolicyName": "p",
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": value,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                "ScaleInCooldown": "300"
            }
        });
        if by_id {
            props["ScalingTargetId"] = json!("endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker");
        } else {
            props["ResourceId"] = json!("endpoint/e/variant/v");
        }
        props
    });
    let step = number(1..3).prop_map(|adjustment| {
        json!({
            "PolicyName": "s",
            "PolicyType": "StepScaling",
            "ResourceId": "inference-component/ic-1",
            "StepScalingPolicyConfiguration": {
                "AdjustmentType": "ChangeInCapacity",
                "StepAdjustments": [{"MetricIntervalLowerBound": "0", "ScalingAdjustment": adjustment}]
            }
        })
    });
    prop_oneof![tracking, step]
}

/// Valid `Custom::SageMakerScheduledAction` properties.
fn action_props() -> impl Strategy<Value = Value> {
    let schedule = prop_oneof![Just("cron(0 8 * * ? *)"), Just("rate(5 minutes)"), Just("at(2027-01-01T00:00:00)")];
    (schedule, number(0..3), resource_id()).prop_map(|(schedule, min, id)| {
        json!({"ScheduledActionName": "a", "ResourceId": id, "Schedule": schedule, "ScalableTargetAction": {"MinCapacity": min}})
    })
}

/// What a near-valid object is: the valid one, or one mutation of it.
#[derive(Debug, Clone)]
enum Mutation {
    None,
    Drop(usize),
    Replace(usize, Value),
    Unknown,
}

fn near(valid: impl Strategy<Value = Value>) -> impl Strategy<Value = (Value, Mutation)> {
    let mutation = prop_oneof![
        2 => Just(Mutation::None),
        1 => (0..8usize).prop_map(Mutation::Drop),
        1 => (0..8usize, any_json()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        1 => Just(Mutation::Unknown),
    ];
    (valid, mutation).prop_map(|(mut props, mutation)| {
        let map = props.as_object_mut().expect("generators make objects");
        let keys: Vec<String> = map.keys().cloned().collect();
        match &mutation {
            Mutation::None => {}
            Mutation::Drop(i) => drop(map.remove(&keys[i % keys.len()])),
            Mutation::Replace(i, value) => drop(map.insert(keys[i % keys.len()].clone(), value.clone())),
            Mutation::Unknown => drop(map.insert("Typo".into(), json!("x"))),
        }
        (props, mutation)
    })
}

const TYPES: [&str; 4] =
    ["Custom::SageMakerScalableTarget", "Custom::SageMakerScalingPolicy", "Custom::SageMakerScheduledAction", "Custom::Other"];

/// An event of any type with near-valid properties for it; envelope fields present, absent or of any type.
fn any_event() -> impl Strategy<Value = (Value, Mutation)> {
    let field = |good: Value| prop_oneof![4 => Just(Some(good)), 1 => Just(None), 1 => any_json().prop_map(Some)];
    let props = (0..4usize).prop_flat_map(|t| {
        let props = match t {
            0 => near(target_props()).boxed(),
            1 => near(policy_props()).boxed(),
            2 => near(action_props()).boxed(),
            _ => near(target_props()).boxed(),
        };
        (Just(t), props)
    });
    (
        prop_oneof![Just(json!("Create")), Just(json!("Update")), Just(json!("Delete")), any_json()],
        field(json!("https://bucket.s3.amazonaws.com/x?sig=1")),
        field(json!("arn:aws:cloudformation:us-east-1:1:stack/s/1")),
        field(json!("req-1")),
        field(json!("Target")),
        field(json!("endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker")),
        props,
    )
        .prop_map(|(kind, url, stack, request, logical, physical, (t, (props, mutation)))| {
            let mut event = Map::new();
            event.insert("RequestType".into(), kind);
            event.insert("ResourceType".into(), json!(TYPES[t]));
            for (key, value) in [
                ("ResponseURL", url),
                ("StackId", stack),
                ("RequestId", request),
                ("LogicalResourceId", logical),
                ("PhysicalResourceId", physical),
            ] {
                if let Some(value) = value {
                    event.insert(key.into(), value);
                }
            }
            event.insert("ResourceProperties".into(), props.clone());
            event.insert("OldResourceProperties".into(), props);
            (Value::Object(event), mutation)
        })
}

fn text(event: &Value, key: &str) -> String {
    event.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// A response body within the limit that echoes the request.
fn check_response(event: &Value, response: &Response) -> Result<(), TestCaseError> {
    let body = response.body();
    prop_assert!(body.len() <= MAX_BODY);
    let parsed: Value = serde_json::from_slice(&body).expect("the body is JSON");
    for key in ["StackId", "RequestId", "LogicalResourceId"] {
        prop_assert_eq!(parsed[key].as_str().unwrap(), text(event, key));
    }
    prop_assert!(!parsed["PhysicalResourceId"].as_str().unwrap().is_empty());
    if parsed["Status"] == "FAILED" {
        let reason = parsed["Reason"].as_str().unwrap();
        prop_assert!(!reason.is_empty());
        prop_assert!(!reason.chars().any(char::is_control));
    }
    Ok(())
}

/// The response the dispatcher would give after `validate`, with the put's physical id where it is known
/// without AWS (a policy's ARN is AWS's, so a stand-in).
fn answer(req: &cfn_sagemaker_autoscaling::request::Request) -> Response {
    match validate(req) {
        Err(err) => Response::failed(&req.echo, Some(req.request_type), err.to_string()),
        Ok(Work::Delete(_)) => Response::done(&req.echo),
        Ok(Work::PutTarget(spec)) => Response::success(&req.echo, spec.id.physical_id(), Default::default()),
        Ok(Work::PutPolicy(spec)) => Response::success(&req.echo, format!("arn:aws:autoscaling:policy/{}", spec.name), Default::default()),
        Ok(Work::PutAction(spec)) => Response::success(&req.echo, spec.physical_id(), Default::default()),
        Ok(Work::PutEndpoint(spec)) => {
            Response::success(&req.echo, format!("arn:aws:sagemaker:us-east-1:1:endpoint/{}", spec.name), Default::default())
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 800, ..ProptestConfig::default() })]

    #[test]
    fn any_event_gets_exactly_one_well_formed_answer((event, mutation) in any_event()) {
        let envelopes = requests(&event.to_string(), Mode::Direct);
        prop_assert_eq!(envelopes.len(), 1);
        let readable_url = event.get("ResponseURL").and_then(Value::as_str).is_some_and(|u| !u.is_empty());
        match &envelopes[0] {
            Envelope::Unreadable(_) => prop_assert!(!readable_url),
            Envelope::Broken { echo, request_type, .. } => {
                prop_assert!(readable_url);
                check_response(&event, &Response::failed(echo, *request_type, "broken"))?;
            }
            Envelope::Request(req) => {
                prop_assert!(readable_url);
                let response = answer(req);
                check_response(&event, &response)?;
                let delete = req.request_type == RequestType::Delete;
                if req.request_type == RequestType::Create && response.status == Status::Failed {
                    prop_assert!(TargetId::from_physical_id(&response.physical_id).is_none(), "a failed Create names a target");
                }
                if !delete && matches!(mutation, Mutation::Unknown) {
                    prop_assert_eq!(response.status, Status::Failed);
                    let reason = response.reason.clone().unwrap_or_default();
                    prop_assert!(reason.contains("Typo") || text(&event, "ResourceType") == "Custom::Other", "{}", reason);
                }
                if delete {
                    prop_assert_eq!(response.status, Status::Success, "properties are never validated on Delete");
                }
                if !delete && text(&event, "ResourceType") == "Custom::Other" {
                    prop_assert!(response.reason.unwrap_or_default().contains("Custom::SageMakerScalableTarget"));
                }
            }
        }
    }

    #[test]
    fn valid_properties_of_every_type_pass_and_name_their_resource((t, props) in (0..3usize).prop_flat_map(|t| (Just(t), match t {
        0 => target_props().boxed(),
        1 => policy_props().boxed(),
        _ => action_props().boxed(),
    }))) {
        let event = json!({"RequestType": "Create", "ResponseURL": "https://b.s3.amazonaws.com/x", "StackId": "s", "RequestId": "r",
            "LogicalResourceId": "L", "ResourceType": TYPES[t], "ResourceProperties": props});
        let Envelope::Request(req) = requests(&event.to_string(), Mode::Direct).remove(0) else { panic!("not a request") };
        match validate(&req) {
            Ok(Work::PutTarget(spec)) => {
                prop_assert_eq!(t, 0);
                prop_assert!(spec.min <= spec.max);
                prop_assert_eq!(TargetId::from_physical_id(&spec.id.physical_id()), Some(spec.id.clone()));
            }
            Ok(Work::PutPolicy(spec)) => {
                prop_assert_eq!(t, 1);
                prop_assert!(spec.target.dimension.fits(&spec.target.resource));
            }
            Ok(Work::PutAction(spec)) => {
                prop_assert_eq!(t, 2);
                let parsed = cfn_sagemaker_autoscaling::model::action_spec::parse_physical_id(&spec.physical_id());
                prop_assert_eq!(parsed, Some((spec.name.clone(), spec.target.clone())));
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn any_json_as_an_event_or_in_sns_never_panics(value in any_json()) {
        let _ = requests(&value.to_string(), Mode::Direct);
        let _ = requests(&value.to_string(), Mode::CdkProvider);
        let _ = requests(&json!({"Records": [{"Sns": {"Message": value.to_string()}}, value]}).to_string(), Mode::Direct);
    }

    #[test]
    fn any_schedule_or_time_text_is_accepted_or_named(text in "\\PC{0,40}", prefix in prop_oneof![Just("at("), Just("cron("), Just("rate("), Just("")]) {
        let schedule = format!("{prefix}{text})");
        if let Err(err) = cfn_sagemaker_autoscaling::model::action_spec::check_schedule(&schedule) {
            prop_assert!(err.to_string().starts_with("Schedule "));
        }
        if let Err(err) = cfn_sagemaker_autoscaling::model::action_spec::parse_time(&text, "StartTime") {
            prop_assert!(err.to_string().starts_with("StartTime "));
        }
    }

    #[test]
    fn plans_keep_the_ownership_rules(props in target_props(), found in found_state()) {
        let spec = TargetSpec::from_properties(&props).expect("valid properties");
        let me = me();
        let current = found.map(current);
        let owner = current.as_ref().and_then(|c| Owner::from_tags(&c.tags));
        // Create (or the new target of a replacing Update).
        match (target::plan_create(&spec, &me, current.as_ref()), &current) {
            (Ok(calls), None) => {
                prop_assert_eq!(calls.len(), 1);
                let Call::Register(reg) = &calls[0] else { panic!("{calls:?}") };
                let tags = reg.tags.clone().expect("a new target is registered with its tags");
                prop_assert_eq!(Owner::from_tags(&tags), Some(me.clone()));
            }
            (Ok(calls), Some(_)) => {
                prop_assert!(owner.as_ref() == Some(&me) || spec.adopt, "took over a target of {:?}", owner);
                let Call::Register(reg) = &calls[0] else { panic!("{calls:?}") };
                prop_assert!(reg.tags.is_none(), "tags on an existing target are refused by the service");
                let written = calls.iter().find_map(|c| if let Call::Tag(t) = c { Some(t.clone()) } else { None });
                prop_assert_eq!(written.as_ref().and_then(Owner::from_tags), Some(me.clone()));
            }
            (Err(err), found) => {
                prop_assert!(found.is_some() && owner.as_ref() != Some(&me) && !spec.adopt, "{}", err);
                prop_assert!(err.to_string().contains("already registered"));
            }
        }
        // Update in place: one Register first, with tags only when the target vanished.
        let calls = target::plan_update(&spec, &Tags::new(), &me, current.as_ref());
        let Call::Register(reg) = &calls[0] else { panic!("{calls:?}") };
        prop_assert_eq!(reg.tags.is_some(), current.is_none());
        // Delete deregisters exactly what this resource owns.
        let plan = target::plan_delete(&me, current.as_ref());
        prop_assert_eq!(plan == DeletePlan::Deregister, owner.as_ref() == Some(&me));
        prop_assert_eq!(plan == DeletePlan::Gone, current.is_none());
    }
}

fn me() -> Owner {
    Owner { stack_id: "arn:aws:cloudformation:us-east-1:1:stack/s/1".into(), logical_id: "Target".into() }
}

/// What Application Auto Scaling may hold: nothing, a target owned by this resource, by another resource of
/// the same stack, by the same logical id in another stack, or a target without ownership tags.
fn found_state() -> impl Strategy<Value = Option<Tags>> {
    let tags = |owner: Owner| {
        Tags::from([
            (OWNER_STACK_TAG.to_owned(), owner.stack_id),
            (OWNER_LOGICAL_TAG.to_owned(), owner.logical_id),
            ("team".to_owned(), "ml".to_owned()),
        ])
    };
    prop_oneof![
        Just(None),
        Just(Some(tags(me()))),
        Just(Some(tags(Owner { logical_id: "Other".into(), ..me() }))),
        Just(Some(tags(Owner { stack_id: "arn:aws:cloudformation:us-east-1:1:stack/t/2".into(), ..me() }))),
        Just(Some(Tags::from([("team".to_owned(), "ml".to_owned())]))),
    ]
}

fn current(tags: Tags) -> Current {
    Current { described: Described { arn: "arn:t".into(), min: 0, max: 1, suspended: Suspended::default() }, tags }
}

/// The generators reach what they are for: each type's properties validate when untouched and fail when
/// mutated, so the success branches above run.
#[test]
fn the_generators_reach_both_branches_of_every_type() {
    let mut runner = TestRunner::deterministic();
    let strategy = any_event();
    let mut outcomes = std::collections::BTreeSet::new();
    for _ in 0..2000 {
        let (event, _) = strategy.new_tree(&mut runner).expect("a value").current();
        if let Envelope::Request(req) = requests(&event.to_string(), Mode::Direct).remove(0)
            && req.request_type != RequestType::Delete
        {
            outcomes.insert((text(&event, "ResourceType"), validate(&req).is_ok()));
        }
    }
    for kind in &TYPES[..3] {
        assert!(outcomes.contains(&(kind.to_string(), true)), "{kind} never validated: {outcomes:?}");
        assert!(outcomes.contains(&(kind.to_string(), false)), "{kind} never failed: {outcomes:?}");
    }
}
