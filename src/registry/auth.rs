//! Registry authentication: `WWW-Authenticate` challenges, access scopes, bearer tokens and
//! their cache.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::credentials::Credential;

/// How a registry asked to be authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// The registry answered `/v2/` without asking for credentials.
    Anonymous,
    /// `Basic realm=...`: send the user name and password with every request.
    Basic,
    /// `Bearer realm=...,service=...`: get a token from `realm` for each set of scopes.
    Bearer(BearerChallenge),
}

/// The parameters of a `Bearer` challenge.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BearerChallenge {
    /// Token service URL.
    pub realm: String,
    /// The `service` parameter to pass back to the token service.
    pub service: Option<String>,
    /// Scopes the registry said it needs (space-separated in the header).
    pub scopes: Vec<String>,
    /// `error=` such as `invalid_token` or `insufficient_scope`.
    pub error: Option<String>,
}

/// Splits a `WWW-Authenticate` header into challenges: `(scheme, params)`, with parameter
/// names lower-cased and quoted values unescaped. Commas inside quotes do not split.
pub fn parse_challenges(header: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    let b = header.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || b[*i] == b',') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            break;
        }
        // A token: either a scheme (followed by space / end / comma) or a param name (followed by '=').
        let start = i;
        while i < b.len() && !matches!(b[i], b' ' | b'\t' | b',' | b'=') {
            i += 1;
        }
        let token = header[start..i].to_string();
        let mut j = i;
        while j < b.len() && (b[j] == b' ' || b[j] == b'\t') {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' && !out.is_empty() {
            // param=value
            i = j + 1;
            while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
                i += 1;
            }
            let value = if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut v = String::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    let ch = header[i..].chars().next().expect("in bounds");
                    v.push(ch);
                    i += ch.len_utf8();
                }
                i += 1; // closing quote
                v
            } else {
                let s = i;
                while i < b.len() && b[i] != b',' {
                    i += 1;
                }
                header[s..i].trim().to_string()
            };
            if let Some(last) = out.last_mut() {
                last.1.insert(token.to_ascii_lowercase(), value);
            }
        } else if !token.is_empty() {
            out.push((token, BTreeMap::new()));
        } else {
            i += 1;
        }
    }
    out
}

/// The challenge ferry will answer from a `WWW-Authenticate` header: Bearer preferred over Basic.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let all = parse_challenges(header);
    let bearer = all
        .iter()
        .find(|(s, p)| s.eq_ignore_ascii_case("bearer") && p.contains_key("realm"));
    if let Some((_, p)) = bearer {
        return Some(Challenge::Bearer(BearerChallenge {
            realm: p["realm"].clone(),
            service: p.get("service").cloned(),
            scopes: p
                .get("scope")
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            error: p.get("error").cloned(),
        }));
    }
    all.iter()
        .any(|(s, _)| s.eq_ignore_ascii_case("basic"))
        .then_some(Challenge::Basic)
}

/// A set of access scopes (`repository:NAME:ACTIONS`), merged per resource, in a stable order
/// so that equal sets share one cached token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(BTreeMap<(String, String), BTreeSet<String>>);

impl Scopes {
    /// No scope (registry-wide requests such as `/v2/`).
    pub fn none() -> Self {
        Scopes::default()
    }

    /// `repository:REPO:ACTIONS`.
    pub fn repo(repo: &str, actions: &[&str]) -> Self {
        let mut s = Scopes::default();
        s.add_repo(repo, actions);
        s
    }

    /// Adds actions on a repository.
    pub fn add_repo(&mut self, repo: &str, actions: &[&str]) {
        let set = self
            .0
            .entry(("repository".to_string(), repo.to_string()))
            .or_default();
        set.extend(actions.iter().map(|a| a.to_string()));
    }

