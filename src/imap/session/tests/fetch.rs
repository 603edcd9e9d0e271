//! Listings and streamed message bodies.

use super::*;

#[test]
fn uids_and_sizes_any_order() {
    let (mut s, w) = selected(
        b"* 2 FETCH (RFC822.SIZE 200 UID 7)\r\n\
          * 1 FETCH (UID 5 RFC822.SIZE 100)\r\n\
          * 4 EXISTS\r\n\
          * 1 FETCH (FLAGS (\\Seen))\r\n\
          * 3 FETCH (UID 11 RFC822.SIZE 300)\r\n\
          A0002 OK done\r\n",
    );
    assert_eq!(
        s.uids_and_sizes().unwrap(),
        vec![(5, 100), (7, 200), (11, 300)]
    );
    assert_eq!(text(&w), "A0002 UID FETCH 1:* (UID RFC822.SIZE FLAGS)\r\n");
    assert_eq!(s.exists(), 4);
}

#[test]
fn uids_and_sizes_drops_expunged() {
    let (mut s, _) = selected(
        b"* 1 FETCH (UID 5 RFC822.SIZE 100)\r\n\
          * 2 FETCH (UID 7 RFC822.SIZE 200)\r\n\
          * 1 EXPUNGE\r\n\
          * 2 FETCH (UID 11 RFC822.SIZE 300)\r\n\
          A0002 OK done\r\n",
    );
    assert_eq!(s.uids_and_sizes().unwrap(), vec![(7, 200), (11, 300)]);
    assert_eq!(s.seqs.uids().collect::<Vec<_>>(), vec![7, 11]);
    assert_eq!(s.seqs.uid(2), Some(11));
    assert_eq!(s.exists(), 2);
}

/// Runs fetch_bodies over a scripted reply (after SELECT and a listing of UIDs 5, 7, 11),
/// reading `chunk` bytes per read.
/// The outcome, the bodies seen by the callback, and what was sent.
type Fetched = (
    Result<FetchOutcome, SourceError>,
    Vec<(u32, Vec<u8>)>,
    String,
);

fn fetch(reply: &[u8], chunk: usize, uids: &[u32]) -> Fetched {
    let mut all = GREETING.to_vec();
    all.extend_from_slice(SELECT);
    all.extend_from_slice(
        b"* 1 FETCH (UID 5 RFC822.SIZE 5)\r\n* 2 FETCH (UID 7 RFC822.SIZE 7)\r\n\
          * 3 FETCH (UID 11 RFC822.SIZE 3)\r\nA0002 OK done\r\n",
    );
    all.extend_from_slice(reply);
    let (m, w) = mock(&all, chunk);
    let mut s = Session::start(m).unwrap();
    s.select("INBOX", false).unwrap();
    s.uids_and_sizes().unwrap();
    w.borrow_mut().clear();
    let mut got = Vec::new();
    let r = s.fetch_bodies(uids, &mut |uid, r| {
        let mut v = Vec::new();
        match r.read_to_end(&mut v) {
            Ok(_) => {
                got.push((uid, v));
                Ok(())
            }
            Err(_) => Err(Stop),
        }
    });
    let t = text(&w);
    (r, got, t)
}

#[test]
fn fetch_uid_before_and_after_literal() {
    let reply = b"* 1 FETCH (UID 5 BODY[] {5}\r\nab\r\nc)\r\n\
                  * 2 FETCH (BODY[] {7}\r\nx\r\ny\r\nz UID 7)\r\n\
                  * 3 FETCH (FLAGS (\\Seen))\r\n\
                  A0003 OK done\r\n";
    for chunk in [usize::MAX, 1, 3] {
        let (r, got, sent) = fetch(reply, chunk, &[7, 5]);
        let r = r.unwrap();
        assert_eq!(r.delivered, vec![5, 7]);
        assert!(r.missing.is_empty() && !r.stopped);
        assert_eq!(
            got,
            vec![(5, b"ab\r\nc".to_vec()), (7, b"x\r\ny\r\nz".to_vec())]
        );
        assert_eq!(sent, "A0003 UID FETCH 5,7 (UID BODY.PEEK[])\r\n");
    }
}

