//! Reading the mock executor's node state: `GET /internal/mock/state` from
//! a running server, `brickyard mock-state --store` from the files.

use std::process::Command;

use crate::harness::{Options, Server};

const R3: &str = r#"{"size":10,"durability":{"type":"replicate","replicate":{"replica":3}}}"#;

#[test]
fn the_route_and_the_command_show_the_same_state() {
    let mut s = Server::with(Options {
        auth: true,
        ..Options::default()
    });
    s.topology(3, 1);
    let volume = s.create_volume(R3);
    let name = volume["name"].as_str().unwrap();

    let served = s.get("/internal/mock/state");
    assert_eq!(served.status, 200, "{served:?}");
    let served = served.json();
    assert_eq!(served["volumes"][name]["bricks"].as_array().unwrap().len(), 3);
    assert_eq!(served["hosts"].as_object().unwrap().len(), 3);
    assert_eq!(served, s.mock_nodes());
    // The route is behind authentication like the other internal routes.
    assert_eq!(s.anonymous("GET", "/internal/mock/state", None, &[]).status, 401);

    // The stopped store reads the same, and reading changes nothing.
    s.kill9();
    let files = |s: &Server| {
        let mut names: Vec<(String, u64)> = std::fs::read_dir(s.path())
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().len(),
                )
            })
            .filter(|(n, _)| n.starts_with("store.mock-nodes"))
            .collect();
        names.sort();
        names
    };
    let before = files(&s);
    assert_eq!(s.mock_nodes(), served);
    assert_eq!(files(&s), before);
}

#[test]
fn a_store_without_mock_state_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_brickyard"))
        .args(["mock-state", "--store"])
        .arg(dir.path().join("store"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("Error: no mock node state: neither") && stderr.contains("store.mock-nodes.json"),
        "{stderr}"
    );
}

#[test]
fn a_server_started_on_an_old_state_file_keeps_it() {
    // A state file as servers wrote it before the change log: the whole
    // state, no generation, no log.
    let mut s = Server::start();
    s.topology(1, 1);
    let state = s.mock_nodes();
    s.kill9();
    s.set_mock_nodes(&state);
    s.restart();
    assert_eq!(s.get("/internal/mock/state").json(), state);
    assert_eq!(s.mock_nodes(), state);
    assert_eq!(state["hosts"]["node1"]["vgs"].as_object().unwrap().len(), 1);
    s.assert_consistent();
}