    /// Adds a scope string as a registry sends it (`TYPE:NAME:ACTION,ACTION`).
    pub fn add_raw(&mut self, scope: &str) {
        let Some((kind, rest)) = scope.split_once(':') else {
            return;
        };
        let (name, actions) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let set = self
            .0
            .entry((kind.to_string(), name.to_string()))
            .or_default();
        set.extend(
            actions
                .split(',')
                .filter(|a| !a.is_empty())
                .map(str::to_string),
        );
    }

    /// Whether there is no scope at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scope strings, one per resource, for the token request.
    pub fn to_strings(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|((k, n), a)| {
                format!(
                    "{k}:{n}:{}",
                    a.iter().cloned().collect::<Vec<_>>().join(",")
                )
            })
            .collect()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("registry-wide");
        }
        f.write_str(&self.to_strings().join(" "))
    }
}

/// A bearer token. `Debug` never shows it.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    /// The `Authorization` header value.
    pub fn header(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Tokens live at least this long when the service says nothing (the distribution spec default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// Parses a token service answer: `token` or `access_token`, and its lifetime.
pub fn parse_token_response(body: &[u8]) -> Option<(Token, Duration)> {
    let r: TokenResponse = serde_json::from_slice(body).ok()?;
    let t = r
        .token
        .filter(|t| !t.is_empty())
        .or(r.access_token.filter(|t| !t.is_empty()))?;
    let life = r
        .expires_in
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TOKEN_LIFETIME);
    Some((Token(t), life))
}

/// The URL of a token request for `scopes` against `challenge`.
pub fn token_url(
    challenge: &BearerChallenge,
    scopes: &Scopes,
) -> Result<url::Url, url::ParseError> {
    let mut u = url::Url::parse(&challenge.realm)?;
    {
        let mut q = u.query_pairs_mut();
        if let Some(s) = &challenge.service {
            q.append_pair("service", s);
        }
        for s in scopes.to_strings() {
            q.append_pair("scope", &s);
        }
    }
    Ok(u)
}

/// Bearer tokens by scope set, dropped shortly before they expire.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<Scopes, (Token, Instant)>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.tokens.lock().map(|t| t.len()).unwrap_or(0);
        write!(f, "TokenCache({n} tokens)")
    }
}

impl TokenCache {
    /// A valid cached token for exactly this scope set.
    pub fn get(&self, scopes: &Scopes) -> Option<Token> {
        let map = self.tokens.lock().expect("token cache lock");
        map.get(scopes)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(t, _)| t.clone())
    }

    /// Stores a token valid for `lifetime` (it is dropped 10% or 5 s early, whichever is less).
    /// A lifetime beyond a day (a token server may say anything) counts as a day, so that no
    /// answer overflows the clock.
    pub fn put(&self, scopes: Scopes, token: Token, lifetime: Duration) {
        let lifetime = lifetime.min(Duration::from_secs(24 * 3600));
        let margin = (lifetime / 10).min(Duration::from_secs(5));
        let until = Instant::now() + lifetime.saturating_sub(margin);
        self.tokens
            .lock()
            .expect("token cache lock")
            .insert(scopes, (token, until));
    }

    /// Forgets the token of a scope set (after the registry rejected it).
    pub fn invalidate(&self, scopes: &Scopes) {
        self.tokens.lock().expect("token cache lock").remove(scopes);
    }
}

