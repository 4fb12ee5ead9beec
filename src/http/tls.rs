//! The rustls client configuration: ring provider, Mozilla's roots, plus extra CAs from a file.

use std::{fs, path::Path, sync::Arc};

use rustls::{pki_types::CertificateDer, ClientConfig, RootCertStore};

use crate::http::SenderError;

/// Trusts webpki-roots and every certificate in `ca_file` (PEM). Uses the ring provider
/// explicitly, never a process-wide default.
pub fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, SenderError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        for cert in read_ca_file(path)? {
            roots.add(cert).map_err(|e| SenderError::CaFileBadCert {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(SenderError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, SenderError> {
    let pem = fs::read(path).map_err(|source| SenderError::CaFileRead {
        path: path.to_owned(),
        source,
    })?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SenderError::CaFileBadCert {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(SenderError::CaFileEmpty {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}
