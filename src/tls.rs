//! Connections: TCP with deadlines and TCP_NODELAY, implicit TLS or the upgrade after STLS, and
//! the certificate policy.
//!
//! TLS uses the system library through native-tls, TLS 1.2 at least. By default the chain and
//! the host name are verified against the system roots plus any `--tls-ca-file` certificates.
//! With `--tls-fingerprint` the server certificate must have exactly that SHA-256 digest (of
//! its DER encoding), and chain and name are not checked: the pin is the trust.
//!
//! # Deadlines
//!
//! `--timeout` bounds each whole reply, not each `read`: a server that sends a byte every few
//! seconds must not hold a run (and its account's lock) for ever. Every [`Conn`] keeps a
//! *reply deadline*, which the protocol sessions never see:
//!
//! - An allowance of `timeout` starts when the connection is opened, when a TLS handshake
//!   starts, and whenever a command is written (a pipelining client writes only after the
//!   replies it waited for, so a new allowance always follows progress).
//! - Every byte received extends the deadline by `1 / MIN_RATE` seconds, but never to more than
//!   `timeout` ahead of now. So a short reply (a greeting, a status line) must be complete
//!   within `timeout`; a long one (a message body, a big listing) may take longer only while
//!   it keeps arriving at [`MIN_RATE`] on average; a transfer that stalls fails after
//!   `timeout`, however much came before.
//! - A read fails as a timed-out socket read does once the deadline has passed, and no single
//!   read waits past it (the socket's read timeout is set to the time left before each read).
//!   The first read after such a failure starts a new allowance: a caller that chooses to wait
//!   on (an IDLE without a stop check) gets the old behaviour, never a busy loop.
//! - A read timeout set explicitly through [`ReadTimeout`] suspends the deadline until the next
//!   write, or until the connection's own timeout is set back (see the trait).
//!
//! The TLS handshake is read under the same deadline: it starts a new allowance and the
//! handshake's own writes do not extend it, so a handshake that trickles fails like a trickled
//! reply. Connecting tries each address of the host in turn within one `timeout` in all.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::time::later;

use native_tls::{HandshakeError, Protocol, TlsConnector, TlsStream};
use sha2::{Digest, Sha256};

use crate::source::SourceError;

/// The slowest a reply may arrive once it takes longer than the timeout, in bytes per second
/// (8 kbit/s). Slower than any link that carries mail today (GPRS, satellite phones at
/// 2.4 kbit/s aside), so a real transfer never trips it — and pauses up to the timeout are
/// always forgiven — while a server that trickles must send a kilobyte for every second it
/// keeps mailpull waiting, which bounds the time any reply can take by its size (a 64 MiB
/// IMAP response: at most about 18 hours; a 10 MB message: under 3 hours).
pub const MIN_RATE: u64 = 1024;

/// The shortest socket read timeout set before a read (a zero timeout means "block" to the
/// system).
const MIN_WAIT: Duration = Duration::from_millis(1);

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

/// The error of a read that passed the reply deadline. Its kind is the one the system gives
/// for a socket read timeout (`WouldBlock`), which every reader here already treats as a
/// timeout, and which TLS treats as "try again later" rather than as a broken connection.
fn too_late() -> io::Error {
    io::Error::new(
        io::ErrorKind::WouldBlock,
        "the server did not answer in time",
    )
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
    /// connection's timeout is the socket's read timeout (as [`connect_tcp`] set it).
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

/// Opens a TCP connection with TCP_NODELAY (commands are small and sent in batches; Nagle
/// would only delay them). Connecting takes at most `timeout` in all, shared among the
/// host's addresses; `timeout` also becomes the socket's read and write timeout, which
/// [`Conn`] takes as its reply deadline.
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

/// Where a connection's reads stand with respect to its reply deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reads must be done by this instant (moved forward as bytes arrive).
    Until(Instant),
    /// A read failed for lack of time: the next read starts a new allowance.
    Expired,
    /// A read timeout was set through [`ReadTimeout`]: each read waits this long, no deadline.
    Suspended(Option<Duration>),
}

/// The reply deadline of a connection (see the module documentation).
#[derive(Debug)]
struct Clock {
    /// The connection's own timeout; `None`: no deadline, reads block.
    timeout: Option<Duration>,
    phase: Cell<Phase>,
}

impl Clock {
    fn new(timeout: Option<Duration>) -> Clock {
        let clock = Clock {
            timeout,
            phase: Cell::new(Phase::Expired),
        };
        clock.restart();
        clock
    }

    /// A new allowance from now (also ends a suspension).
    fn restart(&self) {
        if let Some(t) = self.timeout {
            self.phase.set(Phase::Until(later(Instant::now(), t)));
        } else {
            self.phase.set(Phase::Expired);
        }
    }

