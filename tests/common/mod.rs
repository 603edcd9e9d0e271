//! Shared test support: a runner for the real `mailpull` binary in a clean environment, Maildir
//! inspection, a private Dovecot server, scripted in-process POP3 and IMAP servers (protocol
//! modules `scripted` and `scripted_imap` on one core, `server`), and the harness pieces shared
//! by the fault suites (`fault`, and `matrix`, their shared runner) and the kill -9 tests
//! (`kill`).
#![allow(dead_code)]

pub mod dovecot;
pub mod fault;
pub mod kill;
pub mod matrix;
pub mod measure;
pub mod oauth;
pub mod raw;
pub mod run;
pub mod scripted;
pub mod scripted_imap;
pub mod server;
pub mod smtp;
