//! Shared test support: a runner for the real `mailpull` binary in a clean environment, Maildir
//! inspection, a private Dovecot server and a scripted in-process POP3 server.
#![allow(dead_code)]

pub mod dovecot;
pub mod kill;
pub mod measure;
pub mod run;
pub mod scripted;
pub mod scripted_imap;
pub mod smtp;
