//! One IMAP session of the scripted server: the greeting, reading and checking commands (with
//! their literals), the faults only IMAP has (untagged BYE, held tagged replies, injected
//! responses, new mail after a step) and login. The commands about mailboxes are in
//! [`super::mailbox`], those on a selected mailbox in [`super::fetch`].

use std::io::{BufRead, Read};

use super::super::server::{sasl, Close, Conn, End, Flow, Step};
use super::mutator::Mutator;
use super::parse::{literal_marker, Command, Parser, Tok};
use super::{folder_mut, Fault, Imap};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum SessionState {
    NotAuthenticated,
    Authenticated,
    Selected { folder: String, read_only: bool },
}

/// The state of one connection.
pub(super) struct Session<'c, 's> {
    pub(super) conn: &'c mut Conn<'s, Imap>,
    pub(super) state: SessionState,
    /// `BODY[]` literals begun in this connection.
    pub(super) bodies: usize,
    /// Close instead of sending the tagged completion (for [`Fault::CutBeforeTagged`]).
    pub(super) hold_tagged: Option<Close>,
    /// Send `* N EXISTS` before the next tagged reply (see [`Fault::AppendAfter`]).
    pub(super) announce_exists: bool,
    /// Bytes to send before the next tagged reply (see [`Fault::InjectBeforeTagged`]).
    pub(super) inject: Option<Vec<u8>>,
    /// The number of messages the client was last told the selected mailbox holds.
    pub(super) announced: usize,
    /// `ENABLE UTF8=ACCEPT` was accepted.
    pub(super) utf8: bool,
    /// The folders (wire names) opened in this session.
    pub(super) opened: Vec<String>,
}

/// Serves one connection.
pub(super) fn serve(conn: &mut Conn<'_, Imap>) -> Flow {
    let mutation = conn.find(|f| match f {
        Fault::Mutate(m) => Some(Mutator::new(m.clone())),
        _ => None,
    });
    if let Some(m) = mutation {
        conn.set_filter(Box::new(m));
    }
    let mut s = Session {
        conn,
        state: SessionState::NotAuthenticated,
        bodies: 0,
        hold_tagged: None,
        announce_exists: false,
        inject: None,
        announced: 0,
        utf8: false,
        opened: Vec::new(),
    };
    s.run()
}

impl Session<'_, '_> {
    fn run(&mut self) -> Flow {
        self.after(&Step::Connect, false)?;
        self.conn.begin(Step::Greeting);
        let bye = self.conn.find(|f| match f {
            Fault::GreetingBye(t) => Some(t.clone()),
            _ => None,
        });
        if let Some(text) = bye {
            self.send(&format!("* BYE {text}"))?;
            return Err(End::Done);
        }
        if self.conn.garbage(&Step::Greeting) {
            self.conn.send_garbage();
            self.conn.commit()?;
            return Err(End::Done);
        }
        let greeting = if self.conn.config.caps_in_greeting {
            format!(
                "* OK [CAPABILITY {}] scripted IMAP ready",
                self.conn.config.caps.join(" ")
            )
        } else {
            "* OK scripted IMAP ready".to_string()
        };
        self.send(&greeting)?;
        let inject = self.conn.find(|f| match f {
            Fault::InjectBeforeTagged(Step::Greeting, b) => Some(b.clone()),
            _ => None,
        });
        if let Some(b) = inject {
            self.write(&b)?;
        }
        self.after(&Step::Greeting, false)?;
        loop {
            let Some(raw) = self.read_raw_command()? else {
                return Ok(());
            };
            self.command(&raw)?;
        }
    }

