//! Starts the real `brickyard` binary on an ephemeral loopback port and
//! talks to it over HTTP, as any client would.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use reqwest::blocking::{Client, Response};
use reqwest::Method;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const ADMIN_KEY: &str = "My Secret";
pub const USER_KEY: &str = "User Secret";

/// How the server is started.
#[derive(Clone, Default)]
pub struct Options {
    /// Run with a heketi.json and authentication on.
    pub auth: bool,
    pub env: Vec<(String, String)>,
    /// Extra keys for the `glusterfs` object of heketi.json.
    pub glusterfs: Option<Value>,
    /// Serve HTTPS with a fresh self-signed certificate (`cert.pem`).
    pub tls: bool,
    /// How long `wait` polls a queue entry; 30 s when zero.
    pub wait_secs: u64,
    /// `RUST_LOG` filter and the file the server's log goes to.
    pub log: Option<(String, PathBuf)>,
    /// A store directory copied into place before the first start.
    pub seed_store: Option<PathBuf>,
    /// A file copied to where the store goes, before the first start.
    pub store_file: Option<PathBuf>,
    /// A command the server runs under (`unshare …`), given the server's
    /// command line as its last arguments.
    pub wrapper: Vec<String>,
    /// Put the store on the shared etcd cluster whatever the run's mode.
    pub etcd: bool,
    /// Another replica's etcd prefix and files directory to share.
    pub replica_of: Option<(String, PathBuf)>,
    /// The etcd members to use instead of the shared test cluster.
    pub etcd_endpoints: Option<String>,
    /// Return once the server listens, ready or not (a replica whose
    /// leader does not answer).
    pub unready: bool,
}

pub struct Server {
    child: Option<Child>,
    /// With an etcd store: its key prefix in the shared test cluster.
    etcd_prefix: Option<String>,
    pub dir: tempfile::TempDir,
    pub base: String,
    pub opts: Options,
    client: Client,
    /// Whose token requests carry (when auth is on).
    pub issuer: Option<(&'static str, &'static str)>,
}

/// A captured response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    pub fn location(&self) -> String {
        self.header("location").expect("location header").to_string()
    }
}

/// In an examiner report (`/internal/state/examine/gluster`), what the node
/// with id `node` of the first cluster reported.
pub fn examined_node<'a>(report: &'a Value, node: &str) -> &'a Value {
    report["clusters"][0]["NodesData"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["NodeHeketiID"] == node)
        .unwrap_or_else(|| panic!("node {node} not in {report}"))
}

pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

pub fn qsh(method: &str, path: &str) -> String {
    hex::encode(Sha256::digest(format!("{method}&{path}").as_bytes()))
}

/// A token exactly as Heketi's Go client makes one.
pub fn token(iss: &str, key: &str, method: &str, path: &str) -> String {
    let claims = serde_json::json!({"iss": iss, "iat": now(), "exp": now() + 300, "qsh": qsh(method, path)});
    sign(&claims, key)
}

pub fn sign(claims: &Value, key: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .unwrap()
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_brickyard")
}

/// Whether this run puts servers' stores on etcd (`BRICKYARD_TEST_STORE=etcd`,
/// which scripts/test sets for its second run of this suite).
pub fn on_etcd() -> bool {
    std::env::var("BRICKYARD_TEST_STORE").as_deref() == Ok("etcd")
}

impl Server {
    pub fn start() -> Server {
        Server::with(Options::default())
    }

    pub fn with(opts: Options) -> Server {
        let tls = opts.tls;
        let dir = tempfile::tempdir().unwrap();
        // A store seeded from files tests those files' format: sled's.
        let seeded = opts.seed_store.is_some() || opts.store_file.is_some();
        let etcd_prefix = match &opts.replica_of {
            Some((prefix, _)) => Some(prefix.clone()),
            None => ((on_etcd() || opts.etcd || opts.etcd_endpoints.is_some()) && !seeded)
                .then(|| crate::etcd_cluster::unique_prefix("api")),
        };
        let mut server = Server {
            child: None,
            etcd_prefix,
            dir,
            base: String::new(),
            issuer: opts.auth.then_some(("admin", ADMIN_KEY)),
            opts,
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .danger_accept_invalid_certs(tls)
                .build()
                .unwrap(),
        };
        if let Some(seed) = &server.opts.seed_store {
            copy_dir(seed, &server.store_path());
        }
        if let Some(file) = &server.opts.store_file {
            std::fs::copy(file, server.store_path()).unwrap();
        }
        server.launch(None);
        server
    }

