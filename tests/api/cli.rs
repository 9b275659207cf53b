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

#[test]
fn node_device_and_volume_commands() {
    let s = auth_server();
    let cli = Cli::new();
    let cluster = cli
        .ok(&s, &["cluster", "create"])
        .trim()
        .trim_start_matches("Cluster id: ")
        .to_string();
    let err = cli.run(&s, &["node", "add", "--zone=1", "--cluster", &cluster]);
    assert_eq!(
        String::from_utf8_lossy(&err.stderr),
        "Error: Missing management hostname\n"
    );
    let mut nodes = Vec::new();
    for i in 1..=3 {
        let zone = format!("--zone={i}");
        let manage = format!("--management-host-name=node{i}");
        let storage = format!("--storage-host-name=10.0.0.{i}");
        let out = cli.ok(&s, &["node", "add", &zone, "--cluster", &cluster, &manage, &storage]);
        let id = out.lines().nth(1).unwrap().trim_start_matches("Node Id: ").to_string();
        assert_eq!(
            out,
            format!("Node information:\nNode Id: {id}\nState: online\nCluster Id: {cluster}\nZone: {i}\nManagement Hostname: node{i}\nStorage Hostname: 10.0.0.{i}\n")
        );
        assert_eq!(
            cli.ok(&s, &["device", "add", "--name=/dev/sdb", "--node", &id]),
            "Device added successfully\n"
        );
        nodes.push(id);
    }
    let info = cli.ok(&s, &["node", "info", &nodes[0]]);
    let device = s.get(&format!("/nodes/{}", nodes[0])).json()["devices"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(info.ends_with(&format!(
        "Devices:\nId:{device:<35}Name:{:<20}State:{:<10}Size (GiB):{:<8}Used (GiB):{:<8}Free (GiB):{:<8}Bricks:{:<8}\n",
        "/dev/sdb", "online", 500, 0, 500, 0
    )), "{info}");
    let list = cli.ok(&s, &["node", "list"]);
    assert_eq!(list.lines().count(), 3);
    assert!(list.contains(&format!("Id:{}\tCluster:{cluster}\n", nodes[0])));
    assert_eq!(cli.ok(&s, &["node", "settags", &nodes[0], "rack:7", "a:b:c"]), "");
    assert_eq!(
        s.get(&format!("/nodes/{}", nodes[0])).json()["tags"],
        serde_json::json!({"rack": "7", "a": "b:c"})
    );
    assert_eq!(cli.ok(&s, &["node", "rmtags", &nodes[0], "--all"]), "");
    let bad_tag = cli.run(&s, &["device", "settags", &device, "novalue"]);
    assert_eq!(
        String::from_utf8_lossy(&bad_tag.stderr),
        "Error: expected colon (:) between tag name and value, got: novalue\n"
    );

    let created = cli.ok(&s, &["volume", "create", "--size=2", "--name=web"]);
    let vid = created
        .lines()
        .nth(2)
        .unwrap()
        .trim_start_matches("Volume Id: ")
        .to_string();
    assert!(
        created.starts_with(&format!(
            "Name: web\nSize: 2\nVolume Id: {vid}\nCluster Id: {cluster}\nMount: 10.0.0."
        )),
        "{created}"
    );
    assert!(
        created.ends_with("Durability Type: replicate\nDistribute Count: 1\nReplica Count: 3\n"),
        "{created}"
    );
    assert_eq!(cli.ok(&s, &["volume", "info", &vid]), created);
    assert_eq!(
        cli.ok(&s, &["volume", "list"]),
        format!("Id:{vid:<35} Cluster:{cluster:<35} Name:web\n")
    );
    let json = cli.ok(&s, &["volume", "list", "--json"]);
    assert_eq!(json, format!("{{\"volumes\":[\"{vid}\"]}}"));
    let expanded = cli.ok(&s, &["volume", "expand", "--volume", &vid, "--expand-size=1"]);
    assert!(expanded.contains("\nSize: 3\n"), "{expanded}");
    let snap = cli.ok(
        &s,
        &[
            "volume",
            "create",
            "--size=1",
            "--snapshot-factor=1.5",
            "--durability=none",
        ],
    );
    assert!(
        snap.ends_with("Durability Type: none\nDistribute Count: 1\nSnapshot Factor: 1.50\n\n"),
        "{snap}"
    );
    let device_info = cli.ok(&s, &["device", "info", &device]);
    assert!(
        device_info.starts_with(&format!("Device Id: {device}\nState: online\nSize (GiB): 500\n")),
        "{device_info}"
    );
    assert!(
        device_info.contains("Create Path: /dev/sdb\nPhysical Volume UUID: "),
        "{device_info}"
    );
    assert!(device_info.contains("\nBricks:\nId:"), "{device_info}");
    let pv = cli.ok(
        &s,
        &[
            "volume",
            "create",
            "--size=1",
            "--gid=2001",
            "--persistent-volume",
            "--persistent-volume-endpoint=heketi-storage",
        ],
    );
    let parsed: serde_json::Value = serde_json::from_str(&pv).unwrap();
    assert!(pv.starts_with("{\n  \"kind\": \"PersistentVolume\",\n  \"apiVersion\": \"v1\",\n  \"metadata\": {\n    \"name\": \"glusterfs-"), "{pv}");
    assert_eq!(parsed["spec"]["glusterfs"]["endpoints"], "heketi-storage");
    assert_eq!(parsed["spec"]["capacity"]["storage"], "1Gi");
    assert_eq!(parsed["metadata"]["annotations"]["pv.beta.kubernetes.io/gid"], "2001");
    let no_endpoint = cli.run(&s, &["volume", "create", "--size=1", "--persistent-volume"]);
    assert_eq!(
        String::from_utf8_lossy(&no_endpoint.stderr),
        "--persistent-volume-endpoint must be provided when using --persistent-volume\nError: Missing endpoint\n"
    );
    let patch = cli.ok(&s, &["volume", "endpoint", "patch", &vid]);
    assert!(
        patch.starts_with("{\"subsets\": [{\"addresses\":[{\"ip\":\"10.0.0."),
        "{patch}"
    );
    assert!(patch.ends_with("\"ports\":[{\"port\":1}]}]}"), "{patch}");
    assert_eq!(
        cli.ok(&s, &["volume", "delete", &vid]),
        format!("Volume {vid} deleted\n")
    );
    let missing = cli.run(&s, &["volume", "expand", "--expand-size=1"]);
    assert_eq!(String::from_utf8_lossy(&missing.stderr), "Error: Missing volume id\n");

    let wrong = cli.run(&s, &["device", "disable", &nodes[0]]);
    assert_eq!(
        (wrong.status.code(), String::from_utf8_lossy(&wrong.stderr).as_ref()),
        (Some(255), "Error: Id not found\n")
    );
    assert_eq!(
        cli.ok(&s, &["device", "disable", &device]),
        format!("Device {device} is now offline\n")
    );
    assert_eq!(
        cli.ok(&s, &["device", "enable", &device]),
        format!("Device {device} is now online\n")
    );
    assert_eq!(
        cli.ok(&s, &["device", "resync", &device]),
        format!("Device {device} updated\n")
    );
}

#[test]
fn server_loglevel_and_db_commands() {
    let s = auth_server();
    let cli = Cli::new();
    assert_eq!(cli.ok(&s, &["loglevel", "get"]), "info\n");
    assert_eq!(cli.ok(&s, &["loglevel", "set", "debug"]), "Server log level updated\n");
    assert_eq!(cli.ok(&s, &["loglevel", "get"]), "debug\n");
    let bad = cli.run(&s, &["loglevel", "set", "loud"]);
    assert_eq!(String::from_utf8_lossy(&bad.stderr), "Error: invalid log level: loud\n");
    assert_eq!(cli.ok(&s, &["server", "mode", "get"]), "normal\n");
    assert_eq!(
        cli.ok(&s, &["server", "operations", "info"]),
        "Operation Counts:\n  Total: 0\n  In-Flight: 0\n  New: 0\n  Failed: 0\n  Stale: 0\n"
    );
    assert_eq!(cli.ok(&s, &["server", "operations", "list"]), "");
    let cleanup = cli.run(&s, &["server", "operations", "cleanup"]);
    assert!(cleanup.status.success());
    assert!(String::from_utf8_lossy(&cleanup.stderr).starts_with("Note: Operation clean up is a batch operation."));
    let check = cli.ok(&s, &["db", "check"]);
    assert!(check.contains("\"totalinconsistencies\": 0"), "{check}");
    // Block volumes: the server's own answers come through.
    assert_eq!(cli.ok(&s, &["blockvolume", "list"]), "");
    let create = cli.run(&s, &["blockvolume", "create", "--size=1"]);
    assert_eq!(
        String::from_utf8_lossy(&create.stderr),
        "Error: No clusters configured\n"
    );
    // heketi-cli prints the examiner's report as the server wrote it.
    let examine = cli.ok(&s, &["server", "state", "examine", "gluster"]);
    assert_eq!(examine, s.get("/internal/state/examine/gluster").body);
    assert!(
        examine.contains("\"report\": [\n        \"OnDemand Examiner invoked while 0 ops are in flight\""),
        "{examine}"
    );
    let unknown = cli.run(&s, &["brick", "evict", "0123456789abcdef0123456789abcdef"]);
    assert_eq!(String::from_utf8_lossy(&unknown.stderr), "Error: Id not found\n");
    assert_eq!(cli.ok(&s, &["server", "mode", "set", "read-only"]), "");
    assert_eq!(cli.ok(&s, &["server", "mode", "get"]), "read-only\n");
    let refused = cli.run(&s, &["cluster", "create"]);
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr),
        "Error: Service disabled for maintenance\n"
    );
}

