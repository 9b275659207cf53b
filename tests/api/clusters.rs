use insta::assert_snapshot;

use crate::harness::{Redactor, Server};

#[test]
fn cluster_lifecycle_responses() {
    let s = Server::start();
    let mut r = Redactor::default();
    let created = s.post("/clusters", r#"{"file":true,"block":true}"#);
    assert_snapshot!("cluster_create", r.reply(&created));
    let id = created.json()["id"].as_str().unwrap().to_string();

    let info = s.get(&format!("/clusters/{id}"));
    assert_eq!(info.json(), created.json(), "info equals the create response");
    assert_snapshot!("cluster_info", r.reply(&info));
    assert_snapshot!("cluster_list", r.reply(&s.get("/clusters")));

    let flags = s.post(&format!("/clusters/{id}/flags"), r#"{"block":false,"file":true}"#);
    assert_snapshot!("cluster_setflags", r.reply(&flags));
    let after = s.get(&format!("/clusters/{id}")).json();
    assert_eq!(
        (after["block"].as_bool(), after["file"].as_bool()),
        (Some(false), Some(true))
    );

    // Absent flags are stored as false, exactly as Heketi does.
    s.post(&format!("/clusters/{id}/flags"), "{}");
    let after = s.get(&format!("/clusters/{id}")).json();
    assert_eq!(
        (after["block"].as_bool(), after["file"].as_bool()),
        (Some(false), Some(false))
    );

    assert_snapshot!("cluster_delete", r.reply(&s.delete(&format!("/clusters/{id}"))));
    assert_snapshot!("cluster_info_after_delete", r.reply(&s.get(&format!("/clusters/{id}"))));
    assert_eq!(s.get("/clusters").json()["clusters"], serde_json::json!([]));
}

#[test]
fn cluster_create_defaults_and_body_rules() {
    let s = Server::start();
    let mut r = Redactor::default();
    // `{}` makes a cluster with both flags false; `null` behaves like `{}`.
    let empty = s.post("/clusters", "{}").json();
    assert_eq!(
        (empty["block"].as_bool(), empty["file"].as_bool()),
        (Some(false), Some(false))
    );
    let null = s.post("/clusters", "null");
    assert_eq!(null.status, 201);
    // No body, bad JSON and wrong types are decode errors.
    assert_snapshot!("cluster_create_empty_body", r.reply(&s.post("/clusters", "")));
    assert_eq!(s.post("/clusters", "{").status, 422);
    assert_eq!(s.post("/clusters", r#"{"block":"yes"}"#).status, 422);
    // Unknown keys are ignored, and no Content-Type is needed.
    let extra = s.raw("POST", "/clusters", Some(r#"{"file":true,"colour":"blue"}"#), &[]);
    assert_eq!(extra.status, 201);
    assert_eq!(extra.json()["file"], true);
    // Ids are 32 lower-case hex characters.
    let id = extra.json()["id"].as_str().unwrap().to_string();
    assert!(id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    // Lists come back sorted.
    let list = s.get("/clusters").json()["clusters"].clone();
    let mut sorted: Vec<String> = serde_json::from_value(list.clone()).unwrap();
    sorted.sort();
    assert_eq!(list, serde_json::json!(sorted));
}

#[test]
fn cluster_errors() {
    let s = Server::start();
    let mut r = Redactor::default();
    assert_snapshot!(
        "cluster_info_unknown",
        r.reply(&s.get("/clusters/0123456789abcdef0123456789abcdef"))
    );
    assert_snapshot!("cluster_info_malformed", r.reply(&s.get("/clusters/bad_id")));
    assert_eq!(s.get("/clusters/ABCDEF").status, 404);
    assert_eq!(s.delete("/clusters/0123456789abcdef0123456789abcdef").status, 404);
    assert_eq!(
        s.post("/clusters/0123456789abcdef0123456789abcdef/flags", "{}").status,
        404
    );
    assert_eq!(s.post("/clusters/abc/flags", "not json").status, 422);

    let cluster = s.create_cluster();
    s.add_node(&cluster, 1, "node1.example.com", "10.0.0.1");
    assert_snapshot!(
        "cluster_delete_with_nodes",
        r.reply(&s.delete(&format!("/clusters/{cluster}")))
    );
    // A GET with a body (the Python client sends `{}`) is fine.
    assert_eq!(
        s.raw("GET", &format!("/clusters/{cluster}"), Some("{}"), &[]).status,
        200
    );
}