    /// Applies the faults that strike after `step` (`login_ok`: a login that succeeded).
    fn after(&mut self, step: &Step, login_ok: bool) -> Flow {
        let appends: Vec<(String, Vec<u8>, Vec<String>)> = self
            .conn
            .faults()
            .iter()
            .filter_map(|f| match f {
                Fault::AppendAfter {
                    step: s,
                    folder,
                    raw,
                    flags,
                } if self.conn.at(s, step, login_ok) => {
                    Some((folder.clone(), raw.clone(), flags.clone()))
                }
                _ => None,
            })
            .collect();
        for (folder, raw, flags) in appends {
            folder_mut(&mut self.conn.state().store, &folder).add(raw, &flags);
            self.announce_exists = true;
        }
        self.conn.after(step, login_ok)?;
        if self
            .conn
            .has(|f| matches!(f, Fault::ByeAfter(s) if self.conn.at(s, step, login_ok)))
        {
            self.send("* BYE scripted server shutting down")?;
            return Err(End::Cut(Close::Fin));
        }
        Ok(())
    }

    pub(super) fn violation(&self, what: String) {
        self.conn.violation(what);
    }

    /// Writes bytes at once (through the connection's mutation, if any).
    pub(super) fn write(&mut self, bytes: &[u8]) -> Flow {
        self.conn.send(bytes);
        self.conn.commit()
    }

    /// Sends a line (CRLF added).
    pub(super) fn send(&mut self, line: &str) -> Flow {
        self.conn.send_line(line);
        self.conn.commit()
    }

    /// Sends the tagged completion of a command (unless [`Fault::CutBeforeTagged`] holds it).
    pub(super) fn tagged(&mut self, tag: &str, status: &str) -> Flow {
        if let Some(c) = self.hold_tagged {
            return Err(End::Cut(c));
        }
        if self.announce_exists {
            if let SessionState::Selected { folder, .. } = &self.state {
                let n = folder_mut(&mut self.conn.state().store, folder)
                    .messages
                    .len();
                self.announce_exists = false;
                self.announced = n;
                self.send(&format!("* {n} EXISTS"))?;
            }
        }
        if let Some(bytes) = self.inject.take() {
            self.write(&bytes)?;
        }
        self.send(&format!("{tag} {status}"))
    }

    /// Answers BAD and records a violation.
    pub(super) fn bad(&mut self, tag: &str, what: String) -> Flow {
        self.violation(what.clone());
        self.tagged(tag, &format!("BAD {what}"))
    }

    /// Reads one command with its literals (answering `+` to synchronizing ones); `None` at
    /// EOF.
    fn read_raw_command(&mut self) -> Result<Option<Vec<u8>>, End> {
        let mut all = Vec::new();
        loop {
            let Some(mut line) = self.conn.read_line(64 * 1024)? else {
                return Ok(None);
            };
            if !line.ends_with(b"\r\n") {
                self.violation(format!(
                    "command line not terminated by CRLF: {:?}",
                    String::from_utf8_lossy(&line)
                ));
                line.pop();
                line.extend_from_slice(b"\r\n");
            }
            all.extend_from_slice(&line);
            let Some((n, plus)) = literal_marker(&line) else {
                return Ok(Some(all));
            };
            if plus && !self.conn.config.has_cap("LITERAL+") {
                self.violation("non-synchronizing literal without LITERAL+".into());
            }
            if !plus {
                self.conn.write_through(b"+ Ready for literal data\r\n")?;
            }
            all.extend_from_slice(&self.conn.read_exact(n)?);
        }
    }