    /// Checks the deadline before a read and bounds the read's wait by the time left.
    fn before_read(&self, tcp: &TcpStream) -> io::Result<()> {
        let Some(timeout) = self.timeout else {
            return Ok(());
        };
        let deadline = match self.phase.get() {
            Phase::Suspended(_) => return Ok(()),
            Phase::Expired => later(Instant::now(), timeout),
            Phase::Until(d) => d,
        };
        self.phase.set(Phase::Until(deadline));
        let now = Instant::now();
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            self.phase.set(Phase::Expired);
            return Err(too_late());
        }
        tcp.set_read_timeout(Some(left.max(MIN_WAIT)))
    }

    /// Accounts for a read: received bytes extend the deadline (at most `timeout` ahead of
    /// now); a read that timed out under the deadline ends the allowance and says so.
    fn after_read(&self, result: io::Result<usize>) -> io::Result<usize> {
        let (Some(timeout), Phase::Until(deadline)) = (self.timeout, self.phase.get()) else {
            return result;
        };
        match result {
            Ok(n) => {
                let now = Instant::now();
                let credit = Duration::from_nanos(
                    u64::try_from(n as u128 * 1_000_000_000 / u128::from(MIN_RATE))
                        .unwrap_or(u64::MAX),
                );
                let extended = later(deadline, credit).min(later(now, timeout));
                self.phase.set(Phase::Until(extended.max(deadline)));
                Ok(n)
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                self.phase.set(Phase::Expired);
                Err(too_late())
            }
            Err(e) => Err(e),
        }
    }

    fn read_timeout(&self) -> Option<Duration> {
        match self.phase.get() {
            Phase::Suspended(t) => t,
            _ => self.timeout,
        }
    }

    fn set_read_timeout(&self, tcp: &TcpStream, t: Option<Duration>) -> io::Result<()> {
        if t == self.timeout {
            self.restart();
        } else {
            self.phase.set(Phase::Suspended(t));
        }
        tcp.set_read_timeout(t)
    }
}

/// A TCP stream whose reads keep the connection's reply deadline.
#[derive(Debug)]
struct Socket {
    tcp: TcpStream,
    clock: Clock,
}

impl Socket {
    fn new(tcp: TcpStream) -> Socket {
        let timeout = tcp.read_timeout().ok().flatten();
        Socket {
            tcp,
            clock: Clock::new(timeout),
        }
    }
}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.clock.before_read(&self.tcp)?;
        let r = self.tcp.read(buf);
        self.clock.after_read(r)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// A TCP stream with a read buffer, for the TLS library to read from.
///
/// OpenSSL reads each TLS record with two `read` calls (the 5-byte header, then the body),
/// and servers often send small records (Dovecot: 4 KiB). Reading the socket in large chunks
/// here turns tens of thousands of system calls per mailbox into a few.
pub struct Buffered {
    sock: Socket,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
}

impl Buffered {
    fn new(sock: Socket) -> Buffered {
        Buffered {
            sock,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            len: 0,
        }
    }
}

impl std::fmt::Debug for Buffered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffered")
            .field("sock", &self.sock)
            .field("buffered", &(self.len - self.pos))
            .finish()
    }
}

impl Read for Buffered {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.len {
            // Large reads bypass the buffer.
            if out.len() >= self.buf.len() {
                return self.sock.read(out);
            }
            self.len = self.sock.read(&mut self.buf)?;
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
        self.sock.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

/// A connection, plain or TLS, with its reply deadline (see the module documentation).
pub struct Conn(Inner);

enum Inner {
    Plain(Socket),
    Tls(Box<TlsStream<Buffered>>),
}

impl Conn {
    /// A plain connection over `tcp`; its timeout is the socket's read timeout (as
    /// [`connect_tcp`] set it), and its first allowance starts now.
    pub fn plain(tcp: TcpStream) -> Conn {
        Conn(Inner::Plain(Socket::new(tcp)))
    }

    /// Whether the connection is secured with TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.0, Inner::Tls(_))
    }

