//! The CSI v1 bindings, generated at build time from `csi.proto`.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod v1 {
    tonic::include_proto!("csi.v1");
}
