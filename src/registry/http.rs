//! Sending one registry request: where the registry answers (`GET /v2/`) and its URLs,
//! authorization (answering challenges, fetching and refreshing tokens), mapping failures to
//! [`RegistryError`], and retrying transient ones.

use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use url::Url;

use super::auth::{self, BearerChallenge, Challenge, Scopes, TokenCache};
use super::credentials::Credential;
use super::error::{parse_error_body, ApiErrors, RegistryError};
use super::journal::UploadJournal;
use super::options::{authority, host_name};
use super::retry::{parse_retry_after, Attempts, RetryPolicy};
use super::stats::Stats;
use super::transport;
pub(crate) use super::wire::{drain, Body};
use super::wire::{Request, Wire};
use crate::model::{reference_component_is_valid, Digest};

/// The names of Docker Hub, whose token service is [`DOCKER_HUB_AUTH`].
const DOCKER_HUB: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
/// Docker Hub's token service.
const DOCKER_HUB_AUTH: &str = "auth.docker.io";

/// Error bodies larger than this are cut before parsing.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// One request, with what is needed to authorize it and to explain its failure.
pub(crate) struct Call<'a> {
    pub method: &'static str,
    pub url: Url,
    /// What ferry is doing, for messages: `pull manifest from`, `push blob to`, ...
    pub action: &'static str,
    pub repository: &'a str,
    /// What is looked for, for not-found messages: `manifest latest`.
    pub what: String,
    pub scopes: Scopes,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body<'a>,
}

/// What `/v2/` told us: where the registry answers and how it wants to be authenticated.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub base: Url,
    pub challenge: Challenge,
}

/// A failure of one raw exchange: an HTTP error status (to interpret), or a final error.
pub(crate) use super::wire::WireFailure as RawFailure;

/// The shared state behind a [`super::Registry`].
pub(crate) struct Inner {
    pub host: String,
    pub api_host: String,
    /// The agents by host, redirects and where `Authorization` may go.
    pub wire: Wire,
    pub insecure: bool,
    pub creds: Option<Credential>,
    /// Where `creds` came from, for messages.
    pub creds_origin: String,
    pub retry: RetryPolicy,
    pub session: Mutex<Option<Session>>,
    pub tokens: TokenCache,
    pub stats: Stats,
    pub pending_uploads: Mutex<std::collections::HashMap<(String, String), Url>>,
    /// Upload sessions in progress (the URL after the last acknowledged segment).
    pub journal: UploadJournal,
    /// Size of the `PATCH` segments of a large upload.
    pub segment: u64,
}

/// Whether `tag` is a valid tag (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`).
fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Reads (at most [`MAX_ERROR_BODY`] of) a response body and drops the rest.
fn read_small_body(resp: ureq::Response) -> Vec<u8> {
    let mut buf = Vec::new();
    let _ = resp
        .into_reader()
        .take(MAX_ERROR_BODY)
        .read_to_end(&mut buf);
    buf
}

impl Inner {
    /// Sends `call` once over the wire with `authorization`, counting the request.
    pub fn raw(
        &self,
        call: &Call<'_>,
        authorization: Option<&str>,
    ) -> Result<ureq::Response, RawFailure> {
        self.raw_with_timeout(call, authorization, None)
    }

    /// [`Inner::raw`] with an overall time limit for this exchange.
    fn raw_with_timeout(
        &self,
        call: &Call<'_>,
        authorization: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<ureq::Response, RawFailure> {
        let req = Request {
            method: call.method,
            url: &call.url,
            headers: &call.headers,
            body: &call.body,
            authorization,
            timeout,
        };
        self.wire.send(&req, &self.stats)
    }

    /// Turns an HTTP error status into the matching error, with the registry's error codes.
    pub fn status_error(
        &self,
        call: &Call<'_>,
        status: u16,
        resp: ureq::Response,
    ) -> RegistryError {
        let retry_after = resp.header("retry-after").and_then(parse_retry_after);
        let errors = ApiErrors(parse_error_body(&read_small_body(resp)));
        match status {
            401 | 403 => RegistryError::Auth {
                host: self.host.clone(),
                action: call.action,
                repository: call.repository.to_string(),
                scope: call.scopes.to_string(),
                status,
                errors,
                hint: self.auth_hint(),
            },
            404 => RegistryError::NotFound {
                host: self.host.clone(),
                what: call.what.clone(),
                repository: call.repository.to_string(),
                url: call.url.to_string(),
                errors,
            },
            _ => RegistryError::Status {
                host: self.host.clone(),
                action: call.action,
                repository: call.repository.to_string(),
                method: call.method,
                url: call.url.to_string(),
                status,
                errors,
                retry_after,
            },
        }
    }

    fn auth_hint(&self) -> &'static str {
        if self.creds.is_some() {
            "check that this user may do that on this repository, and the password"
        } else {
            "no credentials found for this registry: give --creds USER:PASS or --authfile"
        }
    }

