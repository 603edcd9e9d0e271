//! One POP3 session of the scripted server: the greeting, the command checks, the
//! AUTHORIZATION and TRANSACTION states and the UPDATE state at QUIT, on a [`Conn`] of the
//! core (which carries out the shared faults, records and writes).

use super::super::server::{sasl, Close, Conn, End, Flow, Step};
use super::{wire_data, Fault, Message, Pop3};

type C<'a, 'b> = &'a mut Conn<'b, Pop3>;

/// The transaction state of a logged-in session.
struct Maildrop {
    /// The mailbox at login; message number n is `messages[n - 1]`.
    messages: Vec<Message>,
    deleted: Vec<bool>,
}

/// The per-connection state of a session.
struct Session {
    /// The name given to USER.
    user: Option<String>,
    /// Set once logged in.
    maildrop: Option<Maildrop>,
    /// UTF-8 mode (RFC 6856) is on.
    utf8: bool,
}

/// Serves one connection.
pub fn serve(conn: C<'_, '_>) -> Flow {
    conn.after(&Step::Connect, false)?;
    let greeting_err = conn.find(|f| match f {
        Fault::GreetingErr(line) => Some(line.clone()),
        _ => None,
    });
    conn.begin(Step::Greeting);
    if let Some(line) = greeting_err {
        conn.send_line(&line);
        conn.commit()?;
        return Err(End::Done);
    }
    if conn.garbage(&Step::Greeting) {
        conn.send_garbage();
        conn.commit()?;
        return Err(End::Done);
    }
    let greeting = if conn.config.apop_timestamp {
        format!(
            "+OK POP3 scripted ready <{}.{}@scripted.test>",
            std::process::id(),
            conn.number
        )
    } else {
        "+OK POP3 scripted ready".to_string()
    };
    conn.send_line(&greeting);
    conn.after(&Step::Greeting, false)?;
    let mut s = Session {
        user: None,
        maildrop: None,
        utf8: false,
    };
    loop {
        let Some(line) = read_command(conn)? else {
            return Ok(());
        };
        s.command(conn, &line)?;
    }
}

/// Reads and checks the next command line; records it. `None` at EOF.
fn read_command(conn: C<'_, '_>) -> Result<Option<String>, End> {
    let Some(raw) = conn.read_line(4096)? else {
        return Ok(None);
    };
    // Bytes still queued behind this line were sent before our reply to it.
    let pending_bytes = conn.buffered() > 0;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let line = text.trim_end_matches(['\r', '\n']).to_string();
    let mut problems = Vec::new();
    if !raw.ends_with(b"\r\n") {
        problems.push("not terminated by CRLF".to_string());
    }
    if raw.len() > 255 {
        problems.push(format!("{} octets long (max 255)", raw.len()));
    }
    if line.bytes().any(|b| !(0x20..=0x7e).contains(&b)) {
        problems.push("contains non-printable bytes".to_string());
    }
    if line.contains("  ") || line.ends_with(' ') || line.starts_with(' ') {
        problems.push("bad spacing".to_string());
    }
    let keyword = line.split(' ').next().unwrap_or("");
    // Keywords are three or four characters (RFC 2449 §3); RFC 6856's UTF8 has a digit.
    if !(3..=4).contains(&keyword.len()) || !keyword.bytes().all(|b| b.is_ascii_alphanumeric()) {
        problems.push(format!("bad keyword {keyword:?}"));
    }
    if pending_bytes && !conn.config.has_capa("PIPELINING") {
        problems.push("pipelined although PIPELINING was not advertised".to_string());
    }
    conn.record("", &keyword.to_ascii_uppercase(), line.clone());
    for p in problems {
        conn.violation(format!("command {:?}: {p}", redact(&line)));
    }
    Ok(Some(line))
}

/// Hides credentials in a command line for violation messages.
fn redact(line: &str) -> String {
    let upper = line.to_ascii_uppercase();
    if upper.starts_with("PASS ") || upper.starts_with("AUTH ") {
        format!("{} <redacted>", &line[..4])
    } else {
        line.to_string()
    }
}

impl Session {
    fn md(&self) -> &Maildrop {
        self.maildrop.as_ref().expect("logged in")
    }

