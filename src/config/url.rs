//! Server URLs: `pop3s://`, `pop3://`, `imaps://` and `imap://USER@HOST[:PORT]`, on the command
//! line, in the file's `url` keys, and in `ledger rename` and `import --as`. A password in a URL
//! is refused, and never shown in the error.

use super::{ConfigError, Protocol};
pub use crate::text::redact_url_password;

/// The parsed pieces of a server URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    pub protocol: Protocol,
    pub implicit_tls: bool,
    pub host: String,
    pub port: u16,
    pub user: String,
}

/// Parses `pop3s://`, `pop3://`, `imaps://` or `imap://USER@HOST[:PORT]`.
pub fn parse_url(s: &str) -> Result<ServerUrl, ConfigError> {
    let shown = redact_url_password(s);
    let bad = |why: &str| ConfigError::Usage(format!("invalid server URL {shown:?}: {why}"));
    let url = url::Url::parse(s).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => {
            bad("expected pop3s://, pop3://, imaps:// or imap://USER@HOST[:PORT]")
        }
        e => bad(&e.to_string()),
    })?;
    let (protocol, implicit_tls, default_port) = match url.scheme() {
        "pop3s" => (Protocol::Pop3, true, 995),
        "pop3" => (Protocol::Pop3, false, 110),
        "imaps" => (Protocol::Imap, true, 993),
        "imap" => (Protocol::Imap, false, 143),
        other => {
            return Err(bad(&format!(
                "unknown scheme {other:?}; use pop3s:// or imaps:// (TLS), pop3:// (STLS) or \
                 imap:// (STARTTLS)"
            )))
        }
    };
    if url.password().is_some() {
        return Err(ConfigError::Usage(format!(
            "invalid server URL {shown:?}: it contains a password; never put passwords in URLs \
             (they show in `ps` and shell history): use MAILPULL_PASSWORD or --password-command"
        )));
    }
    let user = percent_encoding::percent_decode_str(url.username())
        .decode_utf8()
        .map_err(|_| bad("the user name is not valid UTF-8"))?
        .into_owned();
    if user.is_empty() {
        return Err(bad(
            "no user name; write it before the host: pop3s://USER@HOST or imaps://USER@HOST",
        ));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("no host name"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "a server URL has no path, query or fragment (IMAP folders go in --folder or folders)",
        ));
    }
    let port = url.port().unwrap_or(default_port);
    if port == 0 {
        return Err(bad("port 0 is not a valid port"));
    }
    Ok(ServerUrl {
        protocol,
        implicit_tls,
        host,
        port,
        user,
    })
}
