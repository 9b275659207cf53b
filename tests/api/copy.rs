//! `brickyard db copy`: a stopped sled store into etcd and back, the copy
//! served as the original was, and a store with contents left alone.

use std::process::{Command, Output};

use crate::harness::{Options, Server};

fn brickyard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brickyard"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_store_is_copied_from_sled_to_etcd_and_back_and_serves_the_same() {
    let mut sled = Server::with(Options::default());
    sled.topology(3, 1);
    let volume = sled.create_volume(r#"{"size": 2, "name": "kept"}"#);
    let dump = sled.get("/db/dump").body;
    let (sled_store, sled_files) = (sled.store_location(), sled.store_path());
    sled.kill9();

    let prefix = crate::etcd_cluster::unique_prefix("copy");
    let etcd = format!("etcd://{}/{prefix}", crate::etcd_cluster::shared());
    let out = brickyard(&["db", "copy", "--from", &sled_store, "--to", &etcd]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(said.contains("Consistency check: 0 inconsistencies"), "{said}");

    // A server on the copy (and on the same mock nodes) answers as before.
    let on_etcd = Server::with(Options {
        replica_of: Some((prefix.clone(), sled_files)),
        ..Options::default()
    });
    assert_eq!(on_etcd.get("/db/dump").body, dump);
    let id = volume["id"].as_str().unwrap_or_default();
    assert_eq!(on_etcd.get(&format!("/volumes/{id}")).json()["name"], "kept");
    on_etcd.assert_consistent();
    drop(on_etcd);

    // A target with contents is left alone unless forced.
    let back = sled.dir.path().join("back");
    let back = back.to_string_lossy();
    assert!(brickyard(&["db", "copy", "--from", &etcd, "--to", &back])
        .status
        .success());
    let again = brickyard(&["db", "copy", "--from", &etcd, "--to", &back]);
    assert!(!again.status.success());
    let refused = String::from_utf8_lossy(&again.stderr);
    assert!(
        refused.contains("is not empty") && refused.contains("--force"),
        "{refused}"
    );
    assert!(brickyard(&["db", "copy", "--from", &etcd, "--to", &back, "--force"])
        .status
        .success());
    let export = brickyard(&["db", "export", "--dbfile", &back, "--jsonfile", "-"]);
    assert_eq!(
        String::from_utf8_lossy(&export.stdout),
        dump,
        "the round trip keeps every record"
    );

    // Nonsense is refused by name.
    let same = brickyard(&["db", "copy", "--from", &back, "--to", &back]);
    assert!(String::from_utf8_lossy(&same.stderr).contains("both the source and the target"));
    let bad = brickyard(&["db", "copy", "--from", &back, "--to", "etcd://nohost/p"]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("\"nohost\" is not host:port"),
        "{bad:?}"
    );
}
