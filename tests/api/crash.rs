//! SIGKILL at every step of volume create, expand, delete and clone, then a
//! restart: the volume exists complete or not at all, no brick or space is
//! left behind, and nothing stays pending.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{Options, Reply, Server};

const R3: &str = r#"{"size":10,"durability":{"type":"replicate","replicate":{"replica":3}}}"#;

/// Starts a server that stalls in `fault`, sets up with `setup`, sends
/// `request`, kills the server while it stalls, restarts it without faults
/// and returns the final queue answer.
fn kill_during(
    fault: &str,
    setup: impl Fn(&Server) -> Value,
    request: impl Fn(&Server, &Value) -> Reply,
) -> (Server, Value, Reply) {
    let mut s = Server::with(Options {
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), format!("{fault}:delay:4000"))],
        ..Options::default()
    });
    s.topology(3, 2);
    let context = setup(&s);
    let accepted = request(&s, &context);
    assert_eq!(accepted.status, 202, "{accepted:?}");
    // Give the operation time to reach the stalled step.
    std::thread::sleep(Duration::from_millis(700));
    let before = s.get(&accepted.location());
    assert_eq!(
        before.header("x-pending"),
        Some("true"),
        "{fault}: the operation must still be running when killed"
    );
    s.kill9();
    s.restart_with_env(vec![]);
    let outcome = s.wait(&accepted.location());
    s.assert_consistent();
    (s, context, outcome)
}

