//! The Kubernetes transport against the API-server stand-in
//! (`tests/support/kube_standin.rs`): pod lookup in Heketi's three modes,
//! the exec subprotocol (v5 and v4), exit codes, failures and timeouts.
//! Commands run as local processes here; the e2e suite runs them on real
//! storage nodes.

use std::sync::Arc;
use std::time::Duration;

use brickyard::executor::commands::q;
use brickyard::executor::kube::{KubeSettings, KubeTransport, PodLookup};
use brickyard::executor::transport::Transport;
use brickyard::kubernetes::backup_secret::{decompress, Payload};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::harness::{Options, Server};
use crate::kube_standin::{local_runner, Faults, KubeStandin, Runner, StandinPod, V4, V5};

const TOKEN: &str = "standin-token";
const NS: &str = "glusterfs";

fn cluster_pods() -> Vec<StandinPod> {
    let mut unlabelled = StandinPod::glusterfs("web-1", NS, "node1");
    unlabelled.labels.clear();
    let mut by_label = StandinPod::glusterfs("glusterfs-node3", NS, "node3");
    by_label.labels.insert("glusterfs-node".into(), "node3".into());
    vec![
        StandinPod::glusterfs("glusterfs-b", NS, "node1"),
        StandinPod::glusterfs("glusterfs-c", NS, "node2"),
        StandinPod::glusterfs("glusterfs-z", "elsewhere", "node1"),
        unlabelled,
        by_label,
    ]
}

fn standin() -> KubeStandin {
    KubeStandin::start(cluster_pods(), TOKEN, local_runner())
}

async fn transport_with(standin: &KubeStandin, token: &str, settings: KubeSettings) -> KubeTransport {
    let yaml = standin.kubeconfig(NS).replace(TOKEN, token);
    let kubeconfig = Kubeconfig::from_yaml(&yaml).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    config.default_retry = false;
    KubeTransport::new(kube::Client::try_from(config).unwrap(), settings)
}

fn settings(lookup: PodLookup) -> KubeSettings {
    let mut s = KubeSettings::new(
        NS.into(),
        lookup == PodLookup::PodName,
        lookup == PodLookup::DaemonSet,
        0,
    );
    s.watchdog_grace = Duration::from_secs(2);
    s
}

async fn transport(standin: &KubeStandin) -> KubeTransport {
    transport_with(standin, TOKEN, settings(PodLookup::DaemonSet)).await
}

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_command_runs_in_the_nodes_pod_with_its_output_and_exit_code() {
    let standin = standin();
    let t = transport(&standin).await;
    let out = t.run("node1", "echo out; echo err >&2; exit 3", MINUTE).await.unwrap();
    assert_eq!(
        (out.status, out.stdout.as_str(), out.stderr.as_str()),
        (3, "out\n", "err\n")
    );
    let ok = t.run("node2", "printf ok", MINUTE).await.unwrap();
    assert_eq!((ok.status, ok.stdout.as_str()), (0, "ok"));

    let execs = standin.execs();
    assert_eq!(execs.len(), 2);
    assert_eq!(
        execs[0].pod, "glusterfs-b",
        "the labelled pod on node1 in the namespace"
    );
    assert_eq!(execs[1].pod, "glusterfs-c");
    assert_eq!(execs[0].container.as_deref(), Some("glusterfs"));
    assert_eq!(execs[0].protocol, V5, "v5 when the server offers it");
    assert_eq!(execs[0].authorization, format!("Bearer {TOKEN}"));
    assert_eq!(
        execs[0].argv,
        ["timeout", "1m", "bash", "-c", "echo out; echo err >&2; exit 3"]
    );
    assert_eq!(
        execs[1].uri,
        "/api/v1/namespaces/glusterfs/pods/glusterfs-c/exec?&stdout=true&stderr=true&container=glusterfs\
         &command=timeout&command=1m&command=bash&command=-c&command=printf+ok"
    );
    let lists: Vec<String> = standin
        .requests()
        .into_iter()
        .filter(|r| !r.contains("/exec"))
        .collect();
    assert_eq!(
        lists,
        [
            "GET /api/v1/namespaces/glusterfs/pods?&fieldSelector=spec.nodeName%3Dnode1&labelSelector=glusterfs-node",
            "GET /api/v1/namespaces/glusterfs/pods?&fieldSelector=spec.nodeName%3Dnode2&labelSelector=glusterfs-node"
        ],
        "the pod is looked up for every command, by Heketi's DaemonSet label and the node"
    );
    assert_eq!(t.stats().snapshot().commands, 2);
}

