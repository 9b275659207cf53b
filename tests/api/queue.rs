use insta::assert_snapshot;
use serde_json::json;

use crate::harness::{Options, Redactor, Server};

#[test]
fn queue_reports_pending_then_the_outcome_until_it_expires() {
    let s = Server::with(Options {
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), "device_setup:1:delay:1500".into())],
        ..Options::default()
    });
    let mut r = Redactor::default();
    let cluster = s.create_cluster();
    let node = s.add_node(&cluster, 1, "node1", "10.0.0.1");
    let accepted = s.post("/devices", &json!({"node": node, "name": "/dev/sdb"}).to_string());
    let location = accepted.location();
    r.redact(&location);
    let pending = s.get(&location);
    assert_snapshot!("queue_pending", r.reply(&pending));
    // Pending polls consume nothing.
    assert_eq!(s.get(&location).header("x-pending"), Some("true"));
    let done = s.wait(&location);
    assert_snapshot!("queue_no_content", r.reply(&done));
    assert!(done.header("x-pending").is_none());
    // Delivered again on every poll until it expires: a reply lost with its
    // connection or a crash is not an answer lost.
    assert_eq!(r.reply(&s.get(&location)), r.reply(&done));
    assert_eq!(r.reply(&s.get(&location)), r.reply(&done));
}

#[test]
fn a_final_answer_outlives_a_crash() {
    let mut s = Server::start();
    let cluster = s.create_cluster();
    let accepted = s.post(
        "/nodes",
        &json!({"zone": 1, "hostnames": {"manage": ["node1"], "storage": ["10.0.0.1"]}, "cluster": cluster})
            .to_string(),
    );
    let done = s.wait(&accepted.location());
    assert_eq!(done.status, 303);
    // The process dies right after answering (or before the client read it).
    s.restart();
    let again = s.get(&accepted.location());
    assert_eq!((again.status, again.location()), (303, done.location()));
}

#[test]
fn queue_errors() {
    let s = Server::start();
    let mut r = Redactor::default();
    assert_snapshot!(
        "queue_unknown",
        r.reply(&s.get("/queue/0123456789abcdef0123456789abcdef"))
    );
    assert_eq!(s.get("/queue/nothex").body, "Invalid path or request\n");
    // A failure reaches the poller as plain text.
    let cluster = s.create_cluster();
    let node = s.add_node(&cluster, 1, "node1", "10.0.0.1");
    let failed = s.set_state("nodes", &node, "failed");
    assert_snapshot!("queue_failed", r.redact(&format!("{}\n{}", failed.status, failed.body)));
}