fn sample(name: &str) -> String {
    format!("{}/topology/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn topology_load_prints_heketis_lines_and_can_run_again() {
    let s = auth_server();
    let cli = Cli::new();
    let file = sample("three-node-three-zone.json");
    let first = cli.ok(&s, &["topology", "load", "--json", &file]);
    let cluster = s.get("/clusters").json()["clusters"][0].as_str().unwrap().to_string();
    let nodes: Vec<String> = (1..=3)
        .map(|i| {
            let line = first
                .lines()
                .find(|l| l.starts_with(&format!("\tCreating node node{i}.example.com ... ID: ")))
                .unwrap();
            line.rsplit(' ').next().unwrap().to_string()
        })
        .collect();
    let mut expected = format!("Creating cluster ... ID: {cluster}\n\tAllowing file volumes on cluster.\n\tAllowing block volumes on cluster.\n");
    for (i, node) in nodes.iter().enumerate() {
        expected.push_str(&format!(
            "\tCreating node node{}.example.com ... ID: {node}\n\t\tAdding device /dev/sdb ... OK\n\t\tAdding device /dev/sdc ... OK\n",
            i + 1
        ));
    }
    assert_eq!(first, expected);
    // Run again: everything is found, nothing is duplicated.
    let again = cli.ok(&s, &["topology", "load", "--json", &file]);
    let mut found = String::new();
    for i in 1..=3 {
        found.push_str(&format!("\tFound node node{i}.example.com on cluster {cluster}\n\t\tFound device /dev/sdb\n\t\tFound device /dev/sdc\n"));
    }
    assert_eq!(again, found);
    assert_eq!(s.get("/clusters").json()["clusters"].as_array().unwrap().len(), 1);

    let info = cli.ok(&s, &["topology", "info"]);
    assert!(
        info.starts_with(&format!(
            "\nCluster Id: {cluster}\n\n    File:  true\n    Block: true\n\n    Volumes:\n\n\n    Nodes:\n"
        )),
        "{info:?}"
    );
    assert!(
        info.contains(
            "\n\tManagement Hostnames: node1.example.com\n\tStorage Hostnames: 192.168.10.1\n\tDevices:\n\t\tId:"
        ),
        "{info:?}"
    );
    assert!(
        info.contains("Size (GiB):500     Used (GiB):0       Free (GiB):500     \n\t\t\tKnown Paths: /dev/"),
        "{info:?}"
    );
    let json: serde_json::Value = serde_json::from_str(&cli.ok(&s, &["topology", "info", "--json"])).unwrap();
    assert_eq!(json["clusters"][0]["nodes"].as_array().unwrap().len(), 3);
}

#[test]
fn topology_files_are_checked_before_the_server_is_touched() {
    let s = auth_server();
    let cli = Cli::new();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let bad = write("bad.json", "{\n  \"clusters\": [\n    {\"nodes\": [}\n  ]\n}");
    let err = cli.run(&s, &["topology", "load", "--json", &bad]);
    assert_eq!(err.status.code(), Some(255));
    assert!(
        String::from_utf8_lossy(&err.stderr)
            .starts_with(&format!("Error: Unable to parse config file: {bad}: line 3 column")),
        "{}",
        String::from_utf8_lossy(&err.stderr)
    );
    let dup = write(
        "dup.json",
        r#"{"clusters":[{"nodes":[
        {"node":{"hostnames":{"manage":["a"],"storage":["10.0.0.1"]},"zone":1},"devices":["/dev/sdb"]},
        {"node":{"hostnames":{"manage":["a"],"storage":["10.0.0.2"]},"zone":2},"devices":["/dev/sdb"]}]}]}"#,
    );
    let err = String::from_utf8(cli.run(&s, &["topology", "load", "--json", &dup]).stderr).unwrap();
    assert_eq!(err, format!("Error: {dup}: clusters[0].nodes[1].node.hostnames.manage: hostname a is already used at {dup}: clusters[0].nodes[0]\n"));
    let zoneless = write(
        "zone.json",
        r#"{"clusters":[{"nodes":[{"node":{"hostnames":{"manage":["a"],"storage":["10.0.0.1"]}},"devices":[]}]}]}"#,
    );
    let err = String::from_utf8(cli.run(&s, &["topology", "load", "--json", &zoneless]).stderr).unwrap();
    assert_eq!(
        err,
        format!("Error: {zoneless}: clusters[0].nodes[0].node.zone: missing or not a positive number\n")
    );
    assert_eq!(
        s.get("/clusters").json()["clusters"],
        serde_json::json!([]),
        "nothing reached the server"
    );

    // Non-IP storage names: a warning on stderr (stdout unchanged), an error with --strict.
    let named = write(
        "named.json",
        r#"{"clusters":[{"nodes":[{"node":{"hostnames":{"manage":["a"],"storage":["storage-a"]},"zone":1},"devices":["/dev/sdb"]}]}]}"#,
    );
    let dry = cli.run(&s, &["topology", "load", "--json", &named, "--dry-run"]);
    assert!(dry.status.success());
    assert!(
        String::from_utf8_lossy(&dry.stderr).starts_with("Warning: "),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert_eq!(
        String::from_utf8(dry.stdout).unwrap(),
        "Creating cluster ... ID: (dry run)\n\tAllowing file volumes on cluster.\n\tAllowing block volumes on cluster.\n\tCreating node a ... ID: (dry run)\n\t\tAdding device /dev/sdb ... OK (dry run)\n"
    );
    assert_eq!(
        s.get("/clusters").json()["clusters"],
        serde_json::json!([]),
        "a dry run changes nothing"
    );
    let strict = cli.run(&s, &["topology", "load", "--json", &named, "--strict"]);
    assert_eq!(strict.status.code(), Some(255));
    assert!(String::from_utf8_lossy(&strict.stderr).contains("storage-a is not an IP address"));
}

