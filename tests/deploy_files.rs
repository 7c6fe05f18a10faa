//! The connector's deployment files agree with the stack and the code: the Kubernetes
//! manifest sets exactly the environment the stack output `ConnectorPolicyArn` names (and
//! the stack's starter configuration reads), runs as non-root with more termination grace
//! than the connector's shutdown grace; the Dockerfile's image is non-root and runs
//! `botgate connect`; the managed policy allows what the callback function's claim and
//! enqueue need.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use botgate_tests::root;
use serde_json::Value;

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

fn manifest() -> Vec<Value> {
    read("deploy/k8s/connector.yaml")
        .split("\n---\n")
        .filter(|d| d.lines().any(|l| l.starts_with("kind:")))
        .map(|d| serde_saphyr::from_str::<Value>(d).unwrap())
        .collect()
}

fn kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

/// `NAME` of each `${env:NAME}` in `text`.
fn env_refs(text: &str) -> BTreeSet<String> {
    text.split("${env:")
        .skip(1)
        .filter_map(|rest| rest.split('}').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_manifest_sets_the_environment_the_stack_output_names() {
    let docs = manifest();
    let config_map: BTreeSet<String> = kind(&docs, "ConfigMap")["data"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let template = read("template.yaml");
    let output = template
        .lines()
        .skip_while(|l| !l.starts_with("  ConnectorPolicyArn:"))
        .find(|l| l.trim_start().starts_with("Description:"))
        .unwrap();
    let named: BTreeSet<String> = output
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .filter(|w| w.starts_with("BOTGATE_") || *w == "AWS_REGION")
        .map(str::to_owned)
        .collect();
    assert_eq!(config_map, named, "the ConfigMap and the ConnectorPolicyArn output");
    // What the stack's starter configuration reads, plus where it is and the region.
    let mut wanted = env_refs(&read("examples/botgate-aws.yaml"));
    wanted.retain(|n| n.starts_with("BOTGATE_"));
    wanted.extend(["BOTGATE_CONFIG_URI".to_owned(), "AWS_REGION".to_owned()]);
    assert_eq!(config_map, wanted, "the ConfigMap and examples/botgate-aws.yaml");
}

#[test]
fn the_pod_runs_the_connector_as_non_root_with_enough_grace() {
    let docs = manifest();
    let pod = &kind(&docs, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    assert_eq!(container["args"][0], "connect");
    assert_eq!(container["securityContext"]["allowPrivilegeEscalation"], false);
    let grace_secs = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    let shutdown_ms = botgate::settings::ConnectorSettings::default().shutdown_grace_ms;
    assert!(
        grace_secs * 1000 > shutdown_ms,
        "the pod's grace ({grace_secs} s) must outlast connector.shutdown_grace_ms ({shutdown_ms} ms)"
    );
    assert_eq!(
        pod["serviceAccountName"],
        kind(&docs, "ServiceAccount")["metadata"]["name"]
    );
}

#[test]
fn the_image_is_non_root_and_runs_botgate_connect() {
    let dockerfile = read("Dockerfile");
    let last_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    assert!(
        last_stage.contains("distroless") && last_stage.contains(":nonroot"),
        "{last_stage}"
    );
    assert!(last_stage.contains("\nUSER nonroot"), "{last_stage}");
    assert!(last_stage.contains(r#"CMD ["connect""#), "{last_stage}");
    assert!(
        dockerfile.contains("cargo build --release --locked -p botgate-cli"),
        "the image ships the release profile"
    );
}

#[test]
fn the_connector_policy_allows_the_claim_and_the_enqueue() {
    let template = read("template.yaml");
    let policy: String = template
        .lines()
        .skip_while(|l| !l.starts_with("  ConnectorPolicy:"))
        .skip(1)
        .take_while(|l| !l.starts_with("  ") || l.starts_with("    "))
        .collect::<Vec<_>>()
        .join("\n");
    for action in [
        "dynamodb:PutItem, dynamodb:UpdateItem, dynamodb:DeleteItem",
        "sqs:SendMessage",
        "s3:GetObject",
        "ssm:GetParameter",
        "secretsmanager:GetSecretValue",
    ] {
        assert!(policy.contains(action), "ConnectorPolicy lacks {action}:\n{policy}");
    }
    assert!(!policy.contains("Resource: \"*\""), "no wildcard resource:\n{policy}");
}

/// `sam build` runs `make build-<Function>` for each function (BuildMethod: makefile): the
/// Makefile has that target for every function of the template, maps it to a binary the
/// workspace builds, and the `lambda` target builds that binary.
#[test]
fn every_function_of_the_template_has_its_makefile_build_target() {
    let template = read("template.yaml");
    let makefile = read("Makefile");
    let lines: Vec<&str> = template.lines().collect();
    let functions: Vec<&str> = lines
        .windows(2)
        .filter(|w| w[1].trim() == "Type: AWS::Serverless::Function")
        .map(|w| w[0].trim().trim_end_matches(':'))
        .collect();
    assert_eq!(functions.len(), 3, "{functions:?}");
    let bins = makefile
        .lines()
        .find_map(|l| l.strip_prefix("LAMBDA_BINS := "))
        .expect("LAMBDA_BINS in the Makefile");
    for function in functions {
        let block: String = template
            .split(&format!("\n  {function}:\n"))
            .nth(1)
            .unwrap()
            .lines()
            .take_while(|l| l.is_empty() || l.starts_with("    "))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(block.contains("BuildMethod: makefile"), "{function}");
        let bin = makefile
            .lines()
            .find_map(|l| l.strip_prefix(&format!("build-{function}: BIN := ")))
            .unwrap_or_else(|| panic!("no build-{function} in the Makefile"));
        assert!(bins.split(' ').any(|b| b == bin), "{bin} is not in LAMBDA_BINS");
        assert!(
            root().join(format!("functions/{bin}/Cargo.toml")).exists(),
            "no crate for {bin}"
        );
        assert!(
            makefile.lines().any(|l| l.ends_with(": lambda")
                && l.split(':')
                    .next()
                    .unwrap()
                    .split(' ')
                    .any(|t| t == format!("build-{function}"))),
            "build-{function} is not a rule that builds the functions"
        );
    }
}
