//! The process's one TLS configuration, shared by every client (Application Auto Scaling, SageMaker,
//! CloudWatch, the ResponseURL PUT): rustls with ring, Mozilla's roots compiled in (webpki-roots), and the
//! roots of `SSL_CERT_FILE` when it is set. Nothing is read from the system certificate directory, so
//! start-up opens at most one file.

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Builds the configuration from the compiled-in roots plus the PEM certificates of `extra_pem` (the
/// contents of `SSL_CERT_FILE`).
///
/// # Errors
/// When `extra_pem` holds no certificate at all, or one that cannot be used as a root: a message naming
/// `SSL_CERT_FILE`, since a trust store that silently lost its extra roots would fail later and obscurely.
pub fn client_config(extra_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, String> {
    let mut roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(pem) = extra_pem {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<_, _>>()
            .map_err(|err| format!("SSL_CERT_FILE is not a PEM bundle: {err}"))?;
        if certs.is_empty() {
            return Err("SSL_CERT_FILE holds no certificate".into());
        }
        let (added, refused) = roots.add_parsable_certificates(certs);
        if refused > 0 || added == 0 {
            return Err(format!("SSL_CERT_FILE: {refused} of its certificates cannot be used as trust roots"));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS configuration: {err}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// Reads `SSL_CERT_FILE` (if set) and builds the configuration.
///
/// # Errors
/// As [`client_config`], or when the file cannot be read.
pub fn from_env() -> Result<rustls::ClientConfig, String> {
    match std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty()) {
        None => client_config(None),
        Some(path) => {
            let pem = std::fs::read(&path).map_err(|err| format!("SSL_CERT_FILE {}: {err}", path.to_string_lossy()))?;
            client_config(Some(&pem))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_roots_are_there_without_any_file() {
        let config = client_config(None).unwrap();
        assert!(config.alpn_protocols.is_empty());
        assert!(webpki_roots::TLS_SERVER_ROOTS.len() > 100);
    }

    #[test]
    fn extra_roots_must_be_pem_certificates() {
        assert_eq!(client_config(Some(b"")).unwrap_err(), "SSL_CERT_FILE holds no certificate");
        assert!(client_config(Some(b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")).is_err());
        let junk = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(client_config(Some(junk)).unwrap_err().contains("cannot be used as trust roots"));
    }
}
