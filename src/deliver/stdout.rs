//! Delivery to standard output, as an mboxrd stream (`mailpull fetch --stdout | formail -s
//! procmail`).
//!
//! Each message is written exactly as the mbox target writes it (same `From ` line, same
//! quoting: `mbox::write_mboxrd`). The message is spooled completely first (in memory
//! up to 1 MiB, in an unlinked temporary file beyond), so a download that breaks off writes
//! nothing at all rather than half a message into the stream. A message counts as delivered
//! once it is written and the writer flushed; [`Deliver::deliver`] flushes after each message
//! and [`Deliver::sync`] flushes again.
//!
//! A closed pipe (EPIPE; Rust ignores SIGPIPE, so writes fail instead of killing the process)
//! is a fatal [`DeliverError::Local`] whose source has kind [`io::ErrorKind::BrokenPipe`], for
//! the caller to turn into a clean stop; so is any other write error. After one, every further
//! delivery fails the same way at once.
//!
//! A message written to a pipe cannot be verified afterwards: [`Deliver::recover`] answers
//! [`Recovered::Missing`], so a message written just before mailpull was killed (and not yet
//! recorded) is written again on the next run rather than lost.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::mbox::format::write_mboxrd;
use super::spool::Spool;
use super::{Deliver, DeliverError, MessageInfo, Recovered};
use crate::fs::CopyError;

/// Per-process counter making tokens unique.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Standard output (or any writer) as an mboxrd stream.
pub struct Stdout {
    out: Box<dyn Write + Send>,
    token: String,
    next: u64,
    /// The kind of the write error that broke the stream, if one did.
    broken: Option<io::ErrorKind>,
}

impl Stdout {
    /// Writes messages to `writer` (for instance `std::io::stdout()`, ideally locked or
    /// buffered).
    pub fn new(writer: Box<dyn Write + Send>) -> Stdout {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Stdout {
            out: writer,
            token: format!(
                "stdout.{secs}.{}.{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ),
            next: 0,
            broken: None,
        }
    }

    fn local(&self, source: io::Error) -> DeliverError {
        DeliverError::Local {
            target: self.describe(),
            source,
        }
    }

    /// A write error: remembered, so that later deliveries fail at once.
    fn write_failed(&mut self, e: io::Error) -> DeliverError {
        self.broken = Some(e.kind());
        let e = if e.kind() == io::ErrorKind::BrokenPipe {
            io::Error::new(e.kind(), "the reading end of the pipe was closed")
        } else {
            e
        };
        self.local(e)
    }
}

impl Deliver for Stdout {
    fn reserve(&mut self) -> io::Result<String> {
        let location = format!("{}.{}", self.token, self.next);
        self.next += 1;
        Ok(location)
    }

    /// Spools the message, then writes it and flushes. Returns the message size.
    fn deliver(
        &mut self,
        _location: &str,
        _info: &MessageInfo,
        body: &mut dyn Read,
    ) -> Result<u64, DeliverError> {
        if let Some(kind) = self.broken {
            return Err(self.local(io::Error::new(
                kind,
                "an earlier write to standard output failed",
            )));
        }
        let spool = match Spool::fill(body) {
            Ok(spool) => spool,
            Err(CopyError::Read(e)) => return Err(DeliverError::Body(e)),
            Err(CopyError::Write(e)) => return Err(self.local(e)),
        };
        let size = spool.len();
        let mut input = spool.into_reader().map_err(|e| self.local(e))?;
        // The encoder writes line by line; stdout is line-buffered, so buffer here.
        let mut out = io::BufWriter::with_capacity(64 * 1024, &mut self.out);
        let result = write_mboxrd(&mut input, &mut out, SystemTime::now())
            .and_then(|_| out.flush().map_err(CopyError::Write));
        // On error the buffer is dropped unwritten: the stream is broken anyway.
        let (_, _) = out.into_parts();
        match result {
            Ok(()) => {}
            Err(CopyError::Read(e)) => {
                // The spool failed: the stream may now hold part of a message.
                self.broken = Some(e.kind());
                return Err(self.local(e));
            }
            Err(CopyError::Write(e)) => return Err(self.write_failed(e)),
        }
        if let Err(e) = self.out.flush() {
            return Err(self.write_failed(e));
        }
        Ok(size)
    }

    fn sync(&mut self) -> Result<(), DeliverError> {
        if let Some(kind) = self.broken {
            return Err(self.local(io::Error::new(
                kind,
                "an earlier write to standard output failed",
            )));
        }
        self.out.flush().map_err(|e| self.write_failed(e))
    }

    /// Written to a stream, a message cannot be verified: it is sent again (see the module
    /// documentation).
    fn recover(&mut self, _location: &str) -> Result<Recovered, DeliverError> {
        Ok(Recovered::Missing)
    }

    fn describe(&self) -> String {
        "standard output".to_string()
    }