#[test]
fn topology_load_reports_failures_and_goes_on() {
    let s = Server::with(Options {
        auth: true,
        env: vec![(
            "BRICKYARD_MOCK_FAULTS".into(),
            "device_setup:2:fail:  Device /dev/sdc excluded by a filter.".into(),
        )],
        ..Options::default()
    });
    let cli = Cli::new();
    let out = cli.ok(&s, &["topology", "load", "--json", &sample("two-clusters.json")]);
    assert!(out.contains("\t\tAdding device /dev/sdb ... Unable to add device: Setup of device /dev/sdb failed (already initialized or contains data?):   Device /dev/sdc excluded by a filter.\n"), "{out}");
    assert_eq!(out.matches("Creating cluster ... ").count(), 2);
    assert!(out.contains("\tAllowing file volumes on cluster.\n\tCreating node"));
    assert!(out.contains("\tAllowing block volumes on cluster.\n\tCreating node"));
}

#[test]
fn no_server_and_shell_helpers() {
    let cli = Cli::new();
    // Nothing listens on port 1 of loopback.
    let out = Command::new(&cli.link)
        .args(["-s", "http://127.0.0.1:1", "cluster", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error: Get \"http://127.0.0.1:1/clusters\": dial tcp 127.0.0.1:1: connect: connection refused\n"
    );
    let bash = Command::new(&cli.link).args(["completions", "bash"]).output().unwrap();
    assert!(bash.status.success());
    assert!(
        String::from_utf8_lossy(&bash.stdout).contains("heketi-cli"),
        "completions name the program"
    );
    let help = Command::new(&cli.link).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("Examples:"));
    let version = Command::new(&cli.link).arg("-v").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("heketi-cli v"));
}

