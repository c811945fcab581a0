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

/// The listing's fields as YAML has them: `Key: value`, `Key: [a, b]`, or a folded `Key: >-` block.
fn listing_fields(listing: &str) -> std::collections::BTreeMap<String, String> {
    let mut fields = std::collections::BTreeMap::new();
    let mut folding: Option<String> = None;
    for line in listing.lines().skip(1) {
        let indent = line.len() - line.trim_start().len();
        if !line.trim().is_empty() && indent <= 2 {
            break;
        }
        if line.trim().starts_with('#') {
            continue;
        }
        match (&folding, indent) {
            (Some(key), 6..) => {
                let value: &mut String = fields.entry(key.clone()).or_default();
                if !value.is_empty() {
                    value.push(' ');
                }
                value.push_str(line.trim());
            }
            _ => {
                folding = None;
                if let Some((key, value)) = line.trim().split_once(':') {
                    let value = value.trim();
                    if value == ">-" || value == ">" {
                        folding = Some(key.to_owned());
                    } else {
                        fields.insert(key.to_owned(), value.trim_matches('"').to_owned());
                    }
                }
            }
        }
    }
    fields
}

/// The Serverless Application Repository's documented limits ("AWS SAM template Metadata section properties"):
/// Name 1..140 of `[a-zA-Z0-9-]`; Description 1..256; Author 1..127, lower-case letters and digits with single
/// hyphens inside; Labels at most 10, each 1..127 of `[a-zA-Z0-9+-_:/@]`; SemanticVersion as semver.org has it.
#[test]
fn the_sar_listing_is_within_the_repositorys_limits() {
    let template = std::fs::read_to_string(support::root().join("template.yaml")).unwrap();
    let listing = template.split("AWS::ServerlessRepo::Application:").nth(1).expect("SAR metadata");
    let fields = listing_fields(listing);
    let field = |key: &str| fields.get(key).unwrap_or_else(|| panic!("{key} missing: {fields:?}")).as_str();
    let name = field("Name");
    assert!((1..=140).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "Name {name:?}");
    let description = field("Description");
    assert!((1..=256).contains(&description.len()), "Description is {} characters: {description:?}", description.len());
    let author = field("Author");
    let author_ok = (1..=127).contains(&author.len())
        && author.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !author.starts_with('-')
        && !author.ends_with('-')
        && !author.contains("--");
    assert!(author_ok, "Author {author:?} breaks SAR's pattern ^[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?$");
    let labels: Vec<&str> = field("Labels").trim_start_matches('[').trim_end_matches(']').split(',').map(str::trim).collect();
    assert!(labels.len() <= 10, "{labels:?}");
    for label in &labels {
        let ok = (1..=127).contains(&label.len()) && label.chars().all(|c| c.is_ascii_alphanumeric() || "+-_:/@".contains(c));
        assert!(ok, "label {label:?}");
    }
    let version = field("SemanticVersion");
    let core: Vec<&str> = version.split(['-', '+']).next().unwrap().split('.').collect();
    assert!(
        core.len() == 3 && core.iter().all(|n| !n.is_empty() && n.parse::<u64>().is_ok() && (n.len() == 1 || !n.starts_with('0'))),
        "{version}"
    );
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

/// A snippet's or a file's lines as compared: comments and blank lines dropped, whitespace trimmed.
fn meaningful_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| {
            let trimmed = line.trim();
            if trimmed.starts_with('#') || trimmed.starts_with("//") {
                return String::new();
            }
            let code = line.split(" # ").next().unwrap_or(line);
            code.split(" // ").next().unwrap_or(code).trim().to_owned()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn every_readme_snippet_is_lines_of_a_file_make_test_lints_or_synthesizes() {
    let root = support::root();
    let mut files = vec![
        root.join("template.yaml"),
        root.join("examples/sam/template.yaml"),
        root.join("examples/cdk/lib/stacks.ts"),
        root.join("examples/cdk-lib-ts/app.ts"),
        root.join("examples/cdk-python/app.py"),
    ];
    for dir in ["examples/cloudformation", "examples/cloudformation/native-pair"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    let sources: Vec<(String, Vec<String>)> =
        files.iter().map(|f| (f.display().to_string(), meaningful_lines(&std::fs::read_to_string(f).unwrap()))).collect();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut checked = 0;
    for block in readme.split("```").skip(1).step_by(2) {
        let Some((language, body)) = block.split_once('\n') else { continue };
        if !["yaml", "ts", "python"].contains(&language) {
            continue;
        }
        checked += 1;
        let wanted = meaningful_lines(body);
        // The snippet's lines, one after another with none left out, in one file (comments aside).
        let found = sources.iter().any(|(_, lines)| !wanted.is_empty() && lines.windows(wanted.len()).any(|w| w == wanted.as_slice()));
        assert!(found, "this README {language} snippet is not a run of lines of any linted or synthesized file:\n{body}");
    }
    assert!(checked >= 8, "only {checked} snippets found");
}
