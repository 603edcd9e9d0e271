//! What the user sees on stderr: log lines, a progress bar on a terminal, the summary.
//!
//! stdout is reserved for data; everything here goes to stderr. On a terminal a progress bar
//! shows messages and bytes; on a pipe or in cron nothing is printed but errors (and, with
//! `-v`, the protocol log).
//!
//! Every line written here is made terminal-safe with [`crate::text::safe`] (the log formatter
//! [`init_logging`] included).

use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use indicatif::{DecimalBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::config::{Account, Verbosity};
use crate::engine::{CheckSummary, Listed, Progress, Summary};
use crate::exit::Exit;
use crate::select::{fit, HeaderSummary};
pub use crate::text::safe;

/// Sets up logging to stderr for the verbosity. Every line is made [`safe`], and written with
/// the progress bars out of the way (see [`LogWriter`]), so that no stale bar line stays on
/// screen above or inside a warning.
pub fn init_logging(v: Verbosity) {
    let level = match v {
        Verbosity::Quiet => log::LevelFilter::Error,
        Verbosity::Normal => log::LevelFilter::Warn,
        Verbosity::Verbose => log::LevelFilter::Debug,
        Verbosity::Trace => log::LevelFilter::Trace,
    };
    let _ = env_logger::Builder::new()
        .filter_level(log::LevelFilter::Off)
        .filter_module("mailpull", level)
        .format(|buf, record| {
            let prefix = match record.level() {
                log::Level::Error => "error: ",
                log::Level::Warn => "warning: ",
                _ => "",
            };
            let text = record.args().to_string();
            writeln!(buf, "mailpull: {prefix}{}", safe(&text))
        })
        .target(env_logger::Target::Pipe(Box::new(LogWriter)))
        .try_init();
}

/// The progress bars on screen now (one set per run: accounts fetched in parallel share it),
/// so that log lines can be written with them out of the way.
static SHOWN: Mutex<Vec<(u64, MultiProgress)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Runs `f` (which writes to stderr) with the progress bars on screen, if any, cleared first
/// and drawn again after. Every log line goes through here: code that already runs inside a
/// `MultiProgress::suspend` (a prompt) must print with `eprintln!`, not log, since indicatif's
/// suspend does not nest.
pub fn with_bars_hidden<R>(f: impl FnOnce() -> R) -> R {
    let shown = SHOWN
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .first()
        .map(|(_, m)| m.clone());
    match shown {
        Some(m) => m.suspend(f),
        None => f(),
    }
}

/// stderr for log lines: each record (written whole by the logger) goes out with the bars
/// hidden.
struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        with_bars_hidden(|| io::stderr().lock().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Whether stderr is an interactive terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// An account's progress bar on stderr, shown only on a terminal at normal verbosity: two lines,
/// the account (cut to a third of the terminal's width) with the bar, then the messages, bytes,
/// rate, elapsed time and estimated time left. The totals are the account's, across all its
/// folders: each folder's new messages are added when the folder's transfer starts. The last
/// state stays on screen, above the summary line, which it agrees with.
pub struct Bar {
    /// Whether bars are shown at all (a terminal, normal verbosity).
    show: bool,
    /// The set the bar is drawn in: the run's (shared by parallel accounts, and suspended for
    /// prompts), or, when there is none, its own.
    multi: MultiProgress,
    /// Whether `multi` is the bar's own: nobody else can suspend it for a prompt (`--pick`), so
    /// the bar is taken off the screen between folders.
    own: bool,
    /// The bar, while on screen.
    bar: Option<ProgressBar>,
    label: String,
    /// This account's totals so far: messages and bytes expected, messages and bytes done.
    total_messages: u64,
    total_bytes: u64,
    done: u64,
    bytes: u64,
    started: Option<std::time::Instant>,
    /// The bar's entry in [`SHOWN`].
    id: u64,
}

/// A set of progress bars for the accounts of a run, when bars are shown at all.
pub fn multi_progress(verbosity: Verbosity, accounts: usize) -> Option<MultiProgress> {
    (accounts > 0 && verbosity == Verbosity::Normal && stderr_is_terminal())
        .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
}

impl Bar {
    pub fn new(verbosity: Verbosity, label: &str, multi: Option<&MultiProgress>) -> Bar {
        Bar {
            show: verbosity == Verbosity::Normal && stderr_is_terminal(),
            multi: multi
                .cloned()
                .unwrap_or_else(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            own: multi.is_none(),
            bar: None,
            label: label.to_string(),
            total_messages: 0,
            total_bytes: 0,
            done: 0,
            bytes: 0,
            started: None,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// Puts the bar on screen with the totals so far.
    fn draw(&mut self) -> ProgressBar {
        if let Some(bar) = &self.bar {
            return bar.clone();
        }
        let width = dialoguer::console::Term::stderr().size().1 as usize;
        let started = *self.started.get_or_insert_with(std::time::Instant::now);
        let bar =
            ProgressBar::with_draw_target(Some(self.total_bytes), ProgressDrawTarget::hidden())
                .with_elapsed(started.elapsed())
                .with_position(self.bytes);
        bar.set_style(style());
        bar.set_prefix(short_label(&safe(&self.label), (width / 3).max(12)));
        bar.set_message(format!("{}/{} messages", self.done, self.total_messages));
        let bar = self.multi.add(bar);
        SHOWN
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((self.id, self.multi.clone()));
        self.bar = Some(bar.clone());
        bar
    }

    /// Takes the bar off the screen (its totals are kept).
    fn hide(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            self.multi.remove(&bar);
            SHOWN
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|(id, _)| *id != self.id);
        }
    }
}

/// The bar's two lines: `{prefix} {wide_bar}`, then the counts, rate, elapsed and ETA.
fn style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix} {wide_bar}\n  {msg}, {decimal_bytes}/{decimal_total_bytes}, \
         {decimal_bytes_per_sec}, {elapsed_clock} elapsed, ETA {eta_clock}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .with_key(
        "elapsed_clock",
        |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&clock(s.elapsed()));
        },
    )
    .with_key(
        "eta_clock",
        |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&if s.pos() == 0 && !s.is_finished() {
                "-:--".to_string()
            } else {
                // Rounded up: "0:00" only once nothing is left.
                let eta = s.eta();
                clock(
                    eta + std::time::Duration::from_nanos(
                        u64::from(eta.subsec_nanos() > 0) * 999_999_999,
                    ),
                )
            });
        },
    )
}

