//! STAND-IN for the Kubernetes API server. No real API server can run on
//! the test machines, so this one answers, at the protocol level, exactly
//! the requests Brickyard's Kubernetes executor (the `kube` 5 client) makes,
//! and runs the exec'd argv wherever the test says (a local process, or a
//! testbed storage node's namespaces).
//!
//! Reproduced, as a real API server behaves:
//! - `GET /api/v1/namespaces/{ns}/pods` with `labelSelector` (`key`, `!key`,
//!   `key=v`, `key==v`, `key!=v`, comma = AND) and `fieldSelector`
//!   (`spec.nodeName`, `status.phase`, `metadata.name`, `metadata.namespace`
//!   with `=`, `==`, `!=`); items sorted by name; `PodList` JSON.
//! - `GET /api/v1/namespaces/{ns}/pods/{name}`: the `Pod`, or a 404 `Status`.
//! - `GET …/pods/{name}/exec`: the WebSocket upgrade. The query is read as
//!   the API server reads it (flags true unless absent, `0` or `false`;
//!   repeated `command`; `container` required when the pod has several);
//!   `v5.channel.k8s.io` is chosen when offered, else `v4.channel.k8s.io`,
//!   else a 400. Frames: an empty stdout frame first, output on channels 1
//!   and 2 as it arrives, then one `metav1.Status` on channel 3 (`Success`,
//!   `NonZeroExitCode` with an `ExitCode` cause, or `InternalError` when the
//!   process cannot start), then a Close frame. The v5 close signal
//!   (`FF <channel>`) is accepted; a malformed one ends the connection.
//! - Secrets for the store backups: `GET …/secrets/{name}` (404 when
//!   missing), `POST …/secrets` (409 when it exists), `PUT …/secrets/{name}`.
//! - `Authorization: Bearer <token>` on every route, else a 401 `Status`.
//!
//! Not reproduced: watch, resource versions, pagination, RBAC evaluation
//! (a fault switch answers 403 instead), SPDY, TLS, stdin and tty, and
//! the runtime-specific wording of exit messages.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

pub const V5: &str = "v5.channel.k8s.io";
pub const V4: &str = "v4.channel.k8s.io";

/// A pod the stand-in knows.
#[derive(Debug, Clone)]
pub struct StandinPod {
    pub name: String,
    pub namespace: String,
    pub node_name: String,
    pub labels: BTreeMap<String, String>,
    pub containers: Vec<String>,
    pub phase: String,
    pub deleting: bool,
}

impl StandinPod {
    /// A running GlusterFS DaemonSet pod, labelled as Heketi's DaemonSet labels it.
    pub fn glusterfs(name: &str, namespace: &str, node: &str) -> StandinPod {
        StandinPod {
            name: name.into(),
            namespace: namespace.into(),
            node_name: node.into(),
            labels: [("glusterfs-node".to_string(), "daemonset".to_string())].into(),
            containers: vec!["glusterfs".into()],
            phase: "Running".into(),
            deleting: false,
        }
    }

    fn to_json(&self) -> Value {
        let mut metadata = json!({
            "name": self.name,
            "generateName": "glusterfs-",
            "namespace": self.namespace,
            "labels": self.labels,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "glusterfs",
                                 "uid": "00000000-0000-0000-0000-000000000001", "controller": true}],
        });
        if self.deleting {
            metadata["deletionTimestamp"] = json!("2026-11-26T00:00:00Z");
        }
        let containers: Vec<Value> = self
            .containers
            .iter()
            .map(|c| json!({"name": c, "image": "gluster/gluster-centos:latest"}))
            .collect();
        json!({
            "metadata": metadata,
            "spec": {"nodeName": self.node_name, "hostNetwork": true, "containers": containers},
            "status": {"phase": self.phase, "conditions": [{"type": "Ready", "status": "True"}]},
        })
    }

    fn field(&self, name: &str) -> Option<&str> {
        match name {
            "spec.nodeName" => Some(&self.node_name),
            "status.phase" => Some(&self.phase),
            "metadata.name" => Some(&self.name),
            "metadata.namespace" => Some(&self.namespace),
            _ => None,
        }
    }
}

