//! The HTTP side of the token requests: an `oauth2` client for an account's settings, and the
//! synchronous HTTP client it calls (`ureq` over native-tls, i.e. the system's OpenSSL and
//! its CA certificates; no redirects followed, a response size limit, a deadline).

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, ClientId, DeviceAuthorizationUrl, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, TokenUrl,
};

use super::settings::{ClientSecret, OAuthSettings};
use super::OAuthError;

/// The longest a token endpoint's answer may be.
const MAX_RESPONSE: u64 = 1 << 20;
/// How long one request may take, connecting included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// An `oauth2` client with a token endpoint and maybe authorization and device endpoints.
pub type Client =
    BasicClient<EndpointMaybeSet, EndpointMaybeSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The `oauth2` client for `settings` (running `client_secret_command` if there is one).
/// Client credentials go in the request body, which public clients (Microsoft) need and
/// confidential ones (Google's desktop clients) accept.
pub fn client(settings: &OAuthSettings) -> Result<Client, OAuthError> {
    let bad = |key: &str, e: oauth2::url::ParseError| {
        OAuthError::Config(format!("oauth2: {key}: not a URL: {e}"))
    };
    let auth = match &settings.auth_url {
        Some(u) => Some(AuthUrl::new(u.clone()).map_err(|e| bad("auth_url", e))?),
        None => None,
    };
    let device = match &settings.device_url {
        Some(u) => Some(DeviceAuthorizationUrl::new(u.clone()).map_err(|e| bad("device_url", e))?),
        None => None,
    };
    let token = TokenUrl::new(settings.token_url.clone()).map_err(|e| bad("token_url", e))?;
    let mut c = BasicClient::new(ClientId::new(settings.client_id.clone()))
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri_option(auth)
        .set_device_authorization_url_option(device)
        .set_token_uri(token);
    let secret = match &settings.client_secret {
        ClientSecret::None => None,
        ClientSecret::Given(s) => Some(s.clone()),
        ClientSecret::Command(cmd) => Some(
            crate::command::password_from(cmd, "client_secret_command")
                .map_err(OAuthError::Config)?,
        ),
    };
    if let Some(s) = secret {
        c = c.set_client_secret(oauth2::ClientSecret::new(s));
    }
    Ok(c)
}

/// A failed HTTP exchange (never containing the request's body).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// The synchronous HTTP client the `oauth2` requests go through.
pub struct Http {
    agent: ureq::Agent,
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

impl Http {
    pub fn new() -> Http {
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::NativeTls)
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .build();
        let config = ureq::Agent::config_builder()
            .tls_config(tls)
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .user_agent(concat!("mailpull/", env!("CARGO_PKG_VERSION")))
            .build();
        Http {
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// One request and its whole (bounded) answer.
    pub fn call(&self, req: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpError> {
        let place = format!(
            "{}://{}{}",
            req.uri().scheme_str().unwrap_or("?"),
            req.uri().authority().map(|a| a.as_str()).unwrap_or("?"),
            req.uri().path()
        );
        log::debug!("OAuth 2: {} {place}", req.method());
        let mut resp = self
            .agent
            .run(req)
            .map_err(|e| HttpError(format!("{place}: {e}")))?;
        let mut out = oauth2::http::Response::builder().status(resp.status());
        for (k, v) in resp.headers() {
            out = out.header(k, v);
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(|e| HttpError(format!("{place}: reading the answer: {e}")))?;
        log::debug!("OAuth 2: {place}: HTTP {}", resp.status().as_u16());
        // A failing server that does not answer in OAuth's JSON (a proxy's error page).
        let json = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
        if resp.status().is_server_error() && !json {
            return Err(HttpError(format!(
                "{place}: HTTP {}; try again later",
                resp.status()
            )));
        }
        out.body(body)
            .map_err(|e| HttpError(format!("{place}: {e}")))
    }
}

impl oauth2::SyncHttpClient for Http {
    type Error = HttpError;

    fn call(&self, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpError> {
        Http::call(self, request)
    }
}

/// A token request's failure as an [`OAuthError`]: an error answer of the server (RFC 6749
/// §5.2: `invalid_grant` means the refresh token or code is no longer valid), a failed
/// exchange, or an answer that is not a token response. The server's description is made
/// terminal-safe; the body is never quoted.
pub fn token_error<T: oauth2::ErrorResponse + 'static>(
    e: oauth2::RequestTokenError<HttpError, T>,
    what: &str,
    login_hint: &str,
) -> OAuthError {
    use oauth2::RequestTokenError as E;
    match e {
        E::ServerResponse(r) => {
            let text = serde_json::to_value(&r).unwrap_or_default();
            let code = text["error"].as_str().unwrap_or("error").to_string();
            let desc = text["error_description"]
                .as_str()
                .map(|d| {
                    format!(
                        " ({})",
                        crate::text::safe(&d.chars().take(300).collect::<String>())
                    )
                })
                .unwrap_or_default();
            let code_shown = crate::text::safe(&code).into_owned();
            match code.as_str() {
                "invalid_grant" => OAuthError::LoginNeeded(format!(
                    "{what}: the authorization server no longer accepts the stored refresh \
                     token ({code_shown}{desc}): it was revoked or expired; {login_hint}"
                )),
                "temporarily_unavailable" | "server_error" => OAuthError::Unreachable(format!(
                    "{what}: the authorization server failed ({code_shown}{desc}); try again later"
                )),
                _ => OAuthError::Refused(format!(
                    "{what}: the authorization server refused ({code_shown}{desc}); check \
                     client_id, client_secret and scopes in the oauth2 settings"
                )),
            }
        }
        E::Request(e) => OAuthError::Unreachable(format!("{what}: {e}")),
        E::Parse(_, body) => OAuthError::Unreachable(format!(
            "{what}: the authorization server's answer is not a token response ({} bytes); \
             try again later",
            body.len()
        )),
        E::Other(m) => OAuthError::Unreachable(format!("{what}: {}", crate::text::safe(&m))),
    }
}
