//! STORE, EXPUNGE, SEARCH and Message-IDs.

use super::*;

#[test]
fn store_expunge_search_message_ids() {
    let (mut s, w) = selected(
        b"A0002 OK stored\r\n\
          * 2 EXPUNGE\r\nA0003 OK expunged\r\n\
          * SEARCH 3 9\r\nA0004 OK done\r\n\
          * 1 FETCH (UID 5 RFC822.SIZE 42 BODY[HEADER.FIELDS (MESSAGE-ID)] {21}\r\nMessage-ID: <a@b>\r\n\r\n)\r\n\
          * 2 FETCH (UID 11 RFC822.SIZE 7 BODY[HEADER.FIELDS (MESSAGE-ID)] {2}\r\n\r\n)\r\n\
          A0005 OK done\r\n\
          A0006 OK stored\r\n",
    );
    for (seq, uid) in [(1, 5), (2, 7), (3, 11)] {
        s.seqs.insert(seq, uid).unwrap();
    }
    s.store_deleted(&[7, 5, 6]).unwrap();
    assert_eq!(s.expunge(&[5, 6, 7]).unwrap(), vec![7]);
    assert_eq!(s.deleted_uids_in_mailbox().unwrap(), vec![3, 9]);
    assert_eq!(
        s.message_ids(&[5, 11]).unwrap(),
        vec![(5, Some("<a@b>".to_string()), 42), (11, None, 7)]
    );
    s.store_keyword(&[5], "$MDNSent").unwrap();
    assert_eq!(
        text(&w),
        "A0002 UID STORE 5:7 +FLAGS.SILENT (\\Deleted)\r\n\
         A0003 UID EXPUNGE 5:7\r\n\
         A0004 UID SEARCH DELETED\r\n\
         A0005 UID FETCH 5,11 (UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])\r\n\
         A0006 UID STORE 5 +FLAGS.SILENT ($MDNSent)\r\n"
    );
    assert!(s.store_keyword(&[5], "bad word").is_err());
}
