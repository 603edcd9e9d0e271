//! IDLE.

use std::time::Duration;

use super::*;

#[test]
fn idle_sees_new_mail() {
    let (mut s, w) = selected(b"+ idling\r\n* 4 EXISTS\r\nA0002 OK done\r\n");
    assert_eq!(
        s.idle(Duration::from_secs(5)).unwrap(),
        IdleEvent::NewMail { exists: 4 }
    );
    assert_eq!(text(&w), "A0002 IDLE\r\nDONE\r\n");
}