/// Switches that make the stand-in misbehave as a broken cluster would.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Offer only the v4 protocol (a cluster older than 1.30).
    pub v4_only: bool,
    /// 403 on exec, as with a Role that lacks pods/exec.
    pub forbid_exec: bool,
    /// Close the stream after the output, with no status frame.
    pub drop_status: bool,
    /// A status frame that is not JSON.
    pub malformed_status: bool,
    /// Hold the status frame back this long after the process ends.
    pub status_delay: Option<Duration>,
}

/// One exec request as it arrived.
#[derive(Debug, Clone)]
pub struct SeenExec {
    pub uri: String,
    pub pod: String,
    pub container: Option<String>,
    pub protocol: String,
    pub argv: Vec<String>,
    pub authorization: String,
}

/// How the exec'd argv runs: given the pod and the argv, the process to start.
pub type Runner = Arc<dyn Fn(&StandinPod, &[String]) -> std::process::Command + Send + Sync>;

/// Runs the argv as a process on this machine.
pub fn local_runner() -> Runner {
    Arc::new(|_pod, argv| {
        let mut command = std::process::Command::new(&argv[0]);
        command.args(&argv[1..]);
        command
    })
}

struct Shared {
    token: String,
    pods: Mutex<Vec<StandinPod>>,
    faults: Mutex<Faults>,
    runner: Runner,
    execs: Mutex<Vec<SeenExec>>,
    requests: Mutex<Vec<String>>,
    /// `(namespace, name)` → the Secret as last written.
    secrets: Mutex<BTreeMap<(String, String), Value>>,
    /// Exec requests still to answer 404, as for a pod deleted after lookup.
    gone_on_exec: std::sync::atomic::AtomicUsize,
}

pub struct KubeStandin {
    pub addr: SocketAddr,
    /// With HTTPS: the PEM of the CA that signed the server's certificate
    /// (for `127.0.0.1`), as a cluster's `ca.crt`.
    pub ca_pem: Option<String>,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn status(code: StatusCode, reason: &str, message: &str, details: Option<Value>) -> Response {
    let mut body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": message, "reason": reason, "code": code.as_u16()});
    if let Some(details) = details {
        body["details"] = details;
    }
    (code, [("content-type", "application/json")], body.to_string()).into_response()
}

fn not_found(name: &str) -> Response {
    missing("pods", name)
}

fn missing(kind: &str, name: &str) -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{kind} \"{name}\" not found"),
        Some(json!({"name": name, "kind": kind})),
    )
}

fn unauthorized() -> Response {
    status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized", None)
}

fn bad_request(message: &str) -> Response {
    status(StatusCode::BAD_REQUEST, "BadRequest", message, None)
}

impl Shared {
    /// The Authorization header when it carries the token; `None` means a 401.
    fn authorized(&self, headers: &HeaderMap) -> Option<String> {
        let got = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (got == format!("Bearer {}", self.token)).then_some(got)
    }

    fn pod(&self, ns: &str, name: &str) -> Option<StandinPod> {
        let pods = self.pods.lock().unwrap();
        pods.iter().find(|p| p.namespace == ns && p.name == name).cloned()
    }
}

/// One requirement of a label selector.
fn label_matches(requirement: &str, labels: &BTreeMap<String, String>) -> Result<bool, String> {
    let requirement = requirement.trim();
    let valid_key = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
    };
    if let Some((key, value)) = requirement.split_once("!=") {
        return if valid_key(key.trim()) {
            Ok(labels.get(key.trim()).map(String::as_str) != Some(value.trim()))
        } else {
            Err(format!("unable to parse requirement: {requirement:?}"))
        };
    }
    if let Some((key, value)) = requirement.split_once("==").or_else(|| requirement.split_once('=')) {
        return if valid_key(key.trim()) && !value.contains('=') {
            Ok(labels.get(key.trim()).map(String::as_str) == Some(value.trim()))
        } else {
            Err(format!("unable to parse requirement: {requirement:?}"))
        };
    }
    if let Some(key) = requirement.strip_prefix('!') {
        return if valid_key(key.trim()) {
            Ok(!labels.contains_key(key.trim()))
        } else {
            Err(format!("unable to parse requirement: {requirement:?}"))
        };
    }
    if valid_key(requirement) {
        Ok(labels.contains_key(requirement))
    } else {
        Err(format!("unable to parse requirement: {requirement:?}"))
    }
}