#[tokio::test]
async fn the_v4_protocol_gives_the_same_results() {
    let standin = standin();
    standin.set_faults(Faults {
        v4_only: true,
        ..Faults::default()
    });
    let t = transport(&standin).await;
    let out = t.run("node1", "echo v4; exit 7", MINUTE).await.unwrap();
    assert_eq!((out.status, out.stdout.as_str()), (7, "v4\n"));
    assert_eq!(standin.execs()[0].protocol, V4);
}

#[tokio::test]
async fn large_output_on_both_streams_arrives_whole() {
    let standin = standin();
    let t = transport(&standin).await;
    let out = t
        .run(
            "node1",
            "head -c 300000 /dev/zero | tr '\\0' o; head -c 200000 /dev/zero | tr '\\0' e >&2",
            MINUTE,
        )
        .await
        .unwrap();
    assert_eq!(out.status, 0);
    assert_eq!(out.stdout.len(), 300_000);
    assert!(out.stdout.bytes().all(|b| b == b'o'));
    assert_eq!(out.stderr.len(), 200_000);
}

#[tokio::test]
async fn hostile_values_stay_one_quoted_argument() {
    let standin = standin();
    let t = transport(&standin).await;
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let hostile = format!("x'; touch {m}; echo '$(touch {m})`touch {m}`\"", m = marker.display());
    let out = t
        .run("node1", &format!("printf %s {}", q(&hostile)), MINUTE)
        .await
        .unwrap();
    assert_eq!(out.status, 0, "{out:?}");
    assert_eq!(out.stdout, hostile, "printed back literally");
    assert!(!marker.exists(), "no command of the value's own ran");
    assert_eq!(standin.execs()[0].argv[4], format!("printf %s {}", q(&hostile)));
}

#[tokio::test]
async fn pods_are_found_by_name_and_by_label() {
    let standin = standin();
    let by_name = transport_with(&standin, TOKEN, settings(PodLookup::PodName)).await;
    let out = by_name.run("glusterfs-c", "echo named", MINUTE).await.unwrap();
    assert_eq!(out.stdout, "named\n");
    let gone = by_name.run("glusterfs-gone", "true", MINUTE).await.unwrap_err();
    assert_eq!(
        gone.0,
        "pod glusterfs-gone not found in namespace glusterfs: it may have been deleted"
    );
    assert!(standin
        .requests()
        .contains(&"GET /api/v1/namespaces/glusterfs/pods/glusterfs-c".to_string()));

    let by_label = transport_with(&standin, TOKEN, settings(PodLookup::Label)).await;
    let out = by_label.run("node3", "echo labelled", MINUTE).await.unwrap();
    assert_eq!(out.stdout, "labelled\n");
    assert!(standin
        .requests()
        .contains(&"GET /api/v1/namespaces/glusterfs/pods?&labelSelector=glusterfs-node%3D%3Dnode3".to_string()));
    let none = by_label.run("node9", "true", MINUTE).await.unwrap_err();
    assert_eq!(none.0, "No pods with the label 'glusterfs-node=node9' were found");
    let mut pods = cluster_pods();
    let mut twin = StandinPod::glusterfs("glusterfs-node3-new", NS, "node3");
    twin.labels.insert("glusterfs-node".into(), "node3".into());
    pods.push(twin);
    standin.set_pods(pods);
    let two = by_label.run("node3", "true", MINUTE).await.unwrap_err();
    assert_eq!(
        two.0,
        "Found 2 pods sharing the same label 'glusterfs-node=node3': glusterfs-node3, glusterfs-node3-new"
    );
}

