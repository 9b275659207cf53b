use insta::assert_snapshot;
use serde_json::json;

use crate::harness::{Options, Redactor, Server};

fn setup(s: &Server) -> (String, String) {
    let cluster = s.create_cluster();
    let node = s.add_node(&cluster, 1, "node1", "10.0.0.1");
    (cluster, node)
}

#[test]
fn device_add_info_and_delete() {
    let s = Server::start();
    let mut r = Redactor::default();
    let (cluster, node) = setup(&s);
    r.redact(&cluster);
    r.redact(&node);
    let accepted = s.post(
        "/devices",
        &json!({"node": node, "name": "/dev/sdb", "tags": {"tier": "gold"}}).to_string(),
    );
    assert_snapshot!("device_add_accepted", r.reply(&accepted));
    assert_snapshot!("device_add_done", r.reply(&s.wait(&accepted.location())));
    let node_info = s.get(&format!("/nodes/{node}"));
    assert_snapshot!("node_info_with_device", r.reply(&node_info));
    let embedded = node_info.json()["devices"][0].clone();
    let device = embedded["id"].as_str().unwrap().to_string();
    let info = s.get(&format!("/devices/{device}"));
    assert_eq!(info.json(), embedded, "device info equals the node's embedded entry");
    assert_snapshot!("device_info", r.reply(&info));
    // 500 GiB in KiB, all free.
    assert_eq!(
        info.json()["storage"],
        json!({"total": 524288000, "free": 524288000, "used": 0})
    );
    // The node holds the VG now.
    assert!(s.mock_nodes()["hosts"]["node1"]["vgs"]
        .get(format!("vg_{device}"))
        .is_some());

    assert_snapshot!(
        "device_delete_not_failed",
        r.reply(&s.delete(&format!("/devices/{device}")))
    );
    s.set_state("devices", &device, "offline");
    s.set_state("devices", &device, "failed");
    let deleted = s.finish(s.delete(&format!("/devices/{device}")));
    assert_eq!(deleted.status, 204);
    assert_eq!(s.get(&format!("/devices/{device}")).status, 404);
    assert_eq!(s.get(&format!("/nodes/{node}")).json()["devices"], json!([]));
    assert_eq!(s.mock_nodes()["hosts"]["node1"]["vgs"], json!({}));
    assert_eq!(s.mock_nodes()["hosts"]["node1"]["pvs"], json!({}));
    // The name is free again.
    s.add_device(&node, "/dev/sdb");
}

#[test]
fn device_add_errors() {
    let s = Server::start();
    let mut r = Redactor::default();
    let (_, node) = setup(&s);
    r.redact(&node);
    assert_snapshot!("device_add_blank", r.reply(&s.post("/devices", "{}")));
    assert_snapshot!(
        "device_add_unknown_node",
        r.reply(&s.post(
            "/devices",
            r#"{"node":"0123456789abcdef0123456789abcdef","name":"/dev/sdb"}"#
        ))
    );
    for hostile in [
        "/dev/sdb; reboot",
        "/dev/$(id)",
        "sdb",
        "/dev/`x`",
        "/dev/a b",
        "/dev/x'y",
    ] {
        let reply = s.post("/devices", &json!({"node": node, "name": hostile}).to_string());
        assert_eq!(
            reply.body, "validation failed: name: must be in a valid format.\n",
            "{hostile}"
        );
    }
    let bad_tag = s.post(
        "/devices",
        &json!({"node": node, "name": "/dev/sdc", "tags": {"": "x"}}).to_string(),
    );
    assert_eq!(bad_tag.body, "validation failed: tags: tag names may not be empty.\n");
    s.add_device(&node, "/dev/sdb");
    assert_snapshot!(
        "device_add_duplicate",
        r.reply(&s.post("/devices", &json!({"node": node, "name": "/dev/sdb"}).to_string()))
    );
}

#[test]
fn device_setup_failure_and_destroydata() {
    let s = Server::with(Options {
        env: vec![(
            "BRICKYARD_MOCK_FAULTS".into(),
            "device_setup:1:fail:  Device /dev/sdc excluded by a filter.".into(),
        )],
        ..Options::default()
    });
    let (_, node) = setup(&s);
    let failed = s.finish(s.post("/devices", &json!({"node": node, "name": "/dev/sdc"}).to_string()));
    assert_eq!(failed.status, 500);
    assert_eq!(
        failed.body,
        "Setup of device /dev/sdc failed (already initialized or contains data?):   Device /dev/sdc excluded by a filter.\n"
    );
    assert_eq!(s.get(&format!("/nodes/{node}")).json()["devices"], json!([]));
    // Retrying works: the name reservation was released.
    s.add_device(&node, "/dev/sdc");

    // A device Brickyard manages is never set up twice, even with destroydata.
    s.add_device(&node, "/dev/sdd");
    let refused = s.post(
        "/devices",
        &json!({"node": node, "name": "/dev/sdd", "destroydata": true}).to_string(),
    );
    assert_eq!(refused.status, 409, "{refused:?}");
}

