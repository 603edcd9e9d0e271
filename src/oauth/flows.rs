//! The flows of `mailpull auth login`, which get the first refresh token with the user at a
//! terminal (instructions on stderr):
//!
//! - the device authorization grant (RFC 8628): print the verification URL and the user code,
//!   then poll the token endpoint at the server's interval (longer after `slow_down`) until the
//!   user approved, declined, or the code expired;
//! - the authorization code grant with PKCE (RFC 7636) and a loopback redirect (RFC 8252):
//!   listen on 127.0.0.1 on a random port, print the authorization URL (optionally open it
//!   with `xdg-open`), wait for the browser's redirect, check its `state`, and exchange the
//!   code with the PKCE verifier.
//!
//! Both store the result through [`super::refresh::store_login`].

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use oauth2::{
    AuthorizationCode, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope,
    StandardDeviceAuthorizationResponse,
};

use super::http::{client, token_error, Http};
use super::refresh::store_login;
use super::settings::{OAuthSettings, Provider};
use super::store::TokenRecord;
use super::OAuthError;
use crate::text::safe;

/// Which flow to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Device,
    Loopback,
}

/// What `mailpull auth login` asks for, in plain values.
#[derive(Clone, Debug)]
pub struct LoginRequest<'a> {
    pub settings: &'a OAuthSettings,
    pub user: &'a str,
    /// `None`: the device flow where the provider has a device endpoint, else the loopback one.
    pub flow: Option<Flow>,
    /// Open the authorization URL with `xdg-open`.
    pub browser: bool,
    /// How long to wait for the user.
    pub timeout: Duration,
}

/// The flow `req` runs.
pub fn choose(req: &LoginRequest<'_>) -> Result<Flow, OAuthError> {
    let s = req.settings;
    match req.flow {
        Some(Flow::Device) if s.device_url.is_none() => Err(OAuthError::Config(format!(
            "--device: the provider {} has no device authorization endpoint{}",
            s.provider.name(),
            if s.provider == Provider::Google {
                " for mail (Google allows its mail scope only in the browser flow)"
            } else {
                " (set oauth2.device_url)"
            }
        ))),
        Some(Flow::Loopback) if s.auth_url.is_none() => Err(OAuthError::Config(
            "--loopback: no authorization endpoint (set oauth2.auth_url)".into(),
        )),
        Some(f) => Ok(f),
        None if s.device_url.is_some() => Ok(Flow::Device),
        None if s.auth_url.is_some() => Ok(Flow::Loopback),
        None => Err(OAuthError::Config(
            "oauth2: neither device_url nor auth_url is set, so there is no way to log in".into(),
        )),
    }
}

/// Runs the login flow and stores its tokens.
pub fn login(req: &LoginRequest<'_>) -> Result<TokenRecord, OAuthError> {
    let resp = match choose(req)? {
        Flow::Device => device(req)?,
        Flow::Loopback => loopback(req)?,
    };
    store_login(req.settings, req.user, &resp)
}

fn scopes(s: &OAuthSettings) -> Vec<Scope> {
    s.scopes.iter().cloned().map(Scope::new).collect()
}

fn device(req: &LoginRequest<'_>) -> Result<oauth2::basic::BasicTokenResponse, OAuthError> {
    let client = client(req.settings)?;
    let http = Http::new();
    let what = "OAuth 2 device authorization";
    let details: StandardDeviceAuthorizationResponse = client
        .exchange_device_code()
        .map_err(|e| OAuthError::Config(format!("{what}: {e}")))?
        .add_scopes(scopes(req.settings))
        .request(&http)
        .map_err(|e| token_error(e, what, "try again"))?;
    eprintln!(
        "To let mailpull read the mail of {}, open\n\n    {}\n\nin a browser and enter the code\n\n    {}\n",
        safe(req.user),
        safe(details.verification_uri().as_str()),
        safe(details.user_code().secret())
    );
    if let Some(complete) = details.verification_uri_complete() {
        eprintln!(
            "(or open {}, which carries the code)\n",
            safe(complete.secret())
        );
    }
    eprintln!("Waiting for you to sign in (Ctrl-C to stop)…");
    let _ = std::io::stderr().flush();
    let wait = req.timeout.min(details.expires_in());
    client
        .exchange_device_access_token(&details)
        .request(&http, std::thread::sleep, Some(wait))
        .map_err(|e| {
            use oauth2::DeviceCodeErrorResponseType as T;
            use oauth2::RequestTokenError as E;
            match &e {
                E::ServerResponse(r) if *r.error() == T::AccessDenied => {
                    OAuthError::Refused(format!("{what}: the sign-in was declined"))
                }
                E::ServerResponse(r) if *r.error() == T::ExpiredToken => OAuthError::Refused(
                    format!("{what}: the code expired before the sign-in; try again"),
                ),
                _ => token_error(e, what, "try again"),
            }
        })
}

