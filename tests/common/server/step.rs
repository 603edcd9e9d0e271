//! The vocabulary of the scripted servers: the points of a session ([`Step`]), how a cut
//! connection closes ([`Close`]) and a session ends ([`End`]), and the faults the core carries
//! out itself ([`Action`]), which each protocol's fault type names through [`Fault`].

use std::fmt::Debug;
use std::io;

/// How a cut connection ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// An orderly close: shutdown, then the server reads and discards until the client closes
    /// (so that unread pipelined commands do not turn the close into a reset).
    Fin,
    /// An abortive close: `SO_LINGER` 0 and drop, which sends a TCP reset.
    Rst,
}

/// A point in one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The connection was accepted; nothing has been sent yet.
    Connect,
    /// The greeting.
    Greeting,
    /// The login command (POP3 PASS or AUTH, IMAP LOGIN or AUTHENTICATE); for the faults that
    /// strike after it, its successful completion.
    Login,
    /// The reply to the n-th (1-based) command with this name in the connection, e.g.
    /// `("DELE", 2)`, `("UID FETCH", 1)`. Case-insensitive; IMAP's UID commands are named with
    /// their `UID ` prefix.
    Reply(&'static str, usize),
}

impl Step {
    /// Whether this step, as a fault names it, is `actual`, a step of the session;
    /// `login` tells whether `actual` counts as [`Step::Login`].
    pub fn hits(&self, actual: &Step, login: bool) -> bool {
        match (self, actual) {
            (Step::Login, Step::Reply(..)) => login,
            (Step::Reply(a, n), Step::Reply(b, m)) => a.eq_ignore_ascii_case(b) && n == m,
            (a, b) => a == b,
        }
    }
}

/// How a session ends.
#[derive(Debug)]
pub enum End {
    /// The client left, or the session is over: close normally (FIN).
    Done,
    /// A fault cuts the connection.
    Cut(Close),
    /// A fault silences the server: nothing more is sent until the client leaves.
    Silent,
}

/// The result of serving a step: `Err` ends the session.
pub type Flow = Result<(), End>;

impl From<io::Error> for End {
    /// A failed read or write (the client went away) ends the session.
    fn from(_: io::Error) -> End {
        End::Done
    }
}

/// A fault the core carries out.
#[derive(Debug)]
pub enum Action<'a> {
    /// Close right after the step (its reply written).
    CutAfter(Step, Close),
    /// Close on receipt of the step's command, without executing or answering it.
    CutBefore(Step, Close),
    /// After the step, stop answering but keep the connection open until the client leaves.
    SilentAfter(Step),
    /// On receipt of the step's command, stop answering (without executing it).
    SilentBefore(Step),
    /// Send [`super::GARBAGE`] instead of the step's reply (the command is not executed).
    Garbage(&'a Step),
    /// Answer the login command with this instead of logging in (a failed login).
    LoginReply(&'a str),
    /// Send these bytes instead of the step's reply; the command still takes effect.
    Replace(&'a Step, &'a [u8]),
    /// Send these bytes right after the step's reply, in the same write.
    Append(&'a Step, &'a [u8]),
    /// At the `nth` (1-based) message data of the connection, send `after_bytes` bytes of it
    /// (as the protocol counts them), then close.
    CutInData {
        nth: usize,
        after_bytes: usize,
        close: Close,
    },
    /// Like [`Action::CutInData`], but stall instead of closing.
    StallInData { nth: usize, after_bytes: usize },
}

/// A protocol's fault, as the core and the suites see it.
pub trait Fault: Clone + Debug + PartialEq + Send + 'static {
    /// What the core does for this fault (`None`: the protocol carries it out).
    fn action(&self) -> Option<Action<'_>>;

    /// The message data this fault leaves incomplete: its number in the connection (1-based),
    /// and how many of its bytes get through when that decides it (`None`: incomplete whatever
    /// its length).
    fn spoils(&self) -> Option<(usize, Option<usize>)> {
        None
    }

    /// Whether the protocol carries out this fault by refusing the session in its greeting.
    fn refuses_greeting(&self) -> bool {
        false
    }

    /// Whether the fault strikes before a login can complete (so nothing can be fetched).
    fn prevents_login(&self) -> bool {
        self.refuses_greeting()
            || matches!(
                self.action(),
                Some(
                    Action::CutAfter(Step::Connect | Step::Greeting, _)
                        | Action::SilentAfter(Step::Connect | Step::Greeting)
                        | Action::Garbage(Step::Greeting)
                        | Action::LoginReply(_)
                )
            )
    }

    /// Whether the fault leaves the client waiting for a server that says nothing more.
    fn silences(&self) -> bool {
        matches!(
            self.action(),
            Some(Action::SilentAfter(_) | Action::SilentBefore(_) | Action::StallInData { .. })
        )
    }
}
