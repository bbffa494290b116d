//! Fuzz targets for the registry's `WWW-Authenticate` parser ([`parse_challenges`],
//! [`parse_challenge`]) and its token-response parser ([`parse_token_response`]); they live in
//! the registry module because the parsers are private to it. See `crate::fuzz`.

use proptest::prelude::*;

use super::auth::{parse_challenge, parse_challenges, parse_token_response, Challenge};
use crate::fuzz::{config, inputs, texts};

const CHALLENGES: &[&str] = &[
    "Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\",scope=\"repository:library/busybox:pull\"",
    "Basic realm=\"Registry Realm\"",
    "Basic realm=x, Bearer realm=\"https://q/t\",scope=\"repository:a:pull,push repository:b:pull\",error=\"insufficient_scope\"",
    "Bearer realm=\"a\\\"b,c\", service=unquoted",
];

const TOKENS: &[&str] = &[
    "{\"token\":\"abc\",\"expires_in\":300}",
    "{\"access_token\":\"abc\",\"expires_in\":18446744073709551615,\"issued_at\":\"2024-01-01T00:00:00Z\"}",
];

#[test]
fn the_seeds_are_valid() {
    for c in CHALLENGES {
        assert!(parse_challenge(c).is_some(), "{c}");
    }
    for t in TOKENS {
        assert!(parse_token_response(t.as_bytes()).is_some(), "{t}");
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fuzz_www_authenticate(text in texts(CHALLENGES)) {
        let all = parse_challenges(&text);
        prop_assert!(all.iter().all(|(scheme, _)| !scheme.is_empty()));
        if let Some(Challenge::Bearer(b)) = parse_challenge(&text) {
            prop_assert!(all.iter().any(|(s, p)| s.eq_ignore_ascii_case("bearer")
                && p.get("realm") == Some(&b.realm)));
        }
    }

    #[test]
    fn fuzz_token_response(
        body in inputs(TOKENS.iter().map(|t| t.as_bytes().to_vec()).collect())
    ) {
        let _ = parse_token_response(&body);
    }
}