    /// Learns, once, where the registry answers and how it authenticates (`GET /v2/`).
    pub fn session(&self) -> Result<Session, RegistryError> {
        let mut guard = self.session.lock().expect("session lock");
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let s = self.ping()?;
        *guard = Some(s.clone());
        Ok(s)
    }

    fn ping(&self) -> Result<Session, RegistryError> {
        let (_, session) = transport::https_then_http(
            &self.host,
            self.insecure,
            |e| matches!(e, RegistryError::PlainHttp { .. }),
            |scheme, probe_limit| self.ping_at(scheme, probe_limit),
        )?;
        Ok(session)
    }

    /// `GET /v2/` over `scheme`: once within `probe_limit` when probing, else with retries.
    fn ping_at(
        &self,
        scheme: &str,
        probe_limit: Option<Duration>,
    ) -> Result<Session, RegistryError> {
        let base = Url::parse(&format!("{scheme}://{}/", self.api_host)).map_err(|e| {
            RegistryError::Config {
                host: self.host.clone(),
                message: format!("not a usable registry host: {e}"),
            }
        })?;
        let call = Call {
            method: "GET",
            url: base.join("v2/").expect("static path"),
            action: "the API check (GET /v2/) of",
            repository: "",
            what: "the registry API (/v2/)".into(),
            scopes: Scopes::none(),
            headers: Vec::new(),
            body: Body::None,
        };
        let attempt = || -> Result<Challenge, RegistryError> {
            match self.raw_with_timeout(&call, None, probe_limit) {
                Ok(r) => {
                    drain(r);
                    Ok(Challenge::Anonymous)
                }
                Err(RawFailure::Status(401, r)) => {
                    self.challenge_origin(&r)?;
                    let header = r.header("www-authenticate").map(str::to_string);
                    drain(*r);
                    header
                        .as_deref()
                        .and_then(auth::parse_challenge)
                        .ok_or_else(|| RegistryError::Protocol {
                            host: self.host.clone(),
                            url: call.url.to_string(),
                            message: "401 without a usable WWW-Authenticate challenge".into(),
                        })
                }
                Err(RawFailure::Status(code, r)) => Err(self.status_error(&call, code, *r)),
                Err(RawFailure::Failed(e)) => Err(e),
            }
        };
        let challenge = match probe_limit {
            Some(_) => attempt()?,
            None => self.retrying(attempt)?,
        };
        log::debug!("registry {} answers at {base} ({challenge:?})", self.host);
        Ok(Session { base, challenge })
    }

    /// `BASE/v2/<repo>/<kind><reference>`, after checking the names.
    pub fn endpoint(&self, repo: &str, kind: &str, reference: &str) -> Result<Url, RegistryError> {
        if repo.is_empty() || !repo.split('/').all(reference_component_is_valid) {
            return Err(RegistryError::Config {
                host: self.host.clone(),
                message: format!("invalid repository name {repo:?}"),
            });
        }
        if !reference.is_empty() && Digest::parse(reference).is_err() && !valid_tag(reference) {
            return Err(RegistryError::Config {
                host: self.host.clone(),
                message: format!("invalid tag or digest {reference:?} for {repo}"),
            });
        }
        let base = self.session()?.base;
        base.join(&format!("v2/{repo}/{kind}{reference}"))
            .map_err(|e| RegistryError::Config {
                host: self.host.clone(),
                message: format!("cannot build a URL for {repo}: {e}"),
            })
    }

    /// Runs `f` until it succeeds, fails for good, or the retry policy gives up.
    pub fn retrying<T>(
        &self,
        mut f: impl FnMut() -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut attempts = Attempts::start();
        loop {
            attempts.count();
            match f() {
                Ok(v) => return Ok(v),
                Err(e) => match self.retry.next_delay_for(&attempts, &e) {
                    Some(delay) => {
                        Stats::add(&self.stats.retries, 1);
                        log::debug!("retrying in {delay:?} after: {e}");
                        std::thread::sleep(delay);
                    }
                    None => return Err(e),
                },
            }
        }
    }