/// `m:ss`, or `h:mm:ss` from an hour on.
pub fn clock(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s / 3600 {
        0 => format!("{}:{:02}", s / 60, s % 60),
        h => format!("{h}:{:02}:{:02}", s / 60 % 60, s % 60),
    }
}

/// An account's label in at most `room` characters: a URL without its scheme, then cut in the
/// middle (`alice@mail.exa…ple.org`).
pub fn short_label(label: &str, room: usize) -> String {
    let len = |s: &str| s.chars().count();
    if len(label) <= room {
        return label.to_string();
    }
    let label = label.split_once("://").map_or(label, |(_, rest)| rest);
    if len(label) <= room {
        return label.to_string();
    }
    let keep = room.saturating_sub(1);
    let head: String = label.chars().take(keep - keep / 2).collect();
    let tail: String = label.chars().skip(len(label) - keep / 2).collect();
    format!("{head}…{tail}")
}

impl Progress for Bar {
    /// Adds a mailbox's new messages to the account's totals; nothing is shown before the
    /// first message to fetch.
    fn start(&mut self, messages: u64, bytes: u64) {
        if !self.show || messages == 0 {
            return;
        }
        self.total_messages += messages;
        self.total_bytes += bytes;
        let bar = self.draw();
        bar.set_length(self.total_bytes);
        bar.set_message(format!("{}/{} messages", self.done, self.total_messages));
    }

    fn bytes(&mut self, n: u64) {
        self.bytes += n;
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    fn message_done(&mut self) {
        self.done += 1;
        if let Some(bar) = &self.bar {
            if self.done == self.total_messages {
                // Sizes announced by the server may differ from the bytes delivered (line
                // ends): once all are in, the total is what was delivered, as in the summary.
                self.total_bytes = self.bytes;
                bar.set_length(self.bytes);
            }
            bar.set_message(format!("{}/{} messages", self.done, self.total_messages));
        }
    }

    /// A mailbox's transfer is over: the bar stays for the next one, unless a `--pick` prompt
    /// may come before it.
    fn finish(&mut self) {
        if self.own {
            self.hide();
        }
    }
}

impl Drop for Bar {
    /// The final state stays on screen.
    fn drop(&mut self) {
        if !self.show || self.total_messages == 0 {
            return;
        }
        let bar = self.draw();
        bar.set_message(format!("{}/{} messages", self.done, self.total_messages));
        bar.abandon();
        SHOWN
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(id, _)| *id != self.id);
    }
}

