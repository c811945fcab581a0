//! Property tests over the event reader and the planner: any JSON at all, as an event or as properties,
//! never panics, and whenever a ResponseURL is readable there is exactly one response whose echo fields
//! are the request's.

use cfn_sagemaker_autoscaling::model::target_spec::{Described, OWNER_LOGICAL_TAG, OWNER_STACK_TAG, Suspended};
use cfn_sagemaker_autoscaling::model::target_spec::{Owner, Tags, TargetSpec};
use cfn_sagemaker_autoscaling::request::{Envelope, RequestType, requests};
use cfn_sagemaker_autoscaling::response::{MAX_BODY, Response};
use cfn_sagemaker_autoscaling::settings::Mode;
use cfn_sagemaker_autoscaling::target::{self, Current, DeletePlan};
use proptest::prelude::*;
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
            Just("Key".to_owned()),
            Just("Value".to_owned()),
            Just("SuspendedState".to_owned()),
            Just("ScalableDimension".to_owned()),
            Just("EndpointName".to_owned()),
            Just("VariantName".to_owned()),
            Just("InferenceComponentName".to_owned()),
            Just("AdoptExisting".to_owned()),
            "[A-Za-z]{1,8}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An event whose envelope fields are each present, absent or of any type.
fn any_event() -> impl Strategy<Value = Value> {
    let field = |good: Value| prop_oneof![3 => Just(Some(good)), 1 => Just(None), 1 => any_json().prop_map(Some)];
    (
        prop_oneof![Just(json!("Create")), Just(json!("Update")), Just(json!("Delete")), any_json()],
        field(json!("https://bucket.s3.amazonaws.com/x?sig=1")),
        field(json!("arn:aws:cloudformation:us-east-1:1:stack/s/1")),
        field(json!("req-1")),
        field(json!("Target")),
        field(json!("endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker")),
        field(json!("Custom::SageMakerScalableTarget")),
        any_json(),
        any_json(),
    )
        .prop_map(|(kind, url, stack, request, logical, physical, resource_type, props, old)| {
            let mut event = Map::new();
            event.insert("RequestType".into(), kind);
            for (key, value) in [
                ("ResponseURL", url),
                ("StackId", stack),
                ("RequestId", request),
                ("LogicalResourceId", logical),
                ("PhysicalResourceId", physical),
                ("ResourceType", resource_type),
            ] {
                if let Some(value) = value {
                    event.insert(key.into(), value);
                }
            }
            event.insert("ResourceProperties".into(), props);
            event.insert("OldResourceProperties".into(), old);
            Value::Object(event)
        })
}

fn text(event: &Value, key: &str) -> String {
    event.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// The response a request gets when its properties are invalid, or the plan when they are valid.
fn check_response(event: &Value, response: &Response) -> Result<(), TestCaseError> {
    let body = response.body();
    prop_assert!(body.len() <= MAX_BODY);
    let parsed: Value = serde_json::from_slice(&body).expect("the body is JSON");
    prop_assert_eq!(parsed["StackId"].as_str().unwrap(), text(event, "StackId"));
    prop_assert_eq!(parsed["RequestId"].as_str().unwrap(), text(event, "RequestId"));
    prop_assert_eq!(parsed["LogicalResourceId"].as_str().unwrap(), text(event, "LogicalResourceId"));
    prop_assert!(!parsed["PhysicalResourceId"].as_str().unwrap().is_empty());
    if parsed["Status"] == "FAILED" {
        let reason = parsed["Reason"].as_str().unwrap();
        prop_assert!(!reason.is_empty());
        prop_assert!(!reason.chars().any(char::is_control));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    #[test]
    fn any_event_gets_exactly_one_well_formed_answer(event in any_event()) {
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
                let response = match (req.request_type, TargetSpec::from_properties(&req.properties)) {
                    (RequestType::Delete, _) => Response::done(&req.echo),
                    (kind, Err(err)) => Response::failed(&req.echo, Some(kind), err.to_string()),
                    (_, Ok(spec)) => {
                        let me = Owner::of(&req.echo);
                        // Planning against every kind of current state never panics.
                        for current in [None, Some(current(Tags::new())), Some(current(owner_tags(&me)))] {
                            let _ = target::plan_create(&spec, &me, current.as_ref());
                            let _ = target::plan_update(&spec, &cfn_sagemaker_autoscaling::model::target_spec::old_tags(&req.old_properties), &me, current.as_ref());
                        }
                        Response::success(&req.echo, spec.id.physical_id(), Default::default())
                    }
                };
                check_response(&event, &response)?;
                if req.request_type == RequestType::Create && response.status == cfn_sagemaker_autoscaling::response::Status::Failed {
                    prop_assert!(!response.physical_id.contains('|'), "a failed create must not name a target");
                }
            }
        }
    }

    #[test]
    fn any_json_as_an_event_or_in_sns_never_panics(value in any_json()) {
        let _ = requests(&value.to_string(), Mode::Direct);
        let _ = requests(&value.to_string(), Mode::CdkProvider);
        let _ = requests(&json!({"Records": [{"Sns": {"Message": value.to_string()}}, value]}).to_string(), Mode::Direct);
    }

    #[test]
    fn any_json_as_properties_is_accepted_or_named(props in any_json()) {
        match TargetSpec::from_properties(&props) {
            Ok(spec) => {
                prop_assert!(spec.min >= 0 && spec.min <= spec.max);
                prop_assert!(cfn_sagemaker_autoscaling::model::TargetId::from_physical_id(&spec.id.physical_id()) == Some(spec.id.clone()));
            }
            Err(err) => prop_assert!(!err.to_string().is_empty()),
        }
        // The policy and scheduled-action readers take the same abuse.
        if let Err(err) = cfn_sagemaker_autoscaling::model::policy_spec::PolicySpec::from_properties(&props) {
            prop_assert!(!err.to_string().is_empty());
        }
        if let Ok(action) = cfn_sagemaker_autoscaling::model::action_spec::ActionSpec::from_properties(&props) {
            prop_assert_eq!(cfn_sagemaker_autoscaling::model::action_spec::parse_physical_id(&action.physical_id()), Some((action.name.clone(), action.target.clone())));
        }
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
    fn delete_deregisters_only_when_both_ownership_tags_match(stack in "[a-z]{0,3}", logical in "[a-z]{0,3}") {
        let me = Owner { stack_id: "s".into(), logical_id: "l".into() };
        let theirs = Owner { stack_id: stack, logical_id: logical };
        let plan = target::plan_delete(&me, Some(&current(owner_tags(&theirs))));
        prop_assert_eq!(plan == DeletePlan::Deregister, theirs == me);
    }
}

fn owner_tags(owner: &Owner) -> Tags {
    Tags::from([(OWNER_STACK_TAG.to_owned(), owner.stack_id.clone()), (OWNER_LOGICAL_TAG.to_owned(), owner.logical_id.clone())])
}

fn current(tags: Tags) -> Current {
    Current { described: Described { arn: "arn:t".into(), min: 0, max: 1, suspended: Suspended::default() }, tags }
}
