//! `GET /db/dump` and the offline `db export`: Heketi's export document.

use std::process::Command;

use serde_json::Value;

use crate::harness::{Options, Server};

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn dump_is_heketis_export_and_matches_the_offline_export() {
    let mut s = Server::with(Options::default());
    let (cluster, nodes) = s.topology(3, 1);
    let replicated =
        s.create_volume(r#"{"size":2,"durability":{"type":"replicate","replicate":{"replica":3}},"gid":2001}"#);
    s.create_volume(r#"{"size":2,"durability":{"type":"disperse","disperse":{"data":2,"redundancy":1}}}"#);
    // Heketi keeps the clusters a create asked for in the volume's `Info`.
    let placed = s.create_volume(&format!(r#"{{"size":1,"clusters":["{cluster}"]}}"#));

    let dump = s.get("/db/dump");
    assert_eq!(dump.status, 200);
    assert!(
        dump.body.starts_with("{\n    \"clusterentries\": {"),
        "Heketi's layout: {}",
        &dump.body[..60]
    );
    assert!(dump.body.ends_with("}\n"));
    let db: Value = serde_json::from_str(&dump.body).unwrap();
    assert_eq!(
        keys(&db),
        [
            "blockvolumeentries",
            "brickentries",
            "clusterentries",
            "dbattributeentries",
            "deviceentries",
            "nodeentries",
            "pendingoperations",
            "volumeentries"
        ]
    );
    let c = &db["clusterentries"][&cluster]["Info"];
    assert_eq!(c["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(c["volumes"].as_array().unwrap().len(), 3);
    assert_eq!(db["nodeentries"][&nodes[0]]["State"], "online");
    assert_eq!(db["brickentries"].as_object().unwrap().len(), 7);
    let generation = db["dbattributeentries"]["DB_GENERATION_ID"]["Value"].as_str().unwrap();
    assert_eq!(generation.len(), 32);

    // Every brick's pool is charged to its device: used adds up.
    for (id, device) in db["deviceentries"].as_object().unwrap() {
        let used: u64 = device["Bricks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                let brick = &db["brickentries"][b.as_str().unwrap()];
                assert_eq!(brick["Info"]["device"], id.as_str());
                brick["TpSize"].as_u64().unwrap() + brick["PoolMetadataSize"].as_u64().unwrap()
            })
            .sum();
        let storage = &device["Info"]["storage"];
        assert_eq!(storage["used"].as_u64().unwrap(), used, "device {id}");
        assert_eq!(
            storage["total"].as_u64().unwrap(),
            used + storage["free"].as_u64().unwrap()
        );
    }
    let v = &db["volumeentries"][replicated["id"].as_str().unwrap()];
    assert_eq!(v["Info"]["gid"], 2001);
    assert_eq!(v["Info"]["durability"]["replicate"]["replica"], 3);
    assert_eq!(v["Info"]["mount"], replicated["mount"]);
    assert_eq!(v["Bricks"].as_array().unwrap().len(), 3);
    assert_eq!(v["Pending"]["Id"], "");
    assert_eq!(db["pendingoperations"], serde_json::json!({}));
    // `clusters` as Heketi writes it: after `size`, only when asked for.
    assert!(v["Info"].get("clusters").is_none(), "{}", v["Info"]);
    let placed_id = placed["id"].as_str().unwrap();
    assert_eq!(
        db["volumeentries"][placed_id]["Info"]["clusters"],
        serde_json::json!([cluster])
    );
    let size_then_clusters = format!(
        "\"Info\": {{\n                \"size\": 1,\n                \"clusters\": [\n                    \"{cluster}\"\n                ],\n                \"name\": \"vol_{placed_id}\","
    );
    assert!(dump.body.contains(&size_then_clusters), "{}", dump.body);

    // The offline tool writes the same document from the stopped server's store.
    s.kill9();
    let out_file = s.dir.path().join("export.json");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_brickyard"))
            .args(args)
            .output()
            .unwrap()
    };
    let store = s.store_location();
    let export = run(&[
        "db",
        "export",
        "--dbfile",
        store.as_str(),
        "--jsonfile",
        out_file.to_str().unwrap(),
    ]);
    assert!(export.status.success(), "{export:?}");
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), dump.body);
    let again = run(&[
        "db",
        "export",
        "--dbfile",
        store.as_str(),
        "--jsonfile",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(255), "an existing file is never overwritten");
    assert!(String::from_utf8_lossy(&again.stderr).starts_with("Error: unable to create"));
    let stdout = run(&["db", "export", "--dbfile", store.as_str(), "--jsonfile", "-"]);
    assert_eq!(String::from_utf8_lossy(&stdout.stdout), dump.body);
}