    fn verifiable(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::super::mbox::format::parse_mboxrd;
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer whose bytes the test can look at.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Accepts `ok` bytes, then fails like a closed pipe; counts flushes.
    struct Pipe {
        ok: usize,
        kind: io::ErrorKind,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.ok == 0 {
                return Err(io::Error::from(self.kind));
            }
            let n = buf.len().min(self.ok);
            self.ok -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn info() -> MessageInfo {
        MessageInfo::default()
    }

    #[test]
    fn stream_of_three_messages_parses_back() {
        let shared = Shared::default();
        let mut target = Stdout::new(Box::new(shared.clone()));
        let messages: [&[u8]; 3] = [
            b"Return-Path: <a@example.org>\nSubject: 1\n\nFrom the start\n>From quoted\n",
            b"Subject: 2\n\nno final newline",
            b"Return-Path: <>\nSubject: 3\n\n>>From deep\n\n",
        ];
        for m in messages {
            let loc = target.reserve().unwrap();
            assert_eq!(
                target.deliver(&loc, &info(), &mut &m[..]).unwrap(),
                m.len() as u64
            );
        }
        target.sync().unwrap();
        let data = shared.0.lock().unwrap().clone();
        let parsed = parse_mboxrd(&data);
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].0, "a@example.org");
        assert_eq!(parsed[0].1, messages[0]);
        assert_eq!(parsed[1].0, "MAILER-DAEMON");
        assert_eq!(parsed[1].1, b"Subject: 2\n\nno final newline\n");
        assert_eq!(parsed[2].0, "MAILER-DAEMON");
        assert_eq!(parsed[2].1, messages[2]);
        assert!(data.windows(13).any(|w| w == b"\n>>>From deep"));
        assert_eq!(target.describe(), "standard output");
        let loc = target.reserve().unwrap();
        assert_eq!(target.recover(&loc).unwrap(), Recovered::Missing);
    }

    #[test]
    fn broken_pipe_is_fatal_and_sticky() {
        for ok in [0, 10, 100, 5000] {
            let mut target = Stdout::new(Box::new(Pipe {
                ok,
                kind: io::ErrorKind::BrokenPipe,
            }));
            let body = vec![b'x'; 1000];
            let mut failed = None;
            for _ in 0..10 {
                let loc = target.reserve().unwrap();
                if let Err(e) = target.deliver(&loc, &info(), &mut &body[..]) {
                    failed = Some(e);
                    break;
                }
            }
            let err = failed.expect("must fail");
            assert!(err.is_fatal(), "{err:?}");
            match &err {
                DeliverError::Local { source, .. } => {
                    assert_eq!(source.kind(), io::ErrorKind::BrokenPipe)
                }
                other => panic!("{other:?}"),
            }
            assert!(err.to_string().contains("pipe"), "{err}");
            // Every later call fails the same way, without writing.
            let loc = target.reserve().unwrap();
            let again = target.deliver(&loc, &info(), &mut &b"x"[..]).unwrap_err();
            assert!(
                matches!(&again, DeliverError::Local { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
            );
            assert!(target.sync().is_err());
        }
    }

    #[test]
    fn real_closed_pipe_gives_epipe() {
        let mut child = std::process::Command::new("true")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        child.wait().unwrap();
        let mut target = Stdout::new(Box::new(stdin));
        let loc = target.reserve().unwrap();
        let err = target
            .deliver(&loc, &info(), &mut &b"Subject: x\n\nbody\n"[..])
            .unwrap_err();
        match &err {
            DeliverError::Local { source, .. } => {
                assert_eq!(source.kind(), io::ErrorKind::BrokenPipe)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn broken_body_writes_nothing() {
        struct Broken(usize);
        impl Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"));
                }
                let n = buf.len().min(self.0);
                buf[..n].fill(b'a');
                self.0 -= n;
                Ok(n)
            }
        }
        let shared = Shared::default();
        let mut target = Stdout::new(Box::new(shared.clone()));
        let loc = target.reserve().unwrap();
        let err = target
            .deliver(&loc, &info(), &mut Broken(2_000_000))
            .unwrap_err();
        assert!(matches!(err, DeliverError::Body(_)), "{err:?}");
        assert!(!err.is_fatal());
        assert!(shared.0.lock().unwrap().is_empty());
        // And the stream still works.
        let loc = target.reserve().unwrap();
        target.deliver(&loc, &info(), &mut &b"ok\n"[..]).unwrap();
        assert_eq!(parse_mboxrd(&shared.0.lock().unwrap()).len(), 1);
    }

    #[test]
    fn other_write_errors_are_fatal_too() {
        let mut target = Stdout::new(Box::new(Pipe {
            ok: 0,
            kind: io::ErrorKind::Other,
        }));
        let loc = target.reserve().unwrap();
        let err = target.deliver(&loc, &info(), &mut &b"x"[..]).unwrap_err();
        assert!(err.is_fatal());
        assert!(
            matches!(&err, DeliverError::Local { source, .. } if source.kind() == io::ErrorKind::Other)
        );
    }
}
