//! Opening the TCP connection: every address of the host in turn, within one `timeout` in
//! all, with TCP_NODELAY, and the timeout that becomes the connection's reply deadline.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::deadline::MIN_WAIT;
use crate::source::SourceError;

/// Opens a TCP connection with TCP_NODELAY (commands are small and sent in batches; Nagle
/// would only delay them). Connecting takes at most `timeout` in all, shared among the
/// host's addresses; `timeout` also becomes the socket's read and write timeout, which
/// [`Conn`](super::Conn) takes as its reply deadline.
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
    let start = Instant::now();
    let mut last = None;
    for (i, addr) in addrs.iter().enumerate() {
        // The time left, shared among the addresses not tried yet.
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        let share = left / u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
        match TcpStream::connect_timeout(addr, share.max(MIN_WAIT)) {
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

/// What the first bytes of a connection say about its TLS mode (see [`await_greeting`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstBytes {
    /// Something else than a TLS record: a plaintext greeting, presumably.
    Plaintext,
    /// A TLS record (handshake or alert) where a plaintext greeting was expected.
    TlsRecord,
    /// Nothing at all within the timeout: a slow server, or an implicit-TLS port waiting for
    /// the client's hello (which cannot be told apart without sending one).
    Silence,
}

/// Whether `head` starts like a TLS record: content type handshake (22) or alert (21), then
/// major version 3.
fn is_tls_record(head: &[u8]) -> bool {
    matches!(head.first(), Some(0x15 | 0x16)) && head.get(1).is_none_or(|v| *v == 3)
}

/// Waits (at most `timeout`) for the first bytes of a connection that should open with a
/// plaintext greeting, without consuming them, and tells what they are. The socket's read
/// timeout is restored before returning; the greeting itself then gets the connection's usual
/// allowance.
///
/// An implicit-TLS server usually sends nothing (it waits for the client's hello), and a
/// silent port cannot be told from a slow one without sending a TLS hello — on this connection
/// (which ruins it for a plaintext server that is only slow) or on a second one (one
/// connection per run, as every server sees mailpull). So silence is reported as such, for the
/// caller to name both explanations; `mailpull probe` is the tool that knocks on purpose.
pub fn await_greeting(tcp: &TcpStream, timeout: Duration) -> Result<FirstBytes, SourceError> {
    let restore = tcp.read_timeout().ok().flatten();
    let result = match peek(tcp, timeout) {
        Ok(Some(head)) if is_tls_record(&head) => Ok(FirstBytes::TlsRecord),
        Ok(Some(_)) => Ok(FirstBytes::Plaintext),
        Ok(None) => Ok(FirstBytes::Silence),
        Err(e) => Err(e),
    };
    let _ = tcp.set_read_timeout(restore);
    result
}

/// Peeks at the first bytes within `wait`: `None` when nothing arrived in time; an empty
/// vector when the server closed the connection.
fn peek(tcp: &TcpStream, wait: Duration) -> Result<Option<Vec<u8>>, SourceError> {
    tcp.set_read_timeout(Some(wait.max(MIN_WAIT)))
        .map_err(|e| SourceError::io("setting up the connection", e))?;
    let mut buf = [0u8; 2];
    loop {
        match tcp.peek(&mut buf) {
            // A record header's first byte may come alone; ask again for the second.
            Ok(1) if is_tls_record(&buf[..1]) => {
                std::thread::sleep(Duration::from_millis(20));
                match tcp.peek(&mut buf) {
                    Ok(n) => return Ok(Some(buf[..n].to_vec())),
                    Err(e) => return Err(SourceError::io("reading the server's greeting", e)),
                }
            }
            Ok(n) => return Ok(Some(buf[..n].to_vec())),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(SourceError::io("reading the server's greeting", e)),
        }
    }
}

/// Whether `host`:`port` answers a TLS ClientHello with a TLS record, on a connection of its
/// own that never gets further than the handshake (nothing is verified or sent but the
/// hello). Any failure — refused, silent, plaintext — means no.
pub fn answers_tls(host: &str, port: u16, wait: Duration) -> bool {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
    let Ok(tcp) = connect_tcp(host, port, wait) else {
        return false;
    };
    let Ok(mut builder) = SslConnector::builder(SslMethod::tls_client()) else {
        return false;
    };
    builder.set_verify(SslVerifyMode::NONE);
    let connector = builder.build();
    let Ok(mut config) = connector.configure() else {
        return false;
    };
    config.set_verify_hostname(false);
    let recorder = Recorder {
        tcp,
        head: Vec::new(),
    };
    let sni = if host.parse::<std::net::IpAddr>().is_ok() {
        config.set_use_server_name_indication(false);
        "localhost"
    } else {
        host
    };
    match config.connect(sni, recorder) {
        Ok(s) => is_tls_record(&s.get_ref().head),
        Err(openssl::ssl::HandshakeError::Failure(m)) => is_tls_record(&m.get_ref().head),
        Err(openssl::ssl::HandshakeError::WouldBlock(m)) => is_tls_record(&m.get_ref().head),
        Err(openssl::ssl::HandshakeError::SetupFailure(_)) => false,
    }
}

/// A TCP stream that keeps the first bytes it read.
#[derive(Debug)]
struct Recorder {
    tcp: TcpStream,
    head: Vec<u8>,
}

impl io::Read for Recorder {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.tcp.read(buf)?;
        if self.head.len() < 8 {
            let take = n.min(8 - self.head.len());
            self.head.extend_from_slice(&buf[..take]);
        }
        Ok(n)
    }
}

impl io::Write for Recorder {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_records_and_greetings() {
        assert!(is_tls_record(&[0x16, 3]));
        assert!(is_tls_record(&[0x15, 3]));
        assert!(is_tls_record(&[0x16]));
        assert!(!is_tls_record(b"+OK"));
        assert!(!is_tls_record(b"* OK"));
        assert!(!is_tls_record(&[0x16, b'x']));
        assert!(!is_tls_record(&[]));
    }
}
