//! The scripted IMAP server's commands about mailboxes: resolving and showing names
//! (modified UTF-7 or UTF-8 after ENABLE), ENABLE, IDLE, LIST and SELECT / EXAMINE, and how a
//! message is presented (downgraded or as stored).

use std::io::{self, BufRead};
use std::time::Duration;

use super::super::server::{End, Flow, Received};
use super::parse::{list_match, quote, utf7_decode, Command, Tok};
use super::session::{Session, SessionState};
use super::{folder_mut, Folder, Message, DELIMITER, INBOX};

impl Session<'_, '_> {
    /// Resolves a mailbox argument to a folder's wire name.
    pub(super) fn mailbox_arg(&mut self, arg: Option<&Tok>) -> Option<String> {
        let name = arg?.bytes()?;
        if name.iter().any(|&b| b >= 0x80) && !self.utf8 {
            self.violation(format!(
                "mailbox name {:?} not encoded in modified UTF-7",
                String::from_utf8_lossy(name)
            ));
            return None;
        }
        let name = String::from_utf8_lossy(name).into_owned();
        let utf8 = self.utf8;
        let folders = self.conn.state().store.clone();
        let found = folders
            .iter()
            .find(|f| {
                if f.is_inbox() {
                    name.eq_ignore_ascii_case(INBOX)
                } else if utf8 {
                    utf7_decode(&f.wire) == name
                } else {
                    f.wire == name
                }
            })
            .map(|f| f.wire.clone());
        if found.is_none()
            && utf8
            && folders
                .iter()
                .any(|f| f.wire == name && utf7_decode(&f.wire) != name)
        {
            self.violation(format!(
                "mailbox name {name:?} sent in modified UTF-7 after ENABLE UTF8=ACCEPT"
            ));
        }
        found
    }

    /// A folder's name as this session shows it: modified UTF-7, or UTF-8 after `ENABLE
    /// UTF8=ACCEPT`.
    fn shown_name(&self, wire: &str) -> String {
        if self.utf8 {
            utf7_decode(wire)
        } else {
            wire.to_string()
        }
    }

    pub(super) fn enable(&mut self, cmd: &Command) -> Flow {
        let tag = cmd.tag.as_str();
        if !self.conn.config.has_cap("ENABLE") {
            return self.bad(tag, "ENABLE although it was not advertised".into());
        }
        if matches!(self.state, SessionState::Selected { .. }) {
            // RFC 5161 §3.1: ENABLE is only valid in the authenticated state.
            self.violation("ENABLE with a mailbox selected".into());
        }
        let mut enabled = Vec::new();
        for a in &cmd.args {
            let Some(a) = a.atom() else {
                return self.bad(tag, "ENABLE with a non-atom argument".into());
            };
            if a.eq_ignore_ascii_case("UTF8=ACCEPT") && self.conn.config.has_cap("UTF8=ACCEPT") {
                self.utf8 = true;
                enabled.push("UTF8=ACCEPT");
            }
        }
        if enabled.is_empty() {
            self.send("* ENABLED")?;
        } else {
            self.send(&format!("* ENABLED {}", enabled.join(" ")))?;
        }
        self.tagged(tag, "OK ENABLE completed")
    }

    /// IDLE (RFC 2177): announces new messages (`* N EXISTS`) as other clients add them,
    /// until the client sends DONE.
    pub(super) fn idle(&mut self, cmd: &Command) -> Flow {
        let tag = cmd.tag.clone();
        self.no_args(cmd);
        let (folder, _) = self.selected();
        self.send("+ idling")?;
        let stream = self.conn.reader().get_ref().try_clone()?;
        stream.set_read_timeout(Some(Duration::from_millis(20)))?;
        let mut line = Vec::new();
        let result = loop {
            if self.conn.stopping() {
                break Err(End::Done);
            }
            let n = folder_mut(&mut self.conn.state().store, &folder)
                .messages
                .len();
            if n > self.announced {
                self.announced = n;
                self.send(&format!("* {n} EXISTS"))?;
            }
            match self.conn.reader().read_until(b'\n', &mut line) {
                Ok(0) => break Err(End::Done),
                Ok(_) if line.ends_with(b"\n") => break Ok(()),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break Err(End::Done),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        result?;
        self.conn.count_in(line.len());
        let text = String::from_utf8_lossy(&line).into_owned();
        let received = Received {
            conn: self.conn.number,
            tag: String::new(),
            name: "DONE".into(),
            line: text.trim_end().to_string(),
        };
        self.conn.tally(|s| s.commands.push(received));
        if line != b"DONE\r\n" {
            return self.bad(&tag, format!("IDLE ended with {text:?} instead of DONE"));
        }
        self.tagged(&tag, "OK IDLE terminated")
    }

    /// A message as this session presents it: downgraded (see [`super::Config::downgrade`])
    /// or as stored.
    pub(super) fn presented<'m>(&self, m: &'m Message) -> std::borrow::Cow<'m, [u8]> {
        let header_end = m
            .raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(m.raw.len());
        if !self.conn.config.downgrade || self.utf8 || m.raw[..header_end].is_ascii() {
            return std::borrow::Cow::Borrowed(&m.raw);
        }
        std::borrow::Cow::Owned(super::parse::downgraded(&m.raw))
    }

