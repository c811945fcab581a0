//! What a published artefact says about itself agrees with the crate: the Serverless Application Repository
//! listing in template.yaml names Cargo.toml's version, and the files it points at exist.

use cfn_sma_testkit as support;

fn line_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|l| l.trim().strip_prefix(key)).map(|v| v.trim().trim_matches('"'))
}

#[test]
fn the_sar_listing_names_the_crates_version_and_files_that_exist() {
    let root = support::root();
    let template = std::fs::read_to_string(root.join("template.yaml")).unwrap();
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let listing = template.split("AWS::ServerlessRepo::Application:").nth(1).expect("SAR metadata in template.yaml");
    assert_eq!(line_value(listing, "SemanticVersion:"), line_value(&cargo, "version ="), "SemanticVersion must be Cargo.toml's version");
    assert_eq!(line_value(listing, "SpdxLicenseId:"), line_value(&cargo, "license ="));
    for key in ["LicenseUrl:", "ReadmeUrl:"] {
        let file = line_value(listing, key).unwrap_or_else(|| panic!("{key} missing"));
        assert!(root.join(file).is_file(), "{key} {file} does not exist");
    }
}

#[test]
fn the_readmes_python_cdk_app_is_the_file_make_test_synthesizes() {
    let root = support::root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let app = std::fs::read_to_string(root.join("examples/cdk-python/app.py")).unwrap();
    assert!(readme.contains(&format!("```python\n{app}```")), "README's Python CDK block must be examples/cdk-python/app.py, whole");
    assert!(app.lines().count() < 30, "the whole Python stack stays under 30 lines");
}

#[test]
fn every_event_file_has_its_own_request_id() {
    let mut seen = std::collections::HashMap::new();
    for (name, body) in support::events::Replay::files(&support::root().join("events")) {
        let id = body["RequestId"].as_str().unwrap_or_default().to_owned();
        if let Some(other) = seen.insert(id.clone(), name.clone()) {
            panic!("{name} and {other} share the RequestId {id}");
        }
    }
}