#[test]
fn fetch_pipelines_chunks() {
    let mut script = GREETING.to_vec();
    script.extend_from_slice(b"* 40 EXISTS\r\n* OK [UIDVALIDITY 1] x\r\nA0001 OK done\r\n");
    for i in 1..=40 {
        script
            .extend_from_slice(format!("* {i} FETCH (UID {} RFC822.SIZE 3)\r\n", i * 2).as_bytes());
    }
    script.extend_from_slice(b"A0002 OK done\r\n");
    // The server answers the three commands; the second one out of order with the third.
    let mut reply = |tag: &str, range: std::ops::RangeInclusive<u32>| {
        for i in range {
            script.extend_from_slice(
                format!("* {i} FETCH (UID {} BODY[] {{3}}\r\nm{i:02})\r\n", i * 2).as_bytes(),
            );
        }
        script.extend_from_slice(format!("{tag} OK done\r\n").as_bytes());
    };
    reply("A0003", 1..=16);
    reply("A0005", 33..=40);
    reply("A0004", 17..=32);
    let (m, w) = mock(&script, 7);
    let mut s = Session::start(m).unwrap();
    s.select("INBOX", true).unwrap();
    s.uids_and_sizes().unwrap();
    w.borrow_mut().clear();
    let uids: Vec<u32> = (1..=40).map(|i| i * 2).collect();
    let mut got = Vec::new();
    let out = s
        .fetch_bodies(&uids, &mut |uid, r| {
            let mut v = String::new();
            r.read_to_string(&mut v).unwrap();
            got.push((uid, v));
            Ok(())
        })
        .unwrap();
    assert_eq!(out.delivered.len(), 40);
    assert!(out.missing.is_empty());
    assert_eq!(got[0], (2, "m01".to_string()));
    assert_eq!(got[39], (64, "m32".to_string()));
    let sent = text(&w);
    assert!(
        sent.starts_with(
            "A0003 UID FETCH 2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,32 (UID BODY.PEEK[])\r\n\
             A0004 UID FETCH 34,"
        ),
        "{sent}"
    );
    assert_eq!(sent.lines().count(), 3);
}

#[test]
fn fetch_reports_missing_and_quoted_bodies() {
    let reply = b"* 3 FETCH (UID 11 BODY[] \"abc\")\r\nA0003 OK done\r\n";
    let (r, got, _) = fetch(reply, usize::MAX, &[5, 11]);
    let r = r.unwrap();
    assert_eq!(r.delivered, vec![11]);
    assert_eq!(r.missing, vec![5]);
    assert_eq!(got, vec![(11, b"abc".to_vec())]);
}

#[test]
fn quoted_bodies_need_a_following_response_too() {
    for (reply, closed) in [
        (&b"* 3 FETCH (UID 11 BODY[] \"abc\")\r\n"[..], true),
        (
            b"* 3 FETCH (UID 11 BODY[] \"abc\")\r\n)\r\nA0003 OK\r\n",
            false,
        ),
    ] {
        let (r, got, _) = fetch(reply, usize::MAX, &[11]);
        assert!(got.is_empty(), "{got:?}");
        match r {
            Err(SourceError::Connection { .. }) if closed => {}
            Err(SourceError::Protocol(_)) if !closed => {}
            r => panic!("{r:?}"),
        }
    }
}

#[test]
fn fetch_uid_mismatch_is_protocol_error() {
    let reply = b"* 2 FETCH (BODY[] {7}\r\nx\r\ny\r\nz UID 5)\r\nA0003 OK done\r\n";
    let (r, _, _) = fetch(reply, usize::MAX, &[7]);
    assert!(matches!(r, Err(SourceError::Protocol(_))), "{r:?}");
}

