//! What a TLS connection is made of, for `mailpull probe`: protocol version, cipher, the
//! server certificate (subject, issuer, validity, SHA-256 fingerprint) and whether it
//! verified. Plain values only; the texts come from the server's certificate and are not
//! terminal-safe yet. Floor 1 (tls), like the rest of the module.

use openssl::x509::{X509NameRef, X509VerifyResult, X509};
use sha2::{Digest, Sha256};

use super::conn::{Conn, Inner};

/// The TLS facts of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    /// The cipher suite's name, e.g. `TLS_AES_256_GCM_SHA384`.
    pub cipher: String,
    /// The server certificate, if it presented one.
    pub certificate: Option<CertInfo>,
    /// Why the chain or the name did not verify (against the system roots and any
    /// `--tls-ca-file`); `None` when it verified. Only meaningful for a connection made with
    /// [`Tls::report_only`](super::Tls::report_only) or without a pin.
    pub verify_error: Option<String>,
}

/// The facts of a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    pub subject: String,
    pub issuer: String,
    /// The names it is valid for (subjectAltName DNS and IP entries).
    pub names: Vec<String>,
    pub not_before: String,
    pub not_after: String,
    /// SHA-256 of the DER encoding (what `--tls-fingerprint` pins).
    pub sha256: [u8; 32],
}

/// `CN=mail.example.org, O=Example` (short names, in the certificate's order).
fn name_text(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let value = String::from_utf8_lossy(e.data().as_slice()).into_owned();
            format!("{key}={value}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl CertInfo {
    /// The facts of `cert`.
    pub fn of(cert: &X509) -> CertInfo {
        let der = cert.to_der().unwrap_or_default();
        let names = cert
            .subject_alt_names()
            .map(|sans| {
                sans.iter()
                    .filter_map(|n| {
                        n.dnsname().map(str::to_string).or_else(|| {
                            n.ipaddress().and_then(|ip| match ip.len() {
                                4 => Some(
                                    std::net::Ipv4Addr::from(<[u8; 4]>::try_from(ip).ok()?)
                                        .to_string(),
                                ),
                                16 => Some(
                                    std::net::Ipv6Addr::from(<[u8; 16]>::try_from(ip).ok()?)
                                        .to_string(),
                                ),
                                _ => None,
                            })
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        CertInfo {
            subject: name_text(cert.subject_name()),
            issuer: name_text(cert.issuer_name()),
            names,
            not_before: cert.not_before().to_string(),
            not_after: cert.not_after().to_string(),
            sha256: Sha256::digest(&der).into(),
        }
    }
}

impl Conn {
    /// The TLS facts of the connection; `None` for a plain one.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        let Inner::Tls(s) = &self.0 else {
            return None;
        };
        let ssl = s.ssl();
        let verify = ssl.verify_result();
        Some(TlsInfo {
            version: ssl.version_str().to_string(),
            cipher: ssl
                .current_cipher()
                .map(|c| c.name().to_string())
                .unwrap_or_default(),
            certificate: ssl.peer_certificate().map(|c| CertInfo::of(&c)),
            verify_error: (verify != X509VerifyResult::OK).then(|| verify.error_string().into()),
        })
    }
}
