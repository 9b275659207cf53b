//! The Kubernetes executor end to end: the server execs every command into
//! "GlusterFS pods" of the API-server stand-in, which runs them in the
//! testbed's storage nodes; real glusterd, real bricks, a real FUSE mount.

use std::sync::Arc;

use serde_json::json;

use crate::harness::{Options, Server};
use crate::kube_standin::{Faults, KubeStandin, Runner, StandinPod, V4, V5};
use crate::testbed::Testbed;
use crate::{
    assert_nodes_clean, assert_space_whole, delete_volume_then_topology, load_topology_as, node_of_brick, volume_body,
};

const NS: &str = "glusterfs";
const TOKEN: &str = "e2e-service-account-token";

/// One DaemonSet pod per node, scheduled on the node named by its testbed
/// hostname; beside node 1's pod, an old one still terminating.
fn pods(tb: &Testbed) -> Vec<StandinPod> {
    let mut pods: Vec<StandinPod> = (1..=tb.nodes)
        .map(|i| StandinPod::glusterfs(&format!("glusterfs-n{i}"), NS, &hostname(tb, i)))
        .collect();
    let mut old = StandinPod::glusterfs("glusterfs-zz-old", NS, &hostname(tb, 1));
    old.deleting = true;
    pods.push(old);
    pods
}

fn hostname(tb: &Testbed, node: usize) -> String {
    tb.var(&format!("TESTBED_NODE{node}_HOSTNAME"))
}

/// The stand-in API server, its pods running commands on the testbed nodes.
fn standin(tb: &Testbed, tls: bool) -> KubeStandin {
    let nodes: Vec<(String, usize)> = (1..=tb.nodes).map(|i| (hostname(tb, i), i)).collect();
    let runner: Runner = Arc::new(move |pod: &StandinPod, argv: &[String]| {
        let node = nodes
            .iter()
            .find(|(name, _)| *name == pod.node_name)
            .map(|(_, i)| *i)
            .expect("every stand-in pod sits on a testbed node");
        Testbed::node_command(node, argv)
    });
    if tls {
        KubeStandin::start_tls(pods(tb), TOKEN, runner)
    } else {
        KubeStandin::start(pods(tb), TOKEN, runner)
    }
}

pub fn volume_lifecycle_through_pod_exec(tb: &Testbed) {
    let standin = standin(tb, false);
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(kubeconfig.path(), standin.kubeconfig("default")).unwrap();
    let s = Server::with(Options {
        glusterfs: Some(json!({"executor": "kubernetes",
                               "kubeexec": {"namespace": NS, "gluster_daemonset": true}})),
        env: vec![("KUBECONFIG".into(), kubeconfig.path().display().to_string())],
        wait_secs: 180,
        ..Options::default()
    });
    load_topology_as(tb, &s, 1, |i| hostname(tb, i));
    let pool = tb.sh(1, "gluster --mode=script pool list");
    assert_eq!(pool.matches("Connected").count(), 3, "peered through pod exec: {pool}");

    let info = s.create_volume(&volume_body(1, 3, 0));
    let name = info["name"].as_str().unwrap().to_string();
    let id = info["id"].as_str().unwrap().to_string();
    let gluster = tb.sh(2, &format!("gluster --mode=script volume info {name}"));
    assert!(gluster.contains("Number of Bricks: 1 x 3 = 3"), "{gluster}");
    assert!(gluster.contains("Status: Started"), "{gluster}");

    let mnt = tb.fuse_mount(&name, 3);
    let payload = "written through a volume the Kubernetes executor made\n";
    std::fs::write(mnt.join("k8s.txt"), payload).unwrap();
    assert_eq!(std::fs::read_to_string(mnt.join("k8s.txt")).unwrap(), payload);
    for b in info["bricks"].as_array().unwrap() {
        let node = node_of_brick(tb, &s, b);
        let stored = tb.sh(node, &format!("cat {}/k8s.txt", b["path"].as_str().unwrap()));
        assert_eq!(stored, payload, "file on node {node}'s brick");
    }
    let unmounted = std::process::Command::new("umount").arg(&mnt).status().unwrap();
    assert!(unmounted.success());
    let created = standin.execs().len();

    // A cluster older than 1.30 answers with the v4 protocol only.
    standin.set_faults(Faults {
        v4_only: true,
        ..Faults::default()
    });
    delete_volume_then_topology(tb, &s, &id);

    let execs = standin.execs();
    println!(
        "  {} commands exec'd into pods ({created} to create and check, the rest v4)",
        execs.len()
    );
    assert!(execs[..created].iter().all(|e| e.protocol == V5));
    assert!(execs.len() > created && execs[created..].iter().all(|e| e.protocol == V4));
    for e in &execs {
        assert_ne!(e.pod, "glusterfs-zz-old", "a terminating pod is never used");
        assert_eq!(e.authorization, format!("Bearer {TOKEN}"));
        assert_eq!(e.container.as_deref(), Some("glusterfs"));
        assert_eq!(e.argv[0], "timeout", "bounded in the pod: {:?}", e.argv);
        assert_eq!(e.argv[2..4], ["bash", "-c"]);
    }
    let used: std::collections::BTreeSet<&str> = execs.iter().map(|e| e.pod.as_str()).collect();
    assert_eq!(used.len(), 3, "every node's pod: {used:?}");
    assert!(
        execs.iter().any(|e| e.argv[4].starts_with("mkfs.xfs")),
        "bricks were made through exec"
    );
}

