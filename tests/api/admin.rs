use std::time::Duration;

use insta::assert_snapshot;
use serde_json::json;

use crate::harness::{Options, Redactor, Server};

#[test]
fn hello_and_routing() {
    let s = Server::start();
    let mut r = Redactor::default();
    assert_snapshot!("hello", r.reply(&s.get("/hello")));
    assert_snapshot!("unknown_route", r.reply(&s.get("/topology")));
    for path in ["/bricks", "/db", "/state", "/logging", "/volumes/abc/options"] {
        assert_eq!(s.get(path).body, "Invalid path or request\n", "{path}");
    }
    assert_eq!(s.raw("PUT", "/clusters", Some("{}"), &[]).status, 405);
    assert_eq!(s.get("/devices").status, 405);
    let slash = s.get("/clusters/");
    assert_eq!((slash.status, slash.header("location")), (301, Some("/clusters")));
}

#[test]
fn admin_modes() {
    let s = Server::start();
    let mut r = Redactor::default();
    assert_snapshot!("admin_get", r.reply(&s.get("/admin")));
    assert_snapshot!("admin_set_bad", r.reply(&s.post("/admin", r#"{"state":"sleepy"}"#)));
    assert_eq!(s.post("/admin", "{").status, 400);
    assert!(s.post("/admin", "{").body.starts_with("request unable to be parsed: "));
    assert_eq!(s.post("/admin", r#"{"state":"read-only"}"#).status, 204);
    assert_eq!(s.get("/admin").json(), json!({"state": "read-only"}));
    // Reads work, writes (including POST /admin itself) are refused.
    assert_eq!(s.get("/clusters").status, 200);
    assert_snapshot!("admin_read_only_refusal", r.reply(&s.post("/clusters", "{}")));
    assert_eq!(s.post("/admin", r#"{"state":"normal"}"#).status, 503);
    // SIGUSR2 resets the mode.
    let status = std::process::Command::new("kill")
        .args(["-USR2", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while s.get("/admin").json()["state"] != "normal" {
        assert!(std::time::Instant::now() < deadline, "SIGUSR2 did not reset the mode");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(s.post("/clusters", "{}").status, 201);
}

#[test]
fn local_client_mode_refuses_remote_writers() {
    let s = Server::start();
    assert_eq!(s.post("/admin", r#"{"state":"local-client"}"#).status, 204);
    assert_eq!(s.post("/clusters", "{}").status, 201, "127.0.0.1 is local");
    // Another loopback address is not 127.0.0.1, so it counts as remote.
    let remote = reqwest::blocking::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let refused = remote.post(format!("{}/clusters", s.base)).body("{}").send().unwrap();
    assert_eq!(refused.status().as_u16(), 503);
    assert_eq!(refused.text().unwrap(), "Service disabled for maintenance\n");
    let read = remote.get(format!("{}/clusters", s.base)).send().unwrap();
    assert_eq!(read.status().as_u16(), 200);
}

#[test]
fn default_state_from_the_environment() {
    let s = Server::with(Options {
        env: vec![("HEKETI_DEFAULT_STATE".into(), "read-only".into())],
        glusterfs: Some(json!({})),
        ..Options::default()
    });
    assert_eq!(s.get("/admin").json(), json!({"state": "read-only"}));
}

#[test]
fn logging_levels() {
    let s = Server::start();
    let mut r = Redactor::default();
    assert_snapshot!("logging_get", r.reply(&s.get("/internal/logging")));
    assert_snapshot!(
        "logging_set",
        r.reply(&s.post("/internal/logging", r#"{"loglevel":{"glusterfs":"debug"}}"#))
    );
    assert_eq!(
        s.get("/internal/logging").json(),
        json!({"loglevel": {"glusterfs": "debug"}})
    );
    assert_snapshot!(
        "logging_bad_level",
        r.reply(&s.post("/internal/logging", r#"{"loglevel":{"glusterfs":"loud"}}"#))
    );
    assert_snapshot!(
        "logging_other_logger",
        r.reply(&s.post("/internal/logging", r#"{"loglevel":{"executor":"debug"}}"#))
    );
    assert_eq!(s.post("/internal/logging", "nope").status, 400);
    // An empty level changes nothing.
    assert_eq!(
        s.post("/internal/logging", r#"{"loglevel":{"glusterfs":""}}"#).json(),
        json!({"loglevel": {"glusterfs": "debug"}})
    );
}

#[test]
fn operations_routes() {
    let s = Server::with(Options {
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), "device_setup:1:delay:2000".into())],
        ..Options::default()
    });
    let mut r = Redactor::default();
    assert_snapshot!("operations_empty", r.reply(&s.get("/operations")));
    let cluster = s.create_cluster();
    let node = s.add_node(&cluster, 1, "node1", "10.0.0.1");
    // Heketi journals no node or device work, so an add in flight is not
    // listed (volume operations are).
    let accepted = s.post("/devices", &json!({"node": node, "name": "/dev/sdb"}).to_string());
    assert_eq!(accepted.status, 202);
    let summary = s.get("/operations").json();
    assert_eq!(
        summary,
        json!({"total": 0, "in_flight": 0, "stale": 0, "failed": 0, "new": 0})
    );
    assert_eq!(s.get("/operations/pending").json(), json!({"pendingoperations": []}));
    let id = "0123456789abcdef0123456789abcdef";
    r.redact(id);
    assert_snapshot!(
        "operation_details_unknown",
        r.reply(&s.get(&format!("/operations/pending/{id}")))
    );
    s.wait(&accepted.location());

    assert_eq!(
        s.post("/operations/pending/cleanup", r#"{"operations":["xyz"]}"#).body,
        "validation failed: operations: xyz is not a valid UUID.\n"
    );
    let many: Vec<String> = (0..33).map(|_| "0".repeat(32)).collect();
    assert_eq!(
        s.post("/operations/pending/cleanup", &json!({"operations": many}).to_string())
            .body,
        "validation failed: operations: too many ids specified (33), up to 32 supported.\n"
    );
    assert_eq!(s.post("/operations/pending/cleanup", "").status, 422);
    assert_eq!(s.finish(s.post("/operations/pending/cleanup", "{}")).status, 204);
}

#[test]
fn metrics_use_heketis_names() {
    let s = Server::with(Options {
        auth: true,
        ..Options::default()
    });
    let cluster = s.create_cluster();
    let node = s.add_node(&cluster, 1, "node1", "10.0.0.1");
    let device = s.add_device(&node, "/dev/sdb");
    // No token needed.
    let m = s.anonymous("GET", "/metrics", None, &[]);
    assert_eq!(m.status, 200);
    assert_eq!(
        m.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    for name in [
        "heketi_up 1",
        "heketi_cluster_count 1",
        &format!("heketi_nodes_count{{cluster=\"{cluster}\"}} 1"),
        &format!("heketi_volumes_count{{cluster=\"{cluster}\"}} 0"),
        &format!("heketi_block_volumes_count{{cluster=\"{cluster}\"}} 0"),
        &format!("heketi_device_count{{cluster=\"{cluster}\",hostname=\"node1\",storage_hostname=\"10.0.0.1\"}} 1"),
        "heketi_operations_inFlight_count 0",
        "heketi_operations_total_count 0",
    ] {
        assert!(m.body.contains(name), "missing {name:?} in\n{}", m.body);
    }
    let size_line = m.body.lines().find(|l| l.starts_with("heketi_device_size{")).unwrap();
    assert!(
        size_line.contains(&format!("id=\"{device}\"")) && size_line.ends_with(" 524288000"),
        "{size_line}"
    );
    let bytes_line = m
        .body
        .lines()
        .find(|l| l.starts_with("heketi_device_free_bytes{"))
        .unwrap();
    assert!(bytes_line.ends_with(" 536870912000"), "{bytes_line}");
    assert!(m.body.contains("heketi_device_brick_count{"));
}

#[test]
fn path_ids_are_checked_before_bodies_and_bodies_up_to_the_limit_are_read() {
    let s = Server::with(Options {
        env: vec![("BRICKYARD_MAX_BODY_BYTES".into(), (8 * 1024 * 1024).to_string())],
        ..Options::default()
    });
    let bad = s.post("/nodes/not-hex/state", "not json");
    assert_eq!((bad.status, bad.body.as_str()), (404, "Invalid path or request\n"));
    // Heketi read bodies of any size; Brickyard reads them up to its limit.
    let padding = "x".repeat(3 * 1024 * 1024);
    let big = s.post("/clusters", &format!(r#"{{"file":true,"padding":"{padding}"}}"#));
    assert_eq!(big.status, 201);
}

#[test]
fn a_read_only_database_refuses_changes() {
    let s = Server::with(Options {
        glusterfs: Some(json!({"db_read_only": true})),
        ..Options::default()
    });
    assert_eq!(s.get("/clusters").status, 200);
    let refused = s.post("/clusters", "{}");
    assert_eq!(refused.status, 500);
    assert!(refused.body.contains("read-only"), "{}", refused.body);
}
