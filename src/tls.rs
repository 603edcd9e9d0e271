//! Connections: TCP with timeouts and TCP_NODELAY, implicit TLS or the upgrade after STLS, and
//! the certificate policy.
//!
//! TLS uses the system library through native-tls, TLS 1.2 at least. By default the chain and
//! the host name are verified against the system roots plus any `--tls-ca-file` certificates.
//! With `--tls-fingerprint` the server certificate must have exactly that SHA-256 digest (of
//! its DER encoding), and chain and name are not checked: the pin is the trust.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use native_tls::{HandshakeError, Protocol, TlsConnector, TlsStream};
use sha2::{Digest, Sha256};

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

    /// Performs the TLS handshake on `tcp` for `host` and applies the certificate policy.
    pub fn handshake(&self, host: &str, tcp: TcpStream) -> Result<Conn, SourceError> {
        let tls = match self.connector.connect(host, Buffered::new(tcp)) {
            Ok(s) => s,
            Err(HandshakeError::WouldBlock(_)) => {
                return Err(SourceError::io(
                    "TLS handshake",
                    io::Error::new(io::ErrorKind::TimedOut, "the server did not answer in time"),
                ))
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
        Ok(Conn::Tls(Box::new(tls)))
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

/// Opens a TCP connection with a connect timeout, read/write timeouts and TCP_NODELAY
/// (commands are small and sent in batches; Nagle would only delay them).
pub fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, SourceError> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            SourceError::io(
                format!("cannot resolve {host}"),
                io::Error::new(io::ErrorKind::NotFound, e.to_string()),
            )
        })?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => {
                let setup = s
                    .set_nodelay(true)
                    .and_then(|_| s.set_read_timeout(Some(timeout)))
                    .and_then(|_| s.set_write_timeout(Some(timeout)));
                setup.map_err(|e| SourceError::io("setting up the connection", e))?;
                return Ok(s);
            }
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"));
    if e.kind() == io::ErrorKind::ConnectionRefused {
        return Err(SourceError::Unavailable(format!(
            "cannot connect to {host} port {port}: connection refused (is this the right port?)"
        )));
    }
    Err(SourceError::io(
        format!("cannot connect to {host} port {port}"),
        e,
    ))
}

/// A TCP stream with a read buffer, for the TLS library to read from.
///
/// OpenSSL reads each TLS record with two `read` calls (the 5-byte header, then the body),
/// and servers often send small records (Dovecot: 4 KiB). Reading the socket in large chunks
/// here turns tens of thousands of system calls per mailbox into a few.
pub struct Buffered {
    tcp: TcpStream,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
}

impl Buffered {
    fn new(tcp: TcpStream) -> Buffered {
        Buffered {
            tcp,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            len: 0,
        }
    }
}

impl Read for Buffered {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.len {
            // Large reads bypass the buffer.
            if out.len() >= self.buf.len() {
                return self.tcp.read(out);
            }
            self.len = self.tcp.read(&mut self.buf)?;
            self.pos = 0;
        }
        let n = out.len().min(self.len - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Buffered {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// A connection, plain or TLS.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<Buffered>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// A stream whose read timeout can be changed while it is in use: an IMAP IDLE
/// ([`crate::imap::Session::idle_until`]) shortens it to wake up regularly and check whether
/// it should stop, and restores it before reading a response.
pub trait ReadTimeout {
    /// The current read timeout (`None`: reads block forever).
    fn read_timeout(&self) -> io::Result<Option<Duration>>;
    /// Sets the read timeout of the underlying socket.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;
}

impl ReadTimeout for TcpStream {
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        TcpStream::read_timeout(self)
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => &s.get_ref().tcp,
        }
    }
}

impl ReadTimeout for Conn {
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        self.tcp().read_timeout()
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.tcp().set_read_timeout(timeout)
    }
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
