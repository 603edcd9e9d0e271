//! Acting on requests: the fetch engine's [`ReceiptHook`], and [`answer`], which carries out
//! one answer for the hook and for `mailpull receipts`.
//!
//! Sending follows the ledger's state machine so that a receipt is never sent twice: the
//! request moves to `approved`, then to `sending` in a committed transaction *before* the
//! transport is started, and to `sent` after the transport accepted the receipt. A request
//! found in `sending` (the run died, or the SMTP transaction broke off) is never sent again
//! automatically.

use super::mdn::{self, MdnInput};
use super::prompt::{self, Answer};
use super::transport::{SendError, Transport};
use super::{detect, Detection, ReceiptPolicy, ReceiptSettings};
use crate::engine::ReceiptHook;
use crate::ledger::{Ledger, LedgerError, MessageKey, NewReceipt, Policy, Receipt, ReceiptState};

/// How one account sends receipts.
#[derive(Clone, Debug, Default)]
pub struct Sending {
    /// The user's address (From, Final-Recipient), if known.
    pub from: Option<String>,
    pub transport: Option<Transport>,
    /// Why there is no usable transport, if the configuration is wrong.
    pub problem: Option<String>,
}

impl Sending {
    /// From an account's receipt settings; `user` (the account's login) is the address when
    /// `from` is not set and the login looks like one.
    pub fn new(settings: &ReceiptSettings, user: &str) -> Sending {
        let Some(t) = &settings.transport else {
            return Sending {
                from: user.contains('@').then(|| user.to_string()),
                ..Default::default()
            };
        };
        let from = t
            .from
            .clone()
            .or_else(|| user.contains('@').then(|| user.to_string()));
        match Transport::from_config(t) {
            Ok(transport) => Sending {
                from,
                transport: transport.map(|t| super::token_source(t, settings)),
                problem: None,
            },
            Err(e) => Sending {
                from,
                transport: None,
                problem: Some(e),
            },
        }
    }
}

/// What came of an answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    Declined,
    /// Left for later (the user's choice, or sending is not possible now); with the reason.
    Pending(Option<String>),
    /// The transaction broke off: the receipt may have been sent; it stays `sending`.
    MaybeSent(String),
    /// The request was already answered or is being sent by another run.
    AlreadyAnswered(ReceiptState),
}

/// Carries out `answer` for request `r`. Ledger failures are errors; everything else is an
/// [`Outcome`] the caller reports.
pub fn answer(
    ledger: &mut Ledger,
    r: &Receipt,
    answer: Answer,
    sending: &Sending,
) -> Result<Outcome, LedgerError> {
    use ReceiptState::*;
    let at = crate::time::unix_now();
    match answer {
        Answer::Later | Answer::LaterForAll => Ok(Outcome::Pending(None)),
        Answer::DontSend | Answer::NeverForSender | Answer::DontSendAny => {
            if answer == Answer::NeverForSender {
                ledger.set_sender_policy(&r.requester, Policy::Never, at)?;
            }
            if ledger.set_receipt_state(r.id, &[Pending, Approved], Declined, None, at)? {
                Ok(Outcome::Declined)
            } else {
                Ok(Outcome::AlreadyAnswered(current(ledger, r)?))
            }
        }
        Answer::Send | Answer::AlwaysForSender => {
            if answer == Answer::AlwaysForSender {
                ledger.set_sender_policy(&r.requester, Policy::Always, at)?;
            }
            send(ledger, r, sending)
        }
    }
}

fn current(ledger: &Ledger, r: &Receipt) -> Result<ReceiptState, LedgerError> {
    Ok(ledger.receipt(r.id)?.map(|x| x.state).unwrap_or(r.state))
}

