//! Drives `scripts/testbed`: real GlusterFS storage nodes in network
//! namespaces on this machine, reached over real SSH.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Output};

/// This suite's own names and network, apart from a developer's testbed.
const KNOBS: [(&str, &str); 4] = [
    ("BRICKYARD_TESTBED_BASE", "/var/tmp/brickyard-e2e"),
    ("BRICKYARD_TESTBED_PREFIX", "bye"),
    ("BRICKYARD_TESTBED_NET", "10.79.7"),
    ("BRICKYARD_TESTBED_DISKS", "2"),
];

pub struct Testbed {
    env: HashMap<String, String>,
    pub nodes: usize,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/testbed")
}

/// The knobs, each overridable from the environment (to run beside another suite).
fn knobs() -> Vec<(&'static str, String)> {
    KNOBS
        .iter()
        .map(|(k, v)| (*k, std::env::var(k).unwrap_or_else(|_| v.to_string())))
        .collect()
}

fn run(args: &[&str]) -> Output {
    Command::new(script())
        .args(args)
        .envs(knobs())
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/testbed: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Testbed {
    /// Brings up `nodes` nodes; any leftover of an earlier run goes first.
    pub fn up(nodes: usize) -> Result<Testbed, String> {
        let _ = run(&["down"]);
        let out = Command::new(script())
            .arg("up")
            .envs(knobs())
            .env("BRICKYARD_TESTBED_NODES", nodes.to_string())
            .output()
            .map_err(|e| format!("cannot run scripts/testbed: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "scripts/testbed up failed:\n{}{}",
                text(&out.stdout),
                text(&out.stderr)
            ));
        }
        let file = PathBuf::from(&knobs()[0].1).join("testbed.env");
        let body = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let env: HashMap<String, String> = body
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Ok(Testbed { env, nodes })
    }

    /// Tears everything down; an error lists what was left behind.
    pub fn down(&self) -> Result<(), String> {
        let out = run(&["down"]);
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("{}{}", text(&out.stdout), text(&out.stderr)))
        }
    }

    pub fn var(&self, key: &str) -> String {
        self.env
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("testbed.env has no {key}"))
    }

    pub fn ip(&self, node: usize) -> String {
        self.var(&format!("TESTBED_NODE{node}_IP"))
    }

    pub fn disk(&self, node: usize, disk: usize) -> String {
        self.var(&format!("TESTBED_NODE{node}_DISK{disk}"))
    }

    pub fn node_of_ip(&self, ip: &str) -> usize {
        (1..=self.nodes)
            .find(|&i| self.ip(i) == ip)
            .unwrap_or_else(|| panic!("{ip} is no testbed node"))
    }

    /// The process that runs `argv` inside node `node`'s namespaces.
    pub fn node_command(node: usize, argv: &[String]) -> Command {
        let mut command = Command::new(script());
        command.arg("exec").arg(node.to_string()).args(argv).envs(knobs());
        command
    }

    /// Runs a shell command line inside node `node`'s namespaces.
    pub fn try_sh(&self, node: usize, command: &str) -> Output {
        run(&["exec", &node.to_string(), "bash", "-c", command])
    }

    /// Like `try_sh`, asserting success; returns stdout.
    pub fn sh(&self, node: usize, command: &str) -> String {
        let out = self.try_sh(node, command);
        assert!(
            out.status.success(),
            "node {node}: `{command}` failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs a subcommand such as `sshd-kill 3` or `glusterd-stop 2`.
    pub fn control(&self, args: &[&str]) {
        let out = run(args);
        assert!(
            out.status.success(),
            "scripts/testbed {args:?} failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }

    /// A process to run in the client's network namespace (started by the
    /// caller; mounts land in this process's mount namespace).
    pub fn client_command(&self, argv: &[&str]) -> Command {
        let mut command = Command::new(script());
        command.arg("client").args(argv).envs(knobs());
        command
    }

    /// Runs a command in the client's network namespace (mounts land in
    /// this process's mount namespace).
    pub fn client(&self, args: &[&str]) -> Output {
        let mut all = vec!["client"];
        all.extend_from_slice(args);
        run(&all)
    }

    /// Where this suite may mount volumes (cleaned by `down`).
    pub fn mount_dir(&self, name: &str) -> PathBuf {
        PathBuf::from(self.var("TESTBED_MNT_DIR")).join(name)
    }

    /// Mounts volume `name` from node `via` with the FUSE client in the
    /// client's network namespace; returns the mount point.
    pub fn fuse_mount(&self, name: &str, via: usize) -> PathBuf {
        let mnt = self.mount_dir(name);
        std::fs::create_dir_all(&mnt).unwrap();
        let source = format!("{}:/{name}", self.ip(via));
        let mounted = self.client(&["mount", "-t", "glusterfs", &source, mnt.to_str().unwrap()]);
        assert!(mounted.status.success(), "mount: {mounted:?}");
        mnt
    }

    /// The server's `sshexec` settings for these nodes.
    pub fn sshexec(&self) -> serde_json::Value {
        serde_json::json!({
            "keyfile": self.var("TESTBED_SSH_KEY"),
            "user": self.var("TESTBED_SSH_USER"),
            "port": "22",
            "known_hosts": self.var("TESTBED_KNOWN_HOSTS"),
            "host_key_checking": "yes",
        })
    }

    /// What is left on a node of Brickyard's work: volumes, brick mounts,
    /// fstab lines, LVs (the stand-in's `/dev/mapper` links) and brick dirs.
    pub fn leftovers(&self, node: usize) -> Vec<String> {
        let probe = r#"
            gluster --mode=script volume list 2>&1 | grep -v '^No volumes present' | sed 's/^/volume /'
            findmnt -rn -o TARGET | grep '^/var/lib/heketi/mounts/' | sed 's/^/mount /'
            grep 'brick_' /etc/fstab | sed 's/^/fstab /'
            ls /dev/mapper | grep '^vg_' | sed 's/^/lv /'
            ls -d /var/lib/heketi/mounts/vg_*/brick_* 2>/dev/null | sed 's/^/dir /'
            true"#;
        self.sh(node, probe)
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    }
}
