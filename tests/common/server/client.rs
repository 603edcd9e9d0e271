//! A raw client for driving a scripted server by hand: connect, send a line, read a line or
//! everything up to the close. The suites add their protocol's replies on top.

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

    /// Everything until the server closes.
    pub fn rest(&mut self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.reader.read_to_end(&mut out).map(|_| out)
    }
}
