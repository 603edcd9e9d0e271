//! A raw client for driving a scripted server by hand: connect, send a line, read a line or
//! everything up to the close, see a reset or a silence. The suites add their protocol's
//! replies on top.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::{Protocol, Server};

/// A connection to a scripted server (reads time out after 10 s).
pub struct Client {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
}

impl Client {
    pub fn connect<P: Protocol>(server: &Server<P>) -> Client {
        let s = TcpStream::connect(server.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    /// One reply line, which must end with CRLF, without it.
    pub fn line(&mut self) -> String {
        let mut l = String::new();
        self.reader.read_line(&mut l).unwrap();
        assert!(l.ends_with("\r\n"), "reply line {l:?}");
        l.truncate(l.len() - 2);
        l
    }

    /// Sends a line (CRLF added).
    pub fn send(&mut self, cmd: &str) {
        self.writer
            .write_all(format!("{cmd}\r\n").as_bytes())
            .unwrap();
    }

    /// Asserts that the connection ends with a reset (a [`super::Close::Rst`] cut), read after
    /// a moment so that it has arrived.
    pub fn assert_reset(&mut self) {
        std::thread::sleep(Duration::from_millis(200));
        let mut buf = Vec::new();
        let r = self.reader.read_to_end(&mut buf);
        assert_eq!(
            r.map_err(|e| e.kind()).err(),
            Some(std::io::ErrorKind::ConnectionReset)
        );
    }

    /// Sends `cmd` and asserts that nothing comes back within 300 ms (a silenced server).
    pub fn assert_silent_after(&mut self, cmd: &str) {
        self.writer
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        self.send(cmd);
        let mut l = String::new();
        let e = self.reader.read_line(&mut l).unwrap_err();
        assert!(matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ));
    }

    /// Everything until the server closes.
    pub fn rest(&mut self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.reader.read_to_end(&mut out).map(|_| out)
    }
}
