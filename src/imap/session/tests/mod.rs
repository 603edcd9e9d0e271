//! Unit tests of the session against a scripted server ([`Mock`]), one room per concern of
//! the session; the greeting, STARTTLS, errors and the reader's bounds are tested here.

use std::io::{self, Read, Write};

use super::*;

mod auth;
mod fetch;
mod idle;
mod mailbox;
mod store;

/// A scripted server: reads come from `input` (at most `chunk` bytes per read), writes are
/// captured.
struct Mock {
    input: Vec<u8>,
    pos: usize,
    chunk: usize,
    written: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
}

impl Read for Mock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.chunk).min(self.input.len() - self.pos);
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Mock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

type Written = std::rc::Rc<std::cell::RefCell<Vec<u8>>>;

fn mock(input: &[u8], chunk: usize) -> (Mock, Written) {
    let written: Written = Default::default();
    (
        Mock {
            input: input.to_vec(),
            pos: 0,
            chunk,
            written: written.clone(),
        },
        written,
    )
}

const GREETING: &[u8] =
    b"* OK [CAPABILITY IMAP4rev1 SASL-IR LITERAL+ STARTTLS AUTH=PLAIN IDLE UIDPLUS] ready\r\n";

fn session(script: &[u8]) -> (Session<Mock>, Written) {
    let mut all = GREETING.to_vec();
    all.extend_from_slice(script);
    let (m, w) = mock(&all, usize::MAX);
    (Session::start(m).unwrap(), w)
}

fn text(w: &Written) -> String {
    String::from_utf8_lossy(&w.borrow()).into_owned()
}

const SELECT: &[u8] = b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
    * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n\
    * 3 EXISTS\r\n\
    * 0 RECENT\r\n\
    * OK [UIDVALIDITY 1700000000] UIDs valid\r\n\
    * OK [UIDNEXT 12] Predicted next UID\r\n\
    * OK [HIGHESTMODSEQ 7] Highest\r\n\
    A0001 OK [READ-WRITE] Select completed.\r\n";

fn selected(script: &[u8]) -> (Session<Mock>, Written) {
    let mut all = SELECT.to_vec();
    all.extend_from_slice(script);
    let (mut s, w) = session(&all);
    s.select("INBOX", false).unwrap();
    w.borrow_mut().clear();
    (s, w)
}

#[test]
fn greetings() {
    let (s, _) = session(b"");
    assert!(s.capabilities().has("idle"));
    assert!(s.capabilities().auth("PLAIN"));
    assert!(!s.is_preauth());
    assert_eq!(s.greeting(), "ready");

    let (m, w) = mock(
        b"* PREAUTH hello\r\n* CAPABILITY IMAP4rev1 IDLE\r\nA0001 OK done\r\n",
        usize::MAX,
    );
    let s = Session::start(m).unwrap();
    assert!(s.is_preauth());
    assert!(s.capabilities().has("IDLE"));
    assert_eq!(text(&w), "A0001 CAPABILITY\r\n");

    let (m, _) = mock(b"* BYE [UNAVAILABLE] go away\r\n", usize::MAX);
    assert!(matches!(
        Session::start(m),
        Err(SourceError::Unavailable(_))
    ));

    let (m, _) = mock(b"+OK POP3 ready\r\n", usize::MAX);
    assert!(matches!(Session::start(m), Err(SourceError::Protocol(_))));

    let (m, _) = mock(b"", usize::MAX);
    assert!(matches!(
        Session::start(m),
        Err(SourceError::Connection { .. })
    ));
}

#[test]
fn capabilities_from_everywhere() {
    let (mut s, _) =
        session(b"* CAPABILITY IMAP4rev1 AUTH=XOAUTH2 X-Custom=1 literal+\r\nA0001 OK done\r\n");
    assert!(s.capabilities().has("STARTTLS"));
    let caps = s.capability().unwrap();
    assert!(caps.auth("xoauth2"));
    assert!(caps.has("X-CUSTOM=1"));
    assert!(caps.has("LITERAL+"));
    assert!(!caps.has("STARTTLS"));
    assert!(!caps.has("IDLE"));
}

#[test]
fn bye_mid_session() {
    let (mut s, _) = selected(b"* BYE shutting down\r\n");
    let e = s.uids_and_sizes().unwrap_err();
    assert!(matches!(e, SourceError::Connection { .. }), "{e:?}");
}