#[tokio::test]
async fn a_pod_gone_between_lookup_and_exec_is_looked_up_again_once() {
    let standin = standin();
    let t = transport(&standin).await;
    standin.vanish_on_next_execs(1);
    let out = t.run("node1", "echo second try", MINUTE).await.unwrap();
    assert_eq!(out.stdout, "second try\n");
    let execs = standin.requests().iter().filter(|r| r.contains("/exec?")).count();
    let lists = standin.requests().iter().filter(|r| r.contains("/pods?")).count();
    assert_eq!((execs, lists), (2, 2), "{:?}", standin.requests());
    assert_eq!(standin.execs().len(), 1, "the command ran once");

    // Gone twice: the second refusal is the answer.
    standin.vanish_on_next_execs(2);
    let gone = t.run("node1", "true", MINUTE).await.unwrap_err();
    assert!(
        gone.0
            .starts_with("exec in pod glusterfs-b: pods \"glusterfs-b\" not found (404)"),
        "{}",
        gone.0
    );

    // By name, the pod is the node: nothing to look up again.
    let by_name = transport_with(&standin, TOKEN, settings(PodLookup::PodName)).await;
    standin.vanish_on_next_execs(1);
    assert!(by_name.run("glusterfs-c", "true", MINUTE).await.is_err());
    standin.vanish_on_next_execs(0);
}

#[tokio::test]
async fn a_daemonset_node_without_a_running_pod_gets_a_clear_error() {
    let standin = standin();
    let t = transport(&standin).await;
    let missing = t.run("node7", "true", MINUTE).await.unwrap_err();
    assert_eq!(
        missing.0,
        "Unable to find a GlusterFS pod on host node7 with a label key glusterfs-node"
    );
    // The pod is being replaced: the old one terminates, the new one is not yet running.
    let mut old = StandinPod::glusterfs("glusterfs-a", NS, "node2");
    old.deleting = true;
    let mut new = StandinPod::glusterfs("glusterfs-y", NS, "node2");
    new.phase = "Pending".into();
    standin.set_pods(vec![old, new]);
    let pending = t.run("node2", "true", MINUTE).await.unwrap_err();
    assert!(
        pending.0.contains("glusterfs-y") && pending.0.contains("phase Pending"),
        "the API server's refusal, named: {}",
        pending.0
    );
}

#[tokio::test]
async fn refusals_and_broken_streams_are_errors_not_exit_codes() {
    let standin = standin();
    let t = transport(&standin).await;

    standin.set_faults(Faults {
        forbid_exec: true,
        ..Faults::default()
    });
    let forbidden = t.run("node1", "true", MINUTE).await.unwrap_err();
    assert!(
        forbidden
            .0
            .starts_with("exec in pod glusterfs-b: pods \"glusterfs-b\" is forbidden"),
        "{}",
        forbidden.0
    );
    assert!(
        forbidden.0.contains("(403)") && forbidden.0.contains("get, create on pods/exec"),
        "{}",
        forbidden.0
    );

    standin.set_faults(Faults {
        drop_status: true,
        ..Faults::default()
    });
    let dropped = t.run("node1", "echo partial; echo why >&2", MINUTE).await.unwrap_err();
    assert!(dropped.0.contains("ended without an exit status"), "{}", dropped.0);
    assert!(
        dropped.0.ends_with(" (stderr: why)"),
        "what it said is kept: {}",
        dropped.0
    );

    standin.set_faults(Faults {
        malformed_status: true,
        ..Faults::default()
    });
    let malformed = t.run("node1", "true", MINUTE).await.unwrap_err();
    assert!(malformed.0.starts_with("exec in pod glusterfs-b: "), "{}", malformed.0);

    standin.set_faults(Faults::default());
    let missing_program = t.run("node1", "exec /nonexistent/program", MINUTE).await.unwrap();
    assert_eq!(missing_program.status, 127, "bash's own exit code comes through");

    let wrong_token = transport_with(&standin, "stolen", settings(PodLookup::DaemonSet)).await;
    let refused = wrong_token.run("node1", "true", MINUTE).await.unwrap_err();
    assert!(
        refused.0.contains("Unauthorized") && refused.0.contains("401"),
        "{}",
        refused.0
    );
}

