//! The [`ReadTimeout`] contract: how a caller changes a connection's read timeout while it is
//! in use, and so steps outside the reply deadline on purpose (an IMAP IDLE).

use std::io;
use std::net::TcpStream;
use std::time::Duration;

use super::conn::Conn;

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