    fn command(&mut self, conn: C<'_, '_>, line: &str) -> Flow {
        let mut words = line.split(' ');
        let keyword = words.next().unwrap_or("").to_ascii_uppercase();
        let args: Vec<&str> = words.collect();
        let step = conn.command(&keyword);
        conn.before(&step)?;
        let login_cmd = matches!(keyword.as_str(), "PASS" | "AUTH") && self.maildrop.is_none();
        let result = self.dispatch(conn, line, &keyword, &args, &step);
        // The reply goes out whatever happened (a fault may end the session after it).
        let written = conn.commit();
        result?;
        written?;
        let logged_in = login_cmd && self.maildrop.is_some();
        if logged_in {
            // The faults after a login strike before the server looks at what came with it.
            conn.after(&Step::Login, true)?;
        }
        if login_cmd && conn.config.discard_after_login {
            let extra = conn.discard_buffered();
            if extra > 0 {
                conn.violation(format!(
                    "{extra} bytes arrived with {keyword} and were discarded"
                ));
            }
        }
        conn.after(&step, false)
    }

    fn dispatch(
        &mut self,
        conn: C<'_, '_>,
        line: &str,
        keyword: &str,
        args: &[&str],
        step: &Step,
    ) -> Flow {
        if conn.garbage(step) {
            conn.send_garbage();
            if keyword == "QUIT" {
                return Err(End::Done);
            }
            return Ok(());
        }
        match (keyword, self.maildrop.is_some()) {
            ("CAPA", _) => capa(conn, args),
            ("QUIT", false) => {
                conn.send_line("+OK bye");
                return Err(End::Done);
            }
            ("QUIT", true) => return self.quit(conn, args),
            ("NOOP", true) => simple(conn, args, "+OK"),
            ("USER", false) => self.user(conn, args),
            ("PASS", false) => self.pass(conn, line),
            ("AUTH", false) => return self.auth(conn, args),
            ("STLS", false) if conn.config.has_capa("STLS") => {
                conn.send_line("-ERR STLS is not available on this scripted server")
            }
            ("APOP", false) => conn.send_line("-ERR APOP not supported"),
            ("STAT", true) => self.stat(conn, args),
            ("LIST", true) => return self.listing(conn, args, false),
            ("UIDL", true) => return self.listing(conn, args, true),
            ("RETR", true) => return self.retr(conn, args),
            ("DELE", true) => self.dele(conn, args),
            ("RSET", true) => {
                if let Some(md) = self.maildrop.as_mut() {
                    md.deleted.iter_mut().for_each(|d| *d = false);
                }
                simple(conn, args, "+OK")
            }
            ("UTF8", true) if conn.config.has_capa("UTF8") => self.utf8_command(conn, args),
            (k, logged_in) => {
                let state = if logged_in {
                    "TRANSACTION"
                } else {
                    "AUTHORIZATION"
                };
                conn.violation(format!("{k} is not valid in the {state} state"));
                conn.send_line("-ERR unknown command or wrong state")
            }
        }
        Ok(())
    }

