//! Kubernetes transport: each command runs in the node's GlusterFS pod
//! through the pods/exec subresource (WebSocket, `v5.channel.k8s.io` or
//! `v4.channel.k8s.io`), as `kubectl exec` does. The pod is found again for
//! every command, in Heketi's three ways; the command builders are the ones
//! the SSH transport uses.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{AttachParams, AttachedProcess, ListParams};
use kube::{Api, Client};
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;

use super::transport::{CommandOutput, Transport, TransportError, TransportStats};

/// The label every GlusterFS pod carries (Heketi's DaemonSet sets
/// `glusterfs-node: daemonset`; gluster-kubernetes sets `pod`).
pub const NODE_LABEL: &str = "glusterfs-node";

/// How a node's manage hostname leads to its pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodLookup {
    /// The manage hostname is the pod's name (`use_pod_names`).
    PodName,
    /// A DaemonSet pod labelled `glusterfs-node` whose `spec.nodeName` is
    /// the manage hostname (`gluster_daemonset`).
    DaemonSet,
    /// The one pod labelled `glusterfs-node=<manage hostname>` (Heketi's default).
    Label,
}

#[derive(Debug, Clone)]
pub struct KubeSettings {
    /// The GlusterFS pods' namespace, already resolved.
    pub namespace: String,
    pub lookup: PodLookup,
    /// Exec sessions at once; `None` is unlimited.
    pub max_connections: Option<usize>,
    /// Wrap commands in `timeout` inside the pod, so that a command
    /// outlives a lost stream by no more than its time.
    pub timeout_prefix: bool,
    /// How long past the command's time Brickyard waits before giving up
    /// on the stream (Heketi: one minute).
    pub watchdog_grace: Duration,
}

impl KubeSettings {
    /// Heketi's `kubeexec` settings: precedence pod names, DaemonSet, label;
    /// `max_connections` 0 means 64, below 0 unlimited.
    pub fn new(namespace: String, use_pod_names: bool, gluster_daemonset: bool, max_connections: i64) -> KubeSettings {
        let lookup = if use_pod_names {
            PodLookup::PodName
        } else if gluster_daemonset {
            PodLookup::DaemonSet
        } else {
            PodLookup::Label
        };
        let max_connections = match max_connections {
            0 => Some(64),
            n if n < 0 => None,
            n => Some(n as usize),
        };
        KubeSettings {
            namespace,
            lookup,
            max_connections,
            timeout_prefix: true,
            watchdog_grace: Duration::from_secs(60),
        }
    }
}

/// A name that can go into a label selector without adding a requirement
/// of its own (node hostnames are validated on input; this is the backstop).
fn selector_safe(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
}

/// The pod to exec into, and its container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub pod: String,
    pub container: String,
}

fn first_container(pod: &Pod) -> Option<String> {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .map(|c| c.name.clone())
        .filter(|n| !n.is_empty())
}

fn is_running(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

/// Heketi's DaemonSet rule is "the last pod on the node wins". Brickyard
/// first narrows to pods that run and are not being deleted, so an old pod
/// still terminating beside its replacement is never picked.
pub fn pick_daemonset_pod<'a>(pods: &'a [Pod], node: &str) -> Option<&'a Pod> {
    let on_node: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
        .collect();
    on_node
        .iter()
        .rev()
        .find(|p| is_running(p))
        .or_else(|| on_node.last())
        .copied()
}

/// What one exec session reported on its status channel.
#[derive(Debug, PartialEq, Eq)]
pub enum ExecOutcome {
    Exited(u32),
    /// A failure that is not the command's exit: it may not have run.
    Failed(String),
}

