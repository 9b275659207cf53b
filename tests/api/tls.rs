//! `enable_tls`: the server speaks HTTPS with the configured certificate,
//! and the CLI trusts it through `--tls-cert` or skips checks with
//! `--insecure-tls`.

use std::process::Command;

use crate::harness::{Options, Server, ADMIN_KEY};

#[test]
fn https_server_and_cli() {
    let s = Server::with(Options {
        auth: true,
        tls: true,
        ..Options::default()
    });
    assert!(s.base.starts_with("https://"));
    assert_eq!(s.get("/hello").body, "Hello from Heketi");
    assert_eq!(s.post("/clusters", "{}").status, 201);
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::blocking::get(s.base.replace("https://", "http://") + "/hello");
    assert!(plain.is_err() || !plain.unwrap().status().is_success());

    let cert = s.path().join("cert.pem");
    let cli = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_brickyard"))
            .args(["-s", &s.base, "--user", "admin", "--secret", ADMIN_KEY])
            .args(extra)
            .args(["cluster", "list"])
            .output()
            .unwrap()
    };
    let trusted = cli(&["--tls-cert", cert.to_str().unwrap()]);
    assert!(trusted.status.success(), "{}", String::from_utf8_lossy(&trusted.stderr));
    assert!(String::from_utf8_lossy(&trusted.stdout).starts_with("Clusters:\nId:"));
    let insecure = cli(&["--insecure-tls"]);
    assert!(
        insecure.status.success(),
        "{}",
        String::from_utf8_lossy(&insecure.stderr)
    );
    let untrusted = cli(&[]);
    assert_eq!(untrusted.status.code(), Some(255));
    let missing = cli(&["-C", "/nonexistent.pem"]);
    assert!(
        String::from_utf8_lossy(&missing.stderr).starts_with("Error: failed to read cert file /nonexistent.pem: "),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}
