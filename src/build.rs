//! Generates the gRPC bindings from our own `.proto` definitions with a
//! pure-Rust protobuf compiler, so a build needs no system `protoc`:
//! CSI v1 (`src/csi/csi.proto`, written from the CSI specification) and the
//! part of etcd's v3 API the store uses (`src/store/backend/etcd/etcd.proto`).
//! And gives the linker the order of the server's code (`build/code_order.rs`).

#[path = "build/code_order.rs"]
mod code_order;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    code_order::emit();
    println!("cargo:rerun-if-changed=src/csi/csi.proto");
    println!("cargo:rerun-if-changed=src/store/backend/etcd/etcd.proto");
    // The well-known types (google/protobuf/wrappers.proto) are built into protox.
    let csi = protox::compile(["src/csi/csi.proto"], ["src/csi"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .build_transport(true)
        // The CSI specification forbids logging secrets: no derived Debug
        // for the requests that carry them.
        .skip_debug([
            ".csi.v1.CreateVolumeRequest",
            ".csi.v1.DeleteVolumeRequest",
            ".csi.v1.ValidateVolumeCapabilitiesRequest",
            ".csi.v1.ControllerExpandVolumeRequest",
            ".csi.v1.NodeStageVolumeRequest",
            ".csi.v1.NodePublishVolumeRequest",
            ".csi.v1.NodeExpandVolumeRequest",
        ])
        .compile_fds(csi)?;
    let etcd = protox::compile(["src/store/backend/etcd/etcd.proto"], ["src/store/backend/etcd"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .build_transport(true)
        // The password is a secret: no derived Debug.
        .skip_debug([".etcdserverpb.AuthenticateRequest"])
        .compile_fds(etcd)?;
    Ok(())
}