    /// The sled store's directory, or (on etcd) where the server keeps
    /// its own files: the mock's node state goes beside it either way.
    pub fn store_path(&self) -> PathBuf {
        match &self.opts.replica_of {
            Some((_, shared)) => shared.clone(),
            None => self.dir.path().join("store"),
        }
    }

    /// Another replica on this server's etcd store, sharing its mock nodes.
    pub fn replica(&self) -> Server {
        Server::with(self.replica_options())
    }

    /// This server's options, for another replica on its store.
    pub fn replica_options(&self) -> Options {
        let prefix = self.etcd_prefix.clone().expect("replicas share an etcd store");
        Options {
            replica_of: Some((prefix, self.store_path())),
            ..self.opts.clone()
        }
    }

    /// What `/ready` says: `leader`, `follower of …`, or why not ready.
    pub fn readiness(&self) -> (u16, String) {
        let r = self.anonymous("GET", "/ready", None, &[]);
        (r.status, r.body)
    }

    /// Waits (bounded) until this replica leads.
    pub fn wait_leading(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.readiness() == (200, "leader\n".to_string()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Whether the process has exited (and reaps it).
    pub fn exited(&mut self) -> bool {
        match self.child.as_mut().map(std::process::Child::try_wait) {
            Some(Ok(Some(_))) => {
                self.child = None;
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    /// SIGSTOP or SIGCONT.
    pub fn signal(&self, sig: i32) {
        if let Some(child) = &self.child {
            // SAFETY: kill(2) on a child this harness started.
            unsafe { libc::kill(child.id() as i32, sig) };
        }
    }

    fn etcd_endpoints(&self) -> String {
        match &self.opts.etcd_endpoints {
            Some(members) => members.clone(),
            None => crate::etcd_cluster::shared().to_string(),
        }
    }

    /// The store as the tools take it: the sled directory or the etcd URL.
    pub fn store_location(&self) -> String {
        match &self.etcd_prefix {
            Some(prefix) => format!("etcd://{}/{prefix}", self.etcd_endpoints()),
            None => self.store_path().to_string_lossy().into_owned(),
        }
    }

    pub fn mock_state_path(&self) -> PathBuf {
        self.dir.path().join("store.mock-nodes.json")
    }

    fn write_config(&self) -> PathBuf {
        let mut glusterfs = serde_json::json!({"executor": "mock", "db": self.store_path()});
        if let Some(Value::Object(extra)) = &self.opts.glusterfs {
            for (k, v) in extra {
                glusterfs[k] = v.clone();
            }
        }
        let mut config = serde_json::json!({
            "port": "0",
            "use_auth": true,
            "jwt": {"admin": {"key": ADMIN_KEY}, "user": {"key": USER_KEY}},
            "glusterfs": glusterfs,
        });
        if self.opts.tls {
            let cert =
                rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
            let (cert_file, key_file) = (self.dir.path().join("cert.pem"), self.dir.path().join("key.pem"));
            std::fs::write(&cert_file, cert.cert.pem()).unwrap();
            std::fs::write(&key_file, cert.key_pair.serialize_pem()).unwrap();
            config["enable_tls"] = Value::Bool(true);
            config["cert_file"] = Value::String(cert_file.to_string_lossy().into_owned());
            config["key_file"] = Value::String(key_file.to_string_lossy().into_owned());
        }
        let path = self.dir.path().join("heketi.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        path
    }

    /// Starts the binary (on `port` if given) and waits for its listening line.
    fn launch(&mut self, port: Option<u16>) {
        let listen = format!("127.0.0.1:{}", port.unwrap_or(0));
        let mut cmd = match self.opts.wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(binary());
                cmd
            }
            None => Command::new(binary()),
        };
        cmd.arg("serve")
            .arg("--listen")
            .arg(&listen)
            .arg("--store")
            .arg(self.store_path());
        if self.opts.auth {
            cmd.arg("--config").arg(self.write_config());
        } else if self.opts.glusterfs.is_some() || self.opts.tls {
            cmd.arg("--config").arg(self.write_config()).arg("--disable-auth");
        }
        if let Some(prefix) = &self.etcd_prefix {
            cmd.env("BRICKYARD_ETCD_ENDPOINTS", self.etcd_endpoints())
                .env("BRICKYARD_ETCD_PREFIX", prefix)
                .env("BRICKYARD_ETCD_MAX_TXN_OPS", "1024")
                .env("BRICKYARD_LOCAL_DIR", self.store_path())
                // A restarted server waits out its predecessor's lease.
                .env("BRICKYARD_LEADER_LEASE_SECONDS", "2");
        }
        cmd.envs(self.opts.env.iter().map(|(k, v)| (k.clone(), v.clone())))
            .current_dir(self.dir.path())
            .stdout(Stdio::piped());
        match &self.opts.log {
            Some((filter, file)) => {
                let log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(file)
                    .unwrap();
                cmd.env("RUST_LOG", filter).stderr(log)
            }
            None => cmd.env("RUST_LOG", "warn").stderr(Stdio::inherit()),
        };
        let mut child = cmd.spawn().expect("start brickyard");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("Listening on ") {
                    let _ = tx.send(addr.trim_end_matches(" (https)").to_string());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("server did not report its address in time");
        let scheme = if self.opts.tls { "https" } else { "http" };
        self.base = format!("{scheme}://{addr}");
        self.child = Some(child);
        if self.etcd_prefix.is_some() && !self.opts.unready {
            // A replica serves at once but acts only once elected, or
            // once it follows a leader that answers.
            let deadline = Instant::now() + Duration::from_secs(30);
            while self.readiness().0 != 200 {
                assert!(
                    Instant::now() < deadline,
                    "the replica did not become ready within 30 s"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.base.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// SIGKILL, no goodbye.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server as Kubernetes does (SIGTERM) and waits, at most
    /// 30 s, for it to exit; returns whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(sent, "kill -TERM");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server and starts it again on the same store and port.
    pub fn restart(&mut self) {
        let port = self.port();
        self.kill9();
        self.launch(Some(port));
    }

    pub fn restart_with_env(&mut self, env: Vec<(String, String)>) {
        let port = self.port();
        self.kill9();
        self.opts.env = env;
        self.launch(Some(port));
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    pub fn raw(&self, method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Reply {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method.clone(), format!("{}{}", self.base, path));
        if let Some((iss, key)) = self.issuer {
            let bare = path.split('?').next().unwrap_or(path);
            req = req.header(
                "Authorization",
                format!("bearer {}", token(iss, key, method.as_str(), bare)),
            );
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        capture(req.send().expect("request"))
    }

    /// A request with no token at all.
    pub fn anonymous(&self, method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Reply {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        capture(req.send().expect("request"))
    }

    pub fn get(&self, path: &str) -> Reply {
        self.raw("GET", path, None, &[])
    }

    /// A GET of `path` is refused to Heketi's `user` with Heketi's text and
    /// answered to the administrator (a server with auth on).
    pub fn assert_admin_only_get(&self, path: &str) {
        let bearer = format!("bearer {}", token("user", USER_KEY, "GET", path));
        let user = self.anonymous("GET", path, None, &[("Authorization", &bearer)]);
        assert_eq!(
            (user.status, user.body.as_str()),
            (401, "Administrator access required\n")
        );
        assert_eq!(self.get(path).status, 200);
    }
    pub fn post(&self, path: &str, body: &str) -> Reply {
        self.raw("POST", path, Some(body), &[])
    }
    pub fn delete(&self, path: &str) -> Reply {
        self.raw("DELETE", path, None, &[])
    }

    /// Polls a queue location (bounded) until it stops answering pending.
    pub fn wait(&self, location: &str) -> Reply {
        let limit = if self.opts.wait_secs == 0 {
            30
        } else {
            self.opts.wait_secs
        };
        let deadline = Instant::now() + Duration::from_secs(limit);
        loop {
            let r = self.get(location);
            if r.header("x-pending").is_none() {
                return r;
            }
            assert_eq!(r.status, 200, "pending answers are 200");
            assert!(
                Instant::now() < deadline,
                "queue {location} still pending after {limit} s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs an async request to its end; returns the final queue reply.
    pub fn finish(&self, accepted: Reply) -> Reply {
        assert_eq!(accepted.status, 202, "expected 202, got {accepted:?}");
        self.wait(&accepted.location())
    }

    pub fn create_cluster(&self) -> String {
        let r = self.post("/clusters", r#"{"file":true,"block":true}"#);
        assert_eq!(r.status, 201, "{r:?}");
        r.json()["id"].as_str().unwrap().to_string()
    }

    pub fn add_node(&self, cluster: &str, zone: i64, manage: &str, storage: &str) -> String {
        let body = serde_json::json!({"zone": zone, "hostnames": {"manage": [manage], "storage": [storage]}, "cluster": cluster});
        let done = self.finish(self.post("/nodes", &body.to_string()));
        assert_eq!(done.status, 303, "{done:?}");
        done.location().trim_start_matches("/nodes/").to_string()
    }

    pub fn add_device(&self, node: &str, name: &str) -> String {
        let body = serde_json::json!({"node": node, "name": name});
        let done = self.finish(self.post("/devices", &body.to_string()));
        assert_eq!(done.status, 204, "{done:?}");
        let info = self.get(&format!("/nodes/{node}")).json();
        info["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == name)
            .map(|d| d["id"].as_str().unwrap().to_string())
            .expect("device listed on node")
    }

    pub fn set_state(&self, kind: &str, id: &str, state: &str) -> Reply {
        self.finish(self.post(&format!("/{kind}/{id}/state"), &format!(r#"{{"state":"{state}"}}"#)))
    }

    /// A cluster of `nodes` nodes in distinct zones with `devices` devices each.
    pub fn topology(&self, nodes: usize, devices: usize) -> (String, Vec<String>) {
        let cluster = self.create_cluster();
        let mut ids = Vec::new();
        for i in 1..=nodes {
            let node = self.add_node(&cluster, i as i64, &format!("node{i}"), &format!("10.0.0.{i}"));
            for d in 0..devices {
                self.add_device(&node, &format!("/dev/sd{}", (b'b' + d as u8) as char));
            }
            ids.push(node);
        }
        (cluster, ids)
    }

    /// Every device of every node of every cluster, as node info shows it.
    pub fn devices(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for c in self.get("/clusters").json()["clusters"].as_array().unwrap() {
            let cluster = self.get(&format!("/clusters/{}", c.as_str().unwrap())).json();
            for n in cluster["nodes"].as_array().unwrap() {
                let node = self.get(&format!("/nodes/{}", n.as_str().unwrap())).json();
                out.extend(node["devices"].as_array().unwrap().iter().cloned());
            }
        }
        out
    }

    /// The first node of the first cluster.
    pub fn first_node(&self) -> String {
        let cluster = self.get("/clusters").json()["clusters"][0]
            .as_str()
            .unwrap()
            .to_string();
        self.get(&format!("/clusters/{cluster}")).json()["nodes"][0]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates a volume; returns its info.
    pub fn create_volume(&self, body: &str) -> Value {
        let done = self.finish(self.post("/volumes", body));
        assert_eq!(done.status, 303, "{done:?}");
        let info = self.get(&done.location());
        assert_eq!(info.status, 200);
        info.json()
    }

    /// Waits (bounded) until start-up recovery has settled every operation.
    pub fn wait_recovered(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.get("/operations").json()["total"] != 0 {
            assert!(Instant::now() < deadline, "start-up recovery did not finish in 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Asserts the store is consistent and nothing is pending.
    /// The store is consistent in itself, for a store whose nodes are not
    /// this mock's (imported, restored or migrated from elsewhere).
    pub fn assert_store_consistent(&self) {
        let check = self.get("/db/check");
        assert_eq!(check.status, 200);
        assert_eq!(check.json()["totalinconsistencies"], 0, "{}", check.body);
        assert_eq!(self.get("/operations").json()["total"], 0, "operations left pending");
    }

    /// The store is consistent in itself and, on the mock, with what the
    /// nodes hold: the check's own rules have one test each, and the mock's
    /// node state is kept apart from the store; every mock node must be
    /// read. Real nodes (the e2e suite) are judged by the store check only:
    /// a node a test brought back may still be catching up with its peers
    /// (its glusterd lists a replaced volume's bricks late), and the e2e
    /// scenarios check the nodes themselves.
    pub fn assert_consistent(&self) {
        let real_nodes = self
            .opts
            .glusterfs
            .as_ref()
            .and_then(|g| g["executor"].as_str())
            .is_some_and(|e| e != "mock");
        let check = self.get(if real_nodes {
            "/db/check"
        } else {
            "/db/check?nodes=true"
        });
        assert_eq!(check.status, 200);
        let report = check.json();
        assert_eq!(report["totalinconsistencies"], 0, "{}", check.body);
        if !real_nodes {
            assert_eq!(report["drift"]["unreachable"], serde_json::json!([]), "{}", check.body);
        }
        assert_eq!(self.get("/operations").json()["total"], 0, "operations left pending");
    }

    /// Logical volumes on every simulated node, as `host vg/lv`.
    pub fn mock_lvs(&self) -> Vec<String> {
        let nodes = self.mock_nodes();
        let mut out = Vec::new();
        if let Some(hosts) = nodes["hosts"].as_object() {
            for (host, state) in hosts {
                if let Some(lvs) = state["lvs"].as_object() {
                    out.extend(lvs.keys().map(|k| format!("{host} {k}")));
                }
            }
        }
        out.sort();
        out
    }

    pub fn mock_commands(&self, host: &str) -> Vec<String> {
        serde_json::from_value(self.mock_nodes()["hosts"][host]["commands"].clone()).unwrap_or_default()
    }

    /// How many calls of `operation` the mock's fault rules have fired on.
    pub fn faults_fired(&self, operation: &str) -> usize {
        let log = self.dir.path().join("store.mock-nodes.faults");
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split(' ').next() == Some(operation))
            .count()
    }

    /// Waits (bounded) until a fault rule on `operation` has fired `times`
    /// times: the operation under test has reached the step the rule
    /// delays or stalls.
    pub fn wait_for_fault(&self, operation: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.faults_fired(operation) < times {
            assert!(Instant::now() < deadline, "no fault fired on {operation} in 20 s");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The mock's node state, as `brickyard mock-state` reads it from the
    /// files beside the store (snapshot and change log), whether the
    /// server runs or not. No state fails the test: "nothing on the nodes"
    /// must be read, not assumed.
    pub fn mock_nodes(&self) -> Value {
        let out = Command::new(binary())
            .arg("mock-state")
            .arg("--store")
            .arg(self.store_path())
            .output()
            .expect("run brickyard mock-state");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "brickyard mock-state: {stderr}");
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("brickyard mock-state printed no JSON: {e}"))
    }

    /// Replaces a stopped server's mock node state (a change made by hand
    /// on the "nodes"): the snapshot written, the change log gone.
    pub fn set_mock_nodes(&self, nodes: &Value) {
        assert!(
            self.child.is_none(),
            "the node state is replaced while the server is stopped"
        );
        let snapshot = self.mock_state_path();
        std::fs::write(&snapshot, serde_json::to_vec_pretty(nodes).unwrap()).unwrap();
        for log in [snapshot.with_extension("log"), snapshot.with_extension("log.old")] {
            match std::fs::remove_file(&log) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{}: {e}", log.display()),
                _ => {}
            }
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn capture(resp: Response) -> Reply {
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = resp.text().unwrap_or_default();
    Reply { status, headers, body }
}

/// Replaces every 32-hex id with a stable placeholder, for snapshots.
#[derive(Default)]
pub struct Redactor {
    seen: Vec<String>,
}

impl Redactor {
    pub fn redact(&mut self, text: &str) -> String {
        // LVM PV UUIDs are derived from random device ids.
        let pv =
            regex::Regex::new("[0-9a-f]{6}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{6}")
                .unwrap();
        let text = pv.replace_all(text, "<pv-uuid>");
        let re = regex::Regex::new("[0-9a-f]{32}").unwrap();
        re.replace_all(&text, |c: &regex::Captures| {
            let id = c[0].to_string();
            let n = if let Some(i) = self.seen.iter().position(|s| *s == id) {
                i + 1
            } else {
                self.seen.push(id);
                self.seen.len()
            };
            format!("<id{n}>")
        })
        .into_owned()
    }

    /// Status, the headers clients look at, and the body.
    pub fn reply(&mut self, r: &Reply) -> String {
        let mut out = format!("HTTP {}\n", r.status);
        for name in [
            "content-type",
            "location",
            "x-pending",
            "x-content-type-options",
            "retry-after",
            "content-length",
        ] {
            if let Some(v) = r.header(name) {
                out.push_str(&format!("{name}: {v}\n"));
            }
        }
        out.push('\n');
        out.push_str(&r.body);
        self.redact(&out)
    }
}