/// What to send as `Authorization` for a request under `challenge`, if a token is not needed
/// (anonymous or Basic); `None` inside means send nothing.
pub fn static_authorization(challenge: &Challenge, creds: Option<&Credential>) -> Option<String> {
    match challenge {
        Challenge::Basic => creds.map(Credential::basic_header),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_with_quotes_commas_and_scopes() {
        let h = r#"Bearer realm="https://auth.example/token?a=1,b=2",service="registry.example",scope="repository:app:pull,push repository:base:pull",error="insufficient_scope""#;
        let Some(Challenge::Bearer(b)) = parse_challenge(h) else {
            panic!("not bearer")
        };
        assert_eq!(b.realm, "https://auth.example/token?a=1,b=2");
        assert_eq!(b.service.as_deref(), Some("registry.example"));
        assert_eq!(
            b.scopes,
            vec!["repository:app:pull,push", "repository:base:pull"]
        );
        assert_eq!(b.error.as_deref(), Some("insufficient_scope"));
    }

    #[test]
    fn parses_basic_unquoted_and_multiple() {
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("basic realm=r"), Some(Challenge::Basic));
        let both = r#"Basic realm="x, y", Bearer realm=https://t.example/token, service=s"#;
        let all = parse_challenges(both);
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[0].1["realm"], "x, y");
        let Some(Challenge::Bearer(b)) = parse_challenge(both) else {
            panic!("bearer preferred")
        };
        assert_eq!(b.realm, "https://t.example/token");
        assert_eq!(b.service.as_deref(), Some("s"));
        assert!(b.scopes.is_empty());
        assert_eq!(
            parse_challenge(r#"Bearer realm="a\"b""#).map(|c| match c {
                Challenge::Bearer(b) => b.realm,
                _ => String::new(),
            }),
            Some("a\"b".to_string())
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge(""), None);
    }

    #[test]
    fn scopes_merge_and_order() {
        let mut s = Scopes::repo("mirror/app", &["push", "pull"]);
        s.add_repo("base", &["pull"]);
        s.add_raw("repository:mirror/app:pull,delete");
        s.add_raw("registry:catalog:*");
        assert_eq!(
            s.to_strings(),
            vec![
                "registry:catalog:*",
                "repository:base:pull",
                "repository:mirror/app:delete,pull,push"
            ]
        );
        let a = Scopes::repo("x", &["pull", "push"]);
        let b = Scopes::repo("x", &["push", "pull"]);
        assert_eq!(a, b, "order of actions does not matter");
    }

    #[test]
    fn token_url_has_service_and_every_scope() {
        let c = BearerChallenge {
            realm: "https://auth.example/token".into(),
            service: Some("reg svc".into()),
            ..Default::default()
        };
        let mut s = Scopes::repo("app", &["pull", "push"]);
        s.add_repo("lib/base", &["pull"]);
        let u = token_url(&c, &s).unwrap();
        assert_eq!(
            u.as_str(),
            "https://auth.example/token?service=reg+svc&scope=repository%3Aapp%3Apull%2Cpush&scope=repository%3Alib%2Fbase%3Apull"
        );
    }

    #[test]
    fn token_responses_and_cache() {
        let (t, life) =
            parse_token_response(br#"{"access_token":"abc","expires_in":300}"#).unwrap();
        assert_eq!(t.header(), "Bearer abc");
        assert_eq!(life, Duration::from_secs(300));
        let (t, life) = parse_token_response(br#"{"token":"xyz","access_token":"xyz"}"#).unwrap();
        assert_eq!(t.header(), "Bearer xyz");
        assert_eq!(life, DEFAULT_TOKEN_LIFETIME);
        assert!(parse_token_response(br#"{"token":""}"#).is_none());
        assert!(!format!("{t:?}").contains("xyz"));

        let cache = TokenCache::default();
        let s = Scopes::repo("a", &["pull"]);
        cache.put(s.clone(), t.clone(), Duration::from_secs(60));
        assert!(cache.get(&s).is_some());
        assert!(cache.get(&Scopes::repo("a", &["pull", "push"])).is_none());
        cache.invalidate(&s);
        assert!(cache.get(&s).is_none());
        cache.put(s.clone(), t, Duration::from_secs(0));
        assert!(cache.get(&s).is_none(), "expired tokens are not served");
    }

    #[test]
    fn a_huge_expires_in_is_capped_not_a_panic() {
        let body = format!(r#"{{"token":"abc","expires_in":{}}}"#, u64::MAX);
        let (t, life) = parse_token_response(body.as_bytes()).unwrap();
        let cache = TokenCache::default();
        let s = Scopes::repo("a", &["pull"]);
        cache.put(s.clone(), t, life);
        assert!(cache.get(&s).is_some());
    }
}