/// Sends the receipt for an approved request (see the module documentation for the states).
fn send(ledger: &mut Ledger, r: &Receipt, sending: &Sending) -> Result<Outcome, LedgerError> {
    use ReceiptState::*;
    let state = current(ledger, r)?;
    if !matches!(state, Pending | Approved) {
        return Ok(Outcome::AlreadyAnswered(state));
    }
    let Some(transport) = &sending.transport else {
        let why = sending.problem.clone().unwrap_or_else(|| {
            "no way to send receipts is configured: set smtp or sendmail under [receipts] in the \
             configuration"
                .into()
        });
        return Ok(Outcome::Pending(Some(why)));
    };
    let Some(from) = &sending.from else {
        return Ok(Outcome::Pending(Some(
            "your address is not configured: set from under [receipts]".into(),
        )));
    };
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    let message = match mdn::build(&MdnInput {
        from,
        to: &r.requester,
        message_id: r.message_id.as_deref(),
        original_recipient: r.original_recipient.as_deref(),
        subject: &r.subject,
        date: &r.date,
        host: &host,
    }) {
        Ok(m) => m,
        Err(e) => return Ok(Outcome::Pending(Some(e.to_string()))),
    };
    let at = crate::time::unix_now();
    if !ledger.set_receipt_state(r.id, &[Pending, Approved], Approved, None, at)? {
        return Ok(Outcome::AlreadyAnswered(current(ledger, r)?));
    }
    // Committed before anything leaves: a crash from here on leaves `sending`.
    if !ledger.set_receipt_state(r.id, &[Approved], Sending, None, at)? {
        return Ok(Outcome::AlreadyAnswered(current(ledger, r)?));
    }
    match transport.send(&r.requester, &message) {
        Ok(()) => {
            ledger.set_receipt_state(r.id, &[Sending], Sent, None, crate::time::unix_now())?;
            Ok(Outcome::Sent)
        }
        Err(SendError::NotSent(e)) => {
            ledger.set_receipt_state(
                r.id,
                &[Sending],
                Pending,
                Some(&e),
                crate::time::unix_now(),
            )?;
            Ok(Outcome::Pending(Some(format!(
                "the receipt was not sent: {e}"
            ))))
        }
        Err(SendError::Unknown(e)) => {
            ledger.set_receipt_state(
                r.id,
                &[Sending],
                Sending,
                Some(&e),
                crate::time::unix_now(),
            )?;
            Ok(Outcome::MaybeSent(e))
        }
    }
}

/// Tells the user what came of an answer (stderr), terminal-safe: the requester comes from a
/// message and `why` may quote an SMTP server.
pub fn report(r: &Receipt, outcome: &Outcome, transport: Option<&Transport>) {
    let line = report_line(r, outcome, transport);
    eprintln!("{}", crate::text::safe(&line));
}

fn report_line(r: &Receipt, outcome: &Outcome, transport: Option<&Transport>) -> String {
    let what = format!("read receipt {} (to {})", r.id, r.requester);
    match outcome {
        Outcome::Sent => format!(
            "mailpull: {what} sent{}",
            transport
                .map(|t| format!(" via {}", t.describe()))
                .unwrap_or_default()
        ),
        Outcome::Declined => format!("mailpull: {what} declined; none will be sent"),
        Outcome::Pending(None) => {
            format!("mailpull: {what} left for later (mailpull receipts review)")
        }
        Outcome::Pending(Some(why)) => {
            format!("mailpull: {what} not sent: {why}; the request stays pending")
        }
        Outcome::MaybeSent(why) => format!(
            "mailpull: warning: {what}: {why}; it is listed as \"may have been sent\" and will \
             not be sent again unless you say so"
        ),
        Outcome::AlreadyAnswered(s) => {
            format!("mailpull: {what} was already {}", state_text(*s))
        }
    }
}

/// How a state reads in messages and listings.
pub fn state_text(s: ReceiptState) -> &'static str {
    match s {
        ReceiptState::Pending => "pending",
        ReceiptState::Approved => "approved, not sent",
        ReceiptState::Sending => "may have been sent",
        ReceiptState::Sent => "sent",
        ReceiptState::Declined => "declined",
    }
}

