//! Heketi's Python client (PyPI `heketi`) drives the server unchanged.

use std::process::Command;

use crate::harness::{Options, Server, ADMIN_KEY};

#[test]
fn heketi_python_client_works_unchanged() {
    let s = Server::with(Options {
        auth: true,
        ..Options::default()
    });
    let tests = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python");
    // scripts/install-deps prepares this interpreter with the client installed.
    let python = std::env::var("BRICKYARD_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", tests])
        .env("BRICKYARD_URL", &s.base)
        .env("BRICKYARD_ADMIN_KEY", ADMIN_KEY)
        .output()
        .expect("run scripts/install-deps first (it sets up the Python client)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "pytest failed:\n{text}");
    assert!(text.contains("5 passed"), "expected 5 passed:\n{text}");
}
