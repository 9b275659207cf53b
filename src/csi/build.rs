//! Generates the CSI v1 gRPC bindings from `src/csi/csi.proto` (our own
//! definition, written from the CSI specification) with a pure-Rust protobuf
//! compiler, so a build needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=src/csi/csi.proto");
    // The well-known types (google/protobuf/wrappers.proto) are built into protox.
    let files = protox::compile(["src/csi/csi.proto"], ["src/csi"])?;
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
        .compile_fds(files)?;
    Ok(())
}