/// The fetch engine's hook for one account.
pub struct Hook<'a> {
    pub account: String,
    pub settings: ReceiptSettings,
    pub sending: Sending,
    /// Ask on the terminal now (stdin and stderr are terminals, messages are not on stdout).
    pub interactive: bool,
    pub multi: Option<&'a indicatif::MultiProgress>,
    /// Requests left pending in this run.
    pub queued: usize,
    /// What the user said for every remaining request of this run ("decide later for all",
    /// "don't send for any", or the answer to the batch question), if anything.
    pub rest: Option<Rest>,
    /// Whether the batch question was asked already (at most once per run).
    batch_asked: bool,
    /// New requests of this run (all folders so far) that would have been asked about
    /// individually: the batch question comes once they pass [`BATCH_QUESTION_ABOVE`].
    would_ask: usize,
    /// Requests declined by "don't send for any of these" / "send none", told at the end.
    declined: usize,
}

/// An answer for every remaining request of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rest {
    /// Ask no more: the rest stay pending (remembered "never" senders are still declined).
    Later,
    /// Decline the rest, whatever was remembered for their senders: none is sent.
    Decline,
}

/// More new requests than this in one run of an account on a terminal (counted over all its
/// folders): one question first (review them one by one, decide later, send none) instead of
/// a prompt storm — before the first request of a folder that takes the run past it.
pub const BATCH_QUESTION_ABOVE: usize = 5;

impl<'a> Hook<'a> {
    /// The hook for fetching the account named `label` (whose user name is `user`): it asks
    /// only when stdin and stderr are terminals and messages do not go to stdout
    /// (`to_stdout`).
    pub fn new(
        label: &str,
        user: &str,
        settings: &ReceiptSettings,
        to_stdout: bool,
        multi: Option<&'a indicatif::MultiProgress>,
    ) -> Hook<'a> {
        Hook {
            account: label.to_string(),
            settings: settings.clone(),
            sending: Sending::new(settings, user),
            interactive: settings.policy == ReceiptPolicy::Ask && prompt::can_ask() && !to_stdout,
            multi,
            queued: 0,
            rest: None,
            batch_asked: false,
            would_ask: 0,
            declined: 0,
        }
    }

    /// Decides one new request: a remembered answer, the user's answer, or the queue.
    ///
    /// Without a terminal nothing is ever sent: a remembered "always" waits for a run on a
    /// terminal (or `mailpull receipts`), while a remembered "never" declines at once.
    fn decide(&mut self, ledger: &mut Ledger, r: &Receipt, ask: bool) -> Result<(), LedgerError> {
        let interactive = self.interactive && ask && self.rest != Some(Rest::Later);
        let choice = match (ledger.sender_policy(&r.requester)?, interactive) {
            _ if self.rest == Some(Rest::Decline) => Answer::DontSend,
            (Some(Policy::Never), _) => Answer::DontSend,
            (Some(Policy::Always), true) => Answer::Send,
            (None, true) => prompt::ask(r, &self.account, self.multi),
            (_, false) => {
                self.queued += 1;
                return Ok(());
            }
        };
        match choice {
            Answer::LaterForAll => self.rest = Some(Rest::Later),
            Answer::DontSendAny => self.rest = Some(Rest::Decline),
            _ => {}
        }
        let outcome = answer(ledger, r, choice, &self.sending)?;
        if matches!(outcome, Outcome::Pending(_)) {
            self.queued += 1;
        }
        if self.rest == Some(Rest::Decline) && choice != Answer::DontSendAny {
            // Told once, at the end (`finish`), instead of a line per request.
            if outcome == Outcome::Declined {
                self.declined += 1;
            }
        } else if interactive {
            let show = || report(r, &outcome, self.sending.transport.as_ref());
            match self.multi {
                Some(m) => m.suspend(show),
                None => show(),
            }
        } else {
            log::info!(
                "read receipt {} (to {}): {outcome:?} (you chose never for this sender)",
                r.id,
                r.requester
            );
        }
        Ok(())
    }

    /// When more than [`BATCH_QUESTION_ABOVE`] requests of this run — earlier folders' and
    /// `requests` (this folder's) — would be asked about, asks one question first (once per
    /// run): review them, decide later, or send none. Its answer holds for the rest of the run.
    fn batch(&mut self, ledger: &Ledger, requests: &[i64]) -> Result<(), LedgerError> {
        let mut would_ask = 0;
        for id in requests {
            if let Some(r) = ledger.receipt(*id)? {
                if matches!(r.state, ReceiptState::Pending | ReceiptState::Approved)
                    && ledger.sender_policy(&r.requester)?.is_none()
                {
                    would_ask += 1;
                }
            }
        }
        let earlier = self.would_ask;
        self.would_ask += would_ask;
        if self.would_ask <= BATCH_QUESTION_ABOVE || would_ask == 0 {
            return Ok(());
        }
        self.batch_asked = true;
        self.rest = match prompt::ask_batch(would_ask, earlier, &self.account, self.multi) {
            prompt::Batch::Review => None,
            prompt::Batch::Later => Some(Rest::Later),
            prompt::Batch::SendNone => Some(Rest::Decline),
        };
        Ok(())
    }

    /// The one line telling the user that requests wait (call after the fetch).
    pub fn finish(&self) {
        if self.declined > 0 {
            let line = format!(
                "mailpull: {}: {} read receipt request(s) declined as you asked; none will be sent",
                self.account, self.declined
            );
            match self.multi {
                Some(m) => m.suspend(|| eprintln!("{}", crate::text::safe(&line))),
                None => eprintln!("{}", crate::text::safe(&line)),
            }
        }
        if self.queued > 0 {
            log::warn!(
                "{}: {} read receipt request(s) wait for your answer: run `mailpull receipts \
                 review` on a terminal (or `mailpull receipts` to list them)",
                self.account,
                self.queued
            );
        }
    }

    fn delivered_(
        &mut self,
        ledger: &mut Ledger,
        account: i64,
        mailbox: &str,
        uidvalidity: u32,
        requests: Vec<i64>,
        ask: bool,
    ) -> Result<Vec<(i64, String)>, LedgerError> {
        if self.interactive && ask && self.rest.is_none() && !self.batch_asked {
            self.batch(ledger, &requests)?;
        }
        for id in requests {
            if let Some(r) = ledger.receipt(id)? {
                self.decide(ledger, &r, ask)?;
            }
        }
        ledger.receipt_flags_pending(account, mailbox, uidvalidity)
    }
}

