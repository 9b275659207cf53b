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
    // The operation has reached the delayed step.
    s.wait_for_fault(fault.split(':').next().unwrap_or(fault), 1);
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
fn expand_is_undone_when_it_dies_before_add_brick() {
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
        assert_eq!(outcome.status, 500, "{fault}: {outcome:?}");
        assert!(
            outcome.body.contains("interrupted by restart, rolled back"),
            "{fault}: {}",
            outcome.body
        );
        let info = s.get(&format!("/volumes/{}", volume["id"].as_str().unwrap())).json();
        assert_eq!(info["size"], 10, "{fault}");
        assert_eq!(info["bricks"].as_array().unwrap().len(), 3, "{fault}");
        let name = volume["name"].as_str().unwrap();
        assert_eq!(
            s.mock_nodes()["volumes"][name]["bricks"].as_array().unwrap().len(),
            3,
            "{fault}"
        );
        assert_no_dangling_bricks(&s);
        // The answer was final: nothing later makes the volume grow.
        assert_eq!(s.finish(s.post("/operations/pending/cleanup", "{}")).status, 204);
        let again = s.get(&format!("/volumes/{}", volume["id"].as_str().unwrap())).json();
        assert_eq!(again["size"], 10, "{fault}");
    }
}

#[test]
fn expand_is_finished_when_it_dies_after_add_brick() {
    let mut s = Server::with(Options {
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), "volume_expand:1:stall:5000".into())],
        ..Options::default()
    });
    s.topology(3, 2);
    let volume = s.create_volume(R3);
    let (id, name) = (volume["id"].as_str().unwrap(), volume["name"].as_str().unwrap());
    let accepted = s.post(&format!("/volumes/{id}/expand"), r#"{"expand_size":10}"#);
    // Kill once gluster holds the new bricks, before the store commits.
    wait_until(&s, "gluster holds the new bricks", |s| {
        s.mock_nodes()["volumes"][name]["bricks"]
            .as_array()
            .is_some_and(|b| b.len() == 6)
    });
    assert_eq!(s.get(&accepted.location()).header("x-pending"), Some("true"));
    s.restart_with_env(vec![]);
    let outcome = s.wait(&accepted.location());
    assert_eq!(outcome.status, 303, "{outcome:?}");
    let info = s.get(&format!("/volumes/{id}")).json();
    assert_eq!(info["size"], 20);
    assert_eq!(info["bricks"].as_array().unwrap().len(), 6);
    s.assert_consistent();
    assert_no_dangling_bricks(&s);
}

/// The volume grew once (10 to 20 GiB, 3 to 6 bricks) and all is in order.
fn assert_expanded_once(s: &Server, id: &str) {
    let info = s.get(&format!("/volumes/{id}")).json();
    assert_eq!(
        (info["size"].as_u64(), info["bricks"].as_array().unwrap().len()),
        (Some(20), 6)
    );
    s.assert_consistent();
    assert_no_dangling_bricks(s);
}

