//! What the user sees on stderr: log lines, a progress bar on a terminal, the summary.
//!
//! stdout is reserved for data; everything here goes to stderr. On a terminal a progress bar
//! shows messages and bytes; on a pipe or in cron nothing is printed but errors (and, with
//! `-v`, the protocol log).

use std::io::{IsTerminal, Write};

use indicatif::{DecimalBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::Verbosity;
use crate::engine::{Progress, Summary};

/// Sets up logging to stderr for the verbosity.
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
            writeln!(buf, "mailpull: {prefix}{}", record.args())
        })
        .target(env_logger::Target::Stderr)
        .try_init();
}

/// Whether stderr is an interactive terminal.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// A progress bar on stderr, shown only on a terminal at normal verbosity.
pub struct Bar {
    bar: Option<ProgressBar>,
    label: String,
    total_messages: u64,
    done: u64,
}

impl Bar {
    pub fn new(verbosity: Verbosity, label: &str) -> Bar {
        let show = verbosity == Verbosity::Normal && stderr_is_terminal();
        Bar {
            bar: show.then(|| ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr())),
            label: label.to_string(),
            total_messages: 0,
            done: 0,
        }
    }
}

impl Progress for Bar {
    fn start(&mut self, messages: u64, bytes: u64) {
        let Some(bar) = &self.bar else { return };
        if messages == 0 {
            self.bar = None;
            return;
        }
        bar.set_length(bytes);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} {wide_bar} {decimal_bytes}/{decimal_total_bytes} {msg} {decimal_bytes_per_sec}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(self.label.clone());
        bar.set_message(format!("0/{messages} messages"));
        bar.set_position(0);
        self.total_messages = messages;
    }

    fn bytes(&mut self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    fn message_done(&mut self) {
        if let Some(bar) = &self.bar {
            self.done += 1;
            bar.set_message(format!("{}/{} messages", self.done, self.total_messages));
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
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
    if s.recovered > 0 {
        parts.push(format!("{} recovered from an interrupted run", s.recovered));
    }
    format!("{} — {label}", parts.join(", "))
}
