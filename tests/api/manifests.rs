//! The Kubernetes manifests start the binary with arguments it accepts:
//! every container's command line that runs Brickyard (an explicit
//! `command`, or the image's entrypoint plus `args`) is parsed by the real
//! binary (`--help` appended, so nothing starts). Schema validity is
//! scripts/validate-manifests' job; this catches a flag or subcommand the
//! binary does not have.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = "/usr/bin/brickyard";

/// The image's entrypoint (docker/Dockerfile) for Brickyard's images.
fn entrypoint(image: &str) -> Option<Vec<String>> {
    let name = image.split(':').next()?;
    match name {
        "brickyard" => Some(vec![BIN.into(), "serve".into()]),
        "brickyard-csi-node" => Some(vec![BIN.into(), "csi".into()]),
        _ => None,
    }
}

/// A flow sequence as written in the manifests: `key: ["a", "b"]`.
fn flow(line: &str, key: &str) -> Option<Vec<String>> {
    let rest = line.trim().strip_prefix(key)?.trim();
    rest.starts_with('[').then(|| serde_json::from_str(rest).unwrap())
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

/// Every Brickyard command line in one manifest.
fn command_lines(text: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut image: Option<String> = None;
    let mut command_seen = false;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.starts_with("- name:") {
            image = None;
            command_seen = false;
        } else if let Some(i) = t.strip_prefix("image:") {
            image = Some(i.trim().to_string());
        } else if let Some(command) = flow(t, "command:") {
            command_seen = true;
            let next = lines.get(i + 1).and_then(|l| flow(l, "args:"));
            found.push([command, next.unwrap_or_default()].concat());
        } else if let Some(args) = flow(t, "args:") {
            if let (false, Some(entry)) = (command_seen, image.as_deref().and_then(entrypoint)) {
                found.push([entry, args].concat());
            }
        }
    }
    found.retain(|argv| argv.first().is_some_and(|a| a == BIN));
    found
}

#[test]
fn every_manifest_runs_the_binary_with_arguments_it_accepts() {
    let mut files = Vec::new();
    yaml_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("docker/kubernetes"),
        &mut files,
    );
    let mut checked = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for argv in command_lines(&text) {
            let out = Command::new(env!("CARGO_BIN_EXE_brickyard"))
                .args(&argv[1..])
                .arg("--help")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {argv:?} is refused:\n{}",
                file.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            checked.push(argv[1..].join(" "));
        }
    }
    // The server, the CSI controller and node, and both liveness probes.
    for expected in [
        "serve --config=/etc/heketi/heketi.json",
        "csi --mode controller --endpoint unix:///csi/csi.sock",
        "csi --mode node --endpoint unix:///csi/csi.sock",
        "csi probe --endpoint unix:///csi/csi.sock",
    ] {
        assert!(
            checked.iter().any(|c| c == expected),
            "{expected} not found in {checked:#?}"
        );
    }
}

#[test]
fn a_wrong_command_line_is_caught() {
    // The image's entrypoint already says `serve`: `args: ["csi", ...]`
    // would run `brickyard serve csi ...`.
    let manifest = "      containers:\n        - name: driver\n          image: brickyard:latest\n          args: [\"csi\", \"--mode\", \"node\"]\n";
    let argv = &command_lines(manifest)[0];
    assert_eq!(argv[..3], [BIN, "serve", "csi"]);
    let out = Command::new(env!("CARGO_BIN_EXE_brickyard"))
        .args(&argv[1..])
        .arg("--help")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
}
