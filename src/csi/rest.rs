//! The driver's way to Brickyard (or Heketi): the API client the CLI uses
//! (a JWT per request, queue polling, `429` retries), one per server and
//! credentials, called off the async runtime, with the server's answers
//! turned into the gRPC codes the CSI specification names.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::Status;

use crate::client::{Client, ClientError};

/// Where the REST API is and who the driver is to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub url: String,
    pub user: String,
    pub key: String,
}

/// The driver polls the queue sooner than heketi-cli (400 ms): a
/// provisioner waits on every create, and polls cost the server little.
const POLL_FIRST: std::time::Duration = std::time::Duration::from_millis(20);
const POLL_MAX: std::time::Duration = std::time::Duration::from_millis(100);

/// The driver's own REST settings, used when a StorageClass names none.
#[derive(Debug, Clone, Default)]
pub struct RestDefaults {
    pub url: Option<String>,
    pub user: String,
    pub key: String,
}

/// Clients by target, made once each. The client is reqwest's blocking one
/// (the CLI's); it runs its own runtime, so it is made, used and dropped
/// only off the async runtime's threads.
#[derive(Default)]
pub struct Clients {
    made: Mutex<HashMap<Target, Arc<Client>>>,
}

impl Clients {
    pub async fn get(&self, target: &Target) -> Result<Arc<Client>, Status> {
        if let Some(c) = self
            .made
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(target)
        {
            return Ok(c.clone());
        }
        let t = target.clone();
        let client = tokio::task::spawn_blocking(move || {
            Client::new(&t.url, &t.user, &t.key, false, &[]).map(|c| c.polling(POLL_FIRST, POLL_MAX))
        })
        .await
        .map_err(|e| Status::internal(format!("making a REST client: {e}")))?
        .map_err(|e| Status::invalid_argument(format!("resturl {}: {e}", target.url)))?;
        let client = Arc::new(client);
        self.made
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(target.clone())
            .or_insert_with(|| client.clone());
        Ok(client)
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        let made = std::mem::take(self.made.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner));
        // Not on the async runtime: the blocking clients' own runtimes must
        // not be dropped there.
        std::thread::spawn(move || drop(made));
    }
}

/// Runs a blocking client call on the blocking pool.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, ClientError> + Send + 'static,
) -> Result<T, ClientError> {
    match tokio::task::spawn_blocking(call).await {
        Ok(result) => result,
        Err(e) => Err(ClientError::Server {
            status: 500,
            message: format!("the call did not finish: {e}"),
        }),
    }
}

/// A call that must end in `expect`, with the final answer's JSON body.
pub async fn call_json<B, T>(
    client: &Arc<Client>,
    method: Method,
    path: String,
    body: Option<B>,
    expect: StatusCode,
) -> Result<T, ClientError>
where
    B: Serialize + Send + 'static,
    T: DeserializeOwned + Send + 'static,
{
    let client = client.clone();
    blocking(move || Ok(client.call(method, &path, body.as_ref(), expect)?.json()?)).await
}

/// A call that must end in `expect`, its body unread.
pub async fn call(
    client: &Arc<Client>,
    method: Method,
    path: String,
    body: Option<serde_json::Value>,
    expect: StatusCode,
) -> Result<(), ClientError> {
    let client = client.clone();
    blocking(move || client.call(method, &path, body.as_ref(), expect).map(|_| ())).await
}

pub async fn get<T: DeserializeOwned + Send + 'static>(client: &Arc<Client>, path: String) -> Result<T, ClientError> {
    let client = client.clone();
    blocking(move || client.get_json(&path)).await
}

/// What an answer of the REST API means for a CSI caller. Heketi's API
/// says some things only in words (its texts are part of its contract), so
/// those few words are read here, and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    Unreachable,
    NotFound,
    NoSpace,
    Busy,
    BadRequest,
    Unauthenticated,
    Refused,
    Failed,
}

pub fn meaning(e: &ClientError) -> Meaning {
    match e {
        ClientError::Refused { .. } | ClientError::Transport { .. } | ClientError::Http(_) => Meaning::Unreachable,
        ClientError::Server { status, message } => match *status {
            404 => Meaning::NotFound,
            429 => Meaning::Unreachable,
            400 | 422 => Meaning::BadRequest,
            401 => Meaning::Unauthenticated,
            403 => Meaning::Refused,
            409 => Meaning::Busy,
            _ if message.contains("No space") => Meaning::NoSpace,
            _ if message.contains("The target exists, contains other items, or is in use") => Meaning::Busy,
            _ => Meaning::Failed,
        },
        _ => Meaning::Failed,
    }
}

/// The gRPC status for a failed call; `what` says what was being done.
pub fn status(what: &str, e: &ClientError) -> Status {
    let message = format!("{what}: {e}");
    match meaning(e) {
        Meaning::Unreachable => Status::unavailable(message),
        Meaning::NotFound => Status::not_found(message),
        Meaning::NoSpace => Status::resource_exhausted(message),
        Meaning::Busy => Status::aborted(message),
        Meaning::BadRequest => Status::invalid_argument(message),
        Meaning::Unauthenticated => Status::unauthenticated(message),
        Meaning::Refused => Status::permission_denied(message),
        Meaning::Failed => Status::internal(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status: u16, message: &str) -> ClientError {
        ClientError::Server {
            status,
            message: message.into(),
        }
    }

    #[test]
    fn answers_map_to_the_codes_the_specification_names() {
        let cases = [
            (server(404, "Id not found"), tonic::Code::NotFound),
            (
                server(500, "Failed to allocate new volume: No space: cluster c: ..."),
                tonic::Code::ResourceExhausted,
            ),
            (
                server(
                    500,
                    "Failed to set up volume delete: The target exists, contains other items, or is in use.",
                ),
                tonic::Code::Aborted,
            ),
            (server(409, "busy"), tonic::Code::Aborted),
            (server(400, "Invalid replica value"), tonic::Code::InvalidArgument),
            (server(401, "Invalid JWT token"), tonic::Code::Unauthenticated),
            (
                server(429, "Server busy. Retry operation later."),
                tonic::Code::Unavailable,
            ),
            (server(500, "lvcreate failed"), tonic::Code::Internal),
            (
                ClientError::Refused {
                    verb: "Get".into(),
                    url: "http://x/volumes".into(),
                    host: "x".into(),
                },
                tonic::Code::Unavailable,
            ),
        ];
        for (error, code) in cases {
            let s = status("creating volume v", &error);
            assert_eq!(s.code(), code, "{error}");
            assert!(s.message().starts_with("creating volume v: "), "{}", s.message());
        }
    }
}
