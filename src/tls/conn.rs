//! The connection the protocol sessions read and write: plain or TLS, over a [`Socket`] that
//! keeps the reply deadline, which every write (a command) renews.

use std::io::{self, Read, Write};
use std::net::TcpStream;

use openssl::ssl::SslStream;

use super::deadline::Socket;

/// A TCP stream with a read buffer, for the TLS library to read from.
///
/// OpenSSL reads each TLS record with two `read` calls (the 5-byte header, then the body),
/// and servers often send small records (Dovecot: 4 KiB). Reading the socket in large chunks
/// here turns tens of thousands of system calls per mailbox into a few.
pub struct Buffered {
    pub(super) sock: Socket,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
}

impl Buffered {
    pub(super) fn new(sock: Socket) -> Buffered {
        Buffered {
            sock,
            buf: vec![0; 64 * 1024].into_boxed_slice(),
            pos: 0,
            len: 0,
        }
    }
}

impl Buffered {
    /// The bytes of the last chunk read from the socket: after a failed handshake, what the
    /// server sent instead of TLS (for telling a plaintext greeting apart).
    pub(super) fn last_chunk(&self) -> &[u8] {
        &self.buf[..self.len]
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
pub struct Conn(pub(super) Inner);

pub(super) enum Inner {
    Plain(Socket),
    Tls(Box<SslStream<Buffered>>),
}

impl Conn {
    /// A plain connection over `tcp`; its timeout is the socket's read timeout (as
    /// [`connect_tcp`](super::connect_tcp) set it), and its first allowance starts now.
    pub fn plain(tcp: TcpStream) -> Conn {
        Conn(Inner::Plain(Socket::new(tcp)))
    }

    /// Whether the connection is secured with TLS.
    pub fn is_tls(&self) -> bool {
        matches!(self.0, Inner::Tls(_))
    }

    pub(super) fn socket(&self) -> &Socket {
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
