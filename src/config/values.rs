//! Plain values and where things live: sizes, durations and seconds as users write them (with
//! the limits that keep them sane), `~` expansion, and the default paths of the configuration
//! file and the ledger.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ConfigError;

/// The largest size accepted for a size limit: 1 PiB (no message comes near it; anything
/// larger is a typo, and sizes beyond 16 EiB would silently saturate).
pub const MAX_SIZE: u64 = 1 << 50;

/// The longest duration accepted anywhere (timeouts, intervals, `--lock-wait`): 366 days.
/// Anything longer is a mistake, and durations near the limits of the clock would overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

/// `text` quoted for an error message, cut to a short prefix.
pub(super) fn quote(text: &str) -> String {
    const SHOWN: usize = 40;
    if text.chars().count() <= SHOWN {
        format!("{text:?}")
    } else {
        let cut: String = text.chars().take(SHOWN).collect();
        format!("{cut:?}…")
    }
}

/// Parses a size such as `10MB`, `10 MiB`, `500k` or `123` (bytes), at most [`MAX_SIZE`].
pub fn parse_size(s: &str) -> Result<u64, String> {
    let size = s
        .trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| {
            format!(
                "{} is not a size (examples: 500k, 10MB, 1.5GiB, 2048)",
                quote(s)
            )
        })?;
    check_size(size).map_err(|e| format!("{}: {e}", quote(s)))
}

/// Refuses sizes above [`MAX_SIZE`].
pub(super) fn check_size(size: u64) -> Result<u64, String> {
    if size > MAX_SIZE {
        return Err("too large: a size limit is at most 1 PiB".into());
    }
    Ok(size)
}

/// Refuses durations above [`MAX_DURATION`].
pub fn check_duration(d: Duration) -> Result<Duration, String> {
    if d > MAX_DURATION {
        return Err(format!(
            "too long: at most 366 days ({} seconds)",
            MAX_DURATION.as_secs()
        ));
    }
    Ok(d)
}

/// Parses a time given on the command line (`--timeout`, `--mda-timeout`, `--lock-wait`) as
/// the configuration takes it: a number of seconds (`30`) or a duration (`30s`, `2m`,
/// `1h 30m`) of whole seconds; at most [`MAX_DURATION`].
pub fn parse_seconds(s: &str) -> Result<u64, String> {
    if let Ok(secs) = s.trim().parse::<u64>() {
        check_duration(Duration::from_secs(secs))?;
        return Ok(secs);
    }
    let d = humantime::parse_duration(s.trim()).map_err(|_| {
        format!(
            "{} is not a number of seconds or a duration (examples: 30, 30s, 5m)",
            quote(s)
        )
    })?;
    if d.subsec_nanos() != 0 {
        return Err(format!("{}: whole seconds only", quote(s)));
    }
    check_duration(d)?;
    Ok(d.as_secs())
}

/// Parses a duration such as `30s`, `5m`, `1h 30m` (humantime), at most [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        format!(
            "{} is not a duration: {e} (examples: 30s, 5m, 1h)",
            quote(s)
        )
    })?;
    check_duration(d).map_err(|e| format!("{}: {e}", quote(s)))
}

/// The user's home directory.
pub(super) fn home() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf())
}

/// Expands a leading `~/`.
pub fn expand_tilde(p: &Path) -> PathBuf {
    match p.strip_prefix("~") {
        Ok(rest) => match home() {
            Some(h) => h.join(rest),
            None => p.to_path_buf(),
        },
        Err(_) => p.to_path_buf(),
    }
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "mailpull")
}

/// The default ledger: `$XDG_DATA_HOME/mailpull/ledger.sqlite`, i.e.
/// `~/.local/share/mailpull/ledger.sqlite` on Linux.
pub fn default_ledger() -> Result<PathBuf, ConfigError> {
    project_dirs()
        .map(|d| d.data_dir().join("ledger.sqlite"))
        .ok_or_else(|| {
            ConfigError::Invalid(
                "cannot find your home directory to place the ledger; set HOME or use --ledger"
                    .into(),
            )
        })
}

/// The default configuration file: `$XDG_CONFIG_HOME/mailpull/config.toml`.
pub fn default_config_path() -> Option<PathBuf> {
    project_dirs().map(|d| d.config_dir().join("config.toml"))
}
