//! The reply deadline of a connection (see the module documentation of [`super`]): the
//! [`Clock`] that moves it as bytes arrive and commands go out, and the [`Socket`] whose reads
//! keep it.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::time::later;

/// The slowest a reply may arrive once it takes longer than the timeout, in bytes per second
/// (8 kbit/s). Slower than any link that carries mail today (GPRS, satellite phones at
/// 2.4 kbit/s aside), so a real transfer never trips it — and pauses up to the timeout are
/// always forgiven — while a server that trickles must send a kilobyte for every second it
/// keeps mailpull waiting, which bounds the time any reply can take by its size (a 64 MiB
/// IMAP response: at most about 18 hours; a 10 MB message: under 3 hours).
pub const MIN_RATE: u64 = 1024;

/// The shortest socket read timeout set before a read (a zero timeout means "block" to the
/// system).
pub(super) const MIN_WAIT: Duration = Duration::from_millis(1);

/// The error of a read that passed the reply deadline. Its kind is the one the system gives
/// for a socket read timeout (`WouldBlock`), which every reader here already treats as a
/// timeout, and which TLS treats as "try again later" rather than as a broken connection.
pub(super) fn too_late() -> io::Error {
    io::Error::new(
        io::ErrorKind::WouldBlock,
        "the server did not answer in time",
    )
}

/// Where a connection's reads stand with respect to its reply deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reads must be done by this instant (moved forward as bytes arrive).
    Until(Instant),
    /// A read failed for lack of time: the next read starts a new allowance.
    Expired,
    /// A read timeout was set through [`ReadTimeout`](super::ReadTimeout): each read waits this long, no deadline.
    Suspended(Option<Duration>),
}

/// The reply deadline of a connection (see the module documentation).
#[derive(Debug)]
pub(super) struct Clock {
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
    pub(super) fn restart(&self) {
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

    pub(super) fn read_timeout(&self) -> Option<Duration> {
        match self.phase.get() {
            Phase::Suspended(t) => t,
            _ => self.timeout,
        }
    }

    pub(super) fn set_read_timeout(&self, tcp: &TcpStream, t: Option<Duration>) -> io::Result<()> {
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
pub(super) struct Socket {
    pub(super) tcp: TcpStream,
    pub(super) clock: Clock,
}

impl Socket {
    pub(super) fn new(tcp: TcpStream) -> Socket {
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

#[cfg(test)]
mod tests {
    use super::super::{connect_tcp, Conn, ReadTimeout};
    use super::*;

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
