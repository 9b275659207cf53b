//! HTTP tests against the real server binary.

// Tests and benchmarks fail loudly by design: unwrapping is how they fail.
#![allow(clippy::unwrap_used)]

mod harness;

mod admin;
mod auth;
mod block_volumes;
mod chaos;
mod cli;
mod clusters;
mod copy;
mod crash;
mod csi;
mod devices;
mod drift;
mod dump;
mod durability;
mod etcd_access;
#[path = "../support/etcd_cluster.rs"]
mod etcd_cluster;
mod examine;
mod failover;
mod health;
mod import;
mod kube;
#[path = "../support/kube_standin.rs"]
mod kube_standin;
mod lifecycle;
mod limits;
mod manifests;
mod migrations;
mod mock_state;
mod nodes;
mod personality;
mod python_client;
mod queue;
mod reconcile;
mod settings;
mod tls;
mod volumes;