#[test]
fn garbage_line_is_protocol_error() {
    let (mut s, _) = selected(b"hello world\r\n");
    let e = s.uids_and_sizes().unwrap_err();
    assert!(matches!(e, SourceError::Protocol(_)), "{e:?}");
    // Unknown untagged data is skipped.
    let (mut s, _) =
        selected(b"* XFOO bar (baz\r\n* 1 FETCH (UID 5 RFC822.SIZE 1)\r\nA0002 OK done\r\n");
    assert_eq!(s.uids_and_sizes().unwrap(), vec![(5, 1)]);
    // But a FETCH that cannot be parsed is an error.
    let (mut s, _) = selected(b"* 1 FETCH (UID x)\r\nA0002 OK done\r\n");
    assert!(matches!(s.uids_and_sizes(), Err(SourceError::Protocol(_))));
}

#[test]
fn tagged_no_and_bad() {
    let (mut s, _) = selected(b"A0002 NO [SERVERBUG] oops\r\n");
    assert!(matches!(
        s.store_deleted(&[1]),
        Err(SourceError::Temporary(_))
    ));
    let (mut s, _) = selected(b"A0002 BAD syntax\r\n");
    assert!(matches!(
        s.store_deleted(&[1]),
        Err(SourceError::Protocol(_))
    ));
    let (mut s, _) = selected(b"A0099 OK what\r\n");
    assert!(matches!(
        s.store_deleted(&[1]),
        Err(SourceError::Protocol(_))
    ));
}

#[test]
fn starttls_checks() {
    // Not advertised.
    let (m, _) = mock(b"* OK [CAPABILITY IMAP4rev1] hi\r\n", usize::MAX);
    let s = Session::start(m).unwrap();
    assert!(matches!(s.starttls(Ok), Err(SourceError::Unavailable(_))));
    // Injection after the OK.
    let (s, _) = session(b"A0001 OK go\r\nA0002 OK injected\r\n");
    assert!(matches!(s.starttls(Ok), Err(SourceError::Protocol(_))));
    // Fine: capabilities are asked for again.
    let (s, w) = session(b"A0001 OK go\r\n");
    let r = s.starttls(|mut m| {
        m.input
            .extend_from_slice(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA0002 OK done\r\n");
        Ok(m)
    });
    let s = r.unwrap();
    assert!(!s.capabilities().has("STARTTLS"));
    assert_eq!(text(&w), "A0001 STARTTLS\r\nA0002 CAPABILITY\r\n");
}

#[test]
fn claimed_numbers_cost_no_memory() {
    // Issue 11, class 2: `* 4294967295 EXISTS` or a FETCH for message 4294967295 made
    // the session allocate a vector of that length (16 GiB).
    let (mut s, _) = selected(
        b"* 100000000 EXISTS\r\n\
          * 1 FETCH (UID 5 RFC822.SIZE 10)\r\n\
          * 99999999 FETCH (UID 7 RFC822.SIZE 20)\r\n\
          * 4294967295 FETCH (UID 8 RFC822.SIZE 30)\r\n\
          * 4294967295 EXISTS\r\n\
          * 4294967295 EXPUNGE\r\n\
          A0002 OK done\r\n",
    );
    s.uids_and_sizes().unwrap();
    assert!(s.seqs.len() <= 3, "{} sequence numbers held", s.seqs.len());
    assert_eq!(s.uid_of(99_999_999), Some(7));
    assert_eq!(s.exists(), 4_294_967_294);
}

#[test]
fn bye_without_text() {
    // Issue 11, class 12: `* BYE` without text was logged as an unparseable response.
    let (mut s, _) = selected(b"* BYE\r\n");
    let e = s.uids_and_sizes().unwrap_err();
    assert!(matches!(e, SourceError::Connection { .. }), "{e:?}");
    assert!(
        e.to_string().contains("the server ended the session"),
        "{e}"
    );
    assert!(!e.to_string().contains(proto::NO_TEXT), "{e}");
    let (mut s, _) = session(b"* BYE\r\nA0001 OK\r\n");
    s.logout().unwrap();
}

#[test]
fn logs_and_errors_quote_little() {
    let mut line = b"* 1 FETCH (UID ".to_vec();
    line.resize(1 << 20, b'9');
    line.extend_from_slice(b")\r\n");
    let (mut s, _) = selected(&line);
    let e = s.uids_and_sizes().unwrap_err();
    assert!(
        e.to_string().len() < 400,
        "{} bytes of error",
        e.to_string().len()
    );
}

#[test]
fn logout_accepts_bye() {
    let (mut s, w) = session(b"* BYE bye\r\nA0001 OK done\r\n");
    s.logout().unwrap();
    assert_eq!(text(&w), "A0001 LOGOUT\r\n");
    let (mut s, _) = session(b"* BYE bye\r\n");
    s.logout().unwrap();
}