#[tokio::test]
async fn a_command_past_its_time_is_a_timeout() {
    let standin = standin();
    let t = transport(&standin).await;
    // `timeout` in the pod ends the command: exit 124 is Heketi's timeout.
    let killed = t.run("node1", "sleep 20", Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(killed.0, "timeout: the command ran out of its 1s in pod glusterfs-b");
    assert_eq!(standin.execs()[0].argv[..2], ["timeout", "1s"]);

    // The stream never reports: Brickyard's own watchdog gives up.
    standin.set_faults(Faults {
        status_delay: Some(Duration::from_secs(30)),
        ..Faults::default()
    });
    let silent = t.run("node1", "true", Duration::from_secs(1)).await.unwrap_err();
    assert!(
        silent.0.starts_with("timeout: no answer from pod glusterfs-b within"),
        "{}",
        silent.0
    );
}

/// Callers tell a timeout by its kind, not its words.
#[tokio::test]
async fn timeouts_are_told_apart_from_other_failures() {
    let standin = standin();
    let t = transport(&standin).await;
    let killed = t.run("node1", "sleep 20", Duration::from_secs(1)).await.unwrap_err();
    assert!(killed.is_timeout(), "{killed}");
    let no_pod = t.run("node9", "true", MINUTE).await.unwrap_err();
    assert!(!no_pod.is_timeout(), "{no_pod}");
}

#[tokio::test]
async fn max_connections_queues_sessions_instead_of_failing_them() {
    let standin = standin();
    let mut s = settings(PodLookup::DaemonSet);
    s.max_connections = Some(1);
    let t = Arc::new(transport_with(&standin, TOKEN, s).await);
    let runs = (0..3).map(|_| {
        let t = t.clone();
        tokio::spawn(async move {
            t.run("node1", "date +%s%N; sleep 0.3; date +%s%N", MINUTE)
                .await
                .unwrap()
        })
    });
    let mut spans: Vec<(u128, u128)> = Vec::new();
    for run in runs {
        let out = run.await.unwrap();
        assert_eq!(out.status, 0);
        let times: Vec<u128> = out.stdout.lines().map(|l| l.parse().unwrap()).collect();
        spans.push((times[0], times[1]));
    }
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "one session at a time: {spans:?}");
    }
}

/// A runner for the server test: every command "succeeds" without running.
fn inert_runner() -> Runner {
    Arc::new(|_pod, _argv| std::process::Command::new("true"))
}

#[test]
fn the_server_reaches_nodes_through_the_kubernetes_executor() {
    let standin = KubeStandin::start(cluster_pods(), TOKEN, inert_runner());
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, standin.kubeconfig("default")).unwrap();
    let s = Server::with(Options {
        glusterfs: Some(serde_json::json!({"executor": "ssh", "kubeexec": {"namespace": "wrong"}})),
        env: vec![
            ("HEKETI_EXECUTOR".into(), "kubernetes".into()),
            ("HEKETI_KUBE_GLUSTER_DAEMONSET".into(), "y".into()),
            ("HEKETI_KUBE_NAMESPACE".into(), NS.into()),
            ("KUBECONFIG".into(), kubeconfig.display().to_string()),
        ],
        ..Options::default()
    });
    let cluster = s.create_cluster();
    s.add_node(&cluster, 1, "node1", "10.0.0.1");
    let exec = &standin.execs()[0];
    assert_eq!(exec.pod, "glusterfs-b");
    assert_eq!(exec.argv, ["timeout", "10m", "bash", "-c", "systemctl status glusterd"]);
    // Real nodes (here through Kubernetes) have no mock node state to show.
    let no_mock = s.get("/internal/mock/state");
    assert_eq!(no_mock.status, 404);
    assert_eq!(no_mock.body, "No mock node state: the executor is not the mock\n");
    assert_eq!(no_mock.header("content-type"), Some("text/plain; charset=utf-8"));

    let body =
        serde_json::json!({"zone": 2, "hostnames": {"manage": ["node9"], "storage": ["10.0.0.9"]}, "cluster": cluster});
    let refused = s.post("/nodes", &body.to_string());
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.body,
        "Unable to reach node node9: node9: \"systemctl status glusterd\" failed: \
         Unable to find a GlusterFS pod on host node9 with a label key glusterfs-node\n"
    );
}

