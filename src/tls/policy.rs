//! The certificate policy: what a TLS connection trusts (the system roots plus any
//! `--tls-ca-file` certificates, or only the certificate pinned with `--tls-fingerprint`), and
//! the handshake that enforces it under the connection's reply deadline.

use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use native_tls::{HandshakeError, Protocol, TlsConnector};
use sha2::{Digest, Sha256};

use super::conn::{Buffered, Conn, Inner};
use super::deadline::{too_late, Socket};
use crate::source::SourceError;

/// TLS settings of an account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Extra trusted certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// SHA-256 of the server certificate's DER encoding.
    pub fingerprint: Option<[u8; 32]>,
}

/// A TLS set-up failure (unreadable CA file, bad certificate): a configuration problem.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsSetupError(pub String);

/// A ready-to-use TLS client configuration.
pub struct Tls {
    connector: TlsConnector,
    fingerprint: Option<[u8; 32]>,
}

/// Reads every certificate of a PEM file.
fn load_pem_certificates(path: &Path) -> Result<Vec<native_tls::Certificate>, TlsSetupError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| TlsSetupError(format!("cannot read the CA file {}: {e}", path.display())))?;
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut certs = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find(BEGIN) {
        let Some(len) = rest[start..].find(END) else {
            break;
        };
        let block = &rest[start..start + len + END.len()];
        let cert = native_tls::Certificate::from_pem(block.as_bytes())
            .map_err(|e| TlsSetupError(format!("bad certificate in {}: {e}", path.display())))?;
        certs.push(cert);
        rest = &rest[start + len + END.len()..];
    }
    if certs.is_empty() {
        return Err(TlsSetupError(format!(
            "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        )));
    }
    Ok(certs)
}

/// Whether an error chain holds a timed-out read (the handshake's own errors wrap it).
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if matches!(
                io.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

impl Tls {
    /// Builds the client configuration.
    pub fn new(opts: &TlsOptions) -> Result<Tls, TlsSetupError> {
        let mut b = TlsConnector::builder();
        b.min_protocol_version(Some(Protocol::Tlsv12));
        if let Some(path) = &opts.ca_file {
            for cert in load_pem_certificates(path)? {
                b.add_root_certificate(cert);
            }
        }
        if opts.fingerprint.is_some() {
            b.danger_accept_invalid_certs(true);
            b.danger_accept_invalid_hostnames(true);
        }
        let connector = b
            .build()
            .map_err(|e| TlsSetupError(format!("cannot set up TLS: {e}")))?;
        Ok(Tls {
            connector,
            fingerprint: opts.fingerprint,
        })
    }

    /// Performs the TLS handshake on `tcp` for `host` and applies the certificate policy. The
    /// connection's timeout is the socket's read timeout (as [`connect_tcp`](super::connect_tcp) set it).
    pub fn handshake(&self, host: &str, tcp: TcpStream) -> Result<Conn, SourceError> {
        self.handshake_on(host, Socket::new(tcp))
    }

    /// Secures a plain connection (after STLS or STARTTLS); a connection that already is TLS
    /// is returned as it is.
    pub fn upgrade(&self, host: &str, conn: Conn) -> Result<Conn, SourceError> {
        match conn.0 {
            Inner::Plain(sock) => self.handshake_on(host, sock),
            tls @ Inner::Tls(_) => Ok(Conn(tls)),
        }
    }

    fn handshake_on(&self, host: &str, sock: Socket) -> Result<Conn, SourceError> {
        sock.clock.restart();
        let tls = match self.connector.connect(host, Buffered::new(sock)) {
            Ok(s) => s,
            Err(HandshakeError::WouldBlock(_)) => {
                return Err(SourceError::io("TLS handshake", too_late()));
            }
            Err(HandshakeError::Failure(e)) if timed_out(&e) => {
                return Err(SourceError::io("TLS handshake", too_late()));
            }
            Err(HandshakeError::Failure(e)) => {
                let detail = e.to_string();
                let hint = if detail.contains("certificate") || detail.contains("verify") {
                    "\n  (if the server uses a private CA or a self-signed certificate, trust it \
                     with --tls-ca-file FILE or pin it with --tls-fingerprint sha256:HEX)"
                } else {
                    ""
                };
                return Err(SourceError::Unavailable(format!(
                    "TLS handshake with {host} failed: {detail}{hint}"
                )));
            }
        };
        if let Some(want) = self.fingerprint {
            let got = tls
                .peer_certificate()
                .ok()
                .flatten()
                .and_then(|c| c.to_der().ok())
                .map(|der| Sha256::digest(&der));
            match got {
                Some(d) if d.as_slice() == want => {}
                Some(d) => {
                    return Err(SourceError::Unavailable(format!(
                        "the certificate of {host} does not match the pinned fingerprint\n  \
                         pinned:    sha256:{}\n  presented: sha256:{}\n  (if the server's \
                         certificate was legitimately replaced, update --tls-fingerprint)",
                        hex::encode(want),
                        hex::encode(d)
                    )))
                }
                None => {
                    return Err(SourceError::Unavailable(format!(
                        "{host} presented no certificate to check against the pin"
                    )))
                }
            }
        }
        // The reply after the handshake (the greeting, or the capabilities) gets its own time.
        tls.get_ref().sock.clock.restart();
        Ok(Conn(Inner::Tls(Box::new(tls))))
    }
}

/// Parses `sha256:HEX` (colons between bytes allowed, any case).
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], String> {
    let hexpart = s
        .strip_prefix("sha256:")
        .or_else(|| s.strip_prefix("SHA256:"))
        .ok_or_else(|| format!("{s:?} is not a fingerprint: expected sha256:HEX"))?;
    let cleaned: String = hexpart.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(&cleaned)
        .map_err(|_| format!("{s:?} is not a fingerprint: the part after sha256: must be hex"))?;
    bytes.try_into().map_err(|_| {
        format!("{s:?} is not a SHA-256 fingerprint: it must be 32 bytes (64 hex digits)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints() {
        let hex64 = "ab".repeat(32);
        assert_eq!(
            parse_fingerprint(&format!("sha256:{hex64}")).unwrap(),
            [0xab; 32]
        );
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(
            parse_fingerprint(&format!("sha256:{colons}")).unwrap(),
            [0xab; 32]
        );
        assert!(parse_fingerprint(&hex64).is_err());
        assert!(parse_fingerprint("sha256:abcd").is_err());
        assert!(parse_fingerprint("sha256:zz").is_err());
    }
}