#[test]
fn existing_pv_needs_destroydata() {
    let s = Server::with(Options {
        env: vec![(
            "BRICKYARD_MOCK_FAULTS".into(),
            "device_teardown:1:fail:vgremove failed,device_forget:*:fail".into(),
        )],
        ..Options::default()
    });
    let (_, node) = setup(&s);
    let dev = s.add_device(&node, "/dev/sde");
    s.set_state("devices", &dev, "offline");
    s.set_state("devices", &dev, "failed");
    // Teardown fails: the device stays, and the error names the cause.
    let failed = s.finish(s.delete(&format!("/devices/{dev}")));
    assert_eq!((failed.status, failed.body.as_str()), (500, "vgremove failed\n"));
    assert_eq!(s.get(&format!("/devices/{dev}")).status, 200);
    // forceforget drops the record although the node could not be cleaned.
    let forgot = s.finish(s.raw(
        "DELETE",
        &format!("/devices/{dev}"),
        Some(r#"{"forceforget":true}"#),
        &[],
    ));
    assert_eq!(forgot.status, 204);
    assert_eq!(s.get(&format!("/devices/{dev}")).status, 404);
    // The forgotten PV is still on the node: a plain add refuses it ...
    let plain = s.finish(s.post("/devices", &json!({"node": node, "name": "/dev/sde"}).to_string()));
    assert_eq!(plain.status, 500);
    assert!(
        plain.body.contains("already contains Physical Volume"),
        "{}",
        plain.body
    );
    // ... and destroydata wipes it, since no known device owns that PV.
    let wiped = s.finish(s.post(
        "/devices",
        &json!({"node": node, "name": "/dev/sde", "destroydata": true}).to_string(),
    ));
    assert_eq!(wiped.status, 204, "{wiped:?}");
}

#[test]
fn device_states_tags_and_resync() {
    let mut s = Server::start();
    let mut r = Redactor::default();
    let (_, node) = setup(&s);
    let dev = s.add_device(&node, "/dev/sdb");
    r.redact(&dev);
    assert_snapshot!(
        "device_online_to_failed",
        r.reply(&s.set_state("devices", &dev, "failed"))
    );
    s.set_state("devices", &dev, "offline");
    assert_eq!(s.set_state("devices", &dev, "failed").status, 204);
    assert_eq!(
        s.set_state("devices", &dev, "online").body,
        "Cannot move a failed/removed device to online state\n"
    );
    // failed → offline → online brings an empty device back.
    assert_eq!(s.set_state("devices", &dev, "offline").status, 204);
    assert_eq!(s.set_state("devices", &dev, "online").status, 204);

    let path = format!("/devices/{dev}/tags");
    assert_eq!(
        s.post(&path, r#"{"change_type":"update","tags":{"tier":"gold"}}"#)
            .json(),
        json!({"tier": "gold"})
    );
    assert_eq!(s.post(&path, r#"{"change_type":"set","tags":{"":"x"}}"#).status, 400);
    assert_eq!(
        s.get(&format!("/devices/{dev}")).json()["tags"],
        json!({"tier": "gold"})
    );

    // Resync takes the size from LVM. A volume holds space on the device,
    // then the node's disk grows (its volume group gains 100 GiB, written
    // into the mock's node state while the server is down).
    s.create_volume(r#"{"size":10,"durability":{"type":"none"}}"#);
    let before = s.get(&format!("/devices/{dev}")).json()["storage"].clone();
    let used = before["used"].as_u64().unwrap();
    assert!(used > 0, "{before}");
    s.kill9();
    let mut nodes = s.mock_nodes();
    let vg = nodes["hosts"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .find_map(|host| host["vgs"].get_mut(format!("vg_{dev}")))
        .expect("the device's volume group on its node");
    let extent_kib = vg["extent_size"].as_u64().unwrap();
    let grown = vg["extents"].as_u64().unwrap() + 100 * 1024 * 1024 / extent_kib;
    vg["extents"] = json!(grown);
    s.set_mock_nodes(&nodes);
    s.restart();
    let resync = s.get(&format!("/devices/{dev}/resync"));
    assert_eq!(resync.status, 202);
    assert_eq!(s.wait(&resync.location()).status, 204);
    let after = s.get(&format!("/devices/{dev}")).json()["storage"].clone();
    assert_eq!(after["total"].as_u64().unwrap(), grown * extent_kib);
    assert_eq!(
        after["total"].as_u64().unwrap(),
        before["total"].as_u64().unwrap() + 100 * 1024 * 1024
    );
    assert_eq!(after["used"].as_u64().unwrap(), used, "the bricks' account is kept");
    assert_eq!(after["free"].as_u64().unwrap(), grown * extent_kib - used);
    s.assert_consistent();
    assert_eq!(s.get("/devices/0123456789abcdef0123456789abcdef/resync").status, 404);
}
