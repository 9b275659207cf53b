//! HTTPS for `enable_tls`: rustls with the certificate and key from
//! `cert_file` and `key_file`; `serve.rs` completes the handshakes.

use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use tokio_rustls::rustls::ServerConfig;

/// Reads a PEM certificate chain and private key into a server config.
pub fn server_config(cert_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>, String> {
    let open = |p: &Path| std::fs::File::open(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let certs = rustls_pemfile::certs(&mut BufReader::new(open(cert_file)?))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("bad certificate in {}: {e}", cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate found in {}", cert_file.display()));
    }
    let key = rustls_pemfile::private_key(&mut BufReader::new(open(key_file)?))
        .map_err(|e| format!("bad private key in {}: {e}", key_file.display()))?
        .ok_or_else(|| format!("no private key found in {}", key_file.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not fit: {e}"))?;
    Ok(Arc::new(config))
}
