//! The certificate policy: what a TLS connection trusts (the system roots plus any
//! `--tls-ca-file` certificates, or only the certificate pinned with `--tls-fingerprint`), and
//! the handshake that enforces it under the connection's reply deadline.
//!
//! Built on OpenSSL directly (the `openssl` crate, which native-tls wraps) so that trust costs
//! only what it needs: with a pin no CA store is read at all, and otherwise the system roots are
//! looked up lazily in the hashed certificate directory where there is one (`roots.rs`; native-tls
//! loads the system bundle twice, ~150 certificates parsed each time, a fixed cost of every run).

use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use openssl::error::ErrorStack;
use openssl::ssl::{
    HandshakeError, Ssl, SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions,
    SslVerifyMode, SslVersion,
};
use openssl::x509::verify::X509CheckFlags;
use openssl::x509::{X509VerifyResult, X509};
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

/// A TLS client configuration, checked: the `--tls-ca-file` certificates are read and parsed
/// when it is made (a bad file is a configuration error before anything is connected), and
/// OpenSSL's context, with the trust store, is built at the first handshake.
///
/// Why late: a server that starts a process for each connection (Dovecot's login services do
/// by default) answers a new connection only milliseconds later, and the context, the biggest
/// part of mailpull's start-up, is built in that time instead of before connecting
/// ([`Tls::prepare`] right after the TCP connection is made).
pub struct Tls {
    /// The extra trusted certificates (`--tls-ca-file`); not used with a pin.
    ca_certs: Vec<X509>,
    fingerprint: Option<[u8; 32]>,
    /// [`Tls::report_only`]: verification failures and a pin mismatch are recorded, not fatal.
    report_only: bool,
    context: OnceLock<SslContext>,
}