fn loopback(req: &LoginRequest<'_>) -> Result<oauth2::basic::BasicTokenResponse, OAuthError> {
    let what = "OAuth 2 authorization";
    let io = |e: std::io::Error| OAuthError::Store(format!("{what}: the loopback listener: {e}"));
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(io)?;
    let port = listener.local_addr().map_err(io)?.port();
    let redirect = format!("http://127.0.0.1:{port}/");
    let client = client(req.settings)?.set_redirect_uri(
        RedirectUrl::new(redirect).map_err(|e| OAuthError::Config(format!("{what}: {e}")))?,
    );
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut auth = client
        .authorize_url(CsrfToken::new_random)
        .map_err(|e| OAuthError::Config(format!("{what}: {e}")))?
        .add_scopes(scopes(req.settings))
        .set_pkce_challenge(challenge)
        .add_extra_param("login_hint", req.user);
    if req.settings.provider == Provider::Google {
        auth = auth.add_extra_param("access_type", "offline");
    }
    let (url, state) = auth.url();
    eprintln!(
        "To let mailpull read the mail of {}, open this address in a browser on this computer \
         and sign in:\n\n    {}\n",
        safe(req.user),
        safe(url.as_str())
    );
    if req.browser {
        let opened = std::process::Command::new("xdg-open")
            .arg(url.as_str())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        if let Err(e) = opened {
            eprintln!("(could not start xdg-open: {e}; open the address yourself)");
        }
    }
    eprintln!("Waiting for the browser to come back to 127.0.0.1:{port} (Ctrl-C to stop)…");
    let code = wait_for_redirect(&listener, state.secret(), req.timeout)?;
    client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request(&Http::new())
        .map_err(|e| token_error(e, what, "try again"))
}

/// Answers the browser's requests on `listener` until one carries the authorization
/// response; returns its code. A response with another `state` ends the flow (RFC 6749
/// §10.12), as does an `error`.
fn wait_for_redirect(
    listener: &TcpListener,
    state: &str,
    timeout: Duration,
) -> Result<String, OAuthError> {
    let what = "OAuth 2 authorization";
    listener
        .set_nonblocking(true)
        .map_err(|e| OAuthError::Store(format!("{what}: {e}")))?;
    let deadline = crate::time::later(Instant::now(), timeout);
    loop {
        match listener.accept() {
            Ok((conn, _)) => {
                if let Some(done) = redirect_request(conn, state) {
                    return done;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(OAuthError::Refused(format!(
                        "{what}: no answer from the browser within {}; try again",
                        crate::command::seconds(timeout)
                    )));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(OAuthError::Store(format!("{what}: {e}"))),
        }
    }
}

/// Handles one connection to the loopback listener: `None` when it was not the authorization
/// response (a favicon, a broken request), else the flow's result.
fn redirect_request(mut conn: TcpStream, state: &str) -> Option<Result<String, OAuthError>> {
    let what = "OAuth 2 authorization";
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let target = line.lines().next()?.split(' ').nth(1)?.to_string();
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (code, error) = (get("code"), get("error"));
    if code.is_none() && error.is_none() {
        respond(
            &mut conn,
            "404 Not Found",
            "Not the authorization response.",
        );
        return None;
    }
    if get("state").as_deref() != Some(state) {
        respond(
            &mut conn,
            "400 Bad Request",
            "This answer does not belong to the sign-in mailpull started; it was refused.",
        );
        return Some(Err(OAuthError::Refused(format!(
            "{what}: the browser's answer carries another state than the request, so it does \
             not belong to this sign-in (refused); try again"
        ))));
    }
    if let Some(e) = error {
        respond(&mut conn, "200 OK", "The sign-in failed; see the terminal.");
        let desc = get("error_description")
            .map(|d| format!(" ({})", safe(&d.chars().take(300).collect::<String>())))
            .unwrap_or_default();
        return Some(Err(OAuthError::Refused(format!(
            "{what}: the authorization server answered {}{desc}",
            safe(&e)
        ))));
    }
    respond(
        &mut conn,
        "200 OK",
        "mailpull is authorized. You can close this window.",
    );
    code.map(Ok)
}

fn respond(conn: &mut TcpStream, status: &str, text: &str) {
    let body = format!("<!doctype html><title>mailpull</title><p>{text}</p>\n");
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = conn.flush();
}