/// As in a pod: no kubeconfig, the service account's token, CA and
/// namespace mounted at the standard path (in a private mount namespace),
/// `KUBERNETES_SERVICE_HOST`/`PORT` naming the API server, over HTTPS.
pub fn in_cluster_service_account(tb: &Testbed) {
    let standin = standin(tb, true);
    let account = tempfile::tempdir().unwrap();
    std::fs::write(account.path().join("token"), standin.token()).unwrap();
    std::fs::write(account.path().join("ca.crt"), standin.ca_pem.as_deref().unwrap()).unwrap();
    // Kubernetes writes no newline here; Brickyard trims one anyway, as Heketi did.
    std::fs::write(account.path().join("namespace"), format!("{NS}\n")).unwrap();
    // Kubernetes deployments run LVM through a wrapper that enters the
    // host (`lvm_wrapper`); here it logs each call and runs it.
    let wrapper = "/usr/local/sbin/exec-on-host";
    for i in 1..=3 {
        tb.sh(
            i,
            &format!(
                "cat > {wrapper} <<'EOF'\n#!/bin/sh\necho \"$*\" >> /var/lib/heketi/exec-on-host.log\nexec \"$@\"\nEOF\nchmod +x {wrapper}"
            ),
        );
    }
    let home = tempfile::tempdir().unwrap();
    let mount = format!(
        "mount -t tmpfs tmpfs /run && mkdir -p {SA} && mount --bind {} {SA} && exec \"$@\"",
        account.path().display(),
        SA = "/run/secrets/kubernetes.io/serviceaccount"
    );
    let s = Server::with(Options {
        glusterfs: Some(json!({"executor": "kubernetes", "kubeexec": {"gluster_daemonset": true}})),
        env: vec![
            ("KUBERNETES_SERVICE_HOST".into(), "127.0.0.1".into()),
            ("KUBERNETES_SERVICE_PORT".into(), standin.addr.port().to_string()),
            ("HOME".into(), home.path().display().to_string()),
            ("KUBECONFIG".into(), String::new()),
            ("HEKETI_LVM_WRAPPER".into(), wrapper.into()),
        ],
        wrapper: [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &mount,
            "sh",
        ]
        .map(String::from)
        .to_vec(),
        wait_secs: 180,
        ..Options::default()
    });
    load_topology_as(tb, &s, 1, |i| hostname(tb, i));

    // Node 3's pod vanishes (evicted, its node drained): a create that
    // needs it fails naming it, and the other nodes are rolled back at
    // once. Node 3 cannot be asked, so the operation waits, holding its
    // space, until the pod is back and a cleanup finishes the undo.
    let all = standin.pods();
    standin.set_pods(all.iter().filter(|p| p.node_name != hostname(tb, 3)).cloned().collect());
    let failed = s.finish(s.post("/volumes", &volume_body(1, 3, 0)));
    assert_eq!(failed.status, 500, "{failed:?}");
    let missing = format!("Unable to find a GlusterFS pod on host {}", hostname(tb, 3));
    assert!(failed.body.contains(&missing), "{}", failed.body);
    assert_nodes_clean(tb, &[1, 2]);
    assert_eq!(s.get("/volumes").json()["volumes"], json!([]));
    standin.set_pods(all);
    let cleaned = s.finish(s.post("/operations/pending/cleanup", "{}"));
    assert_eq!(cleaned.status, 204, "{cleaned:?}");
    assert_nodes_clean(tb, &[1, 2, 3]);
    assert_space_whole(&s);
    s.assert_consistent();

    let info = s.create_volume(&volume_body(1, 3, 0));
    let id = info["id"].as_str().unwrap().to_string();
    delete_volume_then_topology(tb, &s, &id);

    let execs = standin.execs();
    assert!(execs.len() > 20, "{} commands", execs.len());
    for e in &execs {
        assert_eq!(
            e.authorization,
            format!("Bearer {TOKEN}"),
            "the service account's token"
        );
        assert!(e.uri.starts_with("/api/v1/namespaces/glusterfs/pods/"), "{}", e.uri);
    }
    println!("  {} commands exec'd over HTTPS with the service account", execs.len());
    for i in 1..=3 {
        let calls = tb.sh(i, "cat /var/lib/heketi/exec-on-host.log");
        for expected in [
            "/usr/sbin/lvm pvcreate",
            "/usr/sbin/lvm lvcreate",
            "/usr/sbin/lvm vgremove",
        ] {
            assert!(
                calls.contains(expected),
                "node {i}: no `{expected}` through the wrapper:\n{calls}"
            );
        }
        tb.sh(i, &format!("rm -f {wrapper} /var/lib/heketi/exec-on-host.log"));
    }
}