/// Golden outputs: ids, hostnames and addresses normalised, everything else
/// byte for byte.
fn normalise(text: &str) -> String {
    let ids = regex::Regex::new("[0-9a-f]{32}").unwrap();
    let text = ids.replace_all(text, "<id>");
    let pv = regex::Regex::new("[0-9a-f]{6}(-[0-9a-f]{4}){5}-[0-9a-f]{6}").unwrap();
    let text = pv.replace_all(&text, "<pv-uuid>");
    let hosts = regex::Regex::new(r"node[0-9]\.example\.com").unwrap();
    let text = hosts.replace_all(&text, "nodeN.example.com");
    let ips = regex::Regex::new(r"192\.168\.10\.[0-9]").unwrap();
    let text = ips.replace_all(&text, "192.168.10.N");
    // Node and device order follow random ids.
    let zones = regex::Regex::new(r"Zone: [0-9]").unwrap();
    let text = zones.replace_all(&text, "Zone: N");
    let devices = regex::Regex::new(r"Known Paths: /dev/sd[a-z]").unwrap();
    devices.replace_all(&text, "Known Paths: /dev/sdX").into_owned()
}

#[test]
fn golden_outputs() {
    let s = auth_server();
    let cli = Cli::new();
    insta::assert_snapshot!(
        "cli_topology_load",
        normalise(&cli.ok(
            &s,
            &["topology", "load", "--json", &sample("three-node-three-zone.json")]
        ))
    );
    insta::assert_snapshot!(
        "cli_topology_info_empty_volumes",
        normalise(&cli.ok(&s, &["topology", "info"]))
    );
    // Before any volume exists, so every device has the same free space.
    let err = cli.run(&s, &["volume", "create", "--size=100000"]);
    insta::assert_snapshot!(
        "cli_no_space",
        format!(
            "exit {:?}\n{}",
            err.status.code(),
            normalise(&String::from_utf8_lossy(&err.stderr))
        )
    );
    insta::assert_snapshot!(
        "cli_volume_create",
        normalise(&cli.ok(&s, &["volume", "create", "--size=1"]))
    );
    let v: serde_json::Value = serde_json::from_str(&cli.ok(&s, &["volume", "create", "--size=2", "--json"])).unwrap();
    insta::assert_snapshot!(
        "cli_volume_create_json_keys",
        v.as_object().unwrap().keys().cloned().collect::<Vec<_>>().join(",")
    );
    let node = s.first_node();
    let info = cli.ok(&s, &["node", "info", &node]);
    let header: String = info.lines().take(7).map(|l| format!("{l}\n")).collect();
    insta::assert_snapshot!("cli_node_info_header", normalise(&header));
    let err = cli.run(
        &s,
        &[
            "node",
            "add",
            "--zone=1",
            "--cluster=bad",
            "--management-host-name=x",
            "--storage-host-name=y",
        ],
    );
    insta::assert_snapshot!(
        "cli_validation_error",
        format!("exit {:?}\n{}", err.status.code(), String::from_utf8_lossy(&err.stderr))
    );
}