fn field_matches(requirement: &str, pod: &StandinPod) -> Result<bool, String> {
    let (key, value, equal) = if let Some((k, v)) = requirement.split_once("!=") {
        (k, v, false)
    } else if let Some((k, v)) = requirement.split_once("==").or_else(|| requirement.split_once('=')) {
        (k, v, true)
    } else {
        return Err(format!(
            "invalid selector: '{requirement}'; can't understand '{requirement}'"
        ));
    };
    match pod.field(key.trim()) {
        Some(actual) => Ok((actual == value.trim()) == equal),
        None => Err(format!("field label not supported: {}", key.trim())),
    }
}

fn selected(pod: &StandinPod, labels: &str, fields: &str) -> Result<bool, String> {
    for requirement in labels.split(',').filter(|r| !r.trim().is_empty()) {
        if !label_matches(requirement, &pod.labels)? {
            return Ok(false);
        }
    }
    for requirement in fields.split(',').filter(|r| !r.trim().is_empty()) {
        if !field_matches(requirement, pod)? {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn list_pods(
    State(shared): State<Arc<Shared>>,
    Path(ns): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if shared.authorized(&headers).is_none() {
        return unauthorized();
    }
    let (mut labels, mut fields) = (String::new(), String::new());
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "labelSelector" => labels = value.into_owned(),
            "fieldSelector" => fields = value.into_owned(),
            _ => {}
        }
    }
    let mut pods: Vec<StandinPod> = shared
        .pods
        .lock()
        .unwrap()
        .iter()
        .filter(|p| p.namespace == ns)
        .cloned()
        .collect();
    pods.sort_by(|a, b| a.name.cmp(&b.name));
    let mut items = Vec::new();
    for pod in &pods {
        match selected(pod, &labels, &fields) {
            Ok(true) => items.push(pod.to_json()),
            Ok(false) => {}
            Err(e) => return bad_request(&e),
        }
    }
    let body = json!({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1000"}, "items": items});
    ([("content-type", "application/json")], body.to_string()).into_response()
}

async fn get_pod(
    State(shared): State<Arc<Shared>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if shared.authorized(&headers).is_none() {
        return unauthorized();
    }
    match shared.pod(&ns, &name) {
        Some(pod) => {
            let mut body = pod.to_json();
            body["kind"] = json!("Pod");
            body["apiVersion"] = json!("v1");
            ([("content-type", "application/json")], body.to_string()).into_response()
        }
        None => not_found(&name),
    }
}

fn stored_secret(mut body: Value, ns: &str, version: usize) -> Value {
    body["kind"] = json!("Secret");
    body["apiVersion"] = json!("v1");
    body["metadata"]["namespace"] = json!(ns);
    body["metadata"]["resourceVersion"] = json!(version.to_string());
    body
}

async fn get_secret(
    State(shared): State<Arc<Shared>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if shared.authorized(&headers).is_none() {
        return unauthorized();
    }
    match shared.secrets.lock().unwrap().get(&(ns, name.clone())) {
        Some(secret) => ([("content-type", "application/json")], secret.to_string()).into_response(),
        None => missing("secrets", &name),
    }
}

/// The body of an authorized write.
fn authorized_json(shared: &Shared, headers: &HeaderMap, body: &str) -> Result<Value, Box<Response>> {
    if shared.authorized(headers).is_none() {
        return Err(Box::new(unauthorized()));
    }
    serde_json::from_str(body).map_err(|_| Box::new(bad_request("the body is not JSON")))
}

async fn create_secret(
    State(shared): State<Arc<Shared>>,
    Path(ns): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let secret = match authorized_json(&shared, &headers, &body) {
        Ok(secret) => secret,
        Err(refused) => return *refused,
    };
    let Some(name) = secret["metadata"]["name"].as_str().map(str::to_string) else {
        return bad_request("metadata.name: Required value");
    };
    let mut secrets = shared.secrets.lock().unwrap();
    if secrets.contains_key(&(ns.clone(), name.clone())) {
        return status(
            StatusCode::CONFLICT,
            "AlreadyExists",
            &format!("secrets \"{name}\" already exists"),
            Some(json!({"name": name, "kind": "secrets"})),
        );
    }
    let stored = stored_secret(secret, &ns, secrets.len() + 1);
    secrets.insert((ns, name), stored.clone());
    (
        StatusCode::CREATED,
        [("content-type", "application/json")],
        stored.to_string(),
    )
        .into_response()
}

async fn replace_secret(
    State(shared): State<Arc<Shared>>,
    Path((ns, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let secret = match authorized_json(&shared, &headers, &body) {
        Ok(secret) => secret,
        Err(refused) => return *refused,
    };
    let mut secrets = shared.secrets.lock().unwrap();
    let key = (ns.clone(), name.clone());
    let Some(previous) = secrets.get(&key) else {
        return missing("secrets", &name);
    };
    let version: usize = previous["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let stored = stored_secret(secret, &ns, version + 1);
    secrets.insert(key, stored.clone());
    ([("content-type", "application/json")], stored.to_string()).into_response()
}

/// The API server's flag conversion: absent, `0` or `false` is false;
/// anything else, even empty, is true.
fn flag(value: &str) -> bool {
    !(value == "0" || value.eq_ignore_ascii_case("false"))
}

async fn exec(
    State(shared): State<Arc<Shared>>,
    Path((ns, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    uri: axum::http::Uri,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Some(authorization) = shared.authorized(&headers) else {
        return unauthorized();
    };
    // RBAC is decided before the handler looks at the pod.
    let faults = shared.faults.lock().unwrap().clone();
    if faults.forbid_exec {
        return status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "pods \"{name}\" is forbidden: User \"system:serviceaccount:{ns}:brickyard\" cannot create resource \"pods/exec\" in API group \"\" in the namespace \"{ns}\""
            ),
            Some(json!({"name": name, "kind": "pods"})),
        );
    }
    let (mut stdin, mut stdout, mut stderr, mut tty) = (false, false, false, false);
    let (mut container, mut argv) = (None, Vec::new());
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match key.as_ref() {
            "stdin" => stdin = flag(&value),
            "stdout" => stdout = flag(&value),
            "stderr" => stderr = flag(&value),
            "tty" => tty = flag(&value),
            "container" => container = Some(value.into_owned()),
            "command" => argv.push(value.into_owned()),
            _ => {}
        }
    }
    let Some(pod) = shared.pod(&ns, &name) else {
        return not_found(&name);
    };
    let gone = shared.gone_on_exec.fetch_update(
        std::sync::atomic::Ordering::SeqCst,
        std::sync::atomic::Ordering::SeqCst,
        |n| n.checked_sub(1),
    );
    if gone.is_ok() {
        return not_found(&name);
    }
    match &container {
        Some(c) if !pod.containers.contains(c) => {
            return bad_request(&format!("container {c} is not valid for pod {name}"))
        }
        None if pod.containers.len() != 1 => {
            return bad_request(&format!(
                "a container name must be specified for pod {name}, choose one of: {:?}",
                pod.containers
            ))
        }
        _ => {}
    }
    if pod.phase != "Running" {
        return bad_request(&format!(
            "pod {name} does not have a host assigned or has completed (phase {})",
            pod.phase
        ));
    }
    if !(stdin || stdout || stderr) {
        return bad_request("you must specify at least 1 of stdin, stdout, stderr");
    }
    if stdin || tty {
        return bad_request("this stand-in serves neither stdin nor tty");
    }
    if argv.is_empty() || argv[0].is_empty() {
        return bad_request("you must specify at least one command for the container");
    }
    let Ok(upgrade) = upgrade else {
        return bad_request("Upgrade request required");
    };
    let offered: &[&'static str] = if faults.v4_only { &[V4] } else { &[V5, V4] };
    let upgrade = upgrade.protocols(offered.iter().copied());
    let Some(protocol) = upgrade
        .selected_protocol()
        .and_then(|p| p.to_str().ok())
        .map(str::to_string)
    else {
        return bad_request("none of the offered subprotocols is supported");
    };
    shared.execs.lock().unwrap().push(SeenExec {
        uri: uri.to_string(),
        pod: name.clone(),
        container: container.clone(),
        protocol: protocol.clone(),
        argv: argv.clone(),
        authorization,
    });
    let process = (shared.runner)(&pod, &argv);
    upgrade.on_upgrade(move |socket| session(socket, protocol == V5, process, stdout, stderr, faults))
}

fn status_frame(body: &Value) -> Message {
    let mut frame = vec![3u8];
    frame.extend_from_slice(body.to_string().as_bytes());
    Message::Binary(frame.into())
}

async fn pump(mut pipe: impl tokio::io::AsyncRead + Unpin, channel: u8, out: tokio::sync::mpsc::Sender<Message>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut frame = Vec::with_capacity(n + 1);
                frame.push(channel);
                frame.extend_from_slice(&buf[..n]);
                if out.send(Message::Binary(frame.into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn session(
    socket: WebSocket,
    v5: bool,
    process: std::process::Command,
    want_stdout: bool,
    want_stderr: bool,
    faults: Faults,
) {
    let (mut sink, mut stream) = socket.split();
    // Keep reading: answers pings, absorbs the v5 close signal and a client Close.
    // Only a malformed close signal ends the session early.
    let broken = Arc::new(tokio::sync::Notify::new());
    let ended = broken.clone();
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            match message {
                // A malformed close signal: the real server ends the connection.
                Message::Binary(b) if v5 && b.first() == Some(&0xFF) && (b.len() != 2 || b[1] > 4) => {
                    broken.notify_one();
                    return;
                }
                Message::Close(_) => return,
                _ => {}
            }
        }
    });
    let first = if want_stdout { 1u8 } else { 2 };
    if sink.send(Message::Binary(vec![first].into())).await.is_err() {
        reader.abort();
        return;
    }
    let mut process = tokio::process::Command::from(process);
    process
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let status = match process.spawn() {
        Err(e) => {
            let err = format!("failed to exec in container: {e}");
            Some(
                json!({"metadata": {}, "status": "Failure", "message": format!("Internal error occurred: {err}"),
                        "reason": "InternalError", "details": {"causes": [{"message": err}]}, "code": 500}),
            )
        }
        Ok(mut child) => {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(16);
            let mut pumps = Vec::new();
            if let Some(out) = child.stdout.take() {
                pumps.push(tokio::spawn(pump(out, 1, tx.clone())));
            }
            if let Some(err) = child.stderr.take() {
                pumps.push(tokio::spawn(pump(err, 2, tx.clone())));
            }
            drop(tx);
            let mut open = true;
            loop {
                let frame = tokio::select! {
                    frame = rx.recv() => frame,
                    _ = ended.notified() => {
                        // Dropped mid-stream; the process runs on, as in a pod.
                        return;
                    }
                };
                let Some(frame) = frame else { break };
                let wanted = match &frame {
                    Message::Binary(b) => (b[0] == 1 && want_stdout) || (b[0] == 2 && want_stderr),
                    _ => false,
                };
                if wanted && open && sink.send(frame).await.is_err() {
                    open = false; // the client went away; the process runs on, as in a pod
                }
            }
            let exit = child.wait().await;
            let code = match exit {
                Ok(s) => s.code().unwrap_or_else(|| {
                    use std::os::unix::process::ExitStatusExt;
                    128 + s.signal().unwrap_or(0)
                }),
                Err(_) => 1,
            };
            if code == 0 {
                Some(json!({"metadata": {}, "status": "Success"}))
            } else {
                Some(json!({"metadata": {}, "status": "Failure",
                    "message": format!("command terminated with non-zero exit code: command terminated with exit code {code}"),
                    "reason": "NonZeroExitCode",
                    "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}}))
            }
        }
    };
    if let Some(delay) = faults.status_delay {
        tokio::time::sleep(delay.min(Duration::from_secs(600))).await;
    }
    if faults.malformed_status {
        let _ = sink.send(Message::Binary(b"\x03{not json".to_vec().into())).await;
    } else if !faults.drop_status {
        if let Some(body) = status {
            let _ = sink.send(status_frame(&body)).await;
        }
    }
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: 1000,
            reason: "".into(),
        })))
        .await;
    reader.abort();
}

impl KubeStandin {
    /// Serves on a loopback port from its own thread and runtime, so sync
    /// and async tests can use it alike.
    pub fn start(pods: Vec<StandinPod>, token: &str, runner: Runner) -> KubeStandin {
        KubeStandin::serve(pods, token, runner, None)
    }

    /// Over HTTPS, as a real API server (and the in-cluster configuration) needs.
    pub fn start_tls(pods: Vec<StandinPod>, token: &str, runner: Runner) -> KubeStandin {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "stand-in cluster CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let leaf_key = rcgen::KeyPair::generate().expect("server key");
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .expect("server params")
            .signed_by(&leaf_key, &ca, &ca_key)
            .expect("server certificate");
        let dir = tempfile::tempdir().expect("temp dir");
        let (cert_file, key_file) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        std::fs::write(&cert_file, leaf.pem()).expect("write cert");
        std::fs::write(&key_file, leaf_key.serialize_pem()).expect("write key");
        let config = brickyard::tls::server_config(&cert_file, &key_file).expect("TLS config");
        let mut standin = KubeStandin::serve(pods, token, runner, Some(config));
        standin.ca_pem = Some(ca.pem());
        standin
    }

    fn serve(
        pods: Vec<StandinPod>,
        token: &str,
        runner: Runner,
        tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    ) -> KubeStandin {
        let shared = Arc::new(Shared {
            token: token.into(),
            pods: Mutex::new(pods),
            faults: Mutex::new(Faults::default()),
            runner,
            execs: Mutex::new(Vec::new()),
            requests: Mutex::new(Vec::new()),
            secrets: Mutex::new(BTreeMap::new()),
            gone_on_exec: std::sync::atomic::AtomicUsize::new(0),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the stand-in");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("local addr");
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let app_shared = shared.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("stand-in runtime");
            runtime.block_on(async move {
                let log = app_shared.clone();
                let app = Router::new()
                    .route("/api/v1/namespaces/{ns}/pods", get(list_pods))
                    .route("/api/v1/namespaces/{ns}/pods/{name}", get(get_pod))
                    .route("/api/v1/namespaces/{ns}/pods/{name}/exec", get(exec))
                    .route("/api/v1/namespaces/{ns}/secrets", axum::routing::post(create_secret))
                    .route(
                        "/api/v1/namespaces/{ns}/secrets/{name}",
                        get(get_secret).put(replace_secret),
                    )
                    .layer(axum::middleware::from_fn(
                        move |req: axum::extract::Request, next: axum::middleware::Next| {
                            let log = log.clone();
                            async move {
                                log.requests
                                    .lock()
                                    .unwrap()
                                    .push(format!("{} {}", req.method(), req.uri()));
                                next.run(req).await
                            }
                        },
                    ))
                    .with_state(app_shared);
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let limits = brickyard::config::HttpLimits::default();
                tokio::select! {
                    _ = brickyard::serve::serve(listener, tls, app, &limits, std::future::pending()) => {}
                    _ = stop => {}
                }
            });
            runtime.shutdown_timeout(Duration::from_secs(2));
        });
        KubeStandin {
            addr,
            ca_pem: None,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The token pods present (a service account's, in-cluster).
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// A kubeconfig for this server: token auth, `namespace` in the context.
    /// With HTTPS, the cluster's CA goes in as `certificate-authority-data`.
    pub fn kubeconfig(&self, namespace: &str) -> String {
        use base64::Engine as _;
        let ca = match &self.ca_pem {
            Some(pem) => format!(
                "    certificate-authority-data: {}\n",
                base64::engine::general_purpose::STANDARD.encode(pem)
            ),
            None => String::new(),
        };
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: {}\n{ca}\
             contexts:\n- name: standin\n  context: {{cluster: standin, user: brickyard, namespace: {namespace}}}\n\
             current-context: standin\nusers:\n- name: brickyard\n  user: {{token: {}}}\n",
            self.url(),
            self.shared.token
        )
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.shared.faults.lock().unwrap() = faults;
    }

    /// The next `n` exec requests find their pod deleted (404), as when a
    /// pod goes between lookup and exec.
    pub fn vanish_on_next_execs(&self, n: usize) {
        self.shared.gone_on_exec.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn set_pods(&self, pods: Vec<StandinPod>) {
        *self.shared.pods.lock().unwrap() = pods;
    }

    pub fn pods(&self) -> Vec<StandinPod> {
        self.shared.pods.lock().unwrap().clone()
    }

    /// Puts a Secret in place, as an operator (or Heketi) left it.
    pub fn put_secret(&self, namespace: &str, name: &str, data: BTreeMap<String, String>) {
        let body = json!({"metadata": {"name": name}, "data": data});
        self.shared.secrets.lock().unwrap().insert(
            (namespace.to_string(), name.to_string()),
            stored_secret(body, namespace, 1),
        );
    }

    /// The Secret `name` in `namespace`, as last written.
    pub fn secret(&self, namespace: &str, name: &str) -> Option<Value> {
        self.shared
            .secrets
            .lock()
            .unwrap()
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    pub fn execs(&self) -> Vec<SeenExec> {
        self.shared.execs.lock().unwrap().clone()
    }

    /// Every request line (`GET /api/v1/...`), in arrival order.
    pub fn requests(&self) -> Vec<String> {
        self.shared.requests.lock().unwrap().clone()
    }
}

impl Drop for KubeStandin {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