    /// Records a command; `None` (after a BAD) if it cannot be parsed.
    fn parse(&mut self, raw: &[u8]) -> Result<Option<Command>, End> {
        let body = raw.strip_suffix(b"\r\n").unwrap_or(raw);
        let mut p = Parser { b: body, i: 0 };
        let parsed = p.tokens(false);
        let mut problems = Vec::new();
        let (tag, name, args) = match parsed {
            Ok(toks) => {
                let mut it = toks.into_iter();
                let tag = it.next().and_then(|t| t.atom().map(str::to_string));
                let mut name = it
                    .next()
                    .and_then(|t| t.atom().map(str::to_ascii_uppercase))
                    .unwrap_or_default();
                let mut rest: Vec<Tok> = it.collect();
                if name == "UID" && !rest.is_empty() {
                    if let Some(sub) = rest[0].atom() {
                        name = format!("UID {}", sub.to_ascii_uppercase());
                        rest.remove(0);
                    }
                }
                match tag {
                    Some(t) if !t.contains(['+', '*', '%', '\\', '[', ']']) => (t, name, rest),
                    t => {
                        problems.push(format!("bad tag {t:?}"));
                        (t.unwrap_or_else(|| "*".into()), name, rest)
                    }
                }
            }
            Err(e) => {
                problems.push(e);
                let tag = String::from_utf8_lossy(body.split(|&b| b == b' ').next().unwrap_or(b""))
                    .into_owned();
                (tag, String::new(), Vec::new())
            }
        };
        if name.is_empty() && problems.is_empty() {
            problems.push("no command name".into());
        }
        let line = match name.as_str() {
            "LOGIN" | "AUTHENTICATE" => format!("{tag} {name} <redacted>"),
            _ => String::from_utf8_lossy(body).into_owned(),
        };
        self.conn.record(&tag, &name, line.clone());
        if !problems.is_empty() {
            let what = format!("malformed command {line:?}: {}", problems.join("; "));
            self.violation(what);
            self.send(&format!("{tag} BAD syntax error"))?;
            return Ok(None);
        }
        Ok(Some(Command { tag, name, args }))
    }

    fn command(&mut self, raw: &[u8]) -> Flow {
        let Some(cmd) = self.parse(raw)? else {
            return Ok(());
        };
        let step = self.conn.command(&cmd.name);
        self.conn.before(&step)?;
        let mut instead: Option<String> = None;
        let is_login = self.conn.is_login(&step);
        let hit = |s: &Step| self.conn.at(s, &step, true);
        let mut mute = false;
        let mut bye = false;
        for f in self.conn.faults() {
            match f {
                Fault::ByeInstead(s) if hit(s) => bye = true,
                Fault::CutUnanswered(s, c) if hit(s) => {
                    mute = true;
                    self.hold_tagged = Some(*c);
                }
                Fault::CutBeforeTagged(s, c) if hit(s) => self.hold_tagged = Some(*c),
                Fault::InjectBeforeTagged(s, b) if hit(s) => self.inject = Some(b.clone()),
                Fault::ReplyInstead(s, r) if hit(s) => instead = Some(r.clone()),
                _ => {}
            }
        }
        if bye {
            self.conn
                .write_through(b"* BYE scripted server shutting down\r\n")?;
            return Err(End::Cut(Close::Fin));
        }
        self.conn.mute |= mute;
        if is_login {
            instead = self.conn.login_reply().or(instead);
        }
        if self.conn.garbage(&step) {
            self.conn.send_garbage();
            return self.conn.commit();
        }
        if let Some(r) = instead {
            if is_login {
                self.conn.refused_login();
                if cmd.name == "AUTHENTICATE" && !self.conn.config.has_cap("SASL-IR") {
                    // The client response still has to be read.
                    self.send("+ ")?;
                    let mut line = Vec::new();
                    self.conn.reader().read_until(b'\n', &mut line)?;
                }
            }
            return self.tagged(&cmd.tag, &r);
        }
        let login_ok = self.execute(&cmd)?;
        self.after(&step, login_ok)
    }

