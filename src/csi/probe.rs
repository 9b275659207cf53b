//! A CSI client over a unix socket, as kubelet and the sidecars connect,
//! and `brickyard csi probe`: asks a running driver who it is and whether
//! it is ready (Identity's GetPluginInfo and Probe). It serves as the
//! containers' liveness check, with no extra sidecar image.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use super::proto::v1 as csi;

#[derive(clap::Args, Debug)]
pub struct ProbeArgs {
    /// The driver's socket.
    #[arg(long, env = "CSI_ENDPOINT", default_value = "unix:///csi/csi.sock")]
    pub endpoint: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
}

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("--endpoint {0}: only unix:// endpoints are served")]
    Endpoint(String),
    #[error("cannot connect to {path}: {source}")]
    Connect {
        path: PathBuf,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("the driver answered {0}")]
    Call(#[from] tonic::Status),
    #[error("the driver says it is not ready")]
    NotReady,
    #[error("no answer within {0} s")]
    Timeout(u64),
}

/// A channel to the driver listening on `socket`.
pub async fn connect(socket: &Path) -> Result<Channel, tonic::transport::Error> {
    let socket = socket.to_path_buf();
    // The URI is required by the API and ignored by the connector.
    Endpoint::from_static("http://[::]:50051")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let socket = socket.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(socket).await?,
                ))
            }
        }))
        .await
}

/// The driver's name and version when it is ready.
pub async fn probe(args: &ProbeArgs) -> Result<String, ProbeError> {
    let path = args
        .endpoint
        .strip_prefix("unix://")
        .ok_or_else(|| ProbeError::Endpoint(args.endpoint.clone()))?;
    let ask = async {
        let channel = connect(Path::new(path)).await.map_err(|source| ProbeError::Connect {
            path: path.into(),
            source,
        })?;
        let mut identity = csi::identity_client::IdentityClient::new(channel);
        let info = identity
            .get_plugin_info(csi::GetPluginInfoRequest {})
            .await?
            .into_inner();
        let ready = identity.probe(csi::ProbeRequest {}).await?.into_inner();
        // An unset readiness means ready (the specification's rule).
        if ready.ready == Some(false) {
            return Err(ProbeError::NotReady);
        }
        Ok(format!("{} {} ready", info.name, info.vendor_version))
    };
    tokio::time::timeout(Duration::from_secs(args.timeout), ask)
        .await
        .map_err(|_| ProbeError::Timeout(args.timeout))?
}
