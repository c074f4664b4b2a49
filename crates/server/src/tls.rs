//! The HTTPS certificate: the configured one, or a self-signed one made at first start.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::Config;

/// Paths of the certificate and key in use, generating a self-signed pair when none is
/// configured and none was generated before.
pub fn certificate_files(config: &Config) -> Result<(String, String)> {
    if !config.tls.certificate.is_empty() {
        return Ok((
            config.tls.certificate.clone(),
            config.tls.private_key.clone(),
        ));
    }
    let dir = config.server.data_dir.join("tls");
    let cert = dir.join("self-signed.crt");
    let key = dir.join("self-signed.key");
    if !cert.is_file() || !key.is_file() {
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        if !names.contains(&config.server.public_host) {
            names.push(config.server.public_host.clone());
        }
        let made = rcgen::generate_simple_self_signed(names).context("generating a certificate")?;
        std::fs::write(&cert, made.cert.pem())?;
        write_private(&key, made.key_pair.serialize_pem().as_bytes())?;
        tracing::info!(path = %cert.display(), "generated a self-signed certificate");
    }
    Ok((cert.display().to_string(), key.display().to_string()))
}

/// Write a file only its owner can read.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// The SHA-256 fingerprint of the certificate at `cert_path` (its first, end-entity, one), as
/// `openssl x509 -fingerprint -sha256` prints it: what another cluster's List of WebDialers
/// pins this node by.
pub fn fingerprint(cert_path: &str) -> Result<String> {
    use sha2::Digest;
    let cert = CertificateDer::pem_file_iter(cert_path)
        .with_context(|| format!("reading {cert_path}"))?
        .next()
        .with_context(|| format!("no certificate in {cert_path}"))?
        .with_context(|| format!("parsing {cert_path}"))?;
    let digest = sha2::Sha256::digest(cert.as_ref());
    Ok(digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":"))
}

pub fn server_config(cert_path: &str, key_path: &str) -> Result<Arc<rustls::ServerConfig>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .with_context(|| format!("reading {cert_path}"))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing {cert_path}"))?;
    let key =
        PrivateKeyDer::from_pem_file(key_path).with_context(|| format!("reading {key_path}"))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("certificate and key do not match")?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