    pub(super) fn list(&mut self, cmd: &Command) -> Flow {
        let tag = cmd.tag.as_str();
        let (Some(reference), Some(pattern)) = (
            cmd.args.first().and_then(Tok::bytes),
            cmd.args.get(1).and_then(Tok::bytes),
        ) else {
            return self.bad(tag, "LIST with bad arguments".into());
        };
        if cmd.args.len() != 2 {
            self.violation(format!("LIST with {} arguments", cmd.args.len()));
        }
        if !reference.is_empty() {
            self.violation("LIST with a non-empty reference".into());
        }
        let pattern = pattern.to_vec();
        if pattern.is_empty() {
            self.send(&format!("* LIST (\\Noselect) \"{DELIMITER}\" \"\""))?;
            return self.tagged(tag, "OK LIST completed");
        }
        let folders: Vec<Folder> = self.conn.state().store.clone();
        let names: Vec<String> = folders.iter().map(|f| self.shown_name(&f.wire)).collect();
        let mut parents = std::collections::BTreeSet::new();
        for n in &names {
            let mut prefix = String::new();
            for part in n
                .split(DELIMITER)
                .collect::<Vec<_>>()
                .split_last()
                .unwrap()
                .1
            {
                if !prefix.is_empty() {
                    prefix.push(DELIMITER);
                }
                prefix.push_str(part);
                if !names.contains(&prefix) {
                    parents.insert(prefix.clone());
                }
            }
        }
        let has_children = |n: &str| {
            names
                .iter()
                .any(|m| m.starts_with(&format!("{n}{DELIMITER}")))
        };
        let mut lines = Vec::new();
        for n in &names {
            let matched = if n == INBOX {
                list_match(&pattern.to_ascii_uppercase(), n.as_bytes())
                    || list_match(&pattern, n.as_bytes())
            } else {
                list_match(&pattern, n.as_bytes())
            };
            if matched {
                let attr = if has_children(n) {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                };
                let shown = if n == INBOX { n.clone() } else { quote(n) };
                lines.push(format!("* LIST ({attr}) \"{DELIMITER}\" {shown}"));
            }
        }
        for p in &parents {
            if list_match(&pattern, p.as_bytes()) {
                lines.push(format!(
                    "* LIST (\\Noselect \\HasChildren) \"{DELIMITER}\" {}",
                    quote(p)
                ));
            }
        }
        for l in lines {
            self.send(&l)?;
        }
        self.tagged(tag, "OK LIST completed")
    }

    pub(super) fn select(&mut self, cmd: &Command, read_only: bool) -> Flow {
        let tag = cmd.tag.as_str();
        let verb = if read_only { "EXAMINE" } else { "SELECT" };
        if cmd.args.len() != 1 {
            self.violation(format!("{verb} with {} arguments", cmd.args.len()));
        }
        // RFC 3501 §6.3.1: a failed SELECT leaves no mailbox selected.
        self.state = SessionState::Authenticated;
        let Some(wire) = self.mailbox_arg(cmd.args.first()) else {
            return self.tagged(tag, "NO [NONEXISTENT] Mailbox doesn't exist");
        };
        let first_open = !self.opened.contains(&wire);
        if first_open {
            self.opened.push(wire.clone());
        }
        let volatile = self.conn.config.volatile_uidvalidity;
        let f = {
            let mut st = self.conn.state();
            let f = folder_mut(&mut st.store, &wire);
            if volatile && first_open && !f.selected_once {
                f.renumber(f.uidvalidity + 1);
            }
            if !read_only {
                f.selected_once = true;
            }
            f.clone()
        };
        self.send("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)")?;
        if read_only {
            self.send("* OK [PERMANENTFLAGS ()] Read-only mailbox.")?;
        } else {
            self.send(
                "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.",
            )?;
        }
        self.send(&format!("* {} EXISTS", f.messages.len()))?;
        self.announced = f.messages.len();
        self.send("* 0 RECENT")?;
        self.send(&format!("* OK [UIDVALIDITY {}] UIDs valid", f.uidvalidity))?;
        self.send(&format!("* OK [UIDNEXT {}] Predicted next UID", f.uidnext))?;
        self.state = SessionState::Selected {
            folder: wire,
            read_only,
        };
        let code = if read_only { "READ-ONLY" } else { "READ-WRITE" };
        self.tagged(tag, &format!("OK [{code}] {verb} completed"))
    }

    pub(super) fn selected(&self) -> (String, bool) {
        match &self.state {
            SessionState::Selected { folder, read_only } => (folder.clone(), *read_only),
            _ => unreachable!("checked by the caller"),
        }
    }
}