impl ReceiptHook for Hook<'_> {
    fn request(
        &mut self,
        mailbox: &str,
        uidvalidity: u32,
        uid: &str,
        header: &[u8],
    ) -> Option<NewReceipt> {
        if self.settings.policy == ReceiptPolicy::Never {
            return None;
        }
        match detect(header) {
            Detection::None => None,
            Detection::Refused(why) => {
                log::warn!(
                    "{}: message {uid} asks for a read receipt, which mailpull will not send: \
                     {why}",
                    self.account
                );
                None
            }
            Detection::Request(req) => Some(req.to_new(Some(MessageKey {
                mailbox: mailbox.to_string(),
                uidvalidity,
                uid: uid.to_string(),
            }))),
        }
    }

    fn delivered(
        &mut self,
        ledger: &mut Ledger,
        account: i64,
        mailbox: &str,
        uidvalidity: u32,
        requests: Vec<i64>,
        ask: bool,
    ) -> Vec<(i64, String)> {
        match self.delivered_(ledger, account, mailbox, uidvalidity, requests, ask) {
            Ok(v) => v,
            Err(e) => {
                log::error!("{}: read receipts: {e}", self.account);
                Vec::new()
            }
        }
    }

    fn marked(&mut self, ledger: &mut Ledger, tokens: &[i64]) {
        if let Err(e) = ledger.receipt_flags_done(tokens) {
            log::error!("{}: read receipts: {e}", self.account);
        }
    }
}