/// The one-line summary, e.g. `12 new messages, 3.4 MB, 12 deleted — alice@mail.example.org`.
pub fn summary_line(s: &Summary, label: &str) -> String {
    let mut parts = Vec::new();
    parts.push(match s.new {
        0 => "no new messages".to_string(),
        1 => "1 new message".to_string(),
        n => format!("{n} new messages"),
    });
    if s.new > 0 {
        parts.push(format!("{}", DecimalBytes(s.bytes)));
    }
    if s.deleted > 0 {
        parts.push(format!("{} deleted", s.deleted));
    }
    if s.deleted_unread > 0 {
        parts.push(format!(
            "{} of them not downloaded (too large or filtered)",
            s.deleted_unread
        ));
    }
    if s.skipped > 0 {
        parts.push(format!("{} too large, left on the server", s.skipped));
    }
    if s.deferred > 0 {
        parts.push(format!(
            "{} left for the next run (max_messages)",
            s.deferred
        ));
    }
    if s.left > 0 {
        parts.push(format!(
            "{} left on the server by the filter or --pick",
            s.left
        ));
    }
    if s.recovered > 0 {
        parts.push(format!("{} recovered from an interrupted run", s.recovered));
    }
    format!("{} — {label}", parts.join(", "))
}

/// The `check` line, e.g. `3 new messages (12.0 kB) of 40 — work`.
pub fn check_line(c: &CheckSummary, label: &str) -> String {
    match c.new {
        0 => format!("no new messages ({} on the server) — {label}", c.listed),
        n => format!(
            "{n} new message{} ({}) of {} on the server — {label}",
            if n == 1 { "" } else { "s" },
            DecimalBytes(c.bytes),
            c.listed
        ),
    }
}

/// The `--json` report: one object with an entry per account and totals.
pub fn json_report<'a>(
    accounts: &[Account],
    results: impl Iterator<Item = JsonIn<'a>>,
    exit: Exit,
    check: bool,
) -> serde_json::Value {
    let mut entries = Vec::new();
    let (mut new, mut bytes, mut deleted, mut skipped, mut errors) = (0u64, 0u64, 0u64, 0u64, 0u64);
    for (a, r) in accounts.iter().zip(results) {
        let errs: Vec<String> = r.error.into_iter().collect();
        errors += errs.len() as u64;
        let mut entry = json!({
            "account": a.label,
            "name": a.name,
            "server": a.server,
            "exit_code": r.exit.code(),
            "errors": errs,
        });
        if check {
            let c = r.check.cloned().unwrap_or_default();
            new += c.new as u64;
            bytes += c.bytes;
            entry["new"] = json!(c.new);
            entry["bytes"] = json!(c.bytes);
            entry["on_server"] = json!(c.listed);
        } else {
            let s = r.summary.cloned().unwrap_or_default();
            new += s.new as u64;
            bytes += s.bytes;
            deleted += s.deleted as u64;
            skipped += s.skipped as u64;
            entry["new"] = json!(s.new);
            entry["bytes"] = json!(s.bytes);
            entry["deleted"] = json!(s.deleted);
            entry["deleted_unread"] = json!(s.deleted_unread);
            entry["skipped"] = json!(s.skipped);
            entry["deferred"] = json!(s.deferred);
            entry["left"] = json!(s.left);
            entry["recovered"] = json!(s.recovered);
            entry["on_server"] = json!(s.listed);
        }
        entries.push(entry);
    }
    let totals = if check {
        json!({ "new": new, "bytes": bytes, "errors": errors })
    } else {
        json!({
            "new": new,
            "bytes": bytes,
            "deleted": deleted,
            "skipped": skipped,
            "errors": errors,
        })
    };
    json!({
        "command": if check { "check" } else { "fetch" },
        "accounts": entries,
        "totals": totals,
        "exit_code": exit.code(),
    })
}

