//! Reaching the Kubernetes API: the client configuration Brickyard infers
//! (a kubeconfig, else the pod's service account) and the namespace rules
//! the executor and the Secret backups share.

pub mod backup_secret;

use std::path::{Path, PathBuf};

use kube::Client;

/// Where a pod's service account files are mounted.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// No namespace could be found.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    #[error("Namespace must be provided in configuration: File {} not found", file.display())]
    NotConfigured {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", file.display())]
    Unreadable {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// No client for the Kubernetes API could be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot configure the Kubernetes client (no kubeconfig, not in a pod?): {0}")]
    Configure(#[source] kube::config::InferConfigError),
    #[error("cannot build the Kubernetes client: {0}")]
    Build(#[source] kube::Error),
}

/// The pods' namespace: the configured one, else the service account's
/// (trimmed, as Heketi reads it; empty means `default`), else the
/// kubeconfig context's when running outside a cluster.
pub fn resolve_namespace(
    configured: &str,
    service_account_dir: &Path,
    kubeconfig_namespace: Option<&str>,
) -> Result<String, NamespaceError> {
    let configured = configured.trim();
    if !configured.is_empty() {
        return Ok(configured.to_string());
    }
    let file = service_account_dir.join("namespace");
    match std::fs::read_to_string(&file) {
        Ok(text) if text.trim().is_empty() => Ok("default".into()),
        Ok(text) => Ok(text.trim().to_string()),
        Err(source) if source.kind() == std::io::ErrorKind::NotFound => match kubeconfig_namespace {
            Some(ns) if !ns.trim().is_empty() => Ok(ns.trim().to_string()),
            _ => Err(NamespaceError::NotConfigured { file, source }),
        },
        Err(source) => Err(NamespaceError::Unreadable { file, source }),
    }
}

/// A client and where its configuration came from.
pub struct Connection {
    pub client: Client,
    /// The kubeconfig context's namespace (or the service account's).
    pub default_namespace: String,
}

impl Connection {
    /// From the kubeconfig (`KUBECONFIG`, `~/.kube/config`) or, failing
    /// that, the pod's service account.
    pub async fn infer() -> Result<Connection, ClientError> {
        // The other crates that bring rustls may enable a second provider.
        let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
        let config = kube::Config::infer().await.map_err(ClientError::Configure)?;
        tracing::info!(cluster = %config.cluster_url, "kubernetes API");
        let default_namespace = config.default_namespace.clone();
        let client = Client::try_from(config).map_err(ClientError::Build)?;
        Ok(Connection {
            client,
            default_namespace,
        })
    }

    /// `configured`, else the service account's namespace, else the kubeconfig's.
    pub fn namespace(&self, configured: &str) -> Result<String, NamespaceError> {
        resolve_namespace(
            configured,
            Path::new(SERVICE_ACCOUNT_DIR),
            Some(self.default_namespace.as_str()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_comes_from_config_then_service_account_then_kubeconfig() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(resolve_namespace(" gfs ", dir.path(), None).unwrap(), "gfs");
        let missing = resolve_namespace("", dir.path(), None).unwrap_err().to_string();
        assert!(
            missing.starts_with("Namespace must be provided in configuration: File "),
            "{missing}"
        );
        assert_eq!(resolve_namespace("", dir.path(), Some("ctx")).unwrap(), "ctx");
        std::fs::write(dir.path().join("namespace"), "glusterfs\n").unwrap();
        assert_eq!(resolve_namespace("", dir.path(), Some("ctx")).unwrap(), "glusterfs");
        std::fs::write(dir.path().join("namespace"), "  \n").unwrap();
        assert_eq!(resolve_namespace("", dir.path(), None).unwrap(), "default");
    }
}
