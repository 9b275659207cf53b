//! The heketi-cli personality against a real server: exact text, `--json`,
//! environment variables, and `Error: ...` with exit status 255.

use std::process::{Command, Output};

use crate::harness::{Options, Server, ADMIN_KEY};

pub struct Cli {
    link: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Cli {
    pub fn new() -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("heketi-cli");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_brickyard"), &link).unwrap();
        Cli { link, _dir: dir }
    }

    /// Runs heketi-cli against `s` as the admin, via the environment.
    pub fn run(&self, s: &Server, args: &[&str]) -> Output {
        Command::new(&self.link)
            .args(args)
            .env("HEKETI_CLI_SERVER", &s.base)
            .env("HEKETI_CLI_USER", "admin")
            .env("HEKETI_CLI_KEY", ADMIN_KEY)
            .env("BRICKYARD_CLI_POLL_MS", "20")
            .output()
            .unwrap()
    }

    pub fn ok(&self, s: &Server, args: &[&str]) -> String {
        let out = self.run(s, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn auth_server() -> Server {
    Server::with(Options {
        auth: true,
        ..Options::default()
    })
}

#[test]
fn cluster_commands_print_what_heketi_cli_prints() {
    let s = auth_server();
    let cli = Cli::new();
    let out = cli.ok(&s, &["cluster", "create"]);
    let id = out.strip_prefix("Cluster id: ").unwrap().trim().to_string();
    assert_eq!(out, format!("Cluster id: {id}\n"));
    let json = cli.ok(&s, &["cluster", "create", "--block=false", "--json"]);
    assert!(!json.ends_with('\n'), "--json prints no trailing newline");
    let second: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        (second["block"].as_bool(), second["file"].as_bool()),
        (Some(false), Some(true))
    );
    let second_id = second["id"].as_str().unwrap().to_string();

    let mut expected = [format!("Id:{id} [file][block]"), format!("Id:{second_id} [file]")];
    expected.sort();
    assert_eq!(
        cli.ok(&s, &["cluster", "list"]),
        format!("Clusters:\n{}\n", expected.join("\n"))
    );
    assert_eq!(
        cli.ok(&s, &["cluster", "info", &id]),
        format!("Cluster id: {id}\nNodes:\n\nVolumes:\n\nBlock: true\n\nFile: true\n")
    );
    assert_eq!(cli.ok(&s, &["cluster", "setflags", &id, "--file=false"]), "");
    assert_eq!(s.get(&format!("/clusters/{id}")).json()["file"], false);
    assert_eq!(
        cli.ok(&s, &["cluster", "delete", &id]),
        format!("Cluster {id} deleted\n")
    );

    let missing = cli.run(&s, &["cluster", "info", "0123456789abcdef0123456789abcdef"]);
    assert_eq!(missing.status.code(), Some(255));
    assert_eq!(String::from_utf8_lossy(&missing.stderr), "Error: Id not found\n");
    let no_id = cli.run(&s, &["cluster", "delete"]);
    assert_eq!(
        (no_id.status.code(), String::from_utf8_lossy(&no_id.stderr).as_ref()),
        (Some(255), "Error: Cluster id missing\n")
    );
    let no_flags = cli.run(&s, &["cluster", "setflags", &second_id]);
    assert_eq!(
        String::from_utf8_lossy(&no_flags.stderr),
        "Error: At least one of --file or --block must be specified.\n"
    );
}

#[test]
fn wrong_credentials_surface_the_server_text() {
    let s = auth_server();
    let cli = Cli::new();
    let out = Command::new(&cli.link)
        .args(["--secret", "wrong", "--user", "admin", "cluster", "list"])
        .env("HEKETI_CLI_SERVER", &s.base)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error: Invalid JWT token: signature is invalid (client and server secrets may not match)\n"
    );
    // The same commands work as `brickyard <command>`.
    let out = Command::new(env!("CARGO_BIN_EXE_brickyard"))
        .args([
            "-s", &s.base, "--user", "admin", "--secret", ADMIN_KEY, "cluster", "create",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Cluster id: "));
}