/// Polls (bounded) until `reached` holds.
fn wait_until(s: &Server, what: &str, reached: impl Fn(&Server) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !reached(s) {
        assert!(std::time::Instant::now() < deadline, "not reached in 20 s: {what}");
        std::thread::sleep(Duration::from_millis(20));
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
fn an_expand_failing_at_add_brick_is_undone_and_stays_undone() {
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
    // Gluster never took the bricks: they are gone again, and so is the operation.
    assert_eq!(s.get("/operations").json()["total"], 0);
    assert_no_dangling_bricks(&s);
    assert_eq!(s.finish(s.post("/operations/pending/cleanup", "{}")).status, 204);
    assert_eq!(s.get(&format!("/volumes/{id}")).json()["size"], 10);
    s.assert_consistent();
    // A retry expands once.
    assert_eq!(
        s.finish(s.post(&format!("/volumes/{id}/expand"), r#"{"expand_size":10}"#))
            .status,
        303
    );
    assert_eq!(s.get(&format!("/volumes/{id}")).json()["size"], 20);
    assert_no_dangling_bricks(&s);
}

#[test]
fn an_expand_whose_add_brick_answer_is_lost_is_finished() {
    let s = Server::with(Options {
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), "volume_expand:1:lose".into())],
        ..Options::default()
    });
    s.topology(3, 2);
    let volume = s.create_volume(R3);
    let id = volume["id"].as_str().unwrap();
    let done = s.finish(s.post(&format!("/volumes/{id}/expand"), r#"{"expand_size":10}"#));
    assert_eq!(
        done.status, 303,
        "gluster holds the bricks, so the expansion happened: {done:?}"
    );
    assert_expanded_once(&s, id);
}

#[test]
fn an_expand_nobody_can_settle_stays_pending_until_cleanup_finishes_it() {
    // add-brick's answer is lost and gluster cannot be asked at once.
    let s = Server::with(Options {
        env: vec![(
            "BRICKYARD_MOCK_FAULTS".into(),
            "volume_expand:1:lose,volume_info:1:fail:Connection failed. Please check if gluster daemon is operational."
                .into(),
        )],
        ..Options::default()
    });
    s.topology(3, 2);
    let volume = s.create_volume(R3);
    let id = volume["id"].as_str().unwrap();
    let accepted = s.post(&format!("/volumes/{id}/expand"), r#"{"expand_size":10}"#);
    wait_until(&s, "the expansion is marked failed", |s| {
        s.get("/operations").json()["failed"] == 1
    });
    // No final answer yet: it would have to be taken back.
    assert_eq!(s.get(&accepted.location()).header("x-pending"), Some("true"));
    assert_eq!(s.get(&format!("/volumes/{id}")).json()["size"], 10);
    assert_eq!(s.get("/db/check").json()["totalinconsistencies"], 0);
    // A cleanup asks gluster, finds the bricks there, and finishes.
    assert_eq!(s.finish(s.post("/operations/pending/cleanup", "{}")).status, 204);
    assert_eq!(s.wait(&accepted.location()).status, 303);
    assert_expanded_once(&s, id);
}

#[test]
fn a_delete_is_settled_from_gluster_and_a_204_is_never_taken_back() {
    // The bricks cannot be removed at once: the delete answers 204 (gluster
    // has dropped the volume) and waits for a cleanup.
    let mut s = Server::with(Options {
        env: vec![(
            "BRICKYARD_MOCK_FAULTS".into(),
            "brick_destroy:1:fail:umount: target is busy".into(),
        )],
        ..Options::default()
    });
    s.topology(3, 2);
    let volume = s.create_volume(R3);
    let id = volume["id"].as_str().unwrap();
    let accepted = s.delete(&format!("/volumes/{id}"));
    assert_eq!(s.wait(&accepted.location()).status, 204);
    assert_eq!(s.get("/operations").json()["failed"], 1);
    // A cleanup whose gluster volume delete now fails everywhere still
    // finishes: gluster says the volume is gone, so there is no going back.
    s.restart_with_env(vec![(
        "BRICKYARD_MOCK_FAULTS".into(),
        "volume_destroy:*:fail:volume stop: failed: Another transaction is in progress".into(),
    )]);
    assert_eq!(s.finish(s.post("/operations/pending/cleanup", "{}")).status, 204);
    assert_eq!(s.get("/operations").json()["total"], 0);
    assert_eq!(s.get(&accepted.location()).status, 204);
    assert_eq!(s.get(&format!("/volumes/{id}")).status, 404);
    assert_eq!(s.get("/volumes").json(), json!({"volumes": []}));
    assert!(s.mock_lvs().is_empty(), "{:?}", s.mock_lvs());
    s.assert_consistent();
}

#[test]
fn a_delete_whose_answer_is_lost_is_finished_and_one_gluster_refused_is_undone() {
    let s = Server::with(Options {
        env: vec![(
            "BRICKYARD_MOCK_FAULTS".into(),
            "volume_destroy:1:lose,volume_destroy:2+:fail:volume stop: failed: Another transaction is in progress"
                .into(),
        )],
        ..Options::default()
    });
    s.topology(3, 2);
    // Gluster deleted it, the answer was lost: finished.
    let first = s.create_volume(R3);
    let done = s.finish(s.delete(&format!("/volumes/{}", first["id"].as_str().unwrap())));
    assert_eq!(done.status, 204, "{done:?}");
    assert_eq!(gluster_volumes(&s), Vec::<String>::new());
    // Gluster refused on every node and still has it: undone, visible again.
    let second = s.create_volume(R3);
    let id = second["id"].as_str().unwrap();
    let refused = s.finish(s.delete(&format!("/volumes/{id}")));
    assert_eq!(refused.status, 500, "{refused:?}");
    assert_eq!(s.get(&format!("/volumes/{id}")).status, 200);
    assert_eq!(gluster_volumes(&s), vec![second["name"].as_str().unwrap().to_string()]);
    assert_no_dangling_bricks(&s);
    s.assert_consistent();
}

#[test]
fn operations_on_one_volume_exclude_each_other() {
    let s = Server::with(Options {
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), "brick_create:4:delay:2000".into())],
        ..Options::default()
    });
    s.topology(3, 2);
    let volume = s.create_volume(R3);
    let id = volume["id"].as_str().unwrap();
    let expand = s.post(&format!("/volumes/{id}/expand"), r#"{"expand_size":10}"#);
    assert_eq!(expand.status, 202);
    let clone = s.post(&format!("/volumes/{id}/clone"), "{}");
    assert_eq!(
        (clone.status, clone.body.as_str()),
        (
            500,
            format!("Failed clone volume {id}: The target exists, contains other items, or is in use.\n").as_str()
        )
    );
    let second = s.post(&format!("/volumes/{id}/expand"), r#"{"expand_size":10}"#);
    assert_eq!(
        (second.status, second.body.as_str()),
        (
            500,
            "Failed to allocate volume expansion: The target exists, contains other items, or is in use.\n"
        )
    );
    let delete = s.delete(&format!("/volumes/{id}"));
    assert_eq!(
        (delete.status, delete.body.as_str()),
        (
            500,
            "Failed to set up volume delete: The target exists, contains other items, or is in use.\n"
        )
    );
    assert_eq!(s.wait(&expand.location()).status, 303);
    // Once the expansion is done, a clone copies all six bricks.
    let done = s.finish(s.post(&format!("/volumes/{id}/clone"), "{}"));
    assert_eq!(done.status, 303, "{done:?}");
    let clone = s.get(&done.location()).json();
    assert_eq!(clone["bricks"].as_array().unwrap().len(), 6);
    s.assert_consistent();
}

#[test]
fn a_clone_killed_after_gluster_made_it_leaves_nothing_behind() {
    let (mut s, volume, lvs_before) = cloning_server("volume_clone:1:stall:5000");
    let id = volume["id"].as_str().unwrap();
    let accepted = s.post(&format!("/volumes/{id}/clone"), r#"{"name":"copy"}"#);
    wait_until(&s, "gluster holds the clone", |s| {
        !s.mock_nodes()["volumes"]["copy"].is_null()
    });
    assert_eq!(
        s.mock_lvs().len(),
        lvs_before.len() + 3,
        "the clone's snapshot LVs exist"
    );
    s.restart_with_env(vec![]);
    let outcome = s.wait(&accepted.location());
    assert_eq!(outcome.status, 500, "{outcome:?}");
    assert_eq!(s.mock_lvs(), lvs_before, "the clone's snapshot LVs are removed");
    assert_eq!(gluster_volumes(&s), vec![volume["name"].as_str().unwrap().to_string()]);
    assert_eq!(snapshot_mounts(&s), Vec::<String>::new());
    s.assert_consistent();
    // The undo removed the temporary snapshot a crash mid-clone could leave.
    let commands: Vec<String> = (1..=3).flat_map(|i| s.mock_commands(&format!("node{i}"))).collect();
    assert!(
        commands.iter().any(|c| c.contains(" snapshot delete tmpsnap_")),
        "{commands:?}"
    );
}

#[test]
fn a_clone_whose_answer_is_lost_is_undone_completely() {
    let (s, volume, lvs_before) = cloning_server("volume_clone:1:lose");
    let id = volume["id"].as_str().unwrap();
    let failed = s.finish(s.post(&format!("/volumes/{id}/clone"), r#"{"name":"copy"}"#));
    assert_eq!(failed.status, 500, "{failed:?}");
    assert_eq!(s.mock_lvs(), lvs_before);
    assert_eq!(snapshot_mounts(&s), Vec::<String>::new());
    assert_eq!(gluster_volumes(&s), vec![volume["name"].as_str().unwrap().to_string()]);
    s.assert_consistent();
}

#[test]
fn a_clone_undo_cut_short_after_gluster_deleted_the_clone_is_finished() {
    // The clone's answer is lost, so it is undone; the kill comes after the
    // undo deleted the gluster volume, gluster's only record of the clone's
    // LVs (found by the randomised crash test).
    let (mut s, volume, lvs_before) = cloning_server("volume_clone:1:lose,volume_destroy:1:stall:5000");
    let id = volume["id"].as_str().unwrap();
    let accepted = s.post(&format!("/volumes/{id}/clone"), r#"{"name":"copy"}"#);
    wait_until(&s, "the undo deleted the clone's gluster volume", |s| {
        s.mock_lvs().len() > lvs_before.len() && s.mock_nodes()["volumes"]["copy"].is_null()
    });
    s.restart_with_env(vec![]);
    assert_eq!(s.wait(&accepted.location()).status, 500);
    s.wait_recovered();
    assert_eq!(s.mock_lvs(), lvs_before, "the clone's LVs are removed");
    assert_eq!(snapshot_mounts(&s), Vec::<String>::new());
    s.assert_consistent();
}

#[test]
fn clones_of_clones_share_the_pool_until_the_last_one_goes() {
    let s = Server::start();
    s.topology(3, 1);
    let origin = s.create_volume(R3);
    let first = clone_of(&s, origin["id"].as_str().unwrap());
    let second = clone_of(&s, first["id"].as_str().unwrap());
    // Every clone brick has its own snapshot LV in its origin brick's pool.
    let lvs = s.mock_lvs();
    assert_eq!(lvs.len(), 3 * 4, "3 pools, 3 origin LVs, 3 + 3 snapshot LVs: {lvs:?}");
    for clone in [&first, &second] {
        for b in clone["bricks"].as_array().unwrap() {
            let path = b["path"].as_str().unwrap();
            assert!(path.starts_with("/run/gluster/snaps/"), "{path}");
            assert!(snapshot_mounts(&s).contains(&path.trim_end_matches("/brick").to_string()));
        }
    }
    let used = |s: &Server| -> Vec<u64> {
        s.devices()
            .iter()
            .map(|d| d["storage"]["used"].as_u64().unwrap())
            .collect()
    };
    let used_with_all = used(&s);
    for gone in [&origin, &first] {
        assert_eq!(
            s.finish(s.delete(&format!("/volumes/{}", gone["id"].as_str().unwrap())))
                .status,
            204
        );
        // The pool stays with the clone still in it, and so does its space.
        assert_eq!(used(&s), used_with_all);
        s.assert_consistent();
    }
    assert_eq!(
        s.mock_lvs().len(),
        3 * 2,
        "the pools and the last clone's LVs: {:?}",
        s.mock_lvs()
    );
    assert_eq!(
        s.finish(s.delete(&format!("/volumes/{}", second["id"].as_str().unwrap())))
            .status,
        204
    );
    assert!(s.mock_lvs().is_empty(), "{:?}", s.mock_lvs());
    assert_eq!(snapshot_mounts(&s), Vec::<String>::new());
    assert!(used(&s).iter().all(|u| *u == 0));
    s.assert_consistent();
}

/// A server with `faults`, a replica-3 volume to clone, and the LVs the
/// nodes hold before any clone.
fn cloning_server(faults: &str) -> (Server, Value, Vec<String>) {
    let s = Server::with(Options {
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), faults.into())],
        ..Options::default()
    });
    s.topology(3, 2);
    let volume = s.create_volume(R3);
    let lvs = s.mock_lvs();
    (s, volume, lvs)
}

fn clone_of(s: &Server, id: &str) -> Value {
    let done = s.finish(s.post(&format!("/volumes/{id}/clone"), "{}"));
    assert_eq!(done.status, 303, "{done:?}");
    s.get(&done.location()).json()
}

/// Mount points under /run/gluster/snaps on every simulated node.
fn snapshot_mounts(s: &Server) -> Vec<String> {
    let nodes = s.mock_nodes();
    let mut out: Vec<String> = nodes["hosts"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|h| h["mounts"].as_object().unwrap().keys().cloned().collect::<Vec<_>>())
        .filter(|m| m.starts_with("/run/gluster/snaps/"))
        .collect();
    out.sort();
    out
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
    // Two failed calls, then the retry's brick creation is held.
    s.wait_for_fault("brick_create", 2);
    assert_eq!(s.get(&accepted.location()).header("x-pending"), Some("true"));
    s.kill9();
    s.restart_with_env(vec![]);
    let outcome = s.wait(&accepted.location());
    assert_eq!(outcome.status, 500, "{outcome:?}");
    assert!(s.mock_lvs().is_empty(), "{:?}", s.mock_lvs());
    assert!(gluster_volumes(&s).is_empty());
    s.assert_consistent();
}

/// The mock's node state is a snapshot written at start-up plus a change
/// log appended to by each call. A SIGKILL in the middle of a create leaves
/// the bricks made so far only in the log; reading the stopped store
/// replays it, and after the restart the rolled-back nodes match the store.
#[test]
fn a_create_killed_mid_way_leaves_its_bricks_in_the_mock_log() {
    let mut s = Server::with(Options {
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), "volume_create:1:delay:4000".into())],
        ..Options::default()
    });
    s.topology(3, 2);
    // Start again, so the snapshot holds the topology and the log is empty.
    s.restart();
    let accepted = s.post("/volumes", R3);
    assert_eq!(accepted.status, 202, "{accepted:?}");
    // Every brick was made; the gluster volume is held back.
    s.wait_for_fault("volume_create", 1);
    assert_eq!(s.get(&accepted.location()).header("x-pending"), Some("true"));
    s.kill9();

    // The snapshot alone knows nothing of the create ...
    let snapshot: Value = serde_json::from_slice(&std::fs::read(s.mock_state_path()).unwrap()).unwrap();
    let snapshot_lvs: usize = snapshot["hosts"]
        .as_object()
        .unwrap()
        .values()
        .map(|h| h["lvs"].as_object().map_or(0, serde_json::Map::len))
        .sum();
    assert_eq!(snapshot_lvs, 0, "{snapshot}");
    // ... the replayed log has its three bricks (a thin pool and an LV each).
    let lvs = s.mock_lvs();
    assert_eq!(lvs.len(), 6, "{lvs:?}");
    assert_eq!(lvs.iter().filter(|lv| lv.contains("/brick_")).count(), 3, "{lvs:?}");
    assert!(gluster_volumes(&s).is_empty());

    s.restart_with_env(vec![]);
    let outcome = s.wait(&accepted.location());
    assert_eq!(outcome.status, 500, "{outcome:?}");
    assert!(
        outcome.body.contains("interrupted by restart, rolled back"),
        "{}",
        outcome.body
    );
    // The undo found the bricks the log kept, and removed them.
    assert!(s.mock_lvs().is_empty(), "{:?}", s.mock_lvs());
    s.assert_consistent();
    assert_no_dangling_bricks(&s);
}