    /// RFC 6856 `UTF8`.
    fn utf8_command(&mut self, conn: C<'_, '_>, args: &[&str]) {
        if !args.is_empty() {
            conn.violation(format!("UTF8 with arguments {args:?}"));
        }
        let reply = conn
            .find(|f| match f {
                Fault::Utf8Reply(r) => Some(r.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "+OK UTF-8 mode enabled".to_string());
        if reply.starts_with("+OK") {
            self.utf8 = true;
        }
        conn.send_line(&reply)
    }

    fn user(&mut self, conn: C<'_, '_>, args: &[&str]) {
        if args.len() != 1 {
            conn.violation(format!("USER with {} arguments", args.len()));
        }
        self.user = args.first().map(|s| s.to_string());
        conn.send_line("+OK send PASS")
    }

    fn pass(&mut self, conn: C<'_, '_>, line: &str) {
        // The password is everything after "PASS " (it may contain spaces).
        let password = line.get(5..).unwrap_or("");
        let Some(user) = self.user.take() else {
            conn.violation("PASS without USER");
            conn.send_line("-ERR USER first");
            return;
        };
        self.finish_login(conn, &user, password)
    }

    fn auth(&mut self, conn: C<'_, '_>, args: &[&str]) -> Flow {
        let Some(mech) = args.first() else {
            conn.send_line("+OK methods follow");
            conn.send(b"PLAIN\r\n.\r\n");
            return Ok(());
        };
        if ["XOAUTH2", "OAUTHBEARER"].contains(&mech.to_ascii_uppercase().as_str())
            && conn.config.sasl_offers(mech)
        {
            return self.auth_oauth(conn, mech, args);
        }
        if !mech.eq_ignore_ascii_case("PLAIN") || !conn.config.sasl_offers("PLAIN") {
            conn.violation(format!("AUTH {mech} although not advertised"));
            conn.send_line("-ERR unsupported mechanism");
            return Ok(());
        }
        if args.len() > 2 {
            conn.violation(format!("AUTH with {} arguments", args.len()));
        }
        let response = match args.get(1) {
            Some(r) => r.to_string(),
            None => continuation(conn, b"+ \r\n")?,
        };
        match sasl::plain(&response) {
            sasl::Plain::Cancelled => conn.send_line("-ERR authentication cancelled"),
            sasl::Plain::NotBase64 => {
                conn.violation("AUTH PLAIN response is not valid base64");
                conn.send_line("-ERR invalid base64");
            }
            sasl::Plain::Malformed => {
                conn.violation("AUTH PLAIN response is not authzid NUL authcid NUL passwd");
                conn.send_line("-ERR malformed PLAIN response");
            }
            sasl::Plain::Credentials {
                authzid,
                user,
                password,
            } => {
                if !authzid.is_empty() && authzid != user {
                    conn.send_line("-ERR [AUTH] not authorized");
                } else {
                    self.finish_login(conn, &user, &password);
                }
            }
        }
        Ok(())
    }

    /// AUTH XOAUTH2 / OAUTHBEARER: a known token logs in; any other gets the error challenge,
    /// which the client must answer with the mechanism's dummy response, then `-ERR`.
    fn auth_oauth(&mut self, conn: C<'_, '_>, mech: &str, args: &[&str]) -> Flow {
        let response = match args.get(1) {
            Some(r) => r.to_string(),
            None => continuation(conn, b"+ \r\n")?,
        };
        let (user, token) = match sasl::oauth(mech, &response) {
            sasl::OAuth::Cancelled => {
                conn.send_line("-ERR authentication cancelled");
                return Ok(());
            }
            sasl::OAuth::Malformed => {
                conn.violation(format!("AUTH {mech} response is malformed"));
                conn.send_line("-ERR malformed response");
                return Ok(());
            }
            sasl::OAuth::Credentials { user, token } => (user, token),
        };
        if sasl::token_ok(&token) {
            self.finish_login(conn, &user, super::PASSWORD);
            return Ok(());
        }
        conn.refused_login();
        let challenge = format!(
            "+ {}\r\n",
            sasl::base64_encode(sasl::error_json(mech).as_bytes())
        );
        let answer = continuation(conn, challenge.as_bytes())?;
        if answer != sasl::error_response(mech) {
            conn.violation(format!(
                "AUTH {mech} error challenge answered with {answer:?}"
            ));
        }
        conn.send_line("-ERR [AUTH] Authentication failed");
        Ok(())
    }

    fn finish_login(&mut self, conn: C<'_, '_>, user: &str, password: &str) {
        if let Some(reply) = conn.login_reply() {
            conn.refused_login();
            conn.send_line(&reply);
            return;
        }
        if !conn.login(user, password) {
            conn.send_line("-ERR [AUTH] invalid user name or password");
            return;
        }
        let messages = conn.state().store.clone();
        let n = messages.len();
        self.maildrop = Some(Maildrop {
            messages,
            deleted: vec![false; n],
        });
        conn.send_line(&format!("+OK {user} has {n} messages"));
    }

    /// Parses a message number argument; answers `-ERR` (and records a violation) if it is
    /// not an existing, undeleted message.
    fn message_arg(&self, conn: C<'_, '_>, keyword: &str, arg: Option<&str>) -> Option<usize> {
        let md = self.md();
        let n = arg.and_then(|a| {
            (!a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
                .then(|| a.parse::<usize>().ok())
                .flatten()
        });
        let problem = match n {
            None => Some(format!("{keyword} with bad message number {arg:?}")),
            Some(n) if n == 0 || n > md.messages.len() => {
                Some(format!("{keyword} {n}: no such message"))
            }
            Some(n) if md.deleted[n - 1] => Some(format!("{keyword} {n}: message is deleted")),
            Some(_) => None,
        };
        if let Some(p) = problem {
            conn.violation(p);
            conn.send_line("-ERR no such message");
            return None;
        }
        n
    }

    fn stat(&self, conn: C<'_, '_>, args: &[&str]) {
        let md = self.md();
        let live: Vec<usize> = (1..=md.messages.len())
            .filter(|n| !md.deleted[n - 1])
            .collect();
        let size: u64 = live.iter().map(|&n| self.reported_size(conn, n)).sum();
        let count = live.len();
        simple(conn, args, &format!("+OK {count} {size}"))
    }

    /// The n-th message's size as reported by LIST and STAT (see [`Fault::ListSizeSkew`]).
    fn reported_size(&self, conn: &Conn<'_, Pop3>, n: usize) -> u64 {
        let skew = conn
            .find(|f| match f {
                Fault::ListSizeSkew(s) => Some(*s),
                _ => None,
            })
            .unwrap_or(0);
        let m = &self.md().messages[n - 1];
        let stored = m.wrapped.as_ref().unwrap_or(&m.raw);
        (stored.len() as i64 + skew).max(0) as u64
    }

    /// The n-th message's unique id as reported by UIDL (see [`Fault::DuplicateUidl`]).
    fn reported_uidl(&self, conn: &Conn<'_, Pop3>, n: usize) -> String {
        let md = self.md();
        if n == 2 && conn.has(|f| *f == Fault::DuplicateUidl) {
            return md.messages[0].uidl.clone();
        }
        md.messages[n - 1].uidl.clone()
    }

    /// LIST or UIDL, with or without an argument.
    fn listing(&self, conn: C<'_, '_>, args: &[&str], uidl: bool) -> Flow {
        let keyword = if uidl { "UIDL" } else { "LIST" };
        let item = |s: &Self, conn: &Conn<'_, Pop3>, n: usize| {
            if uidl {
                format!("{n} {}", s.reported_uidl(conn, n))
            } else {
                format!("{n} {}", s.reported_size(conn, n))
            }
        };
        if args.len() > 1 {
            conn.violation(format!("{keyword} with {} arguments", args.len()));
        }
        if let Some(arg) = args.first() {
            if let Some(n) = self.message_arg(conn, keyword, Some(arg)) {
                let line = format!("+OK {}", item(self, conn, n));
                conn.send_line(&line);
            }
            return Ok(());
        }
        let md = self.md();
        let mut out = String::from("+OK listing follows\r\n");
        for n in 1..=md.messages.len() {
            if !md.deleted[n - 1] {
                out.push_str(&item(self, conn, n));
                out.push_str("\r\n");
            }
        }
        if conn.has(
            |f| matches!(f, Fault::UnterminatedMultiline(k) if k.eq_ignore_ascii_case(keyword)),
        ) {
            conn.send(out.as_bytes());
            return Err(End::Cut(Close::Fin));
        }
        out.push_str(".\r\n");
        conn.send(out.as_bytes());
        Ok(())
    }

    fn retr(&self, conn: C<'_, '_>, args: &[&str]) -> Flow {
        if args.len() != 1 {
            conn.violation(format!("RETR with {} arguments", args.len()));
        }
        let Some(n) = self.message_arg(conn, "RETR", args.first().copied()) else {
            return Ok(());
        };
        let msg = &self.md().messages[n - 1];
        conn.fetch_begun(&msg.uidl);
        let nth = conn.count("RETR");
        if conn.has(|f| matches!(f, Fault::RetrErr { uidl } if *uidl == msg.uidl)) {
            conn.send_line("-ERR message is unavailable");
            return Ok(());
        }
        let raw = match &msg.wrapped {
            Some(w) if !self.utf8 => w,
            _ => &msg.raw,
        };
        let data = wire_data(raw);
        let head = format!("+OK {} octets\r\n", raw.len());
        let unterminated = conn.has(
            |f| matches!(f, Fault::UnterminatedMultiline(k) if k.eq_ignore_ascii_case("RETR")),
        );
        let fault = conn
            .data_fault(nth)
            .or_else(|| unterminated.then_some((usize::MAX, End::Cut(Close::Fin))));
        if let Some((cut_at, how)) = fault {
            let mut wire = data;
            wire.extend_from_slice(b".\r\n");
            let cut_at = if cut_at == usize::MAX {
                wire.len() - 3
            } else {
                cut_at.min(wire.len() - 1)
            };
            conn.send(head.as_bytes());
            conn.send(&wire[..cut_at]);
            return Err(how);
        }
        conn.send(head.as_bytes());
        conn.send(&data);
        conn.send(b".\r\n");
        conn.fetch_done(&msg.uidl);
        Ok(())
    }

    fn dele(&mut self, conn: C<'_, '_>, args: &[&str]) {
        if args.len() != 1 {
            conn.violation(format!("DELE with {} arguments", args.len()));
        }
        let Some(n) = self.message_arg(conn, "DELE", args.first().copied()) else {
            return;
        };
        let uidl = self.md().messages[n - 1].uidl.clone();
        if conn.has(|f| matches!(f, Fault::DeleErr { uidl: u } if *u == uidl)) {
            conn.send_line("-ERR cannot delete this message now");
            return;
        }
        if let Err(e) = conn.check_delete(&uidl) {
            conn.violation(format!("DELE {n} ({uidl}): {e}"));
        }
        self.maildrop.as_mut().expect("logged in").deleted[n - 1] = true;
        conn.tally(|s| *s.deleted.entry(uidl).or_insert(0) += 1);
        conn.send_line("+OK marked for deletion")
    }

    fn quit(&mut self, conn: C<'_, '_>, args: &[&str]) -> Flow {
        if !args.is_empty() {
            conn.violation(format!("QUIT with arguments {args:?}"));
        }
        let md = self.maildrop.take().expect("logged in");
        let quit_err = conn.find(|f| match f {
            Fault::QuitErr(line) => Some(line.clone()),
            _ => None,
        });
        if let Some(line) = quit_err {
            conn.send_line(&line);
            return Err(End::Done);
        }
        let gone: Vec<String> = md
            .messages
            .iter()
            .zip(&md.deleted)
            .filter(|(_, d)| **d)
            .map(|(m, _)| m.uidl.clone())
            .collect();
        {
            let mut st = conn.state();
            st.store.retain(|m| !gone.contains(&m.uidl));
            st.stats.expunged.extend(gone.iter().cloned());
        }
        let remaining = md.messages.len() - gone.len();
        conn.send_line(&format!("+OK {} deleted, {remaining} left", gone.len()));
        conn.after(&Step::Reply("QUIT", 1), false)?;
        Err(End::Done)
    }
}

fn simple(conn: C<'_, '_>, args: &[&str], reply: &str) {
    if !args.is_empty() {
        conn.violation(format!("unexpected arguments {args:?}"));
    }
    conn.send_line(reply)
}

fn capa(conn: C<'_, '_>, args: &[&str]) {
    if !args.is_empty() {
        conn.violation(format!("CAPA with arguments {args:?}"));
    }
    let mut out = String::from("+OK capability list follows\r\n");
    for c in &conn.config.capa {
        out.push_str(c);
        out.push_str("\r\n");
    }
    out.push_str(".\r\n");
    conn.send(out.as_bytes())
}

/// Sends a SASL challenge and reads the client's answer line (recorded as an `AUTH` step's
/// continuation, never as a command).
fn continuation(conn: C<'_, '_>, challenge: &[u8]) -> Result<String, End> {
    conn.send(challenge);
    conn.commit()?;
    let Some(raw) = conn.read_line(4096)? else {
        return Err(End::Done);
    };
    if !raw.ends_with(b"\r\n") {
        conn.violation("AUTH continuation not terminated by CRLF");
    }
    Ok(String::from_utf8_lossy(&raw)
        .trim_end_matches(['\r', '\n'])
        .to_string())
}
