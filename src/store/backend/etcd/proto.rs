//! etcd's v3 bindings, generated at build time from `etcd.proto`.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}
