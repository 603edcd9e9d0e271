//! What the user sees on stderr: progress bar on a terminal, log lines, the summary.
