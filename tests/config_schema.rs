//! The configuration's JSON Schema: the committed `botgate.schema.json` is the one the code
//! generates, and the example configuration validates against it (with Python's
//! `jsonschema`, an independent validator), while a misspelt key does not.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use botgate_tests::{python, root};
use serde_json::Value;

fn committed() -> Value {
    let text = std::fs::read_to_string(root().join("botgate.schema.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    assert!(
        botgate::config::schema() == committed(),
        "botgate.schema.json is stale: regenerate it with `cargo run -p botgate-cli -- config schema > botgate.schema.json`"
    );
}

/// Validates a YAML configuration against the committed schema with Python's jsonschema.
fn validates(yaml: &str) -> Result<(), String> {
    let doc: Value = serde_saphyr::from_str(yaml).unwrap();
    let dir = std::env::temp_dir().join(format!("botgate-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{:x}.json", botgate::crypto::sha256(&[yaml.as_bytes()])[0]));
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = Command::new(python())
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             doc = json.load(open(sys.argv[1])); schema = json.load(open(sys.argv[2]))\n\
             jsonschema.Draft202012Validator.check_schema(schema)\n\
             errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=str)\n\
             [print('/'.join(map(str, e.absolute_path)), e.message) for e in errors]\n\
             sys.exit(1 if errors else 0)",
        ])
        .arg(&file)
        .arg(root().join("botgate.schema.json"))
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn the_example_configuration_validates_against_the_schema() {
    let example = std::fs::read_to_string(root().join("examples/botgate.yaml")).unwrap();
    assert!(
        example.starts_with("# yaml-language-server: $schema=../botgate.schema.json\n"),
        "the example names its schema for editors on its first line"
    );
    validates(&example).unwrap();
}

#[test]
fn the_schema_refuses_what_the_loader_refuses() {
    let misspelt = "bots:\n  ops:\n    platform: feishu\n    verification_tokn: t\n";
    assert!(validates(misspelt).unwrap_err().contains("verification_tokn"));
    let wrong_type = "gateway:\n  dedup_retention_secs: [1]\nbots: {}\n";
    assert!(validates(wrong_type).unwrap_err().contains("dedup_retention_secs"));
    let unknown_target = "targets:\n  t: {type: slack_webhook, url: https://x}\nbots: {}\n";
    assert!(validates(unknown_target).unwrap_err().contains("targets/t"));
    let bad_id = "bots:\n  a/b: {platform: wechat, token: t}\n";
    assert!(validates(bad_id).is_err());
    validates("bots: {}\n").unwrap();
}
