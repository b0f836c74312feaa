//! Replay caches (`Store::consume_once`, one for every node): a client assertion's `jti`
//! (RFC 7523 §3 point 7, SECURITY D5) and a DPoP proof's `jti` (RFC 9449 §11.1, SECURITY F4),
//! each presented by every racer at once. One request gets a token; every other is refused:
//! `invalid_client` (401) for the assertion, `invalid_dpop_proof` (400) for the proof. Also the
//! assertion cache on SQLite, with one node and concurrent requests.

use super::*;
use crate::assertion_support::{Keys, Signer, cc_body, claims, register};
use keycard::admin::ClientSpec;
use keycard::model::{AuthMethod, GrantType, TokenFormat};
use serde_json::json;

static KEYS: std::sync::OnceLock<(Signer, Signer, String)> = std::sync::OnceLock::new();

pub async fn setup(c: &Cluster) {
    let assertion_key = Signer::es256("k1");
    register(&c.a, "pk", AuthMethod::PrivateKeyJwt, Keys { jwks: Some(assertion_key.jwks()), ..Default::default() })
        .await;
    let (_, dpop_secret) =
        c.a.create_client(ClientSpec {
            id: Some("svc:dpop".into()),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: vec!["api:read".into()],
            token_format: Some(TokenFormat::Jwt),
            ..Default::default()
        })
        .await;
    if KEYS.set((assertion_key, Signer::es256("dpop"), dpop_secret)).is_err() {
        panic!("setup runs once");
    }
}

pub async fn round(c: &Cluster, round: usize) {
    let (assertion_key, dpop_key, dpop_secret) = KEYS.get().expect("setup");

    let assertion = assertion_key.sign("ES256", &claims(&c.a, "pk", &format!("{ISSUER}/token")));
    let body = cc_body(&assertion);
    let what = format!("client assertion jti, round {round}");
    let answers = race(c, |n, _| form(n.url("/token"), None, &body)).await;
    Tally::of(answers, is_200, 401, Some("invalid_client"), &what).one(&what);

    let now = c.a.state.clock.now();
    let header = json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": dpop_key.jwk});
    let proof_claims =
        json!({"jti": keycard::jose::random_token(12), "htm": "POST", "htu": format!("{ISSUER}/token"), "iat": now});
    let proof = dpop_key.sign_with_header(&header, &proof_claims);
    let auth = basic("svc:dpop", dpop_secret);
    let what = format!("DPoP proof jti, round {round}");
    let answers = race(c, |n, _| {
        form(n.url("/token"), Some(&auth), "grant_type=client_credentials").header("dpop", proof.as_str())
    })
    .await;
    let won = Tally::of(answers, is_200, 400, Some("invalid_dpop_proof"), &what).one(&what).json();
    assert_eq!(won["token_type"], "DPoP", "{what}: {won}");
}

/// SECURITY D5 on SQLite: one node, eight concurrent requests with one assertion, five rounds.
#[tokio::test(flavor = "multi_thread")]
async fn one_assertion_is_accepted_exactly_once_on_sqlite() {
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c: &mut Config| c.login.client_max_failures = 1_000_000),
        ..Default::default()
    })
    .await;
    let es = Signer::es256("k1");
    register(&s, "pk", AuthMethod::PrivateKeyJwt, Keys { jwks: Some(es.jwks()), ..Default::default() }).await;
    for round in 0..5 {
        let assertion = es.sign("ES256", &claims(&s, "pk", &s.url("/token")));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (url, body) = (s.url("/token"), cc_body(&assertion));
            set.spawn(async move { post_form(&url, None, &body).await });
        }
        let what = format!("assertion on SQLite, round {round}");
        Tally::of(set.join_all().await, is_200, 401, Some("invalid_client"), &what).one(&what);
    }
    s.stop().await;
}