/// Reads every certificate of a PEM file.
fn load_pem_certificates(path: &Path) -> Result<Vec<X509>, TlsSetupError> {
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
        let cert = X509::from_pem(block.as_bytes())
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
    /// The client configuration of `opts`: reads and parses the `--tls-ca-file` certificates
    /// (unless a pin decides trust); OpenSSL's context is built later (see [`Tls`]).
    pub fn new(opts: &TlsOptions) -> Result<Tls, TlsSetupError> {
        Tls::build(opts, false)
    }

    /// A configuration for looking, not for trusting (`mailpull probe`): the chain and the
    /// name are verified against the system roots and `--tls-ca-file` even with a pin, but a
    /// failure (or a pin mismatch) does not stop the handshake; the connection's
    /// [`TlsInfo`](super::TlsInfo) says how it went. Never send a password over such a
    /// connection without checking that first.
    pub fn report_only(opts: &TlsOptions) -> Result<Tls, TlsSetupError> {
        Tls::build(opts, true)
    }

    fn build(opts: &TlsOptions, report_only: bool) -> Result<Tls, TlsSetupError> {
        let pinned = opts.fingerprint.is_some() && !report_only;
        let ca_certs = match &opts.ca_file {
            Some(path) if !pinned => load_pem_certificates(path)?,
            _ => Vec::new(),
        };
        Ok(Tls {
            ca_certs,
            fingerprint: opts.fingerprint,
            report_only,
            context: OnceLock::new(),
        })
    }

    /// Builds OpenSSL's context now if it is not built yet: called right after the TCP
    /// connection is made, while the server gets ready to answer it.
    pub fn prepare(&self) -> Result<(), SourceError> {
        self.context().map(|_| ())
    }

    /// The context, built at the first call.
    fn context(&self) -> Result<&SslContext, SourceError> {
        if let Some(context) = self.context.get() {
            return Ok(context);
        }
        let built = self
            .build_context()
            .map_err(|e| SourceError::Unavailable(format!("cannot set up TLS (OpenSSL): {e}")))?;
        Ok(self.context.get_or_init(|| built))
    }

    /// TLS 1.2 or later, the cipher list and options of the `openssl` crate's connector, and
    /// either the pin (no CA store read) or the system roots plus `--tls-ca-file`.
    fn build_context(&self) -> Result<SslContext, ErrorStack> {
        let mut ctx = SslContextBuilder::new(SslMethod::tls_client())?;
        let mut options = SslOptions::ALL
            | SslOptions::NO_COMPRESSION
            | SslOptions::NO_SSLV2
            | SslOptions::NO_SSLV3
            | SslOptions::SINGLE_DH_USE
            | SslOptions::SINGLE_ECDH_USE;
        options &= !SslOptions::DONT_INSERT_EMPTY_FRAGMENTS;
        ctx.set_options(options);
        ctx.set_mode(
            SslMode::AUTO_RETRY
                | SslMode::ACCEPT_MOVING_WRITE_BUFFER
                | SslMode::ENABLE_PARTIAL_WRITE
                | SslMode::RELEASE_BUFFERS,
        );
        ctx.set_min_proto_version(Some(SslVersion::TLS1_2))?;
        ctx.set_cipher_list(
            "DEFAULT:!aNULL:!eNULL:!MD5:!3DES:!DES:!RC4:!IDEA:!SEED:!aDSS:!SRP:!PSK",
        )?;
        if self.fingerprint.is_some() && !self.report_only {
            // The pin is the trust: chain and name are not checked, no store is needed.
            ctx.set_verify(SslVerifyMode::NONE);
        } else {
            super::roots::trust_system_roots(&mut ctx)?;
            for cert in &self.ca_certs {
                // A certificate that is also a system root is already there: not an error.
                let _ = ctx.cert_store_mut().add_cert(cert.clone());
            }
            ctx.set_verify(SslVerifyMode::PEER);
        }
        Ok(ctx.build())
    }

    /// One connection's TLS state for `host`: SNI (for a name), and unless a pin decides
    /// trust, the name the certificate must carry.
    fn ssl(&self, context: &SslContext, host: &str) -> Result<Ssl, ErrorStack> {
        let mut ssl = Ssl::new(context)?;
        let ip = host.parse::<std::net::IpAddr>().ok();
        if ip.is_none() {
            ssl.set_hostname(host)?;
        }
        if self.report_only {
            // Verify, record the outcome (`verify_result`), go on regardless.
            ssl.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
        }
        if self.fingerprint.is_none() || self.report_only {
            let param = ssl.param_mut();
            param.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS);
            match ip {
                Some(ip) => param.set_ip(ip)?,
                None => param.set_host(host)?,
            }
        }
        Ok(ssl)
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
        let context = self.context()?;
        sock.clock.restart();
        let ssl = self
            .ssl(context, host)
            .map_err(|e| SourceError::Unavailable(format!("cannot set up TLS for {host}: {e}")))?;
        let tls = match ssl.connect(Buffered::new(sock)) {
            Ok(s) => s,
            Err(HandshakeError::Failure(m)) if plaintext_greeting(m.get_ref().last_chunk()) => {
                return Err(plaintext_first(host, m.get_ref()));
            }
            Err(HandshakeError::WouldBlock(_)) => {
                return Err(SourceError::io("TLS handshake", too_late()));
            }
            Err(HandshakeError::Failure(m)) if timed_out(m.error()) => {
                return Err(SourceError::io("TLS handshake", too_late()));
            }
            Err(HandshakeError::Failure(m)) => {
                let verify = m.ssl().verify_result();
                let detail = if verify == X509VerifyResult::OK {
                    m.error().to_string()
                } else {
                    format!("{} ({verify})", m.error())
                };
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
            Err(HandshakeError::SetupFailure(e)) => {
                return Err(SourceError::Unavailable(format!(
                    "cannot set up TLS for {host}: {e}"
                )));
            }
        };
        if let Some(want) = self.fingerprint.filter(|_| !self.report_only) {
            let got = tls
                .ssl()
                .peer_certificate()
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

/// Whether `head` is the start of a POP3 or IMAP greeting (what a plaintext port sends first).
fn plaintext_greeting(head: &[u8]) -> bool {
    ["+OK", "-ERR", "* OK", "* PREAUTH", "* BYE"]
        .iter()
        .any(|g| head.starts_with(g.as_bytes()))
}

/// The error for a TLS handshake answered with a plaintext greeting: the port speaks plaintext
/// first, and the URL to use instead (STLS/STARTTLS on that port).
fn plaintext_first(host: &str, stream: &Buffered) -> SourceError {
    let head = stream.last_chunk();
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    const SHOWN: usize = 200;
    let shown = String::from_utf8_lossy(&line[..line.len().min(SHOWN)]);
    let more = if line.len() > SHOWN { "…" } else { "" };
    let greeting = format!("{}{more}", crate::text::safe(shown.trim_end()));
    let (plain, implicit, command) = if head.starts_with(b"*") {
        ("imap", "imaps", "STARTTLS")
    } else {
        ("pop3", "pop3s", "STLS")
    };
    let port = stream
        .sock
        .tcp
        .peer_addr()
        .map(|a| a.port().to_string())
        .unwrap_or_else(|_| "?".into());
    let url_host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    SourceError::Unavailable(format!(
        "{host} port {port} speaks plaintext first, not TLS (it greeted: {greeting}): use \
         {plain}://{url_host}:{port} (secured with {command}), or {implicit}:// with the \
         server's implicit-TLS port"
    ))
}

/// Parses `sha256:HEX` (colons between bytes allowed, any case), or the line
/// `openssl x509 -fingerprint -sha256` prints: `sha256 Fingerprint=AB:CD:…` (OpenSSL 3) or
/// `SHA256 Fingerprint=…` (1.1).
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], String> {
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let hexpart = if lower.starts_with("sha256:") {
        &t["sha256:".len()..]
    } else if lower.starts_with("sha256 fingerprint=") {
        &t["sha256 fingerprint=".len()..]
    } else {
        return Err(format!(
            "{s:?} is not a fingerprint: expected sha256:HEX (or the line `openssl x509 \
             -fingerprint -sha256` prints: sha256 Fingerprint=AB:CD:…)"
        ));
    };
    let cleaned: String = hexpart.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(&cleaned)
        .map_err(|_| format!("{s:?} is not a fingerprint: the part after sha256: must be hex"))?;
    bytes.try_into().map_err(|_| {
        format!("{s:?} is not a SHA-256 fingerprint: it must be 32 bytes (64 hex digits)")
    })
}

/// The form [`parse_fingerprint`] reads and mailpull prints: `sha256:` and lowercase hex.
pub fn format_fingerprint(digest: &[u8; 32]) -> String {
    format!("sha256:{}", hex::encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(ca_file: Option<PathBuf>, fingerprint: Option<[u8; 32]>) -> TlsOptions {
        TlsOptions {
            ca_file,
            fingerprint,
        }
    }

    #[test]
    fn the_context_is_built_at_the_first_connection_not_before() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let key =
            openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_text("CN", "test").unwrap();
        let name = name.build();
        let mut b = openssl::x509::X509Builder::new().unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap())
            .unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap())
            .unwrap();
        b.sign(&key, openssl::hash::MessageDigest::sha256())
            .unwrap();
        std::fs::write(&ca, b.build().to_pem().unwrap()).unwrap();

        let tls = Tls::new(&opts(Some(ca), None)).unwrap();
        assert_eq!(
            tls.ca_certs.len(),
            1,
            "the CA file is read when the account is checked"
        );
        assert!(tls.context.get().is_none(), "no context before connecting");
        tls.prepare().unwrap();
        let first: *const SslContext = tls.context.get().unwrap();
        tls.prepare().unwrap();
        assert!(
            std::ptr::eq(first, tls.context.get().unwrap()),
            "built once"
        );
    }

    #[test]
    fn a_bad_ca_file_fails_before_anything_is_connected() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = Tls::new(&opts(Some(missing.clone()), None)).err().unwrap();
        assert!(err.0.contains("cannot read the CA file"), "{}", err.0);
        let text = dir.path().join("text.pem");
        std::fs::write(&text, "no certificate here\n").unwrap();
        let err = Tls::new(&opts(Some(text), None)).err().unwrap();
        assert!(err.0.contains("holds no PEM certificate"), "{}", err.0);
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = Tls::new(&opts(Some(broken), None)).err().unwrap();
        assert!(err.0.contains("bad certificate in"), "{}", err.0);
        // With a pin the CA file is not used, and not read (as before).
        assert!(Tls::new(&opts(Some(missing.clone()), Some([0; 32]))).is_ok());
        // `mailpull probe` verifies even with a pin, so it reads the file.
        assert!(Tls::report_only(&opts(Some(missing), Some([0; 32]))).is_err());
    }

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
        // The line `openssl x509 -fingerprint -sha256` prints (OpenSSL 3, then 1.1).
        for line in [
            format!("sha256 Fingerprint={colons}"),
            format!("SHA256 Fingerprint={colons}"),
            format!("  sha256 Fingerprint={colons}\n"),
        ] {
            assert_eq!(parse_fingerprint(&line).unwrap(), [0xab; 32], "{line}");
        }
        assert!(parse_fingerprint(&format!("sha1 Fingerprint={colons}")).is_err());
        assert!(parse_fingerprint("SHA256 Fingerprint=AB:CD").is_err());
        assert!(parse_fingerprint("sha256:abcd").is_err());
        assert!(parse_fingerprint("sha256:zz").is_err());
    }
}
