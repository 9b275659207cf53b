//! Node and device lifecycle on the mock executor: evacuation of failed
//! devices and nodes, brick eviction, removal, and what survives a crash.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{Options, Server};

const R3: &str = r#"{"size":10,"durability":{"type":"replicate","replicate":{"replica":3}}}"#;

fn with_faults(faults: &str) -> Server {
    Server::with(Options {
        env: vec![("BRICKYARD_MOCK_FAULTS".into(), faults.into())],
        ..Options::default()
    })
}

fn s_of(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

/// Every device of every node: id → (node id, info).
fn devices(s: &Server) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for c in s.get("/clusters").json()["clusters"].as_array().unwrap() {
        for n in s.get(&format!("/clusters/{}", s_of(c))).json()["nodes"]
            .as_array()
            .unwrap()
        {
            for d in s.get(&format!("/nodes/{}", s_of(n))).json()["devices"]
                .as_array()
                .unwrap()
            {
                out.insert(s_of(&d["id"]), s.get(&format!("/devices/{}", s_of(&d["id"]))).json());
            }
        }
    }
    out
}

fn storage_host(s: &Server, node: &str) -> String {
    s_of(&s.get(&format!("/nodes/{node}")).json()["hostnames"]["storage"][0])
}

/// The volume's bricks as the mock's gluster lists them, and as the API does.
fn assert_gluster_matches(s: &Server, volume: &Value) {
    let info = s.get(&format!("/volumes/{}", s_of(&volume["id"]))).json();
    let mut api: Vec<String> = info["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| format!("{}:{}", storage_host(s, b["node"].as_str().unwrap()), s_of(&b["path"])))
        .collect();
    let mut gluster: Vec<String> =
        serde_json::from_value(s.mock_nodes()["volumes"][s_of(&info["name"])]["bricks"].clone()).unwrap();
    api.sort();
    gluster.sort();
    assert_eq!(api, gluster, "gluster and the store agree on the bricks");
    let nodes: BTreeSet<&str> = info["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes.len(), 3, "the set stays on three nodes: {info}");
}

/// LVs on the mock nodes: exactly a pool and a thin LV per brick in the store.
fn assert_lvs_match(s: &Server) {
    let bricks: usize = devices(s).values().map(|d| d["bricks"].as_array().unwrap().len()).sum();
    assert_eq!(s.mock_lvs().len(), 2 * bricks, "{:?}", s.mock_lvs());
}

/// How many command lines containing `needle` the mock nodes have run.
fn commands_run(s: &Server, needle: &str) -> usize {
    s.mock_nodes()["hosts"].as_object().map_or(0, |hosts| {
        hosts
            .values()
            .flat_map(|h| h["commands"].as_array().cloned().unwrap_or_default())
            .filter(|c| c.as_str().unwrap_or("").contains(needle))
            .count()
    })
}

fn device_with_bricks(s: &Server, at_least: usize) -> (String, Value) {
    devices(s)
        .into_iter()
        .find(|(_, d)| d["bricks"].as_array().unwrap().len() >= at_least)
        .expect("a device with bricks")
}

#[test]
fn failing_a_device_moves_its_bricks_and_frees_it_for_delete() {
    let s = Server::start();
    s.topology(3, 2);
    let volume = s.create_volume(R3);
    let (device, info) = device_with_bricks(&s, 1);
    let old_brick = s_of(&info["bricks"][0]["id"]);
    let node = s_of(&info["bricks"][0]["node"]);

    // Online to failed is refused; offline first.
    let refused = s.set_state("devices", &device, "failed");
    assert_eq!(refused.status, 500);
    assert_eq!(
        refused.body,
        format!("Device must be offline before remove operation is performed, device:{device}\n")
    );
    assert_eq!(s.set_state("devices", &device, "offline").status, 204);
    let done = s.set_state("devices", &device, "failed");
    assert_eq!(done.status, 204, "{done:?}");

    let after = s.get(&format!("/devices/{device}")).json();
    assert_eq!(after["state"], "failed");
    assert_eq!(after["bricks"], json!([]));
    assert_eq!(after["storage"]["used"], 0);
    let info = s.get(&format!("/volumes/{}", s_of(&volume["id"]))).json();
    let ids: Vec<&str> = info["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&old_brick.as_str()));
    // The only device outside the set's other nodes is the node's second one.
    let moved = info["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["node"] == node.as_str())
        .unwrap();
    assert_ne!(moved["device"], device.as_str());
    assert_gluster_matches(&s, &volume);
    assert_eq!(commands_run(&s, "replace-brick"), 1);
    assert_eq!(commands_run(&s, "volume heal"), 1, "healing starts at once");
    assert_lvs_match(&s);
    s.assert_consistent();

    // Emptied and failed: it can be deleted, its volume group goes too.
    assert_eq!(s.finish(s.delete(&format!("/devices/{device}"))).status, 204);
    assert_eq!(s.get(&format!("/devices/{device}")).status, 404);
    let vgs: Vec<String> = s.mock_nodes()["hosts"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|h| h["vgs"].as_object().unwrap().keys().cloned().collect::<Vec<_>>())
        .collect();
    assert!(!vgs.contains(&format!("vg_{device}")), "{vgs:?}");
    // A failed, empty device could come back; this one is gone.
    s.assert_consistent();
}

#[test]
fn no_replacement_changes_nothing_and_says_why() {
    let s = Server::start();
    s.topology(3, 1);
    s.create_volume(R3);
    let (device, _) = device_with_bricks(&s, 1);
    let before = devices(&s);
    let lvs = s.mock_lvs();
    assert_eq!(s.set_state("devices", &device, "offline").status, 204);
    let refused = s.set_state("devices", &device, "failed");
    assert_eq!(refused.status, 500);
    assert!(
        refused.body.starts_with(&format!(
            "Unable to delete device [{device}] as no device was found to replace it: \
             No Replacement was found for resource requested to be removed: "
        )),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("no other online device"), "{}", refused.body);
    let mut after = devices(&s);
    assert_eq!(after[&device]["state"], "offline");
    after.get_mut(&device).unwrap()["state"] = before[&device]["state"].clone();
    assert_eq!(after, before, "bricks and space unchanged");
    assert_eq!(s.mock_lvs(), lvs);
    s.assert_consistent();
}

#[test]
fn failing_a_node_moves_every_brick_to_the_fourth_node() {
    let s = Server::start();
    let (_, nodes) = s.topology(4, 1);
    let volumes: Vec<Value> = (0..2).map(|_| s.create_volume(R3)).collect();
    let node = nodes
        .iter()
        .find(|n| {
            let d = s.get(&format!("/nodes/{n}")).json()["devices"][0].clone();
            !d["bricks"].as_array().unwrap().is_empty()
        })
        .unwrap()
        .clone();
    let refused = s.set_state("nodes", &node, "failed");
    assert_eq!(
        refused.body,
        format!("Node must be offline before remove operation is performed, node:{node}\n")
    );
    assert_eq!(s.set_state("nodes", &node, "offline").status, 204);
    let done = s.set_state("nodes", &node, "failed");
    assert_eq!(done.status, 204, "{done:?}");
    let info = s.get(&format!("/nodes/{node}")).json();
    assert_eq!(info["state"], "failed");
    assert_eq!(info["devices"][0]["state"], "failed");
    assert_eq!(info["devices"][0]["bricks"], json!([]));
    for v in &volumes {
        assert_gluster_matches(&s, v);
    }
    assert_eq!(
        s.set_state("nodes", &node, "online").body,
        "Cannot move a failed/removed node to online state\n"
    );
    assert_lvs_match(&s);
    s.assert_consistent();

    let device = s_of(&info["devices"][0]["id"]);
    assert_eq!(s.delete(&format!("/nodes/{node}")).status, 409, "devices first");
    assert_eq!(s.finish(s.delete(&format!("/devices/{device}"))).status, 204);
    assert_eq!(s.finish(s.delete(&format!("/nodes/{node}"))).status, 204);
    assert!(commands_run(&s, "peer detach") > 0, "the node left the trusted pool");
    s.assert_consistent();
}

#[test]
fn brick_evict_replaces_exactly_one_brick() {
    let s = Server::start();
    s.topology(4, 1);
    let volume = s.create_volume(R3);
    let brick = s_of(&volume["bricks"][1]["id"]);

    let bad = s.post(&format!("/bricks/to-evict/{brick}"), r#"{"healcheck":"sometimes"}"#);
    assert_eq!(
        (bad.status, bad.body.as_str()),
        (
            400,
            "validation failed: healcheck: sometimes is not valid heal info check.\n"
        )
    );
    assert_eq!(
        s.post("/bricks/to-evict/0123456789abcdef0123456789abcdef", "").status,
        404
    );

    let done = s.finish(s.post(&format!("/bricks/to-evict/{brick}"), ""));
    assert_eq!(done.status, 204, "{done:?}");
    let info = s.get(&format!("/volumes/{}", s_of(&volume["id"]))).json();
    let before: BTreeSet<String> = volume["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| s_of(&b["id"]))
        .collect();
    let after: BTreeSet<String> = info["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| s_of(&b["id"]))
        .collect();
    assert_eq!(before.difference(&after).collect::<Vec<_>>(), [&brick]);
    assert_eq!(after.difference(&before).count(), 1);
    assert_eq!(info["size"], volume["size"]);
    assert_gluster_matches(&s, &volume);

    // Heal check off, through the optional body.
    let brick = s_of(&info["bricks"][0]["id"]);
    let done = s.finish(s.post(&format!("/bricks/to-evict/{brick}"), r#"{"healcheck":"disable"}"#));
    assert_eq!(done.status, 204, "{done:?}");
    assert_gluster_matches(&s, &volume);
    assert_lvs_match(&s);
    s.assert_consistent();

    // Distribute-only volumes have nothing to heal a new brick from.
    let plain = s.create_volume(r#"{"size":1,"durability":{"type":"none"}}"#);
    let refused = s.post(&format!("/bricks/to-evict/{}", s_of(&plain["bricks"][0]["id"])), "");
    assert_eq!(refused.status, 500);
    assert_eq!(
        refused.body,
        "Failed to set up brick eviction: replace brick is not supported for volume durability type none\n"
    );
}

#[test]
fn evacuation_progress_shows_in_operations() {
    let s = with_faults("brick_replace:*:delay:1500");
    s.topology(4, 1);
    s.create_volume(R3);
    let (device, _) = device_with_bricks(&s, 1);
    assert_eq!(s.set_state("devices", &device, "offline").status, 204);
    let accepted = s.post(&format!("/devices/{device}/state"), r#"{"state":"failed"}"#);
    assert_eq!(accepted.status, 202);
    let deadline = Instant::now() + Duration::from_secs(10);
    let kinds = loop {
        let list = s.get("/operations/pending").json();
        let kinds: BTreeSet<String> = list["pendingoperations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| s_of(&o["type_name"]))
            .collect();
        if kinds.len() == 2 || Instant::now() > deadline {
            break (kinds, list);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (kinds, list) = kinds;
    assert_eq!(
        kinds,
        BTreeSet::from(["evict-brick".to_string(), "remove-device".to_string()]),
        "{list}"
    );
    let parent = list["pendingoperations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["type_name"] == "remove-device")
        .unwrap();
    let details = s.get(&format!("/operations/pending/{}", s_of(&parent["id"]))).json();
    let changes: Vec<&str> = details["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["description"].as_str().unwrap())
        .collect();
    assert_eq!(changes, ["Remove device", "Performing child operation"], "{details}");
    assert_eq!(s.wait(&accepted.location()).status, 204);
    s.assert_consistent();
}

/// Kills the server once the mock has run `replaced` replace-brick commands
/// and a fault rule holds the operation in `held`.
fn kill_after_replacements(s: &mut Server, replaced: usize, held: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let count = commands_run(s, "replace-brick");
        if count >= replaced {
            break;
        }
        assert!(Instant::now() < deadline, "no replace-brick after 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    s.wait_for_fault(held, 1);
    s.kill9();
}

#[test]
fn an_evacuation_killed_between_replacements_resumes_when_repeated() {
    let mut s = with_faults("brick_replace:2+:delay:5000");
    s.topology(4, 1);
    s.create_volume(R3);
    s.create_volume(R3);
    let (device, info) = device_with_bricks(&s, 2);
    let bricks = info["bricks"].as_array().unwrap().len();
    assert_eq!(s.set_state("devices", &device, "offline").status, 204);
    let accepted = s.post(&format!("/devices/{device}/state"), r#"{"state":"failed"}"#);
    assert_eq!(accepted.status, 202);
    // The next replacement is held in its replace-brick.
    kill_after_replacements(&mut s, 1, "brick_replace");
    s.restart_with_env(vec![]);
    s.wait_recovered();
    let outcome = s.wait(&accepted.location());
    assert_eq!(outcome.status, 500);
    assert!(
        outcome
            .body
            .contains(&format!("interrupted by a restart with {} brick(s) left", bricks - 1)),
        "{}",
        outcome.body
    );
    let after = s.get(&format!("/devices/{device}")).json();
    assert_eq!(after["state"], "offline", "not failed until empty");
    assert_eq!(
        after["bricks"].as_array().unwrap().len(),
        bricks - 1,
        "the first brick stayed moved"
    );
    assert_lvs_match(&s);
    s.assert_consistent();

    // The same request again: it continues with what is left.
    assert_eq!(s.set_state("devices", &device, "failed").status, 204);
    let after = s.get(&format!("/devices/{device}")).json();
    assert_eq!(after["state"], "failed");
    assert_eq!(after["bricks"], json!([]));
    for v in s.get("/volumes").json()["volumes"].as_array().unwrap() {
        assert_gluster_matches(&s, &s.get(&format!("/volumes/{}", s_of(v))).json());
    }
    assert_lvs_match(&s);
    s.assert_consistent();
}

#[test]
fn an_evict_killed_after_gluster_switched_is_finished_at_start_up() {
    // The old brick's removal stalls: replace-brick has already happened.
    let mut s = with_faults("brick_destroy:1:delay:5000");
    s.topology(4, 1);
    let volume = s.create_volume(R3);
    let brick = s_of(&volume["bricks"][0]["id"]);
    let accepted = s.post(&format!("/bricks/to-evict/{brick}"), "");
    assert_eq!(accepted.status, 202);
    kill_after_replacements(&mut s, 1, "brick_destroy");
    s.restart_with_env(vec![]);
    s.wait_recovered();
    assert_eq!(
        s.wait(&accepted.location()).status,
        204,
        "finished forward, not reverted"
    );
    let info = s.get(&format!("/volumes/{}", s_of(&volume["id"]))).json();
    assert!(info["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["id"] != brick.as_str()));
    assert_gluster_matches(&s, &volume);
    assert_lvs_match(&s);
    s.assert_consistent();
}

#[test]
fn a_brick_on_an_unreachable_node_is_replaced_and_removed_when_it_answers() {
    let mut s = Server::start();
    let (_, nodes) = s.topology(4, 1);
    // The volume goes on nodes 1-3; node 4 then takes the replacement.
    assert_eq!(s.set_state("nodes", &nodes[3], "offline").status, 204);
    let volume = s.create_volume(R3);
    assert_eq!(s.set_state("nodes", &nodes[3], "online").status, 204);
    // From now on node 1 cannot be reached.
    let unreachable = "ssh: connect to host node1: No route to host";
    s.restart_with_env(vec![(
        "BRICKYARD_MOCK_FAULTS".into(),
        format!("brick_destroy@node1:*:fail:{unreachable},glusterd_check@node1:*:fail:{unreachable}"),
    )]);
    let brick = volume["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["node"] == nodes[0].as_str())
        .map(|b| s_of(&b["id"]))
        .unwrap();
    let device = s_of(&s.get(&format!("/nodes/{}", nodes[0])).json()["devices"][0]["id"]);
    let used_before = s.get(&format!("/devices/{device}")).json()["storage"]["used"].clone();

    let done = s.finish(s.post(&format!("/bricks/to-evict/{brick}"), ""));
    assert_eq!(done.status, 204, "{done:?}");
    assert_gluster_matches(&s, &volume);
    // Out of the volume and of the device's brick list; its space is still held.
    let held = s.get(&format!("/devices/{device}")).json();
    assert_eq!(held["bricks"], json!([]));
    assert_eq!(held["storage"]["used"], used_before);
    assert!(
        s.mock_lvs().iter().any(|lv| lv.contains(&brick)),
        "left on the node for now"
    );
    s.assert_consistent();

    // The node answers again: the next cleanup removes the old brick.
    s.restart_with_env(vec![]);
    assert_eq!(s.finish(s.post("/operations/pending/cleanup", "{}")).status, 204);
    assert!(!s.mock_lvs().iter().any(|lv| lv.contains(&brick)), "{:?}", s.mock_lvs());
    assert_eq!(s.get(&format!("/devices/{device}")).json()["storage"]["used"], 0);
    assert_lvs_match(&s);
    s.assert_consistent();
}

#[test]
fn a_volume_waits_while_one_of_its_bricks_is_evicted() {
    let s = with_faults("brick_replace:*:delay:3000");
    s.topology(4, 1);
    let volume = s.create_volume(R3);
    let id = s_of(&volume["id"]);
    let (first, second) = (s_of(&volume["bricks"][0]["id"]), s_of(&volume["bricks"][1]["id"]));
    let accepted = s.post(&format!("/bricks/to-evict/{first}"), "");
    assert_eq!(accepted.status, 202);
    let in_use = "The target exists, contains other items, or is in use.\n";
    let expand = s.post(&format!("/volumes/{id}/expand"), r#"{"expand_size":1}"#);
    assert_eq!(
        (expand.status, expand.body),
        (500, format!("Failed to allocate volume expansion: {in_use}"))
    );
    let clone = s.post(&format!("/volumes/{id}/clone"), "{}");
    assert_eq!(
        (clone.status, clone.body),
        (500, format!("Failed clone volume {id}: {in_use}"))
    );
    let delete = s.delete(&format!("/volumes/{id}"));
    assert_eq!(delete.status, 500, "{delete:?}");
    let again = s.post(&format!("/bricks/to-evict/{first}"), "");
    assert_eq!(
        again.body,
        format!("Failed to set up brick eviction: Can not evict brick {first}: brick is pending\n")
    );
    let other = s.post(&format!("/bricks/to-evict/{second}"), "");
    assert_eq!(
        other.body,
        format!("Failed to set up brick eviction: Can not evict brick {second} from volume {id}: volume has pending bricks\n")
    );
    assert_eq!(s.wait(&accepted.location()).status, 204);
    assert_gluster_matches(&s, &volume);
    // Afterwards the volume takes changes again.
    assert_eq!(
        s.finish(s.post(&format!("/volumes/{id}/expand"), r#"{"expand_size":1}"#))
            .status,
        303
    );
    s.assert_consistent();
}