#[test]
fn fetch_cut_mid_literal_is_an_error() {
    let reply = b"* 1 FETCH (UID 5 BODY[] {5}\r\nab";
    for chunk in [usize::MAX, 1] {
        let (r, got, _) = fetch(reply, chunk, &[5]);
        assert!(matches!(r, Err(SourceError::Connection { .. })), "{r:?}");
        // The callback saw an error, not a short end.
        assert!(got.is_empty());
    }
}

#[test]
fn fetch_garbage_after_literal_is_protocol_error() {
    let reply = b"* 1 FETCH (UID 5 BODY[] {5}\r\nab\r\ncXYZ)\r\nA0003 OK done\r\n";
    let (r, _, _) = fetch(reply, usize::MAX, &[5]);
    assert!(matches!(r, Err(SourceError::Protocol(_))), "{r:?}");
}

#[test]
fn fetch_stop_still_consumes() {
    let reply = b"* 1 FETCH (UID 5 BODY[] {5}\r\nab\r\nc)\r\n\
                  * 2 FETCH (UID 7 BODY[] {7}\r\nx\r\ny\r\nz)\r\n\
                  A0003 OK done\r\nA0004 OK [CAPABILITY IMAP4rev1] x\r\n";
    let mut all = GREETING.to_vec();
    all.extend_from_slice(SELECT);
    all.extend_from_slice(
        b"* 1 FETCH (UID 5 RFC822.SIZE 5)\r\n* 2 FETCH (UID 7 RFC822.SIZE 7)\r\n\
          * 3 FETCH (UID 11 RFC822.SIZE 3)\r\nA0002 OK done\r\n",
    );
    all.extend_from_slice(reply);
    let (m, _) = mock(&all, 2);
    let mut s = Session::start(m).unwrap();
    s.select("INBOX", false).unwrap();
    s.uids_and_sizes().unwrap();
    let mut calls = 0;
    let r = s
        .fetch_bodies(&[5, 7], &mut |_, r| {
            calls += 1;
            let mut b = [0u8; 1];
            r.read_exact(&mut b).unwrap();
            Err(Stop)
        })
        .unwrap();
    assert_eq!(calls, 1);
    assert!(r.stopped);
    assert!(r.delivered.is_empty());
    // The session is still in sync.
    s.capability().unwrap();
}

#[test]
fn a_body_under_another_uid_is_not_delivered() {
    // Message 1 was listed as UID 5; a FETCH response that says message 1 is UID 7 would
    // put message 1's bytes under UID 7 (and, in delete mode, UID 7 would be expunged
    // without ever being fetched).
    for reply in [
        &b"* 1 FETCH (UID 7 BODY[] {5}\r\nab\r\nc)\r\nA0003 OK done\r\n"[..],
        b"* 3 FETCH (UID 7 BODY[] {5}\r\nab\r\nc)\r\nA0003 OK done\r\n",
        b"* 1 FETCH (UID 7 BODY[] \"abc\")\r\nA0003 OK done\r\n",
    ] {
        let (r, got, _) = fetch(reply, usize::MAX, &[5, 7]);
        assert!(matches!(r, Err(SourceError::Protocol(_))), "{r:?}");
        assert!(got.is_empty(), "{got:?}");
    }
}

#[test]
fn many_literals_in_one_response_are_not_probed_one_by_one() {
    // Each probe parses the response so far: probing 100,000 literals of one response
    // would take quadratic time.
    let mut reply = b"* 1 FETCH (UID 5 X-FOO (".to_vec();
    for _ in 0..100_000 {
        reply.extend_from_slice(b"{0}\r\n ");
    }
    reply.extend_from_slice(b"))\r\nA0003 OK done\r\n");
    let (r, got, _) = fetch(&reply, usize::MAX, &[5]);
    assert!(matches!(r, Err(SourceError::Protocol(_))), "{r:?}");
    assert!(got.is_empty());
}

#[test]
fn fetch_without_known_uid_is_protocol_error() {
    let reply = b"* 9 FETCH (BODY[] {3}\r\nabc UID 99)\r\nA0003 OK done\r\n";
    let (r, _, _) = fetch(reply, usize::MAX, &[99]);
    assert!(matches!(r, Err(SourceError::Protocol(_))), "{r:?}");
}