#[test]
fn setup_openshift_heketi_storage_writes_the_kubernetes_list() {
    let s = auth_server();
    s.topology(3, 1);
    let cli = Cli::new();
    let list = s.dir.path().join("heketi-storage.json");
    let out = cli.ok(
        &s,
        &["setup-openshift-heketi-storage", "--listfile", list.to_str().unwrap()],
    );
    assert_eq!(out, format!("Saving {}\n", list.display()));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&list).unwrap()).unwrap();
    assert_eq!(doc["kind"], "List");
    let kinds: Vec<&str> = doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Secret", "Endpoints", "Service", "Job"]);
    assert_eq!(doc["items"][1]["subsets"].as_array().unwrap().len(), 3);
    assert_eq!(
        doc["items"][3]["spec"]["template"]["spec"]["volumes"][0]["glusterfs"]["path"],
        "heketidbstorage"
    );

    // The secret holds a backup that db import restores.
    use base64::Engine as _;
    let db = base64::engine::general_purpose::STANDARD
        .decode(doc["items"][0]["data"]["heketi.db"].as_str().unwrap())
        .unwrap();
    let backup = s.dir.path().join("heketi.db");
    std::fs::write(&backup, db).unwrap();
    let restored = s.dir.path().join("restored");
    let import = Command::new(env!("CARGO_BIN_EXE_brickyard"))
        .args([
            "db",
            "import",
            "--jsonfile",
            backup.to_str().unwrap(),
            "--dbfile",
            restored.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&import.stdout).contains("0 inconsistencies"),
        "{import:?}"
    );
    // The copy job leaves the same bytes where the server's store goes: the
    // server restores them into a store at start-up.
    let adopted = Server::with(Options {
        store_file: Some(backup.clone()),
        ..Options::default()
    });
    let names: Vec<String> = adopted.get("/volumes").json()["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| adopted.get(&format!("/volumes/{}", v.as_str().unwrap())).json()["name"].to_string())
        .collect();
    assert_eq!(names, ["\"heketidbstorage\""]);
    // An adopted backup: its nodes are not this mock's.
    adopted.assert_store_consistent();
    assert!(
        adopted.dir.path().join("store.setup-backup").is_file(),
        "the file is kept"
    );

    let volumes = cli.ok(&s, &["volume", "list"]);
    assert!(volumes.contains("Name:heketidbstorage"), "{volumes}");
    let info = s
        .get(&format!(
            "/volumes/{}",
            s.get("/volumes").json()["volumes"][0].as_str().unwrap()
        ))
        .json();
    let options: Vec<&str> = info["glustervolumeoptions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o.as_str().filter(|o| !o.is_empty()))
        .collect();
    assert_eq!(options.len(), 9, "{options:?}");
    assert!(options.contains(&"user.heketi.dbstoragelevel 1"));
    let again = cli.run(&s, &["setup-heketi-db-storage", "--listfile", list.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(255));
    assert_eq!(
        String::from_utf8_lossy(&again.stderr),
        "Error: Volume heketidbstorage already exists\n"
    );
}

/// An authenticating server with the three-node sample topology loaded.
fn loaded_server() -> (Server, Cli) {
    let s = auth_server();
    let cli = Cli::new();
    cli.ok(
        &s,
        &["topology", "load", "--json", &sample("three-node-three-zone.json")],
    );
    (s, cli)
}

#[test]
fn topology_info_asks_for_every_volume_and_keeps_the_clusters_order() {
    let (s, cli) = loaded_server();
    for _ in 0..12 {
        cli.ok(&s, &["volume", "create", "--size=1"]);
    }
    let cluster = s.get("/clusters").json()["clusters"][0].as_str().unwrap().to_string();
    let order = s.get(&format!("/clusters/{cluster}")).json()["volumes"].clone();
    let info: serde_json::Value = serde_json::from_str(&cli.ok(&s, &["topology", "info", "--json"])).unwrap();
    let shown: Vec<serde_json::Value> = info["clusters"][0]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].clone())
        .collect();
    assert_eq!(shown.len(), 12);
    assert_eq!(serde_json::Value::Array(shown), order);
    let text = cli.ok(&s, &["topology", "info"]);
    assert_eq!(text.matches("\n\tDurability Type: replicate").count(), 12, "{text}");
}

#[test]
fn many_gets_answer_in_order_and_stop_at_the_first_error() {
    let (s, _cli) = loaded_server();
    let client = brickyard::client::Client::new(&s.base, "admin", ADMIN_KEY, false, &[]).unwrap();
    let cluster = s.get("/clusters").json()["clusters"][0].as_str().unwrap().to_string();
    let nodes: Vec<String> = s.get(&format!("/clusters/{cluster}")).json()["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| format!("/nodes/{}", n.as_str().unwrap()))
        .collect();
    assert_eq!(nodes.len(), 3);
    let got: Vec<serde_json::Value> = client.get_json_many(&nodes, 2).unwrap();
    let ids: Vec<String> = got
        .iter()
        .map(|n| format!("/nodes/{}", n["id"].as_str().unwrap()))
        .collect();
    assert_eq!(ids, nodes);

    let mut with_missing = nodes.clone();
    with_missing.insert(1, format!("/nodes/{}", "0".repeat(32)));
    let err = client.get_json_many::<serde_json::Value>(&with_missing, 2).unwrap_err();
    assert!(
        matches!(&err, brickyard::client::ClientError::Server { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "Id not found");
}
