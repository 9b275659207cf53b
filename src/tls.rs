//! HTTPS for `enable_tls`: rustls with the certificate and key from
//! `cert_file` and `key_file`; `serve.rs` completes the handshakes.

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::ServerConfig;

/// Why the certificate and key cannot serve HTTPS; the text names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("bad certificate in {path}: {source}")]
    BadCertificate {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no certificate found in {0}")]
    NoCertificate(String),
    #[error("bad private key in {path}: {source}")]
    BadKey {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no private key found in {0}")]
    NoKey(String),
    #[error("{0}")]
    Protocols(#[source] tokio_rustls::rustls::Error),
    #[error("certificate and key do not fit: {0}")]
    Mismatch(#[source] tokio_rustls::rustls::Error),
}

/// Reads a PEM certificate chain and private key into a server config.
pub fn server_config(cert_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let shown = |p: &Path| p.display().to_string();
    let open = |p: &Path| std::fs::File::open(p).map_err(|source| TlsError::Read { path: shown(p), source });
    let certs = rustls_pemfile::certs(&mut BufReader::new(open(cert_file)?))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::BadCertificate {
            path: shown(cert_file),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(shown(cert_file)));
    }
    let key = rustls_pemfile::private_key(&mut BufReader::new(open(key_file)?))
        .map_err(|source| TlsError::BadKey {
            path: shown(key_file),
            source,
        })?
        .ok_or_else(|| TlsError::NoKey(shown(key_file)))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Protocols)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(TlsError::Mismatch)?;
    Ok(Arc::new(config))
}