    /// Runs a command; returns whether it was a successful login.
    fn execute(&mut self, cmd: &Command) -> Result<bool, End> {
        let tag = cmd.tag.as_str();
        let args = cmd.args.as_slice();
        let authenticated = self.state != SessionState::NotAuthenticated;
        let selected = matches!(self.state, SessionState::Selected { .. });
        match (cmd.name.as_str(), authenticated, selected) {
            ("CAPABILITY", ..) => {
                self.no_args(cmd);
                let caps = self.conn.config.caps.join(" ");
                self.send(&format!("* CAPABILITY {caps}"))?;
                self.tagged(tag, "OK CAPABILITY completed")?;
            }
            ("NOOP", ..) | ("CHECK", _, true) => {
                self.no_args(cmd);
                self.tagged(tag, &format!("OK {} completed", cmd.name))?;
            }
            ("LOGOUT", ..) => {
                self.no_args(cmd);
                self.send("* BYE scripted IMAP server logging out")?;
                self.tagged(tag, "OK LOGOUT completed")?;
                let step = self.conn.step().clone();
                self.after(&step, false)?;
                return Err(End::Done);
            }
            ("LOGIN", false, _) => return self.login(cmd),
            ("AUTHENTICATE", false, _) => return self.authenticate(cmd),
            ("STARTTLS", false, _) => {
                self.violation("STARTTLS on an --insecure-no-tls connection".into());
                self.tagged(tag, "NO STARTTLS is not available here")?;
            }
            ("ENABLE", true, _) => self.enable(cmd)?,
            ("IDLE", _, true) if self.conn.config.has_cap("IDLE") => self.idle(cmd)?,
            ("LIST", true, _) => self.list(cmd)?,
            ("SELECT", true, _) => self.select(cmd, false)?,
            ("EXAMINE", true, _) => self.select(cmd, true)?,
            ("UID FETCH", _, true) => self.uid_fetch(cmd)?,
            ("UID STORE", _, true) => self.uid_store(cmd)?,
            ("UID SEARCH", _, true) => self.uid_search(cmd)?,
            ("UID EXPUNGE", _, true) => {
                if !self.conn.config.has_cap("UIDPLUS") {
                    self.bad(
                        tag,
                        "UID EXPUNGE although UIDPLUS was not advertised".into(),
                    )?;
                } else {
                    let set = args
                        .first()
                        .and_then(Tok::atom)
                        .and_then(super::parse::parse_set);
                    match (set, args.len()) {
                        (Some(set), 1) => self.expunge(tag, Some(&set), true)?,
                        _ => self.bad(tag, format!("UID EXPUNGE with bad arguments {args:?}"))?,
                    }
                }
            }
            ("EXPUNGE", _, true) => {
                self.no_args(cmd);
                self.expunge(tag, None, true)?;
            }
            ("CLOSE", _, true) => {
                self.no_args(cmd);
                self.expunge(tag, None, false)?;
                self.state = SessionState::Authenticated;
            }
            ("UNSELECT", _, true) if self.conn.config.has_cap("UNSELECT") => {
                self.no_args(cmd);
                self.state = SessionState::Authenticated;
                self.tagged(tag, "OK UNSELECT completed")?;
            }
            (name, ..) => {
                let known = [
                    "ENABLE",
                    "IDLE",
                    "LOGIN",
                    "AUTHENTICATE",
                    "STARTTLS",
                    "LIST",
                    "SELECT",
                    "EXAMINE",
                    "UID FETCH",
                    "UID STORE",
                    "UID SEARCH",
                    "UID EXPUNGE",
                    "EXPUNGE",
                    "CLOSE",
                    "CHECK",
                ];
                let what = if known.contains(&name) {
                    format!("{name} is not valid in state {:?}", self.state)
                } else {
                    format!("unknown or unsupported command {name:?}")
                };
                self.bad(tag, what)?;
            }
        }
        Ok(false)
    }

    pub(super) fn no_args(&self, cmd: &Command) {
        if !cmd.args.is_empty() {
            self.violation(format!("{} with arguments {:?}", cmd.name, cmd.args));
        }
    }

    fn login(&mut self, cmd: &Command) -> Result<bool, End> {
        let (user, pass) = match cmd.args.as_slice() {
            [u, p] if u.bytes().is_some() && p.bytes().is_some() => (
                String::from_utf8_lossy(u.bytes().unwrap()).into_owned(),
                String::from_utf8_lossy(p.bytes().unwrap()).into_owned(),
            ),
            _ => {
                self.bad(&cmd.tag, "LOGIN with bad arguments".into())?;
                return Ok(false);
            }
        };
        self.finish_login(&cmd.tag, &user, &pass)
    }

