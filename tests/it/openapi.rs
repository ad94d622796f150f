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
