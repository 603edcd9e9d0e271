//! Mailboxes: `ENABLE UTF8=ACCEPT` (RFC 5161, RFC 6855), LIST with the server's answers checked
//! against the patterns sent (RFC 3501 §6.3.8), CREATE, and SELECT or EXAMINE (§6.3.1–2) with
//! what they report about the selected mailbox. Names travel in modified UTF-7, or in UTF-8
//! once UTF8=ACCEPT is in effect.

use std::collections::HashSet;
use std::io::{Read, Write};

use imap_codec::imap_types::flag::{FlagNameAttribute, FlagPerm};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{Code, Data, Response, Status};

use super::command::Fail;
use super::Session;
use crate::imap::pattern;
use crate::imap::proto::Arg;
use crate::imap::utf7;
use crate::imap::wire::quote;
use crate::source::SourceError;

/// A mailbox found by [`Session::list`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxName {
    /// The name in UTF-8 (decoded from modified UTF-7); `INBOX` for the inbox.
    pub name: String,
    /// The name as the server sent it.
    pub wire: String,
    /// The server's hierarchy delimiter, if it has one.
    pub delimiter: Option<char>,
}

/// What SELECT or EXAMINE reported (RFC 3501 §6.3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxStatus {
    /// `UIDVALIDITY`: UIDs are only comparable while this stays the same.
    pub uidvalidity: u32,
    /// `UIDNEXT`, if the server sent it (and the `EXISTS` that must come with it).
    pub uidnext: Option<u32>,
    /// Number of messages (`EXISTS`).
    pub exists: u32,
    /// The flags that can be changed permanently (`PERMANENTFLAGS`, or `FLAGS` without it),
    /// e.g. `\Deleted`, `\*`.
    pub permanent_flags: Vec<String>,
    /// The mailbox was opened read-only (EXAMINE, or `[READ-ONLY]`).
    pub read_only: bool,
    /// New keywords can be stored (`\*` in `PERMANENTFLAGS`).
    pub can_set_keywords: bool,
}

/// The longest mailbox name accepted from LIST.
pub const MAX_NAME: usize = 1000;
/// The most mailboxes accepted from the LIST commands of one [`Session::list`].
pub const MAX_MAILBOXES: usize = 10_000;

impl<S: Read + Write> Session<S> {
    /// Turns on `UTF8=ACCEPT` (RFC 6855, with ENABLE of RFC 5161) when the server offers it
    /// (`UTF8=ACCEPT`, or `UTF8=ONLY`, which implies it), so that the server hands over
    /// messages with UTF-8 header fields as they are instead of downgraded copies (see the
    /// module documentation of [`super`]). Call it after logging in and before selecting a
    /// mailbox. From then on mailbox names travel in UTF-8 both ways. Returns whether it is in
    /// effect; a server that refuses is used without it.
    pub fn enable_utf8(&mut self) -> Result<bool, SourceError> {
        if self.utf8 {
            return Ok(true);
        }
        if !(self.caps.has("UTF8=ACCEPT") || self.caps.has("UTF8=ONLY")) {
            return Ok(false);
        }
        let mut enabled = false;
        let r = self.simple(
            &[Arg::Raw("ENABLE UTF8=ACCEPT")],
            "enabling UTF-8 (ENABLE UTF8=ACCEPT)",
            Fail::Protocol,
            &mut |r| {
                if let Response::Data(Data::Enabled { capabilities }) = r {
                    enabled |= capabilities
                        .iter()
                        .any(|c| c.to_string().eq_ignore_ascii_case("UTF8=ACCEPT"));
                }
                Ok(())
            },
        );
        match r {
            Ok(_) => {}
            Err(e @ SourceError::Connection { .. }) => return Err(e),
            Err(e) => {
                log::info!("the server offers UTF8=ACCEPT but refused to enable it ({e})");
                return Ok(false);
            }
        }
        if !enabled {
            log::info!("the server offers UTF8=ACCEPT but did not enable it");
        }
        self.utf8 = enabled;
        Ok(enabled)
    }