/// The output of `mailpull list` on stdout: a table (cut to the terminal's width when stdout
/// is one) or, with `--json`, one JSON array of messages written at the end.
pub struct ListOutput {
    json: bool,
    only_new: bool,
    rows: Vec<serde_json::Value>,
    /// The account and mailbox of the last table line.
    place: Option<(String, String)>,
    /// The terminal's width, when stdout is a terminal.
    width: Option<usize>,
    out: io::BufWriter<io::Stdout>,
    /// The reader went away (`mailpull list | head`): stop writing, quietly.
    closed: bool,
}

impl ListOutput {
    pub fn new(json: bool, only_new: bool) -> ListOutput {
        let stdout = io::stdout();
        let width = stdout
            .is_terminal()
            .then(|| dialoguer::console::Term::stdout().size().1 as usize);
        ListOutput {
            json,
            only_new,
            rows: Vec::new(),
            place: None,
            width,
            out: io::BufWriter::new(stdout),
            closed: false,
        }
    }

    /// Adds one message.
    pub fn message(&mut self, account: &str, l: &Listed<'_>) -> io::Result<()> {
        if self.closed || (self.only_new && l.fetched) {
            return Ok(());
        }
        let s = l.header.map(HeaderSummary::parse).unwrap_or_default();
        if self.json {
            self.rows.push(json!({
                "account": account,
                "folder": l.mailbox,
                "number": l.message.number,
                "uid": l.message.uid,
                "size": l.message.size,
                "fetched": l.fetched,
                "date": s.date_rfc3339,
                "from": s.from,
                "subject": s.subject,
            }));
            return Ok(());
        }
        let r = self.line(account, l, &s);
        self.check(r)
    }

    fn line(&mut self, account: &str, l: &Listed<'_>, s: &HeaderSummary) -> io::Result<()> {
        let place = (account.to_string(), l.mailbox.to_string());
        if self.place.as_ref() != Some(&place) {
            if self.place.is_some() {
                writeln!(self.out)?;
            }
            // The folder name is the server's: shown safe, on one line.
            match l.mailbox {
                "" => writeln!(self.out, "{}", safe(account))?,
                m => writeln!(
                    self.out,
                    "{} {}",
                    safe(account),
                    safe(&m.replace('\n', " "))
                )?,
            }
            self.place = Some(place);
        }
        let state = if l.fetched { "fetched" } else { "new" };
        let size = DecimalBytes(l.message.size).to_string();
        let (from, subject) = match self.width {
            Some(w) => {
                let room = w.saturating_sub(8 + 9 + 18 + 26 + 11).max(10);
                (fit(&s.from, 24), fit(&s.subject, room))
            }
            None => (s.from.clone(), s.subject.clone()),
        };
        let line = format!(
            "{:>6}  {state:<7}  {:<16}  {from:<24}  {subject}  ({size})",
            l.message.number, s.date,
        );
        writeln!(self.out, "{}", safe(&line.replace('\n', " ")))
    }

    /// Turns a closed pipe into a quiet stop.
    fn check(&mut self, r: io::Result<()>) -> io::Result<()> {
        match r {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            r => r,
        }
    }

    /// Writes the JSON array (with `--json`) and flushes.
    pub fn finish(mut self) -> io::Result<()> {
        let r = (|| {
            if self.json && !self.closed {
                serde_json::to_writer_pretty(&mut self.out, &self.rows)?;
                writeln!(self.out)?;
            }
            self.out.flush()
        })();
        self.check(r)
    }
}

/// What the JSON report needs of one account's result.
pub struct JsonIn<'a> {
    pub summary: Option<&'a Summary>,
    pub check: Option<&'a CheckSummary>,
    pub error: Option<String>,
    pub exit: Exit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_cut_to_the_room_given() {
        assert_eq!(short_label("work", 26), "work");
        assert_eq!(
            short_label("imaps://alice@mail.example.org", 26),
            "alice@mail.example.org"
        );
        let cut = short_label("imaps://alice.longname@mail.provider.example.org:993", 26);
        assert_eq!(cut.chars().count(), 26, "{cut}");
        assert!(
            cut.starts_with("alice.longna") && cut.ends_with("ple.org:993"),
            "{cut}"
        );
        assert!(cut.contains('…'));
    }

    #[test]
    fn clock_reads_minutes_and_hours() {
        use std::time::Duration;
        assert_eq!(clock(Duration::from_secs(5)), "0:05");
        assert_eq!(clock(Duration::from_secs(65)), "1:05");
        assert_eq!(clock(Duration::from_secs(3 * 3600 + 62)), "3:01:02");
    }
}