#[test]
fn without_a_cluster_to_talk_to_the_server_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_brickyard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(dir.path().join("store"))
        .env_clear()
        .env("HOME", dir.path())
        .env("HEKETI_EXECUTOR", "kubernetes")
        .env("KUBECONFIG", dir.path().join("missing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot configure the Kubernetes client (no kubeconfig, not in a pod?)"),
        "{stderr}"
    );
}

#[test]
fn the_stand_in_refuses_what_a_real_api_server_refuses() {
    let standin = standin();
    let http = reqwest::blocking::Client::new();
    let get = |path: &str, token: &str| {
        let r = http
            .get(format!("{}{path}", standin.url()))
            .bearer_auth(token)
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let (code, body) = get("/api/v1/namespaces/glusterfs/pods", "nope");
    assert_eq!(code, 401, "{body}");
    let (code, body) = get(
        "/api/v1/namespaces/glusterfs/pods?fieldSelector=spec.nodeName%3Dnode2",
        TOKEN,
    );
    assert_eq!(code, 200);
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["glusterfs-c"]);
    let (code, _) = get("/api/v1/namespaces/glusterfs/pods?labelSelector=a%3D%3Db%3Dc", TOKEN);
    assert_eq!(code, 400, "a selector it cannot parse");
    let (code, body) = get("/api/v1/namespaces/glusterfs/pods/none", TOKEN);
    assert_eq!(code, 404);
    assert!(body.contains(r#""reason":"NotFound""#), "{body}");
    let exec = "/api/v1/namespaces/glusterfs/pods/glusterfs-b/exec?stdout=true&command=true";
    let (code, body) = get(exec, TOKEN);
    assert_eq!((code, body.contains("Upgrade request required")), (400, true), "{body}");
    let (code, body) = get(
        "/api/v1/namespaces/glusterfs/pods/glusterfs-b/exec?stdout=false&command=true",
        TOKEN,
    );
    assert_eq!(code, 400);
    assert!(body.contains("at least 1 of stdin, stdout, stderr"), "{body}");
    let (code, body) = get(
        "/api/v1/namespaces/glusterfs/pods/glusterfs-b/exec?stdout=1&container=other&command=true",
        TOKEN,
    );
    assert_eq!(code, 400);
    assert!(
        body.contains("container other is not valid for pod glusterfs-b"),
        "{body}"
    );
    assert!(standin.execs().is_empty(), "nothing ran");
}

/// The Secret's `heketi.db.gz`, once it holds a cluster with id `cluster`
/// (polled for up to 20 s: backups follow commits in the background).
fn backed_up_with(standin: &KubeStandin, namespace: &str, cluster: &str) -> (Vec<u8>, String) {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.encode(cluster);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(secret) = standin.secret(namespace, "heketi-db-backup") {
            let data = secret["data"]["heketi.db.gz"].as_str().unwrap_or_default();
            let gz = base64::engine::general_purpose::STANDARD.decode(data).unwrap();
            // Until the first backup, the Secret may hold Heketi's database.
            let backup = match decompress(&gz).unwrap() {
                Payload::Brickyard(backup) => Some(backup),
                Payload::HeketiBolt => None,
            };
            if backup.is_some_and(|b| b.trees["clusters"].iter().any(|[k, _]| *k == key)) {
                let version = secret["metadata"]["resourceVersion"].as_str().unwrap().to_string();
                return (gz, version);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no backup of cluster {cluster} in the Secret after 20 s: {:?}",
            standin.requests()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The first page of a Bolt file (Heketi's database), gzipped.
fn heketi_bolt_gz() -> Vec<u8> {
    let mut bolt = vec![0u8; 4096];
    bolt[16..20].copy_from_slice(&[0xED, 0xDA, 0x0C, 0xED]);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, &bolt).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn the_store_is_backed_up_to_a_secret_and_restored_from_its_mount() {
    use base64::Engine as _;
    let standin = KubeStandin::start(vec![], TOKEN, inert_runner());
    // Heketi's last backup is still in the Secret: it must survive.
    let bolt = base64::engine::general_purpose::STANDARD.encode(heketi_bolt_gz());
    standin.put_secret(
        "storage",
        "heketi-db-backup",
        [("heketi.db.gz".to_string(), bolt.clone())].into(),
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, standin.kubeconfig("storage")).unwrap();
    let s = Server::with(Options {
        glusterfs: Some(serde_json::json!({"executor": "mock"})),
        env: vec![
            ("HEKETI_BACKUP_DB_TO_KUBE_SECRET".into(), "y".into()),
            ("KUBECONFIG".into(), kubeconfig.display().to_string()),
        ],
        ..Options::default()
    });
    let first = s.create_cluster();
    let (_, created) = backed_up_with(&standin, "storage", &first);
    let second = s.create_cluster();
    let (_, replaced) = backed_up_with(&standin, "storage", &second);
    assert_ne!(created, replaced, "the second backup replaced the first");
    // A change right before the pod is stopped still reaches the Secret:
    // the server writes once more on SIGTERM, inside its 2 s pause.
    let last = s.create_cluster();
    let mut s = s;
    assert!(s.terminate(), "a clean exit on SIGTERM");
    let (gz, _) = backed_up_with(&standin, "storage", &last);
    let kept = standin
        .secret("storage", "heketi-db-backup-from-heketi")
        .expect("Heketi's database kept in its own Secret");
    assert_eq!(kept["data"]["heketi.db.gz"], bolt.as_str());
    drop(s);

    // A new pod whose store volume is empty starts from the Secret's mount.
    let mount = tempfile::tempdir().unwrap();
    std::fs::write(mount.path().join("heketi.db.gz"), &gz).unwrap();
    let env = vec![("BACKUPDB_PATH".to_string(), mount.path().display().to_string())];
    let mut restored = Server::with(Options {
        env: env.clone(),
        ..Options::default()
    });
    let mut clusters = restored.get("/clusters").json()["clusters"].clone();
    clusters
        .as_array_mut()
        .unwrap()
        .sort_by_key(|c| c.as_str().unwrap().to_string());
    let mut expected = vec![first.clone(), second.clone(), last.clone()];
    expected.sort();
    assert_eq!(clusters, serde_json::json!(expected));
    restored.assert_consistent();

    // A store with contents is never overwritten by the mount.
    let third = restored.create_cluster();
    restored.restart();
    assert_eq!(
        restored.get("/clusters").json()["clusters"].as_array().unwrap().len(),
        4
    );
    assert_eq!(restored.get(&format!("/clusters/{third}")).status, 200);

    // Heketi's own Bolt file in the mount: named in the log, not used.
    std::fs::write(mount.path().join("heketi.db.gz"), heketi_bolt_gz()).unwrap();
    let log = dir.path().join("bolt.log");
    let fresh = Server::with(Options {
        env,
        log: Some(("warn".into(), log.clone())),
        ..Options::default()
    });
    assert_eq!(fresh.get("/clusters").json()["clusters"], serde_json::json!([]));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("holds a Heketi database, which Brickyard cannot read"),
        "{logged}"
    );
}

#[tokio::test]
async fn https_with_the_clusters_ca_and_refused_without_it() {
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let standin = KubeStandin::start_tls(cluster_pods(), TOKEN, local_runner());
    assert!(standin.url().starts_with("https://127.0.0.1:"));
    let t = transport(&standin).await;
    let out = t.run("node2", "echo over tls", MINUTE).await.unwrap();
    assert_eq!(out.stdout, "over tls\n");
    assert_eq!(standin.execs()[0].pod, "glusterfs-c");

    // Another cluster's CA: the server's certificate is not trusted.
    let other = KubeStandin::start_tls(vec![], TOKEN, local_runner());
    let ca_line = |kubeconfig: String| {
        kubeconfig
            .lines()
            .find(|l| l.contains("certificate-authority-data"))
            .unwrap()
            .to_string()
    };
    let foreign = standin
        .kubeconfig(NS)
        .replace(&ca_line(standin.kubeconfig(NS)), &ca_line(other.kubeconfig(NS)));
    let kubeconfig = Kubeconfig::from_yaml(&foreign).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    config.default_retry = false;
    let untrusted = KubeTransport::new(kube::Client::try_from(config).unwrap(), settings(PodLookup::DaemonSet));
    let refused = untrusted.run("node2", "true", MINUTE).await.unwrap_err();
    assert!(refused.0.contains("invalid peer certificate"), "{}", refused.0);
    assert_eq!(standin.execs().len(), 1, "nothing ran for the untrusting client");
}