    /// The `Authorization` value for `scopes` under `challenge`, fetching a token if needed.
    fn authorization(
        &self,
        challenge: &Challenge,
        scopes: &Scopes,
        call: &Call<'_>,
    ) -> Result<Option<String>, RegistryError> {
        match challenge {
            Challenge::Bearer(b) => {
                if let Some(t) = self.tokens.get(scopes) {
                    return Ok(Some(t.header()));
                }
                self.fetch_token(b, scopes, call).map(Some)
            }
            other => Ok(auth::static_authorization(other, self.creds.as_ref())),
        }
    }

    fn fetch_token(
        &self,
        b: &BearerChallenge,
        scopes: &Scopes,
        call: &Call<'_>,
    ) -> Result<String, RegistryError> {
        let url = auth::token_url(b, scopes).map_err(|e| RegistryError::Protocol {
            host: self.host.clone(),
            url: b.realm.clone(),
            message: format!("unusable token realm: {e}"),
        })?;
        let token_call = Call {
            method: "GET",
            url,
            action: call.action,
            repository: call.repository,
            what: "token service".into(),
            scopes: scopes.clone(),
            headers: Vec::new(),
            body: Body::None,
        };
        let basic = match &self.creds {
            Some(c) => {
                self.realm_may_get_credentials(&token_call.url)?;
                Some(c.basic_header())
            }
            None => None,
        };
        match self.raw(&token_call, basic.as_deref()) {
            Ok(r) => {
                let body = read_small_body(r);
                let (token, life) =
                    auth::parse_token_response(&body).ok_or_else(|| RegistryError::Protocol {
                        host: self.host.clone(),
                        url: b.realm.clone(),
                        message: "token service answer has no token".into(),
                    })?;
                let header = token.header();
                self.tokens.put(scopes.clone(), token, life);
                Ok(header)
            }
            Err(RawFailure::Status(code, r)) => {
                // The token service is not the registry: a 404 there is a configuration problem.
                let e = self.status_error(&token_call, code, *r);
                Err(match e {
                    RegistryError::NotFound { url, .. } => RegistryError::Protocol {
                        host: self.host.clone(),
                        url,
                        message: "token service answered 404".into(),
                    },
                    e => e,
                })
            }
            Err(RawFailure::Failed(e)) => Err(e),
        }
    }

    /// See [`super::Registry::check_credentials`].
    pub fn check_credentials(&self, repo: &str) -> Result<(), RegistryError> {
        let session = self.session()?;
        let scopes = Scopes::repo(repo, &["pull", "push"]);
        let call = Call {
            method: "GET",
            url: session.base.join("v2/").expect("static path"),
            action: "log in to push to",
            repository: repo,
            what: "the registry API (/v2/)".into(),
            scopes: scopes.clone(),
            headers: Vec::new(),
            body: Body::None,
        };
        self.retrying(|| match &session.challenge {
            Challenge::Anonymous => Ok(()),
            Challenge::Bearer(b) => {
                if self.tokens.get(&scopes).is_none() {
                    self.fetch_token(b, &scopes, &call)?;
                }
                Ok(())
            }
            Challenge::Basic => {
                let authz = auth::static_authorization(&Challenge::Basic, self.creds.as_ref());
                match self.raw(&call, authz.as_deref()) {
                    Ok(r) => {
                        drain(r);
                        Ok(())
                    }
                    Err(RawFailure::Status(code, r)) => Err(self.status_error(&call, code, *r)),
                    Err(RawFailure::Failed(e)) => Err(e),
                }
            }
        })
    }

