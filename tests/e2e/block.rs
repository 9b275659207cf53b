//! Block volumes on real nodes, through the testbed's gluster-block
//! stand-in: a block volume on an automatically created hosting volume
//! (real bricks, a real replica-3 gluster volume), its backing file and
//! gluster-block's metadata present in the volume on every brick,
//! expanded, deleted; then the hosting volume and the topology go and the
//! nodes are clean.

use serde_json::{json, Value};

use super::harness::{Options, Server};
use super::testbed::Testbed;
use super::{assert_nodes_clean, assert_space_whole, load_topology, node_of_brick, remove_topology};

const GIB: u64 = 1024 * 1024 * 1024;

/// Each brick of the hosting volume: its node and directory.
fn bricks(tb: &Testbed, s: &Server, hosting: &Value) -> Vec<(usize, String)> {
    hosting["bricks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (node_of_brick(tb, s, b), b["path"].as_str().unwrap().to_string()))
        .collect()
}

/// On which bricks the block volume's backing file is (gluster-block's
/// `block-store/<gbid>`; with `group gluster-block` the volume shards, so a
/// brick holds its first shard, the mount its whole size).
fn backing_on_bricks(tb: &Testbed, bricks: &[(usize, String)], gbid: &str) -> Vec<bool> {
    bricks
        .iter()
        .map(|(node, path)| {
            tb.try_sh(*node, &format!("test -f {path}/block-store/{gbid}"))
                .status
                .success()
        })
        .collect()
}

/// The backing file's size as a fresh client of volume `hv` sees it (a
/// mount of its own, so no cached attributes).
fn backing_size(tb: &Testbed, hv: &str, gbid: &str) -> Option<u64> {
    let mnt = tb.fuse_mount(hv, 1);
    let size = std::fs::metadata(mnt.join("block-store").join(gbid))
        .ok()
        .map(|m| m.len());
    let unmounted = std::process::Command::new("umount").arg(&mnt).status().unwrap();
    assert!(unmounted.success());
    size
}

pub fn block_volume_on_an_auto_created_hosting_volume(tb: &Testbed) {
    let s = Server::with(Options {
        glusterfs: Some(json!({
            "executor": "ssh",
            "sshexec": tb.sshexec(),
            "auto_create_block_hosting_volume": true,
            "block_hosting_volume_size": 4,
        })),
        wait_secs: 180,
        ..Options::default()
    });
    load_topology(tb, &s);
    assert!(s.get("/volumes").json()["volumes"].as_array().unwrap().is_empty());

    let done = s.finish(s.post("/blockvolumes", r#"{"size":1,"name":"lun0","auth":true}"#));
    assert_eq!(done.status, 303, "block volume create: {done:?}");
    let block = s.get(&done.location()).json();
    let id = block["id"].as_str().unwrap().to_string();
    assert_eq!((block["size"].clone(), block["hacount"].clone()), (json!(1), json!(3)));
    let iqn = block["blockvolume"]["iqn"].as_str().unwrap();
    let gbid = iqn
        .strip_prefix("iqn.2016-12.org.gluster-block:")
        .expect("gluster-block's IQN")
        .to_string();
    assert_eq!(block["blockvolume"]["username"], gbid.as_str());
    let mut hosts: Vec<String> = serde_json::from_value(block["blockvolume"]["hosts"].clone()).unwrap();
    hosts.sort();
    assert_eq!(hosts, (1..=3).map(|i| tb.ip(i)).collect::<Vec<_>>());

    // The hosting volume was made for it: a real replica-3 volume with gluster-block's options.
    let hv_id = block["blockhostingvolume"].as_str().unwrap().to_string();
    let hosting = s.get(&format!("/volumes/{hv_id}")).json();
    let hv = hosting["name"].as_str().unwrap().to_string();
    assert_eq!(
        hosting["blockinfo"],
        json!({"freesize": 2, "reservedsize": 1, "blockvolume": [id]})
    );
    let gluster = tb.sh(1, &format!("gluster --mode=script volume info {hv}"));
    assert!(gluster.contains("Number of Bricks: 1 x 3 = 3"), "{gluster}");
    assert!(gluster.contains("Status: Started"), "{gluster}");
    assert!(
        gluster.contains("features.shard: on"),
        "group gluster-block applied: {gluster}"
    );

    // The backing file and gluster-block's metadata are in the volume, on every brick.
    let bricks = bricks(tb, &s, &hosting);
    assert_eq!(backing_on_bricks(tb, &bricks, &gbid), vec![true; 3]);
    assert_eq!(backing_size(tb, &hv, &gbid), Some(GIB));
    for (node, path) in &bricks {
        let meta = tb.sh(*node, &format!("cat {path}/block-meta/lun0"));
        assert!(meta.contains(&format!("GBID: {gbid}")), "node {node}: {meta}");
        assert!(meta.contains("PREALLOC: full"), "Heketi's default prealloc: {meta}");
    }
    let info = tb.sh(2, &format!("gluster-block info {hv}/lun0 --json"));
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(
        (info["GBID"].as_str(), info["SIZE"].as_str()),
        (Some(gbid.as_str()), Some("1.0 GiB"))
    );

    // The examiner lists it from every node, as gluster-block there does.
    let examined = s.get("/internal/state/examine/gluster").json();
    for n in examined["clusters"][0]["NodesData"].as_array().unwrap() {
        assert_eq!(n["BlockVolumeNames"], json!([format!("{hv}/lun0")]), "{n}");
    }

    // A hosting volume with a block volume stays.
    assert_eq!(s.delete(&format!("/volumes/{hv_id}")).status, 409);

    let done = s.finish(s.post(&format!("/blockvolumes/{id}/expand"), r#"{"new_size":2}"#));
    assert_eq!(done.status, 303, "expand: {done:?}");
    let grown = s.get(&format!("/blockvolumes/{id}")).json();
    assert_eq!(
        (grown["size"].clone(), grown["usablesize"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(backing_size(tb, &hv, &gbid), Some(2 * GIB));
    assert_eq!(s.get(&format!("/volumes/{hv_id}")).json()["blockinfo"]["freesize"], 1);

    let done = s.finish(s.delete(&format!("/blockvolumes/{id}")));
    assert_eq!(done.status, 204, "delete: {done:?}");
    assert_eq!(backing_on_bricks(tb, &bricks, &gbid), vec![false; 3]);
    assert_eq!(backing_size(tb, &hv, &gbid), None);
    for (node, path) in &bricks {
        let left = tb.sh(*node, &format!("ls -A {path}/block-meta"));
        assert_eq!(left.trim(), "", "node {node} keeps block metadata");
    }
    assert_eq!(
        s.get(&format!("/volumes/{hv_id}")).json()["blockinfo"],
        json!({"freesize": 3, "reservedsize": 1})
    );
    s.assert_consistent();
    let done = s.finish(s.delete(&format!("/volumes/{hv_id}")));
    assert_eq!(done.status, 204, "hosting volume delete: {done:?}");
    assert_nodes_clean(tb, &[1, 2, 3]);
    assert_space_whole(&s);
    remove_topology(tb, &s);
}