/// client-go's rule (`errorDecoderV4`): Success is 0, a `NonZeroExitCode`
/// failure carries the code in its `ExitCode` cause, anything else has no
/// exit code. The code is never read from the message, whose wording
/// differs between API server and kubelet.
pub fn exit_status(status: Option<&Status>) -> ExecOutcome {
    let Some(status) = status else {
        return ExecOutcome::Failed("the exec stream ended without an exit status (connection lost?)".into());
    };
    let message = status.message.clone().unwrap_or_default();
    match (status.status.as_deref(), status.reason.as_deref()) {
        (Some("Success"), _) => ExecOutcome::Exited(0),
        (Some("Failure"), Some("NonZeroExitCode")) => {
            let code = status
                .details
                .as_ref()
                .and_then(|d| d.causes.as_ref())
                .and_then(|causes| causes.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
                .and_then(|c| c.message.as_deref())
                .and_then(|m| m.trim().parse::<u8>().ok());
            match code {
                Some(code) => ExecOutcome::Exited(code.into()),
                None => ExecOutcome::Failed(format!("exit status without a valid ExitCode cause: {message}")),
            }
        }
        (Some(other), _) if other != "Failure" => {
            ExecOutcome::Failed(format!("unknown exec status {other:?}: {message}"))
        }
        _ if message.is_empty() => ExecOutcome::Failed("the exec failed with no message".into()),
        _ => ExecOutcome::Failed(message),
    }
}

/// GNU timeout's argument: whole minutes as Heketi writes them, else seconds.
fn timeout_arg(limit: Duration) -> String {
    // Rounded up: the batch's first command gets its whole minutes.
    let secs = limit.as_millis().div_ceil(1000).max(1);
    if secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// The argv sent as `command=` parameters: no shell quoting layer of its
/// own, unlike SSH; `bash -c` gets the command line as one argument.
pub fn exec_argv(command: &str, limit: Option<Duration>) -> Vec<String> {
    let command = command.trim_matches(' ').to_string();
    let mut argv = Vec::with_capacity(5);
    if let Some(limit) = limit {
        argv.extend(["timeout".to_string(), timeout_arg(limit)]);
    }
    argv.extend(["bash".to_string(), "-c".to_string(), command]);
    argv
}

fn api_error(what: &str, e: kube::Error) -> String {
    match e {
        kube::Error::Api(status) => {
            let mut text = format!("{what}: {} ({})", status.message, status.code);
            if status.code == 403 {
                text.push_str("; Brickyard's service account needs get, list on pods and get, create on pods/exec");
            }
            text
        }
        other => format!("{what}: {}", with_causes(&other)),
    }
}

/// An error and its sources: a TLS or connection failure is only named
/// deep in the chain ("client error (Connect): … UnknownIssuer").
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    for _ in 0..8 {
        let Some(cause) = source else { break };
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

pub struct KubeTransport {
    pods: Api<Pod>,
    settings: KubeSettings,
    sessions: Option<Semaphore>,
    stats: TransportStats,
}

impl KubeTransport {
    pub fn new(client: Client, settings: KubeSettings) -> KubeTransport {
        KubeTransport {
            pods: Api::namespaced(client, &settings.namespace),
            sessions: settings.max_connections.map(|n| Semaphore::new(n.max(1))),
            settings,
            stats: TransportStats::default(),
        }
    }

    /// On `connection`, in the configured namespace or the one it implies.
    pub fn connect(
        connection: &crate::kubernetes::Connection,
        namespace: &str,
        use_pod_names: bool,
        gluster_daemonset: bool,
        max_connections: i64,
    ) -> Result<KubeTransport, crate::kubernetes::NamespaceError> {
        let namespace = connection.namespace(namespace)?;
        tracing::info!(namespace, "kubernetes executor: exec into GlusterFS pods");
        let settings = KubeSettings::new(namespace, use_pod_names, gluster_daemonset, max_connections);
        Ok(KubeTransport::new(connection.client.clone(), settings))
    }

    /// Heketi's `disable_timeout_prefix`: commands run bare in the pod.
    pub fn without_timeout_prefix(mut self) -> KubeTransport {
        self.settings.timeout_prefix = false;
        self
    }

    pub fn settings(&self) -> &KubeSettings {
        &self.settings
    }

    /// Finds the pod for `host`. Heketi looked it up for every batch;
    /// Brickyard does for every command, so a replaced pod is used from the
    /// next command on.
    pub async fn target(&self, host: &str) -> Result<Target, TransportError> {
        let ns = &self.settings.namespace;
        if !selector_safe(host) {
            return Err(TransportError::unreachable(format!(
                "{host:?} cannot name a pod or node"
            )));
        }
        let pod = match self.settings.lookup {
            PodLookup::PodName => self.pods.get(host).await.map_err(|e| match e {
                kube::Error::Api(s) if s.code == 404 => TransportError::unreachable(format!(
                    "pod {host} not found in namespace {ns}: it may have been deleted"
                )),
                e => TransportError::unreachable(api_error(&format!("Unable to get pod spec for {host}"), e)),
            })?,
            PodLookup::DaemonSet => {
                // Heketi listed every labelled pod; the node's field selector
                // keeps the answer to that node's few.
                let list = self
                    .pods
                    .list(
                        &ListParams::default()
                            .labels(NODE_LABEL)
                            .fields(&format!("spec.nodeName={host}")),
                    )
                    .await
                    .map_err(|e| {
                        TransportError::unreachable(api_error(
                            &format!("Failed to get list of pods in namespace {ns}"),
                            e,
                        ))
                    })?;
                pick_daemonset_pod(&list.items, host).cloned().ok_or_else(|| {
                    TransportError::unreachable(format!(
                        "Unable to find a GlusterFS pod on host {host} with a label key {NODE_LABEL}"
                    ))
                })?
            }
            PodLookup::Label => {
                let list = self
                    .pods
                    .list(&ListParams::default().labels(&format!("{NODE_LABEL}=={host}")))
                    .await
                    .map_err(|e| {
                        TransportError::unreachable(api_error(
                            &format!("Failed to get list of pods in namespace {ns}"),
                            e,
                        ))
                    })?;
                match list.items.as_slice() {
                    [one] => one.clone(),
                    [] => {
                        return Err(TransportError::unreachable(format!(
                            "No pods with the label '{NODE_LABEL}={host}' were found"
                        )))
                    }
                    many => {
                        let names: Vec<String> = many.iter().filter_map(|p| p.metadata.name.clone()).collect();
                        return Err(TransportError::unreachable(format!(
                            "Found {} pods sharing the same label '{NODE_LABEL}={host}': {}",
                            many.len(),
                            names.join(", ")
                        )));
                    }
                }
            }
        };
        let name = pod.metadata.name.clone().unwrap_or_default();
        let container = first_container(&pod).ok_or_else(|| {
            TransportError::unreachable(format!("Unable to get pod spec for {name}: the pod has no containers"))
        })?;
        Ok(Target { pod: name, container })
    }

    async fn start(&self, target: &Target, command: &str, limit: Duration) -> Result<AttachedProcess, kube::Error> {
        let argv = exec_argv(command, self.settings.timeout_prefix.then_some(limit));
        let params = AttachParams::default()
            .container(target.container.clone())
            .max_stdout_buf_size(64 * 1024)
            .max_stderr_buf_size(64 * 1024);
        self.pods.exec(&target.pod, argv, &params).await
    }

    async fn exec(
        &self,
        host: &str,
        target: Target,
        command: &str,
        limit: Duration,
    ) -> Result<CommandOutput, TransportError> {
        let refused =
            |target: &Target, e| TransportError::unreachable(api_error(&format!("exec in pod {}", target.pod), e));
        let (target, mut process) = match self.start(&target, command, limit).await {
            Ok(process) => (target, process),
            // The pod went away between lookup and exec (a DaemonSet
            // rollout): the command never started, so look once more.
            Err(kube::Error::Api(status)) if status.code == 404 && self.settings.lookup != PodLookup::PodName => {
                tracing::info!(host, pod = target.pod, "pod gone before exec; looking it up again");
                let fresh = self.target(host).await?;
                match self.start(&fresh, command, limit).await {
                    Ok(process) => (fresh, process),
                    Err(e) => return Err(refused(&fresh, e)),
                }
            }
            Err(e) => return Err(refused(&target, e)),
        };
        let pod = &target.pod;
        self.stats.connections_opened.fetch_add(1, Ordering::Relaxed);
        let status = process.take_status();
        let (stdout, stderr) = (process.stdout(), process.stderr());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = {
            // Both at once: the pump stalls when either buffer fills.
            let reads = async { tokio::join!(read_into(stdout, &mut out), read_into(stderr, &mut err)) };
            tokio::pin!(reads);
            let status = async {
                match status {
                    Some(status) => status.await,
                    None => None,
                }
            };
            tokio::pin!(status);
            tokio::select! {
                _ = &mut reads => status.await,
                // A pump that failed leaves the readers open: keep what arrived.
                status = &mut status => {
                    let _ = tokio::time::timeout(STREAM_DRAIN, &mut reads).await;
                    status
                }
            }
        };
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        );
        let pumped = tokio::time::timeout(STREAM_DRAIN, process.join())
            .await
            .unwrap_or(Ok(()));
        let outcome = match (exit_status(status.as_ref()), pumped) {
            (ExecOutcome::Failed(why), Err(e)) => ExecOutcome::Failed(format!("{why}: {e}")),
            (outcome, _) => outcome,
        };
        match outcome {
            ExecOutcome::Exited(124) if self.settings.timeout_prefix => Err(TransportError::timed_out(format!(
                "timeout: the command ran out of its {} in pod {pod}",
                timeout_arg(limit)
            ))),
            ExecOutcome::Exited(status) => Ok(CommandOutput { status, stdout, stderr }),
            ExecOutcome::Failed(why) => {
                // What the command said before the stream broke is often the clue.
                let said: String = stderr.trim().chars().take(500).collect();
                let said = if said.is_empty() {
                    String::new()
                } else {
                    format!(" (stderr: {said})")
                };
                Err(TransportError::unreachable(format!("exec in pod {pod}: {why}{said}")))
            }
        }
    }
}

/// How long output may still trickle in once the status is known.
const STREAM_DRAIN: Duration = Duration::from_secs(2);

async fn read_into(reader: Option<impl tokio::io::AsyncRead + Unpin>, bytes: &mut Vec<u8>) {
    if let Some(mut reader) = reader {
        // A broken stream shows up in the status; keep what arrived.
        let _ = reader.read_to_end(bytes).await;
    }
}

#[async_trait]
impl Transport for KubeTransport {
    async fn run(&self, host: &str, command: &str, timeout: Duration) -> Result<CommandOutput, TransportError> {
        let started = Instant::now();
        // Nothing has run while waiting for a session or finding the pod.
        let prepare = async {
            let session = match &self.sessions {
                Some(sessions) => Some(
                    sessions
                        .acquire()
                        .await
                        .map_err(|_| TransportError::unreachable("kubernetes transport is shutting down"))?,
                ),
                None => None,
            };
            Ok::<_, TransportError>((session, self.target(host).await?))
        };
        let (_session, target) = tokio::time::timeout(timeout, prepare).await.map_err(|_| {
            TransportError::timed_out(format!(
                "no exec session into the GlusterFS pod of {host} within {timeout:?}; the command did not run"
            ))
        })??;
        // The command gets what is left, both in the pod and here.
        let left = timeout.saturating_sub(started.elapsed()).max(Duration::from_secs(1));
        let watchdog = left + self.settings.watchdog_grace;
        let pod = target.pod.clone();
        let result = tokio::time::timeout(watchdog, self.exec(host, target, command, left))
            .await
            .unwrap_or_else(|_| {
                // The command may still be running in the pod, bounded by its
                // own `timeout` prefix.
                Err(TransportError::timed_out(format!(
                    "timeout: no answer from pod {pod} within {watchdog:?}"
                )))
            });
        if result.is_ok() {
            self.stats.record_command(started.elapsed());
        }
        result
    }

    fn stats(&self) -> &TransportStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};

    fn status(json: &str) -> Status {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn exit_codes_follow_client_go() {
        let ok = status(r#"{"metadata":{},"status":"Success"}"#);
        assert_eq!(exit_status(Some(&ok)), ExecOutcome::Exited(0));
        // The API server translator's wording and the kubelet's: the code comes from the cause either way.
        for message in [
            "command terminated with non-zero exit code: command terminated with exit code 3",
            "command terminated with non-zero exit code: error executing command [bash -c exit 3], exit code 7",
        ] {
            let failed = Status {
                status: Some("Failure".into()),
                reason: Some("NonZeroExitCode".into()),
                message: Some(message.into()),
                details: Some(StatusDetails {
                    causes: Some(vec![StatusCause {
                        reason: Some("ExitCode".into()),
                        message: Some("3".into()),
                        field: None,
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            };
            assert_eq!(exit_status(Some(&failed)), ExecOutcome::Exited(3));
        }
        let no_cause = status(r#"{"metadata":{},"status":"Failure","message":"x","reason":"NonZeroExitCode"}"#);
        assert!(matches!(exit_status(Some(&no_cause)), ExecOutcome::Failed(_)));
        let out_of_range = status(
            r#"{"metadata":{},"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"256"}]}}"#,
        );
        assert!(matches!(exit_status(Some(&out_of_range)), ExecOutcome::Failed(_)));
        let internal = status(
            r#"{"metadata":{},"status":"Failure","message":"Internal error occurred: no such file","reason":"InternalError","details":{"causes":[{"message":"no such file"}]},"code":500}"#,
        );
        assert_eq!(
            exit_status(Some(&internal)),
            ExecOutcome::Failed("Internal error occurred: no such file".into())
        );
        assert!(matches!(exit_status(None), ExecOutcome::Failed(m) if m.contains("without an exit status")));
    }

    #[test]
    fn argv_is_heketis_with_the_batch_time() {
        assert_eq!(
            exec_argv(
                "  gluster --mode=script peer probe 'n2' ",
                Some(Duration::from_secs(600))
            ),
            ["timeout", "10m", "bash", "-c", "gluster --mode=script peer probe 'n2'"]
        );
        assert_eq!(
            exec_argv("lvs", Some(Duration::from_millis(90_500))),
            ["timeout", "91s", "bash", "-c", "lvs"]
        );
        assert_eq!(exec_argv("\tlvs", None), ["bash", "-c", "\tlvs"]);
    }

    #[test]
    fn settings_follow_heketis_precedence_and_limits() {
        let s = KubeSettings::new("ns".into(), true, true, 0);
        assert_eq!((s.lookup, s.max_connections), (PodLookup::PodName, Some(64)));
        let s = KubeSettings::new("ns".into(), false, true, -1);
        assert_eq!((s.lookup, s.max_connections), (PodLookup::DaemonSet, None));
        let s = KubeSettings::new("ns".into(), false, false, 5);
        assert_eq!((s.lookup, s.max_connections), (PodLookup::Label, Some(5)));
    }

    fn pod(name: &str, node: &str, phase: &str, deleting: bool) -> Pod {
        let mut json = serde_json::json!({
            "metadata": {"name": name, "labels": {"glusterfs-node": "daemonset"}},
            "spec": {"nodeName": node, "containers": [{"name": "glusterfs"}]},
            "status": {"phase": phase},
        });
        if deleting {
            json["metadata"]["deletionTimestamp"] = "2026-11-26T00:00:00Z".into();
        }
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn daemonset_pick_prefers_running_pods_then_the_last() {
        let pods = [
            pod("glusterfs-a", "node1", "Running", false),
            pod("glusterfs-b", "node1", "Running", true),
            pod("glusterfs-c", "node2", "Running", false),
            pod("glusterfs-d", "node3", "Pending", false),
            pod("glusterfs-e", "node3", "Failed", false),
        ];
        let name = |node| pick_daemonset_pod(&pods, node).and_then(|p| p.metadata.name.clone());
        assert_eq!(name("node1").as_deref(), Some("glusterfs-a"));
        assert_eq!(name("node2").as_deref(), Some("glusterfs-c"));
        assert_eq!(
            name("node3").as_deref(),
            Some("glusterfs-e"),
            "none runs: Heketi's last match"
        );
        assert_eq!(name("Node2"), None, "node names match exactly");
        assert_eq!(name("node4"), None);
    }

    #[test]
    fn hosts_that_would_change_a_selector_are_refused() {
        assert!(selector_safe("node-1.example.com"));
        assert!(selector_safe("10.0.0.1"));
        for bad in ["", "a,b", "a=b", "a b", "a!", "a)"] {
            assert!(!selector_safe(bad), "{bad:?}");
        }
    }
}
