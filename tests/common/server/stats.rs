//! What a scripted server saw ([`Stats`], with the commands it [`Received`]), in words that
//! fit both protocols, and the [`DeleteCheck`] a test installs to verify deletion requests.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::Step;

/// Called at every deletion request (POP3 DELE, IMAP STORE of `\Deleted`) with the message's
/// key; an `Err` becomes a violation (e.g. "the message is not delivered yet").
pub type DeleteCheck<K> = Arc<dyn Fn(&K) -> Result<(), String> + Send + Sync>;

/// A command the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The connection number (1-based).
    pub conn: usize,
    /// The IMAP tag (empty for POP3).
    pub tag: String,
    /// The upper-case command name (`RETR`, `UID FETCH`, …; IMAP's `DONE` ends an IDLE); empty
    /// if unparseable.
    pub name: String,
    /// The command line without its line end (IMAP: credentials redacted).
    pub line: String,
}

/// What the server saw, per message key `K`. All counters are cumulative over connections.
#[derive(Clone, Debug, Default)]
pub struct Stats<K> {
    /// Connections accepted.
    pub connections: usize,
    /// Successful logins.
    pub logins: usize,
    /// Refused logins (wrong credentials or a refusing fault).
    pub failed_logins: usize,
    /// Message downloads begun, per message: POP3 RETR commands (also refused and cut ones),
    /// IMAP `BODY[]` literals (also cut ones).
    pub fetched: BTreeMap<K, usize>,
    /// Every download begun, in order (the n-th of a connection is what `nth` of the faults in
    /// message data names).
    pub fetch_log: Vec<K>,
    /// Downloads sent completely, per message.
    pub fetched_whole: BTreeMap<K, usize>,
    /// Header sections sent (IMAP `BODY[HEADER…]`), per message.
    pub headers: BTreeMap<K, usize>,
    /// Deletion requests carried out, per message: POP3 DELE answered `+OK`, IMAP STORE that
    /// flagged it `\Deleted`.
    pub deleted: BTreeMap<K, usize>,
    /// Messages removed (POP3: by a committed QUIT; IMAP: EXPUNGE, UID EXPUNGE, CLOSE), in
    /// order.
    pub expunged: Vec<K>,
    /// Every command, in order (SASL continuation lines are not included).
    pub commands: Vec<Received>,
    /// Client misbehaviour (malformed or misplaced commands, illegal pipelining, failed
    /// deletion checks).
    pub violations: Vec<String>,
    /// The most commands seen queued at once (1 = no pipelining).
    pub max_pipeline_depth: usize,
    /// Bytes received from the client.
    pub bytes_in: usize,
    /// Bytes sent to the client.
    pub bytes_out: usize,
    /// Protocol lines sent through an output filter (IMAP's mutations; literal data excluded).
    pub lines_out: usize,
    /// With [`super::Server::record_replies`]: every reply sent, with its connection and step,
    /// in order.
    pub replies: Vec<(usize, Step, Vec<u8>)>,
}

fn count<K: Ord + Borrow<Q>, Q: Ord + ?Sized>(map: &BTreeMap<K, usize>, k: &Q) -> usize {
    map.get(k).copied().unwrap_or(0)
}

impl<K: Ord + Clone> Stats<K> {
    /// Downloads begun of a message.
    pub fn fetched_of<Q: Ord + ?Sized>(&self, k: &Q) -> usize
    where
        K: Borrow<Q>,
    {
        count(&self.fetched, k)
    }

    /// Downloads of a message sent completely.
    pub fn whole_of<Q: Ord + ?Sized>(&self, k: &Q) -> usize
    where
        K: Borrow<Q>,
    {
        count(&self.fetched_whole, k)
    }

    /// Deletion requests carried out for a message.
    pub fn deleted_of<Q: Ord + ?Sized>(&self, k: &Q) -> usize
    where
        K: Borrow<Q>,
    {
        count(&self.deleted, k)
    }

    /// Commands with this name (upper case, e.g. `UID STORE`).
    pub fn commands_with(&self, name: &str) -> Vec<&Received> {
        self.commands.iter().filter(|c| c.name == name).collect()
    }

    /// What happened between an earlier snapshot and this one.
    pub fn since(&self, before: &Stats<K>) -> Stats<K> {
        let diff = |a: &BTreeMap<K, usize>, b: &BTreeMap<K, usize>| {
            a.iter()
                .filter_map(|(k, v)| {
                    let d = v - b.get(k).copied().unwrap_or(0);
                    (d > 0).then(|| (k.clone(), d))
                })
                .collect()
        };
        Stats {
            connections: self.connections - before.connections,
            logins: self.logins - before.logins,
            failed_logins: self.failed_logins - before.failed_logins,
            fetched: diff(&self.fetched, &before.fetched),
            fetch_log: self.fetch_log[before.fetch_log.len()..].to_vec(),
            fetched_whole: diff(&self.fetched_whole, &before.fetched_whole),
            headers: diff(&self.headers, &before.headers),
            deleted: diff(&self.deleted, &before.deleted),
            expunged: self.expunged[before.expunged.len()..].to_vec(),
            commands: self.commands[before.commands.len()..].to_vec(),
            violations: self.violations[before.violations.len()..].to_vec(),
            max_pipeline_depth: self.max_pipeline_depth,
            bytes_in: self.bytes_in - before.bytes_in,
            bytes_out: self.bytes_out - before.bytes_out,
            lines_out: self.lines_out - before.lines_out,
            replies: self.replies[before.replies.len()..].to_vec(),
        }
    }
}
