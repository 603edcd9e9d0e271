//! ENABLE UTF8=ACCEPT, LIST and SELECT.

use super::*;

#[test]
fn list_decodes_and_skips() {
    let (mut s, w) = session(
        b"* LIST (\\HasNoChildren) \".\" INBOX\r\n\
          * LIST (\\Noselect \\HasChildren) \".\" Lists\r\n\
          * LIST (\\HasNoChildren) \".\" \"Entw&APw-rfe\"\r\n\
          * LIST (\\NonExistent) \".\" Gone\r\n\
          * LIST () \".\" {3}\r\na\"b\r\n\
          A0001 OK done\r\n\
          * LIST (\\HasNoChildren) \".\" INBOX\r\n\
          A0002 OK done\r\n",
    );
    let l = s.list(&["*".into(), "INBOX".into()]).unwrap();
    let names: Vec<&str> = l.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["INBOX", "Entwürfe", "a\"b"]);
    assert_eq!(l[1].wire, "Entw&APw-rfe");
    assert_eq!(l[1].delimiter, Some('.'));
    assert_eq!(
        text(&w),
        "A0001 LIST \"\" \"*\"\r\nA0002 LIST \"\" \"INBOX\"\r\n"
    );
}

#[test]
fn select_parses() {
    let (mut s, w) = session(SELECT);
    let st = s.select("Entwürfe", false).unwrap();
    assert_eq!(
        st,
        MailboxStatus {
            uidvalidity: 1700000000,
            uidnext: Some(12),
            exists: 3,
            permanent_flags: [
                "\\Answered",
                "\\Flagged",
                "\\Deleted",
                "\\Seen",
                "\\Draft",
                "\\*"
            ]
            .map(String::from)
            .to_vec(),
            read_only: false,
            can_set_keywords: true,
        }
    );
    assert_eq!(text(&w), "A0001 SELECT \"Entw&APw-rfe\"\r\n");

    let (mut s, w) = session(
        b"* 0 EXISTS\r\n* FLAGS (\\Seen \\Deleted)\r\n* OK [UIDVALIDITY 5] x\r\nA0001 OK [READ-ONLY] done\r\n",
    );
    let st = s.select("INBOX", true).unwrap();
    assert!(st.read_only && !st.can_set_keywords);
    assert_eq!(st.permanent_flags, ["\\Seen", "\\Deleted"]);
    assert_eq!(text(&w), "A0001 EXAMINE \"INBOX\"\r\n");
    // An empty mailbox: no FETCH is sent.
    assert!(s.uids_and_sizes().unwrap().is_empty());
    assert_eq!(text(&w), "A0001 EXAMINE \"INBOX\"\r\n");

    let (mut s, _) = session(b"A0001 NO [NONEXISTENT] no such mailbox\r\n");
    assert!(matches!(
        s.select("x", false),
        Err(SourceError::Unavailable(_))
    ));
    let (mut s, _) = session(b"* 1 EXISTS\r\nA0001 OK done\r\n");
    assert!(matches!(
        s.select("x", false),
        Err(SourceError::Protocol(_))
    ));
}

#[test]
fn list_accepts_only_names_that_answer_the_pattern() {
    // Issue 11, class 6: asked for INBOX, a server that also names Private must not get
    // Private fetched (and, with --no-keep, expunged).
    let (mut s, _) = session(
        b"* LIST (\\HasNoChildren) \"/\" INBOX\r\n\
          * LIST (\\HasNoChildren) \"/\" Private\r\n\
          * LIST () \"/\" \"INBOX/x\"\r\n\
          A0001 OK done\r\n\
          * LIST () \"/\" \"Lists/a\"\r\n\
          * LIST () \"/\" \"Lists/a/b\"\r\n\
          * LIST () \"/\" \"Other\"\r\n\
          * LIST () NIL \"Lists/c/d\"\r\n\
          A0002 OK done\r\n",
    );
    let names: Vec<String> = s
        .list(&["inbox".to_string(), "Lists/%".to_string()])
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["INBOX", "Lists/a", "Lists/c/d"]);
}

#[test]
fn list_bounds_names() {
    let mut script = Vec::new();
    script.extend_from_slice(
        format!("* LIST () \"/\" \"{}\"\r\n", "x".repeat(MAX_NAME + 1)).as_bytes(),
    );
    script.extend_from_slice(b"A0001 OK done\r\n");
    for i in 0..=MAX_MAILBOXES {
        script.extend_from_slice(format!("* LIST () \"/\" \"f{i}\"\r\n").as_bytes());
    }
    script.extend_from_slice(b"A0002 OK done\r\n");
    let (mut s, _) = session(&script);
    assert!(s.list(&["*".to_string()]).unwrap().is_empty());
    let e = s.list(&["*".to_string()]).unwrap_err();
    assert!(matches!(e, SourceError::Protocol(_)), "{e:?}");
}

#[test]
fn utf8_accept_is_enabled_and_names_travel_in_utf8() {
    let (m, w) = mock(
        b"* OK [CAPABILITY IMAP4rev1 ENABLE UTF8=ACCEPT LITERAL+] hi\r\n\
          * ENABLED UTF8=ACCEPT\r\nA0001 OK enabled\r\n\
          * LIST () \"/\" \"Entw\xc3\xbcrfe\"\r\n\
          * LIST () \"/\" \"A&-B\"\r\nA0002 OK done\r\n\
          * 1 EXISTS\r\n* OK [UIDVALIDITY 3] x\r\nA0003 OK done\r\n",
        usize::MAX,
    );
    let mut s = Session::start(m).unwrap();
    assert!(s.capabilities().has("UTF8=ACCEPT"));
    assert!(s.enable_utf8().unwrap());
    assert!(s.enable_utf8().unwrap()); // once only
    let names: Vec<String> = s
        .list(&["*".to_string()])
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    // After ENABLE, `&` is just a character: no modified UTF-7 decoding.
    assert_eq!(names, ["Entwürfe", "A&-B"]);
    s.select("Entwürfe", true).unwrap();
    assert_eq!(
        text(&w),
        "A0001 ENABLE UTF8=ACCEPT\r\nA0002 LIST \"\" \"*\"\r\n\
         A0003 EXAMINE {9+}\r\nEntwürfe\r\n"
    );

    // Not offered: nothing sent. Refused: used without.
    let (mut s, w) = session(b"");
    assert!(!s.enable_utf8().unwrap());
    assert_eq!(text(&w), "");
    let (m, _) = mock(
        b"* OK [CAPABILITY IMAP4rev1 UTF8=ACCEPT] hi\r\nA0001 BAD no\r\n",
        usize::MAX,
    );
    let mut s = Session::start(m).unwrap();
    assert!(!s.enable_utf8().unwrap());
}
