//! `openapi.yaml` and the router describe the same routes and methods.

use std::collections::BTreeSet;

use docspace_dropbox_bridge::http::routes;

#[test]
fn openapi_and_router_agree_on_routes_and_methods() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml"))
        .expect("openapi.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    assert_eq!(
        doc["openapi"].as_str().map(|v| v.starts_with("3.1")),
        Some(true)
    );
    let mut spec = BTreeSet::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        let path = path.as_str().expect("path").to_string();
        for (method, _) in item.as_mapping().expect("path item") {
            let m = method.as_str().expect("method").to_uppercase();
            if ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].contains(&m.as_str()) {
                spec.insert((m, path.clone()));
            }
        }
    }
    let mut router = BTreeSet::new();
    for (methods, path, _, _) in routes() {
        for m in methods {
            router.insert((m.to_string(), path.to_string()));
        }
    }
    let missing_in_spec: Vec<_> = router.difference(&spec).collect();
    let missing_in_router: Vec<_> = spec.difference(&router).collect();
    assert!(
        missing_in_spec.is_empty(),
        "routes not in openapi.yaml: {missing_in_spec:?}"
    );
    assert!(
        missing_in_router.is_empty(),
        "openapi.yaml routes the router lacks: {missing_in_router:?}"
    );
}

#[test]
fn api_routes_in_the_spec_declare_bearer_security() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml"))
        .expect("openapi.yaml");
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("valid YAML");
    for (methods, path, _, auth) in routes() {
        for m in methods {
            let op = &doc["paths"][path][m.to_lowercase().as_str()];
            let has_security = op.get("security").is_some();
            assert_eq!(has_security, auth, "{m} {path}: security in spec vs router");
        }
    }
}

fn spec() -> serde_yaml::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml"))
        .expect("openapi.yaml");
    serde_yaml::from_str(&text).expect("valid YAML")
}

/// `node`, or what its `$ref` (`#/components/...`) points to.
fn resolve<'a>(doc: &'a serde_yaml::Value, node: &'a serde_yaml::Value) -> &'a serde_yaml::Value {
    match node.get("$ref").and_then(|r| r.as_str()) {
        Some(r) => r
            .trim_start_matches("#/")
            .split('/')
            .fold(doc, |at, key| &at[key]),
        None => node,
    }
}

/// Every operation of the spec as (METHOD, path, operation).
fn operations(doc: &serde_yaml::Value) -> Vec<(String, String, &serde_yaml::Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        for (method, op) in item.as_mapping().expect("path item") {
            let m = method.as_str().expect("method").to_uppercase();
            out.push((m, path.as_str().expect("path").to_string(), op));
        }
    }
    out
}

#[test]
fn every_operation_documents_the_timeout_and_the_load_shedding_its_route_applies() {
    // The router wraps every route in a 30 s timeout (408) and the in-flight cap (503
    // `overloaded` with Retry-After), so a client must expect both from any operation but the
    // probes, which are never shed.
    let doc = spec();
    for (method, path, op) in operations(&doc) {
        let responses = &op["responses"];
        let timeout = resolve(&doc, &responses["408"]);
        assert!(
            timeout["content"]["application/json"].is_mapping(),
            "{method} {path}: 408 with a JSON error"
        );
        if ["/healthz", "/readyz", "/metrics"].contains(&path.as_str()) {
            assert_ne!(
                responses["503"]["$ref"].as_str(),
                Some("#/components/responses/Overloaded"),
                "{method} {path}: never shed"
            );
            continue;
        }
        let shed = resolve(&doc, &responses["503"]);
        assert!(
            shed["content"]["application/json"].is_mapping(),
            "{method} {path}: 503 with a JSON error"
        );
        assert!(
            shed["headers"]["Retry-After"].is_mapping(),
            "{method} {path}: 503 with Retry-After"
        );
    }
}

#[test]
fn every_operation_that_takes_input_documents_400() {
    // Path and query parameters and bodies are checked by the handlers or their extractors,
    // which answer 400 when they do not parse.
    let doc = spec();
    for (method, path, op) in operations(&doc) {
        let takes_input = op["requestBody"].is_mapping()
            || op["parameters"]
                .as_sequence()
                .is_some_and(|ps| ps.iter().any(|p| resolve(&doc, p)["in"] != "header"));
        if takes_input {
            let bad = resolve(&doc, &op["responses"]["400"]);
            assert!(
                bad["content"]["application/json"].is_mapping(),
                "{method} {path}: takes input but documents no 400"
            );
        }
    }
}

#[test]
fn operator_api_bodies_refuse_fields_they_do_not_define() {
    // The handlers refuse unknown fields (a misspelt `group_id` must not reconcile all groups),
    // so the spec says so and generated requests do not carry extra fields.
    let doc = spec();
    for (method, path, op) in operations(&doc) {
        if !path.starts_with("/api/") || !op["requestBody"].is_mapping() {
            continue;
        }
        let schema = &op["requestBody"]["content"]["application/json"]["schema"];
        assert_eq!(
            schema["additionalProperties"],
            serde_yaml::Value::Bool(false),
            "{method} {path}: additionalProperties: false"
        );
    }
}

#[test]
fn the_job_kinds_of_the_spec_are_the_bridges() {
    let doc = spec();
    let spec_kinds: BTreeSet<String> = doc["components"]["schemas"]["Job"]["properties"]["kind"]
        ["enum"]
        .as_sequence()
        .expect("Job.kind enum")
        .iter()
        .map(|k| k.as_str().expect("kind").to_string())
        .collect();
    let kinds: BTreeSet<String> = docspace_dropbox_bridge::jobs::kinds::NAMES
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(spec_kinds, kinds);
}