fn gluster_volumes(s: &Server) -> Vec<String> {
    s.mock_nodes()["volumes"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// Thin LVs and pools on the nodes match the bricks in the store exactly.
fn assert_no_dangling_bricks(s: &Server) {
    let mut expected = 0;
    for v in s.get("/volumes").json()["volumes"].as_array().unwrap() {
        let info = s.get(&format!("/volumes/{}", v.as_str().unwrap())).json();
        expected += 2 * info["bricks"].as_array().unwrap().len();
    }
    assert_eq!(s.mock_lvs().len(), expected, "{:?}", s.mock_lvs());
}

#[test]
fn create_is_rolled_back_wherever_it_dies() {
    for fault in ["brick_create:1", "brick_create:2", "brick_create:3", "volume_create:1"] {
        let (s, _, outcome) = kill_during(fault, |_| json!(null), |s, _| s.post("/volumes", R3));
        assert_eq!(outcome.status, 500, "{fault}: {outcome:?}");
        assert!(
            outcome.body.contains("interrupted by restart, rolled back"),
            "{fault}: {}",
            outcome.body
        );
        assert_eq!(s.get("/volumes").json(), json!({"volumes": []}), "{fault}");
        assert!(s.mock_lvs().is_empty(), "{fault}: {:?}", s.mock_lvs());
        assert!(gluster_volumes(&s).is_empty(), "{fault}");
        // Space and names are free again: the same volume can be made.
        assert_eq!(s.finish(s.post("/volumes", R3)).status, 303, "{fault}");
    }
}

#[test]
fn expand_is_finished_wherever_it_dies() {
    // The create makes bricks 1-3; the expansion's bricks are calls 4-6.
    for fault in ["brick_create:4", "brick_create:6", "volume_expand:1"] {
        let (s, volume, outcome) = kill_during(
            fault,
            |s| s.create_volume(R3),
            |s, v| {
                s.post(
                    &format!("/volumes/{}/expand", v["id"].as_str().unwrap()),
                    r#"{"expand_size":10}"#,
                )
            },
        );
        assert_eq!(outcome.status, 303, "{fault}: {outcome:?}");
        let info = s.get(&format!("/volumes/{}", volume["id"].as_str().unwrap())).json();
        assert_eq!(info["size"], 20, "{fault}");
        assert_eq!(info["bricks"].as_array().unwrap().len(), 6, "{fault}");
        let name = volume["name"].as_str().unwrap();
        assert_eq!(
            s.mock_nodes()["volumes"][name]["bricks"].as_array().unwrap().len(),
            6,
            "{fault}"
        );
        assert_no_dangling_bricks(&s);
    }
}

#[test]
fn delete_is_finished_wherever_it_dies() {
    for fault in ["volume_destroy:1", "brick_destroy:1", "brick_destroy:3"] {
        let (s, volume, outcome) = kill_during(
            fault,
            |s| s.create_volume(R3),
            |s, v| s.delete(&format!("/volumes/{}", v["id"].as_str().unwrap())),
        );
        assert_eq!(outcome.status, 204, "{fault}: {outcome:?}");
        assert_eq!(
            s.get(&format!("/volumes/{}", volume["id"].as_str().unwrap())).status,
            404
        );
        assert!(s.mock_lvs().is_empty(), "{fault}: {:?}", s.mock_lvs());
        assert!(gluster_volumes(&s).is_empty(), "{fault}");
    }
}

#[test]
fn clone_is_rolled_back_when_it_dies() {
    let (s, volume, outcome) = kill_during(
        "volume_clone:1",
        |s| s.create_volume(R3),
        |s, v| s.post(&format!("/volumes/{}/clone", v["id"].as_str().unwrap()), "{}"),
    );
    assert_eq!(outcome.status, 500, "{outcome:?}");
    let id = volume["id"].as_str().unwrap();
    assert_eq!(s.get("/volumes").json(), json!({"volumes": [id]}));
    assert_eq!(
        s.get(&format!("/volumes/{id}")).status,
        200,
        "the source is visible again"
    );
    assert_eq!(gluster_volumes(&s), vec![volume["name"].as_str().unwrap().to_string()]);
    assert_no_dangling_bricks(&s);
}

#[test]
fn a_failed_create_is_retried_with_a_new_placement() {
    let s = Server::with(Options {
        env: vec![(
            "BRICKYARD_MOCK_FAULTS".into(),
            "brick_create:2:fail:  Insufficient free space: 2573 extents needed".into(),
        )],
        ..Options::default()
    });
    s.topology(3, 1);
    let done = s.finish(s.post("/volumes", R3));
    assert_eq!(done.status, 303, "{done:?}");
    let info = s.get(&done.location()).json();
    assert_eq!(info["bricks"].as_array().unwrap().len(), 3);
    assert_no_dangling_bricks(&s);
    // The failed attempt's bricks were taken down on the nodes.
    let commands: Vec<String> = (1..=3).flat_map(|i| s.mock_commands(&format!("node{i}"))).collect();
    assert!(commands.iter().any(|c| c.starts_with("umount ")), "{commands:?}");
    s.assert_consistent();
}

#[test]
fn a_step_failing_every_time_rolls_back() {
    for (fault, message) in [
        (
            "brick_create:*:fail:  Insufficient free space: 2573 extents needed",
            "  Insufficient free space: 2573 extents needed\n",
        ),
        (
            "volume_create:*:fail:volume create: vol: failed: Host 10.0.0.9 is not in 'Peer in Cluster' state",
            "volume create: vol: failed: Host 10.0.0.9 is not in 'Peer in Cluster' state\n",
        ),
    ] {
        let s = Server::with(Options {
            env: vec![("BRICKYARD_MOCK_FAULTS".into(), fault.into())],
            ..Options::default()
        });
        s.topology(3, 1);
        let failed = s.finish(s.post("/volumes", R3));
        assert_eq!((failed.status, failed.body.as_str()), (500, message));
        assert!(s.mock_lvs().is_empty(), "{:?}", s.mock_lvs());
        assert!(gluster_volumes(&s).is_empty());
        s.assert_consistent();
    }
}

#[test]
fn an_expand_stuck_past_add_brick_is_finished_by_cleanup() {
    let s = Server::with(Options {
        env: vec![(
            "BRICKYARD_MOCK_FAULTS".into(),
            "volume_expand:1:fail:volume add-brick: failed: Commit failed on 10.0.0.2".into(),
        )],
        ..Options::default()
    });
    s.topology(3, 2);
    let volume = s.create_volume(R3);
    let id = volume["id"].as_str().unwrap();
    let failed = s.finish(s.post(&format!("/volumes/{id}/expand"), r#"{"expand_size":10}"#));
    assert_eq!(
        (failed.status, failed.body.as_str()),
        (500, "volume add-brick: failed: Commit failed on 10.0.0.2\n")
    );
    // The new bricks are kept (gluster may hold them), and the operation waits.
    let ops = s.get("/operations").json();
    assert_eq!((ops["total"].as_u64(), ops["failed"].as_u64()), (Some(1), Some(1)));
    let pending = s.get("/operations/pending").json();
    assert_eq!(pending["pendingoperations"][0]["type_name"], "expand-volume");
    assert_eq!(s.get(&format!("/volumes/{id}")).json()["size"], 10);
    assert_eq!(s.get("/db/check").json()["totalinconsistencies"], 0);
    // A cleanup takes it forward to the end.
    assert_eq!(s.finish(s.post("/operations/pending/cleanup", "{}")).status, 204);
    let info = s.get(&format!("/volumes/{id}")).json();
    assert_eq!(info["size"], 20);
    assert_eq!(info["bricks"].as_array().unwrap().len(), 6);
    s.assert_consistent();
    assert_no_dangling_bricks(&s);
}

#[test]
fn a_create_killed_during_its_retry_is_rolled_back() {
    let mut s = Server::with(Options {
        env: vec![(
            "BRICKYARD_MOCK_FAULTS".into(),
            "brick_create:2:fail:lvcreate failed,brick_create:5:delay:4000".into(),
        )],
        ..Options::default()
    });
    s.topology(3, 2);
    let accepted = s.post("/volumes", R3);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(s.get(&accepted.location()).header("x-pending"), Some("true"));
    s.kill9();
    s.restart_with_env(vec![]);
    let outcome = s.wait(&accepted.location());
    assert_eq!(outcome.status, 500, "{outcome:?}");
    assert!(s.mock_lvs().is_empty(), "{:?}", s.mock_lvs());
    assert!(gluster_volumes(&s).is_empty());
    s.assert_consistent();
}
