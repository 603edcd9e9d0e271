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
