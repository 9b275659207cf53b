//! Brickyard: a GlusterFS volume-management server that speaks Heketi's REST API.
//!
//! The request path runs one way: `api` (validate, authenticate) → `ops`
//! (journal, execute, commit) → `store` and `executor`. See
//! `docs/ARCHITECTURE.md` for the map.

pub mod api;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod csi;
pub mod dbtool;
pub mod executor;
pub mod ids;
pub mod kubernetes;
#[cfg(test)]
mod layering;
pub mod logging;
pub mod memory;
pub mod ops;
pub mod placement;
pub mod serve;
pub mod server;
pub mod store;
pub mod tls;
pub mod wire;
