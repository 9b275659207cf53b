//! The binary under the name `heketi` takes Heketi's own command line.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn heketi_link(dir: &std::path::Path) -> std::path::PathBuf {
    let link = dir.join("heketi");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_brickyard"), &link).unwrap();
    }
    link
}

#[test]
fn heketi_version() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--version", "-v"] {
        let out = Command::new(heketi_link(dir.path())).arg(flag).output().unwrap();
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with("Heketi v10"),
            "{out:?}"
        );
    }
}

#[test]
fn heketi_serves_from_its_config_on_all_interfaces() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("heketi.json");
    // Heketi's sample shape: port as a string, comment keys, mock executor.
    std::fs::write(
        &config,
        r#"{"_port_comment":"Heketi Server Port Number","port":"0","use_auth":false,
            "jwt":{"admin":{"key":"a"},"user":{"key":"u"}},
            "glusterfs":{"_executor_comment":"mock","executor":"mock","db":"heketi.db","loglevel":"debug"}}"#,
    )
    .unwrap();
    let mut child = Command::new(heketi_link(dir.path()))
        .arg(format!("--config={}", config.display()))
        .arg("--disable-auth")
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let addr = line.strip_prefix("Listening on ").unwrap().to_string();
    assert!(addr.starts_with("[::]:") || addr.starts_with("0.0.0.0:"), "{addr}");
    let port = addr.rsplit(':').next().unwrap();
    let hello = reqwest::blocking::get(format!("http://127.0.0.1:{port}/hello"))
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(hello, "Hello from Heketi");
    // The store went where glusterfs.db says, relative to the working directory.
    assert!(dir.path().join("heketi.db").is_dir());
    let logging = reqwest::blocking::get(format!("http://127.0.0.1:{port}/internal/logging"))
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(logging, "{\"loglevel\":{\"glusterfs\":\"debug\"}}\n");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn heketi_refuses_unknown_executors_and_states() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("heketi.json");
    std::fs::write(&config, r#"{"port":"0","glusterfs":{"executor":"telnet"}}"#).unwrap();
    let out = Command::new(heketi_link(dir.path()))
        .arg(format!("--config={}", config.display()))
        .arg("--disable-auth")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "invalid executor: telnet");
}

#[test]
fn heketi_db_import_and_export_take_heketis_flags() {
    let dir = tempfile::tempdir().unwrap();
    let heketi = heketi_link(dir.path());
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/heketi-export/full.json");
    let store = dir.path().join("store");
    let out = Command::new(&heketi)
        .args(["db", "import"])
        .arg(format!("--jsonfile={}", fixture.display()))
        .arg(format!("--dbfile={}", store.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Imported 4 nodes"),
        "{out:?}"
    );
    let exported = dir.path().join("out.json");
    let out = Command::new(&heketi)
        .args(["db", "export"])
        .arg(format!("--dbfile={}", store.display()))
        .arg(format!("--jsonfile={}", exported.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&exported).unwrap()).unwrap();
    assert_eq!(doc["nodeentries"].as_object().unwrap().len(), 4);
}
