//! The CSI driver (`brickyard csi`): a CSI v1 gRPC server on a unix socket,
//! as the kubernetes-csi sidecars and kubelet expect it, that makes
//! Brickyard (or Heketi) volumes usable on current Kubernetes. The
//! controller reaches the server over its REST API with the CLI's client;
//! the node mounts volumes with GlusterFS's FUSE client. `brickyard csi pv`
//! prints PersistentVolumes for volumes made before, so they keep serving.

pub mod controller;
pub mod identity;
pub mod intree;
pub mod lookup;
pub mod mounter;
pub mod node;
pub mod params;
pub mod probe;
pub mod proto;
pub mod pv;
pub mod request;
pub mod rest;
pub mod volume;

use std::path::PathBuf;
use std::sync::Arc;

use tokio_stream::wrappers::UnixListenerStream;

use controller::Controller;
use identity::Identity;
use node::Node;
use proto::v1 as csi;
use rest::RestDefaults;

/// Which services this process serves.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Controller,
    Node,
    All,
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CsiArgs {
    #[command(subcommand)]
    pub command: Option<CsiCommand>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(clap::Subcommand, Debug)]
pub enum CsiCommand {
    /// Print PersistentVolumes for existing volumes (to keep volumes made by
    /// the in-tree provisioner or heketi-cli after moving to CSI)
    Pv(pv::PvArgs),
    /// Ask a running driver whether it is ready (for liveness probes)
    Probe(probe::ProbeArgs),
}

#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// The socket to serve on.
    #[arg(long, env = "CSI_ENDPOINT", default_value = "unix:///csi/csi.sock")]
    pub endpoint: String,
    #[arg(long, value_enum, default_value = "all")]
    pub mode: Mode,
    /// This node's id (the Kubernetes node name); default: the host name.
    #[arg(long, env = "CSI_NODE_ID")]
    pub node_id: Option<String>,
    /// The REST API for StorageClasses that name none (`resturl`), and for
    /// the node to look up static PVs that carry only a volume id.
    #[arg(long, env = "BRICKYARD_CSI_REST_URL")]
    pub rest_url: Option<String>,
    #[arg(long, env = "BRICKYARD_CSI_REST_USER", default_value = "admin")]
    pub rest_user: String,
    /// The REST secret; prefer the environment (a Secret) to the flag.
    #[arg(long, env = "BRICKYARD_CSI_REST_KEY", default_value = "", hide_env_values = true)]
    pub rest_key: String,
    /// STAND-IN for tests without FUSE or root: keep the node's mounts in
    /// this file instead of mounting.
    #[arg(long, hide = true)]
    pub recorded_mounts: Option<PathBuf>,
}

/// Why the driver could not serve.
#[derive(Debug, thiserror::Error)]
pub enum CsiError {
    #[error("--endpoint {0}: only unix:// endpoints are served")]
    Endpoint(String),
    #[error("cannot listen on {path}: {source}")]
    Listen {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("serving failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Serves until `shutdown` completes.
pub async fn serve(args: ServeArgs, shutdown: impl std::future::Future<Output = ()>) -> Result<(), CsiError> {
    let path = args
        .endpoint
        .strip_prefix("unix://")
        .ok_or_else(|| CsiError::Endpoint(args.endpoint.clone()))?
        .to_string();
    // A socket left by an earlier run would refuse the bind.
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).map_err(|source| CsiError::Listen {
        path: path.clone(),
        source,
    })?;
    let rest = RestDefaults {
        url: args.rest_url.clone(),
        user: args.rest_user.clone(),
        key: args.rest_key.clone(),
    };
    let controller = matches!(args.mode, Mode::Controller | Mode::All).then(|| Controller::new(rest.clone()));
    let node = matches!(args.mode, Mode::Node | Mode::All).then(|| {
        let mounter: Arc<dyn mounter::Mounter> = match &args.recorded_mounts {
            Some(table) => {
                tracing::warn!(table = %table.display(), "node mounts are recorded, not made (test stand-in)");
                Arc::new(mounter::Recorded::new(table.clone()))
            }
            None => Arc::new(mounter::System),
        };
        Node::new(
            args.node_id.clone().unwrap_or_else(host_name),
            mounter,
            lookup::Lookup::new(rest),
        )
    });
    tracing::info!(endpoint = %args.endpoint, mode = ?args.mode, "Brickyard CSI driver serving");
    tonic::transport::Server::builder()
        .add_service(csi::identity_server::IdentityServer::new(Identity {
            controller: controller.is_some(),
        }))
        .add_optional_service(controller.map(csi::controller_server::ControllerServer::new))
        .add_optional_service(node.map(csi::node_server::NodeServer::new))
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await?;
    let _ = std::fs::remove_file(&path);
    Ok(())
}

/// SIGINT or SIGTERM (how Kubernetes stops a pod).
async fn stopped() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

/// `brickyard csi …`: serve, or print PVs.
pub fn run(args: CsiArgs) -> std::process::ExitCode {
    use std::process::ExitCode;
    let result: Result<(), Box<dyn std::error::Error>> = match args.command {
        Some(CsiCommand::Pv(pv)) => pv::print(&pv).map_err(Into::into),
        Some(CsiCommand::Probe(p)) => tokio::runtime::Runtime::new()
            .map_err(Into::into)
            .and_then(|runtime| runtime.block_on(probe::probe(&p)).map_err(Into::into))
            .map(|said| println!("{said}")),
        None => match tokio::runtime::Runtime::new() {
            Ok(runtime) => runtime.block_on(serve(args.serve, stopped())).map_err(Into::into),
            Err(e) => Err(e.into()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}