    /// Sends `call` once, authorized; on a 401 it renews the token (with any scopes the
    /// challenge asks for) or switches to the challenged scheme, and tries once more.
    pub fn send_once(&self, call: &Call<'_>) -> Result<ureq::Response, RegistryError> {
        let session = self.session()?;
        let mut scopes = call.scopes.clone();
        // Only the registry's own origin gets credentials (an upload Location may point elsewhere).
        let own = self.wire.is_registry_origin(&call.url);
        let mut authz = match own {
            true => self.authorization(&session.challenge, &scopes, call)?,
            false => None,
        };
        for round in 0..2 {
            match self.raw(call, authz.as_deref()) {
                Ok(r) => return Ok(r),
                Err(RawFailure::Failed(e)) => return Err(e),
                Err(RawFailure::Status(401, r)) if round == 0 => {
                    self.challenge_origin(&r)?;
                    let challenge = r.header("www-authenticate").and_then(auth::parse_challenge);
                    match challenge {
                        Some(Challenge::Bearer(b)) => {
                            drain(*r);
                            log::debug!(
                                "token refused for {} (error={:?}); requesting a new one",
                                scopes,
                                b.error
                            );
                            self.tokens.invalidate(&scopes);
                            for s in &b.scopes {
                                scopes.add_raw(s);
                            }
                            let fresh = BearerChallenge {
                                scopes: Vec::new(),
                                error: None,
                                ..b
                            };
                            self.remember_challenge(Challenge::Bearer(fresh.clone()));
                            authz = Some(self.fetch_token(&fresh, &scopes, call)?);
                            if scopes != call.scopes {
                                // Later calls with the same request scopes reuse the wider token.
                                if let Some(t) = self.tokens.get(&scopes) {
                                    self.tokens.put(
                                        call.scopes.clone(),
                                        t,
                                        Duration::from_secs(60),
                                    );
                                }
                            }
                        }
                        Some(Challenge::Basic)
                            if self.creds.is_some()
                                && !matches!(session.challenge, Challenge::Basic) =>
                        {
                            drain(*r);
                            self.remember_challenge(Challenge::Basic);
                            authz =
                                auth::static_authorization(&Challenge::Basic, self.creds.as_ref());
                        }
                        _ => return Err(self.status_error(call, 401, *r)),
                    }
                }
                Err(RawFailure::Status(code, r)) => return Err(self.status_error(call, code, *r)),
            }
        }
        unreachable!("the second round always returns")
    }

    /// Refuses a 401 that did not come from the registry's own origin (a redirect target, an
    /// upload location elsewhere): its challenge would send credentials where they do not belong.
    fn challenge_origin(&self, resp: &ureq::Response) -> Result<(), RegistryError> {
        let from = Url::parse(resp.get_url()).ok();
        if from
            .as_ref()
            .is_some_and(|u| self.wire.is_registry_origin(u))
        {
            return Ok(());
        }
        Err(RegistryError::Protocol {
            host: self.host.clone(),
            url: resp.get_url().to_string(),
            message: "HTTP 401 from a server that is not the registry (reached by a redirect \
                      or an upload location); ferry sends credentials only to the registry"
                .into(),
        })
    }

    /// Whether the token service at `realm` may receive the registry's credentials: only over
    /// HTTPS (or plain HTTP to a host listed with `--insecure-registry`), and only on the
    /// registry's own host or one allowed with `--auth-realm-host`.
    fn realm_may_get_credentials(&self, realm: &Url) -> Result<(), RegistryError> {
        let withheld = |reason: String| RegistryError::Withheld {
            host: self.host.clone(),
            url: format!("{}://{}{}", realm.scheme(), authority(realm), realm.path()),
            reason,
        };
        let realm_host = authority(realm);
        if !self.wire.may_carry_credentials(realm) {
            return Err(withheld(format!(
                "the token service speaks plain HTTP, which would show the password to the \
                 network; if that network is trusted, give --insecure-registry {realm_host}"
            )));
        }
        let name = realm.host_str().unwrap_or_default();
        let own = [self.host.as_str(), self.api_host.as_str()]
            .iter()
            .any(|h| host_name(h) == name);
        let hub = DOCKER_HUB.contains(&self.host.as_str()) && name == DOCKER_HUB_AUTH;
        if own || hub || self.wire.opts().is_allowed_realm(&realm_host) {
            return Ok(());
        }
        Err(withheld(format!(
            "the token service is on another host than the registry; if {realm_host} is the \
             registry's own token service, give --auth-realm-host {realm_host}"
        )))
    }

    fn remember_challenge(&self, challenge: Challenge) {
        if let Some(s) = self.session.lock().expect("session lock").as_mut() {
            s.challenge = challenge;
        }
    }

    /// Sends `call`, retrying transient failures.
    pub fn send(&self, call: &Call<'_>) -> Result<ureq::Response, RegistryError> {
        self.retrying(|| self.send_once(call))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert!(valid_tag("v1.2_3-x"));
        assert!(valid_tag("_"));
        assert!(!valid_tag(".hidden"));
        assert!(!valid_tag("a/b"));
        assert!(!valid_tag(&"a".repeat(129)));
    }
}