    fn authenticate(&mut self, cmd: &Command) -> Result<bool, End> {
        let tag = cmd.tag.as_str();
        let mech = cmd.args.first().and_then(Tok::atom).unwrap_or("");
        let upper = mech.to_ascii_uppercase();
        let known = ["PLAIN", "XOAUTH2", "OAUTHBEARER"].contains(&upper.as_str());
        if !known || !self.conn.config.has_cap(&format!("AUTH={upper}")) {
            self.violation(format!("AUTHENTICATE {mech} although not advertised"));
            self.tagged(tag, "NO unsupported mechanism")?;
            return Ok(false);
        }
        let response = match cmd.args.get(1) {
            Some(ir) => {
                if !self.conn.config.has_cap("SASL-IR") {
                    self.violation("initial response although SASL-IR was not advertised".into());
                }
                ir.atom().unwrap_or("").to_string()
            }
            None => {
                self.send("+ ")?;
                let mut raw = Vec::new();
                self.conn
                    .reader()
                    .take(64 * 1024)
                    .read_until(b'\n', &mut raw)?;
                if !raw.ends_with(b"\r\n") {
                    self.violation("AUTHENTICATE response not terminated by CRLF".into());
                }
                String::from_utf8_lossy(&raw)
                    .trim_end_matches(['\r', '\n'])
                    .to_string()
            }
        };
        if upper != "PLAIN" {
            return self.authenticate_oauth(tag, &upper, &response);
        }
        let (authzid, user, pass) = match sasl::plain(&response) {
            sasl::Plain::Cancelled => {
                self.tagged(tag, "BAD authentication cancelled")?;
                return Ok(false);
            }
            sasl::Plain::NotBase64 | sasl::Plain::Malformed => {
                self.violation(
                    "AUTHENTICATE PLAIN response is not base64(authzid NUL user NUL pass)".into(),
                );
                self.tagged(tag, "BAD malformed PLAIN response")?;
                return Ok(false);
            }
            sasl::Plain::Credentials {
                authzid,
                user,
                password,
            } => (authzid, user, password),
        };
        if !authzid.is_empty() && authzid != user {
            self.conn.refused_login();
            self.tagged(tag, "NO [AUTHORIZATIONFAILED] not authorized")?;
            return Ok(false);
        }
        self.finish_login(tag, &user, &pass)
    }

    /// AUTHENTICATE XOAUTH2 / OAUTHBEARER: a known token logs in; any other gets the error
    /// challenge, which the client must answer with the mechanism's dummy response, then `NO`.
    fn authenticate_oauth(&mut self, tag: &str, mech: &str, response: &str) -> Result<bool, End> {
        let (user, token) = match sasl::oauth(mech, response) {
            sasl::OAuth::Cancelled => {
                self.tagged(tag, "BAD authentication cancelled")?;
                return Ok(false);
            }
            sasl::OAuth::Malformed => {
                self.violation(format!("AUTHENTICATE {mech} response is malformed"));
                self.tagged(tag, "BAD malformed response")?;
                return Ok(false);
            }
            sasl::OAuth::Credentials { user, token } => (user, token),
        };
        if sasl::token_ok(&token) {
            return self.finish_login(tag, &user, super::PASSWORD);
        }
        self.conn.refused_login();
        let challenge = sasl::base64_encode(sasl::error_json(mech).as_bytes());
        self.send(&format!("+ {challenge}"))?;
        let mut raw = Vec::new();
        self.conn.reader().take(4096).read_until(b'\n', &mut raw)?;
        let answer = String::from_utf8_lossy(&raw)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        if answer != sasl::error_response(mech) {
            self.violation(format!(
                "AUTHENTICATE {mech} error challenge answered with {answer:?}"
            ));
        }
        self.tagged(tag, "NO [AUTHENTICATIONFAILED] Authentication failed.")?;
        Ok(false)
    }

    fn finish_login(&mut self, tag: &str, user: &str, pass: &str) -> Result<bool, End> {
        if !self.conn.login(user, pass) {
            self.tagged(tag, "NO [AUTHENTICATIONFAILED] Authentication failed.")?;
            return Ok(false);
        }
        self.state = SessionState::Authenticated;
        if self.conn.config.caps_in_greeting {
            let caps = self.conn.config.caps.join(" ");
            self.tagged(tag, &format!("OK [CAPABILITY {caps}] Logged in"))?;
        } else {
            self.tagged(tag, "OK Logged in")?;
        }
        Ok(true)
    }
}
