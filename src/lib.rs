//! mailpull: fetch mail over POP3 and IMAP into a Maildir, an mbox, an MDA or stdout, never
//! losing or doubling a message.
//!
//! The crate is laid out along the path a message takes:
//! - [`cli`] declares the command line and [`config`] turns it into a validated
//!   [`config::Account`]; nothing below `config` sees clap. [`run`] turns a command into work.
//! - [`tls`] opens the connection (TCP, implicit TLS or STLS/STARTTLS upgrade, certificate checks).
//! - [`pop3`] (RFC 1939/2449/2595/3206/5034) and [`imap`] (RFC 3501 and extensions) speak the
//!   protocols, each as a [`source::Source`].
//! - [`engine`] is the protocol-agnostic fetch engine that owns the promises: list, consult the
//!   [`ledger`], choose ([`select`]: filters, `--pick`), retrieve, [`deliver`], record, delete,
//!   commit.
//! - [`ui`] is what the user sees on stderr (and `list`'s table on stdout); [`exit`] maps every
//!   failure to a sysexits status; [`command`] runs users' commands (MDA, filter); [`docs`]
//!   generates completions and man pages.

pub mod account;
pub mod cli;
pub mod command;
pub mod config;
pub mod deliver;
pub mod docs;
pub mod engine;
pub mod exit;
pub mod imap;
pub mod import;
pub mod ledger;
pub mod pop3;
pub mod receipts;
pub mod run;
pub mod select;
pub mod source;
pub mod text;
pub mod time;
pub mod tls;
pub mod ui;
pub mod watch;