    /// Messages in the selected mailbox, as last reported by the server.
    pub fn exists(&self) -> u32 {
        self.exists
    }

    /// Messages of the selected mailbox that no listing in this session has reported yet (the
    /// server announced more messages than it listed): new mail to fetch.
    pub fn unlisted(&self) -> u32 {
        self.exists
            .saturating_sub(u32::try_from(self.seqs.len()).unwrap_or(u32::MAX))
    }

    /// The UIDVALIDITY of the selected mailbox, as last reported by the server.
    pub fn uidvalidity(&self) -> Option<u32> {
        self.uidvalidity
    }

    /// Lists the mailboxes matching each name or pattern (`INBOX`, `Lists/*`, `*`) with
    /// `LIST "" pattern` (RFC 3501 §6.3.8): names are decoded from modified UTF-7 (taken as
    /// UTF-8 after `ENABLE UTF8=ACCEPT`), `\Noselect` and `\NonExistent` mailboxes are
    /// skipped, duplicates dropped (first one wins).
    ///
    /// A server is not trusted to answer only what was asked: a name is accepted only if it
    /// matches the pattern that was sent ([`pattern::list_answers`], with the hierarchy
    /// delimiter the server gives for it; others are ignored with a warning), is at most
    /// [`MAX_NAME`] bytes long, and at most [`MAX_MAILBOXES`] names are accepted in all (more
    /// is a protocol error).
    pub fn list(&mut self, patterns: &[String]) -> Result<Vec<MailboxName>, SourceError> {
        let mut out: Vec<MailboxName> = Vec::new();
        let mut seen = HashSet::new();
        for pattern in patterns {
            let wire = self.mailbox_to_wire(pattern);
            let mut found = Vec::new();
            let mut stray = 0usize;
            let mut first_stray = String::new();
            let utf8 = self.utf8;
            let ctx = format!("listing mailboxes matching {pattern:?}");
            let accepted = out.len();
            self.simple(
                &[Arg::Raw("LIST"), Arg::Str(b""), Arg::Str(&wire)],
                &ctx,
                Fail::Unavailable,
                &mut |r| {
                    let Response::Data(Data::List {
                        items,
                        delimiter,
                        mailbox,
                    }) = r
                    else {
                        return Ok(());
                    };
                    let raw: &[u8] = match mailbox {
                        Mailbox::Inbox => b"INBOX",
                        Mailbox::Other(o) => o.inner().as_ref(),
                    };
                    let delimiter = delimiter.as_ref().map(|d| d.inner());
                    let delim_byte = delimiter.and_then(|c| u8::try_from(c).ok());
                    if raw.len() > MAX_NAME || !pattern::list_answers(&wire, raw, delim_byte) {
                        if stray == 0 {
                            first_stray = quote(raw);
                        }
                        stray += 1;
                        return Ok(());
                    }
                    let skip = items.iter().any(|a| {
                        matches!(a, FlagNameAttribute::Noselect)
                            || a.to_string().eq_ignore_ascii_case("\\NonExistent")
                    });
                    if skip {
                        return Ok(());
                    }
                    if accepted + found.len() >= MAX_MAILBOXES {
                        return Err(SourceError::Protocol(format!(
                            "{ctx}: the server listed more than {MAX_MAILBOXES} mailboxes"
                        )));
                    }
                    let name = if matches!(mailbox, Mailbox::Inbox) {
                        "INBOX".to_string()
                    } else if utf8 {
                        String::from_utf8_lossy(raw).into_owned()
                    } else {
                        utf7::mailbox_from_wire(raw)
                    };
                    found.push(MailboxName {
                        name,
                        wire: String::from_utf8_lossy(raw).into_owned(),
                        delimiter,
                    });
                    Ok(())
                },
            )?;
            if stray > 0 {
                log::warn!(
                    "the server answered LIST {pattern:?} with {stray} mailbox name(s) that do \
                     not match it (the first: {first_stray:?}); ignoring them"
                );
            }
            for m in found {
                if seen.insert(m.name.clone()) {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    /// A mailbox name (UTF-8) as sent to the server: modified UTF-7 (RFC 3501 §5.1.3), or
    /// UTF-8 as is once `ENABLE UTF8=ACCEPT` is in effect (RFC 6855 §3). `INBOX` in any case
    /// is sent as `INBOX`.
    fn mailbox_to_wire(&self, mailbox: &str) -> Vec<u8> {
        if mailbox.eq_ignore_ascii_case("INBOX") {
            b"INBOX".to_vec()
        } else if self.utf8 {
            mailbox.as_bytes().to_vec()
        } else {
            utf7::utf7_encode(mailbox).into_bytes()
        }
    }

    /// Creates a mailbox (RFC 3501 §6.3.3); the name is given in UTF-8.
    pub fn create(&mut self, mailbox: &str) -> Result<(), SourceError> {
        let wire = self.mailbox_to_wire(mailbox);
        self.simple(
            &[Arg::Raw("CREATE"), Arg::Str(&wire)],
            &format!("creating mailbox {mailbox:?}"),
            Fail::Unavailable,
            &mut |_| Ok(()),
        )?;
        Ok(())
    }

    /// Opens a mailbox (name in UTF-8) with SELECT, or EXAMINE when `read_only`
    /// (RFC 3501 §6.3.1, §6.3.2).
    pub fn select(&mut self, mailbox: &str, read_only: bool) -> Result<MailboxStatus, SourceError> {
        let wire = self.mailbox_to_wire(mailbox);
        self.seqs.clear();
        self.exists = 0;
        self.uidvalidity = None;
        self.sizes.clear();
        self.keywords.clear();
        let mut uidvalidity = None;
        let mut uidnext = None;
        let mut exists_sent = false;
        let mut permanent: Option<Vec<String>> = None;
        let mut flags: Vec<String> = Vec::new();
        let ctx = format!("opening mailbox {mailbox:?}");
        let st = self.simple(
            &[
                Arg::Raw(if read_only { "EXAMINE" } else { "SELECT" }),
                Arg::Str(&wire),
            ],
            &ctx,
            Fail::Unavailable,
            &mut |r| {
                match r {
                    Response::Data(Data::Flags(f)) => {
                        flags = f.iter().map(|f| f.to_string()).collect();
                    }
                    Response::Data(Data::Exists(_)) => exists_sent = true,
                    Response::Status(Status::Untagged(b)) => match &b.code {
                        Some(Code::UidValidity(v)) => uidvalidity = Some(v.get()),
                        Some(Code::UidNext(v)) => uidnext = Some(v.get()),
                        Some(Code::PermanentFlags(f)) => {
                            permanent = Some(
                                f.iter()
                                    .map(|p| match p {
                                        FlagPerm::Flag(f) => f.to_string(),
                                        FlagPerm::Asterisk => "\\*".to_string(),
                                    })
                                    .collect(),
                            )
                        }
                        _ => {}
                    },
                    _ => {}
                }
                Ok(())
            },
        )?;
        let read_only = match st.code {
            Some(Code::ReadOnly) => true,
            Some(Code::ReadWrite) => false,
            _ => read_only,
        };
        let Some(uidvalidity) = uidvalidity else {
            return Err(SourceError::Protocol(format!(
                "{ctx}: the server sent no UIDVALIDITY, so UIDs cannot be trusted"
            )));
        };
        // RFC 3501 §7.1: without PERMANENTFLAGS, all FLAGS can be changed permanently.
        let permanent_flags = permanent.unwrap_or(flags);
        let can_set_keywords = permanent_flags.iter().any(|f| f == "\\*");
        Ok(MailboxStatus {
            uidvalidity,
            // Without the EXISTS that RFC 3501 requires, no listing can be checked against
            // the mailbox's size: the UIDNEXT is not offered as a resume point then.
            uidnext: uidnext.filter(|_| exists_sent),
            exists: self.exists,
            permanent_flags,
            read_only,
            can_set_keywords,
        })
    }
}
