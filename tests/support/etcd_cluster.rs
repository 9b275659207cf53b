//! Real etcd clusters for tests: members of Debian's `etcd-server` on
//! loopback ports, each in its own data directory, stopped when dropped.
//! `shared()` is one three-member cluster per test process, where each test
//! takes its own key prefix; tests that stop members start their own.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a cluster may take to become healthy: a bound, not a
/// measure. Three members restarted together on a machine busy with the
/// whole suite have taken over 20 s to elect a leader (500 ms elections).
const READY_WITHIN: Duration = Duration::from_secs(60);

pub struct EtcdCluster {
    dir: tempfile::TempDir,
    members: Vec<Member>,
    token: String,
    tls: Option<ServerTls>,
}

/// Client TLS on the members: their certificate and key, and the CA
/// whose client certificates they require.
#[derive(Clone, Debug)]
pub struct ServerTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

struct Member {
    name: String,
    client: u16,
    peer: u16,
    /// Plain HTTP `/health`, whatever the client port speaks.
    metrics: u16,
    child: Option<Child>,
}

/// A port nobody listens on now (the kernel's pick, released at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Where Debian installs etcd.
pub fn etcd_binary() -> PathBuf {
    for p in ["/usr/bin/etcd", "/usr/local/bin/etcd"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("etcd is not installed: scripts/install-deps installs Debian's etcd-server");
}

impl EtcdCluster {
    /// Starts `size` members and waits until each answers as healthy.
    pub fn start(size: usize) -> EtcdCluster {
        EtcdCluster::start_with(size, None)
    }

    /// `start`, with clients held to TLS and a client certificate.
    pub fn start_tls(size: usize, tls: ServerTls) -> EtcdCluster {
        EtcdCluster::start_with(size, Some(tls))
    }

    fn start_with(size: usize, tls: Option<ServerTls>) -> EtcdCluster {
        let dir = tempfile::tempdir().expect("a directory for etcd");
        let members: Vec<Member> = (0..size)
            .map(|i| Member {
                name: format!("m{i}"),
                client: free_port(),
                peer: free_port(),
                metrics: free_port(),
                child: None,
            })
            .collect();
        let token = format!("brickyard-test-{}", std::process::id());
        let mut cluster = EtcdCluster {
            dir,
            members,
            token,
            tls,
        };
        for i in 0..size {
            cluster.launch(i, "new");
        }
        cluster.wait_healthy(&(0..size).collect::<Vec<_>>());
        cluster
    }

    fn initial_cluster(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn launch(&mut self, i: usize, state: &str) {
        let initial = self.initial_cluster();
        let data = self.dir.path().join(&self.members[i].name);
        let log = std::fs::File::create(self.dir.path().join(format!("{}.log", self.members[i].name)))
            .expect("an etcd log file");
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let tls = self.tls.clone();
        let m = &mut self.members[i];
        let client = format!("{scheme}://127.0.0.1:{}", m.client);
        let peer = format!("http://127.0.0.1:{}", m.peer);
        let metrics = format!("http://127.0.0.1:{}", m.metrics);
        let mut command = Command::new(etcd_binary());
        if let Some(tls) = tls {
            command
                .arg("--cert-file")
                .arg(&tls.cert)
                .arg("--key-file")
                .arg(&tls.key)
                .arg("--trusted-ca-file")
                .arg(&tls.ca)
                .arg("--client-cert-auth");
        }
        // SAFETY: prctl in the child before exec; no allocation.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen-client-urls", &client, "--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer, "--initial-advertise-peer-urls", &peer])
            .args(["--listen-metrics-urls", &metrics])
            .args(["--initial-cluster", &initial, "--initial-cluster-state", state])
            .args(["--initial-cluster-token", &self.token])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            // As the README asks of an etcd that holds a Brickyard store.
            .args(["--max-txn-ops", "1024"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd starts");
        m.child = Some(child);
    }

    /// Waits until the given members answer `/health` with true.
    pub fn wait_healthy(&self, members: &[usize]) {
        let deadline = Instant::now() + READY_WITHIN;
        for &i in members {
            while !self.healthy(i) {
                assert!(
                    Instant::now() < deadline,
                    "etcd member {i} did not become healthy within {READY_WITHIN:?}; see {}",
                    self.dir.path().display()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Whether member `i` answers its health check as healthy.
    pub fn healthy(&self, i: usize) -> bool {
        let addr = format!("127.0.0.1:{}", self.members[i].metrics);
        let Ok(mut stream) = std::net::TcpStream::connect(&addr) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream
            .write_all(format!("GET /health HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
            .is_err()
        {
            return false;
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer.contains("\"health\":\"true\"")
    }

    /// `host:port,host:port,…` of every member.
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `etcdctl` with these members' endpoints (and, on TLS, `client`'s
    /// certificate), for what the store never does itself: users, roles,
    /// turning authentication on. Panics with etcdctl's words on failure.
    pub fn etcdctl(&self, client: Option<(&Path, &Path)>, args: &[&str]) -> String {
        let mut command = Command::new("etcdctl");
        command.env("ETCDCTL_API", "3").arg("--endpoints").arg(
            self.members
                .iter()
                .map(|m| {
                    let scheme = if self.tls.is_some() { "https" } else { "http" };
                    format!("{scheme}://127.0.0.1:{}", m.client)
                })
                .collect::<Vec<_>>()
                .join(","),
        );
        if let Some(tls) = &self.tls {
            command.arg("--cacert").arg(&tls.ca);
        }
        if let Some((cert, key)) = client {
            command.arg("--cert").arg(cert).arg("--key").arg(key);
        }
        let out = command
            .args(["--command-timeout", "10s"])
            .args(args)
            .output()
            .expect("etcdctl runs: scripts/install-deps installs Debian's etcd-client");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// `etcd://<members>/<prefix>`.
    pub fn url(&self, prefix: &str) -> String {
        format!("etcd://{}/{prefix}", self.endpoints())
    }

    /// SIGKILL to member `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed member again on its data.
    pub fn restart(&mut self, i: usize) {
        self.launch(i, "existing");
    }

    pub fn size(&self) -> usize {
        self.members.len()
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// One cluster for the whole test process, started on first use by a
/// thread that lives as long as the process. Members die with the thread
/// that started them (`PR_SET_PDEATHSIG`), so they go when the process does.
pub fn shared() -> &'static str {
    static ENDPOINTS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ENDPOINTS.get_or_init(|| {
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let cluster = EtcdCluster::start(3);
            let _ = send.send(cluster.endpoints());
            loop {
                std::thread::park();
            }
        });
        receive.recv().expect("the shared etcd cluster starts")
    })
}

/// A key prefix no other test uses.
pub fn unique_prefix(test: &str) -> String {
    let clean: String = test
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("t/{clean}-{}", uuid::Uuid::new_v4().simple())
}
