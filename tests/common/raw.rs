//! Tiny raw TCP servers for tests that need exact control over every byte a server sends and
//! when: trickled greetings, stalled bodies, hostile texts.
//!
//! [`Raw::start`] listens on `127.0.0.1:0` and runs a handler on each accepted connection in
//! its own thread. [`Dialog`] helps handlers that speak a bit of POP3 or IMAP: read a command
//! line, send a reply, trickle bytes slowly. Every write failure (the client went away) ends
//! the handler quietly; a handler never outlives its client by more than one write.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// A listening raw server; stops accepting when dropped.
pub struct Raw {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Raw {
    /// Starts a server that runs `handler` on every connection.
    pub fn start<F>(handler: F) -> Raw
    where
        F: Fn(Dialog) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let handler = Arc::new(handler);
        let stopping = Arc::clone(&stop);
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let handler = Arc::clone(&handler);
                let stop = Arc::clone(&stopping);
                thread::spawn(move || handler(Dialog::new(conn, stop)));
            }
        });
        Raw { port, stop }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop up.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// One connection, seen from the server.
pub struct Dialog {
    reader: BufReader<TcpStream>,
    stream: TcpStream,
    stop: Arc<AtomicBool>,
    /// False once a write failed or the client closed: the handler should return.
    pub alive: bool,
}

impl Dialog {
    fn new(stream: TcpStream, stop: Arc<AtomicBool>) -> Dialog {
        let _ = stream.set_nodelay(true);
        Dialog {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
            stop,
            alive: true,
        }
    }

    /// Sends bytes at once.
    pub fn send(&mut self, bytes: &[u8]) {
        if self.alive && self.stream.write_all(bytes).is_err() {
            self.alive = false;
        }
    }

    /// Sends `bytes` one at a time, `every` apart (stops when the client goes away).
    pub fn trickle(&mut self, bytes: &[u8], every: Duration) {
        for b in bytes {
            if !self.alive || self.stop.load(Ordering::SeqCst) {
                self.alive = false;
                return;
            }
            self.send(std::slice::from_ref(b));
            thread::sleep(every);
        }
    }

    /// Sends `byte` every `every` until the client goes away (or `limit` bytes were sent).
    pub fn trickle_forever(&mut self, byte: u8, every: Duration, limit: usize) {
        for _ in 0..limit {
            if !self.alive || self.stop.load(Ordering::SeqCst) {
                break;
            }
            self.send(&[byte]);
            thread::sleep(every);
        }
        self.alive = false;
    }

    /// Sends `total` bytes of `chunk`-sized pieces of a repeated line, `every` apart.
    pub fn stream_lines(&mut self, line: &[u8], total: usize, chunk: usize, every: Duration) {
        let mut data = Vec::with_capacity(total);
        while data.len() < total {
            data.extend_from_slice(line);
        }
        data.truncate(total);
        for piece in data.chunks(chunk.max(1)) {
            if !self.alive {
                return;
            }
            self.send(piece);
            thread::sleep(every);
        }
    }

    /// Reads one command line (without its line end); `None` when the client closed.
    pub fn command(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => {
                self.alive = false;
                None
            }
            Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
        }
    }

    /// Waits for the client to send something (e.g. a TLS ClientHello) and discards it.
    pub fn receive(&mut self) {
        let mut buf = [0u8; 4096];
        match self.reader.read(&mut buf) {
            Ok(0) | Err(_) => self.alive = false,
            Ok(_) => {}
        }
    }

    /// Keeps the connection open, sending nothing, until the client closes it.
    pub fn hold(&mut self) {
        let mut buf = [0u8; 1024];
        let _ = self
            .stream
            .set_read_timeout(Some(Duration::from_millis(200)));
        while !self.stop.load(Ordering::SeqCst) {
            match self.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
        self.alive = false;
    }

    /// A POP3 server for user alice with one message, `size` bytes large as listed; every
    /// command but RETR is answered at once, and RETR is handed to `retr`. `greeting` is sent
    /// first (with its line end).
    pub fn pop3(&mut self, greeting: &[u8], size: usize, retr: &mut dyn FnMut(&mut Dialog)) {
        self.send(greeting);
        let mut deleted = false;
        while self.alive {
            let Some(cmd) = self.command() else { return };
            let verb = cmd
                .split(' ')
                .next()
                .unwrap_or_default()
                .to_ascii_uppercase();
            match verb.as_str() {
                "CAPA" => self.send(b"+OK\r\nUSER\r\nUIDL\r\n.\r\n"),
                "USER" | "PASS" | "NOOP" => self.send(b"+OK\r\n"),
                "DELE" => {
                    deleted = true;
                    self.send(b"+OK\r\n")
                }
                "RSET" => {
                    deleted = false;
                    self.send(b"+OK\r\n")
                }
                // Deleted messages are not counted (RFC 1939 §5).
                "STAT" if deleted => self.send(b"+OK 0 0\r\n"),
                "STAT" => self.send(format!("+OK 1 {size}\r\n").as_bytes()),
                "LIST" => self.send(format!("+OK\r\n1 {size}\r\n.\r\n").as_bytes()),
                "UIDL" => self.send(b"+OK\r\n1 uid-1\r\n.\r\n"),
                "RETR" => retr(self),
                "QUIT" => {
                    self.send(b"+OK bye\r\n");
                    return;
                }
                _ => self.send(b"-ERR unknown command\r\n"),
            }
        }
    }
}
