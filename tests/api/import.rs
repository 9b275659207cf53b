//! `db import`: Heketi's export JSON into a Brickyard store, and back.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::{Options, Server};

fn brickyard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brickyard"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `db import` of `json` into the store at `store`; returns its report.
fn import_into(json: &Path, store: &Path) -> String {
    ok(brickyard(&[
        "db",
        "import",
        "--jsonfile",
        json.to_str().unwrap(),
        "--dbfile",
        store.to_str().unwrap(),
    ]))
}

/// The one attribute an import must renew.
fn without_generation(mut export: Value) -> Value {
    let id = export["dbattributeentries"]["DB_GENERATION_ID"]["Value"].take();
    assert_eq!(id.as_str().map(str::len), Some(32));
    export
}

#[test]
fn export_import_export_round_trips() {
    let mut s = Server::with(Options::default());
    s.topology(3, 2);
    for body in [
        r#"{"size":3,"durability":{"type":"replicate","replicate":{"replica":3}},"gid":2001,"name":"app"}"#,
        r#"{"size":4,"durability":{"type":"replicate","replicate":{"replica":3}},"glustervolumeoptions":["user.heketi.arbiter true"]}"#,
        r#"{"size":2,"durability":{"type":"disperse","disperse":{"data":2,"redundancy":1}}}"#,
        r#"{"size":2,"durability":{"type":"none"},"snapshot":{"enable":true,"factor":1.5}}"#,
        r#"{"size":5,"block":true}"#,
    ] {
        s.create_volume(body);
    }
    let app = s.get("/volumes").json()["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .find(|v| s.get(&format!("/volumes/{v}")).json()["name"] == "app")
        .unwrap();
    let done = s.finish(s.post(&format!("/volumes/{app}/clone"), r#"{"name":"appclone"}"#));
    assert_eq!(done.status, 303);
    let first = s.get("/db/dump").body;
    s.kill9();

    let dir = s.dir.path();
    let json = dir.join("first.json");
    std::fs::write(&json, &first).unwrap();
    let store = dir.join("imported");
    let report = import_into(&json, &store);
    assert!(report.contains("Imported 6 volumes"), "{report}");
    assert!(report.contains("Consistency check: 0 inconsistencies"), "{report}");
    let second = ok(brickyard(&[
        "db",
        "export",
        "--dbfile",
        store.to_str().unwrap(),
        "--jsonfile",
        "-",
    ]));
    let (a, b): (Value, Value) = (
        serde_json::from_str(&first).unwrap(),
        serde_json::from_str(&second).unwrap(),
    );
    assert_ne!(
        a["dbattributeentries"]["DB_GENERATION_ID"], b["dbattributeentries"]["DB_GENERATION_ID"],
        "an import records a new generation"
    );
    assert_eq!(without_generation(a), without_generation(b));

    // A store with contents is not overwritten without --force.
    let again = brickyard(&[
        "db",
        "import",
        "--jsonfile",
        json.to_str().unwrap(),
        "--dbfile",
        store.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("is not empty"),
        "{again:?}"
    );
    ok(brickyard(&[
        "db",
        "import",
        "--force",
        "--jsonfile",
        json.to_str().unwrap(),
        "--dbfile",
        store.to_str().unwrap(),
    ]));

    // An export the indexes cannot hold is refused before the store is touched.
    let mut broken: Value = serde_json::from_str(&first).unwrap();
    let nodes: Vec<String> = broken["nodeentries"].as_object().unwrap().keys().cloned().collect();
    let taken = broken["nodeentries"][&nodes[0]]["Info"]["hostnames"]["manage"].clone();
    broken["nodeentries"][&nodes[1]]["Info"]["hostnames"]["manage"] = taken;
    let broken_file = dir.join("broken.json");
    std::fs::write(&broken_file, broken.to_string()).unwrap();
    let (broken_path, store_path) = (broken_file.to_str().unwrap(), store.to_str().unwrap());
    let refused = brickyard(&[
        "db",
        "import",
        "--force",
        "--jsonfile",
        broken_path,
        "--dbfile",
        store_path,
    ]);
    assert_eq!(refused.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("belongs to nodes"),
        "{refused:?}"
    );
    let after = ok(brickyard(&["db", "export", "--dbfile", store_path, "--jsonfile", "-"]));
    assert_eq!(
        serde_json::from_str::<Value>(&after).unwrap()["nodeentries"],
        serde_json::from_str::<Value>(&second).unwrap()["nodeentries"],
        "the store kept its contents"
    );
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_heketi_export_answers_as_heketi_would() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/heketi-export");
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let json = fixture.join("full.json");
    let report = import_into(&json, &store);
    assert!(report.contains("Imported 9 volumes"), "{report}");
    assert!(report.contains("Imported 1 block volumes"), "{report}");
    assert!(!report.contains("Left out: block"), "{report}");

    // Exported again (offline, before the first start recovers anything),
    // the block volume and its hosting volume are as Heketi wrote them.
    let again: Value = serde_json::from_str(&ok(brickyard(&[
        "db",
        "export",
        "--dbfile",
        store.to_str().unwrap(),
        "--jsonfile",
        "-",
    ])))
    .unwrap();
    let original = read_json(&json);
    assert_eq!(again["blockvolumeentries"], original["blockvolumeentries"]);
    // Each volume keeps the clusters its create asked for.
    for (id, v) in original["volumeentries"].as_object().unwrap() {
        assert_eq!(
            again["volumeentries"][id]["Info"]["clusters"], v["Info"]["clusters"],
            "volume {id}"
        );
    }
    let hosting = "63fcafeea7a602ce336e3c7547c2a149";
    assert_eq!(
        again["volumeentries"][hosting]["Info"]["blockinfo"],
        original["volumeentries"][hosting]["Info"]["blockinfo"]
    );
    let cluster = "bca9034945248f389027cb4d0a2e4567";
    assert_eq!(
        again["clusterentries"][cluster]["Info"]["blockvolumes"],
        original["clusterentries"][cluster]["Info"]["blockvolumes"]
    );

    // Brickyard recovers imported pending operations at its first start, as
    // any stale operation: the pending create's bricks are released, where
    // Heketi's cleaner would do so later. Expected answers drop them too.
    let export = read_json(&json);
    let pending: Vec<(String, u64)> = export["brickentries"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, b)| b["Pending"]["Id"] != "")
        .map(|(id, b)| {
            (
                id.clone(),
                b["TpSize"].as_u64().unwrap() + b["PoolMetadataSize"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(pending.len(), 3, "the fixture's pending create has three bricks");
    let release = |device: &mut Value| {
        for (id, charge) in &pending {
            let bricks = device["bricks"].as_array_mut().unwrap();
            if let Some(at) = bricks.iter().position(|b| b["id"] == id.as_str()) {
                bricks.remove(at);
                let storage = &mut device["storage"];
                storage["used"] = (storage["used"].as_u64().unwrap() - charge).into();
                storage["free"] = (storage["free"].as_u64().unwrap() + charge).into();
            }
        }
    };

    let s = Server::with(Options {
        seed_store: Some(store),
        ..Options::default()
    });
    s.wait_recovered();
    let mut compared = 0;
    for entry in std::fs::read_dir(fixture.join("expected")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let route = match name.split_once('-') {
            Some((kind, id)) => format!("/{kind}s/{id}"),
            None => format!("/{name}"),
        };
        let mut expected = read_json(&path);
        if name.starts_with("device-") {
            release(&mut expected);
        }
        if let Some(devices) = expected.get_mut("devices").and_then(Value::as_array_mut) {
            devices.iter_mut().for_each(release);
        }
        // Known difference: Heketi lists a clone's bricks in the order it
        // cloned them; Brickyard lists every volume's bricks sorted by id.
        if let Some(bricks) = expected.get_mut("bricks").and_then(Value::as_array_mut) {
            bricks.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        }
        let answer = s.get(&route);
        assert_eq!(answer.status, 200, "{route}: {answer:?}");
        assert_eq!(answer.json(), expected, "{route}");
        compared += 1;
    }
    assert_eq!(compared, 24);

    // The nodes of an imported export are not this mock's.
    s.assert_store_consistent();

    // heketi-cli's view of the imported block volume, in its own words.
    let cli = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", s.base.as_str()]);
        ok(brickyard(&all))
    };
    let block = "5a1596cdfddbccfa153255f4346f859c";
    assert_eq!(
        cli(&["blockvolume", "list"]),
        format!(
            "Id:{block:<35} Cluster:{:<35} Name:blockvol_{block}\n",
            "bca9034945248f389027cb4d0a2e4567"
        )
    );
    assert_eq!(
        cli(&["blockvolume", "info", block]),
        format!(
            "Name: blockvol_{block}\nSize: 10\nUsableSize: 10\nVolume Id: {block}\n\
             Cluster Id: bca9034945248f389027cb4d0a2e4567\nHosts: [10.20.30.12 10.20.30.13 10.20.30.11]\n\
             IQN: iqn.2016-12.org.gluster-block:58acde5b-a05d-4772-a973-3e2e2ceb20e9\nLUN: 0\nHacount: 3\n\
             Username: 58acde5b-a05d-4772-a973-3e2e2ceb20e9\nPassword: 955403a7-a419-4e37-99bf-fcbf0a2ee939\n\
             Block Hosting Volume: 63fcafeea7a602ce336e3c7547c2a149\n"
        )
    );

    // The hosting volume keeps its block volumes, so it cannot be deleted under them.
    let refused = s.delete("/volumes/63fcafeea7a602ce336e3c7547c2a149");
    assert_eq!(refused.status, 409, "{refused:?}");
    assert_eq!(
        refused.body,
        "Cannot delete a block hosting volume containing block volumes\n"
    );
}

#[test]
fn a_backup_taken_while_16_clients_create_volumes_restores_consistent() {
    let s = Server::with(Options::default());
    s.topology(3, 2);
    let body = r#"{"size":1,"durability":{"type":"replicate","replicate":{"replica":3}}}"#;
    let backups: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..16)
            .map(|_| {
                scope.spawn(|| {
                    for _ in 0..3 {
                        s.create_volume(body);
                    }
                })
            })
            .collect();
        let mut taken = Vec::new();
        for _ in 0..6 {
            let r = s.get("/backup/db");
            assert_eq!(r.status, 200);
            assert_eq!(r.header("content-type"), Some("application/octet-stream"));
            taken.push(r.body);
            std::thread::sleep(std::time::Duration::from_millis(40));
        }
        for w in workers {
            w.join().unwrap();
        }
        taken
    });
    let dir = tempfile::tempdir().unwrap();
    let mut restored = Vec::new();
    for (i, backup) in backups.iter().enumerate() {
        let file = dir.path().join(format!("backup-{i}.json"));
        std::fs::write(&file, backup).unwrap();
        let store = dir.path().join(format!("store-{i}"));
        let report = import_into(&file, &store);
        assert!(
            report.contains("Consistency check: 0 inconsistencies"),
            "backup {i}: {report}"
        );
        restored.push(store);
    }
    // A restored store serves: operations caught mid-flight are recovered.
    let last = Server::with(Options {
        seed_store: restored.pop(),
        ..Options::default()
    });
    last.wait_recovered();
    // The nodes went on after the backup: only the store is judged.
    last.assert_store_consistent();
    assert!(last.get("/volumes").json()["volumes"].as_array().unwrap().len() <= 48);
}

#[test]
fn broken_block_volume_references_are_reported() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/heketi-export/full.json");
    let mut export = read_json(&fixture);
    let hosting = "63fcafeea7a602ce336e3c7547c2a149";
    let block = "5a1596cdfddbccfa153255f4346f859c";
    // The hosting volume forgets its block volume.
    export["volumeentries"][hosting]["Info"]["blockinfo"]["blockvolume"] = serde_json::json!([]);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("broken.json");
    std::fs::write(&json, export.to_string()).unwrap();
    let store = dir.path().join("store");
    let report = import_into(&json, &store);
    assert!(
        report.contains(&format!(
            "  Block volume {block} is not listed by its hosting volume {hosting}\n"
        )),
        "{report}"
    );
    assert!(report.contains("Consistency check: 1 inconsistencies"), "{report}");
}