    fn socket(&self) -> &Socket {
        match &self.0 {
            Inner::Plain(s) => s,
            Inner::Tls(s) => &s.get_ref().sock,
        }
    }
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("tls", &self.is_tls())
            .field("socket", self.socket())
            .finish()
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.0 {
            Inner::Plain(s) => s.read(buf),
            Inner::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    /// Sends data: a command, so the reply to it gets a new allowance.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.socket().clock.restart();
        match &mut self.0 {
            Inner::Plain(s) => s.write(buf),
            Inner::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Inner::Plain(s) => s.flush(),
            Inner::Tls(s) => s.flush(),
        }
    }
}

/// A stream whose read timeout can be changed while it is in use: an IMAP IDLE
/// ([`crate::imap::Session::idle_until`]) shortens it to wake up regularly and check whether
/// it should stop, and restores it before reading a response.
///
/// On a [`Conn`], this is also how a caller steps outside the reply deadline on purpose:
/// - Setting any read timeout other than the connection's own (the value `read_timeout`
///   returns before anything changed it) **suspends** the deadline: each read then waits at
///   most that long, a silent server is the caller's business (an IDLE waits for minutes on
///   purpose), and no allowance runs down meanwhile.
/// - The deadline **resumes with a whole new allowance** at the next write (a command: DONE)
///   or as soon as the connection's own timeout is set again. So a response that starts
///   during an IDLE, once the own timeout is restored before reading it, must be complete in
///   time like any other reply.
/// - `read_timeout` returns the suspending timeout while suspended, else the own timeout.
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

impl ReadTimeout for Conn {
    fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.socket().clock.read_timeout())
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        let sock = self.socket();
        sock.clock.set_read_timeout(&sock.tcp, timeout)
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

    /// A connected pair: our `Conn` with `timeout`, and the server's end.
    fn pair(timeout: Duration) -> (Conn, TcpStream) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let tcp = connect_tcp("127.0.0.1", port, timeout).unwrap();
        let (server, _) = l.accept().unwrap();
        (Conn::plain(tcp), server)
    }

    fn is_deadline(e: &io::Error) -> bool {
        e.to_string().contains("did not answer in time")
    }

    #[test]
    fn a_trickled_reply_fails_soon_after_the_timeout() {
        let (mut conn, mut server) = pair(Duration::from_millis(500));
        let feeder = std::thread::spawn(move || {
            for _ in 0..100 {
                if server.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let start = Instant::now();
        let mut buf = [0u8; 16];
        let err = loop {
            match conn.read(&mut buf) {
                Ok(n) => assert!(n > 0),
                Err(e) => break e,
            }
        };
        assert!(is_deadline(&err), "{err}");
        // Generous: the old per-read timeout would have read for 10 s.
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        drop(conn);
        feeder.join().unwrap();
    }

    #[test]
    fn data_at_a_healthy_rate_extends_the_deadline_and_writes_renew_it() {
        let (mut conn, mut server) = pair(Duration::from_millis(400));
        let feeder = std::thread::spawn(move || {
            // 1.2 s of 8 KiB every 50 ms (160 KiB/s): three times the timeout.
            for _ in 0..24 {
                server.write_all(&[b'y'; 8192]).unwrap();
                std::thread::sleep(Duration::from_millis(50));
            }
            server
        });
        let mut got = 0;
        let mut buf = vec![0u8; 65536];
        while got < 24 * 8192 {
            got += conn.read(&mut buf).unwrap();
        }
        let mut server = feeder.join().unwrap();
        // Long after the last byte, a command renews the allowance for its reply.
        std::thread::sleep(Duration::from_millis(600));
        conn.write_all(b"NOOP\r\n").unwrap();
        let mut cmd = [0u8; 6];
        server.read_exact(&mut cmd).unwrap();
        server.write_all(b"+OK\r\n").unwrap();
        assert_eq!(conn.read(&mut buf).unwrap(), 5);
    }

    #[test]
    fn an_explicit_read_timeout_suspends_the_deadline_until_restored() {
        let own = Duration::from_millis(300);
        let (mut conn, mut server) = pair(own);
        assert_eq!(conn.read_timeout().unwrap(), Some(own));
        // An IDLE: short waits, far longer in all than the timeout, and no deadline error.
        conn.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        assert_eq!(
            conn.read_timeout().unwrap(),
            Some(Duration::from_millis(50))
        );
        let start = Instant::now();
        let mut buf = [0u8; 64];
        while start.elapsed() < Duration::from_millis(900) {
            let e = conn.read(&mut buf).unwrap_err();
            assert!(!is_deadline(&e), "{e}");
        }
        // Back to its own timeout: a whole new allowance, so a prompt answer is read...
        conn.set_read_timeout(Some(own)).unwrap();
        assert_eq!(conn.read_timeout().unwrap(), Some(own));
        server.write_all(b"* 3 EXISTS\r\n").unwrap();
        assert_eq!(conn.read(&mut buf).unwrap(), 12);
        // ...and the deadline applies again.
        let e = loop {
            if let Err(e) = conn.read(&mut buf) {
                break e;
            }
        };
        assert!(e.kind() == io::ErrorKind::WouldBlock, "{e}");
        // The first read after a timeout starts a new allowance (a caller that waits on).
        server.write_all(b"late\r\n").unwrap();
        assert_eq!(conn.read(&mut buf).unwrap(), 6);
    }

    #[test]
    fn instants_saturate() {
        let now = Instant::now();
        assert!(later(now, Duration::MAX) > now);
        let c = Clock::new(Some(Duration::MAX));
        assert!(matches!(c.phase.get(), Phase::Until(_)));
    }
}
