//! A mock authorization server on 127.0.0.1:0 (RFC 8414 metadata, a JWKS the test controls,
//! RFC 7662 introspection) and test keys that sign tokens by hand.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaPublicKeyComponents,
};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keycard_resource::{Validator, ValidatorBuilder};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const AUDIENCE: &str = "https://api.example";
pub const CLIENT_ID: &str = "svc:billing";
pub const CLIENT_SECRET: &str = "s3cret&=+";

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The wall clock, which `Validator::validate` also reads.
#[allow(clippy::disallowed_methods)]
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A signing key of one of the three algorithms Keycard uses.
pub enum TestKey {
    Es256(EcdsaKeyPair),
    Rs256(aws_lc_rs::rsa::KeyPair),
    EdDsa(Ed25519KeyPair),
}

impl TestKey {
    pub fn es256() -> Self {
        Self::Es256(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }
    pub fn rs256() -> Self {
        Self::Rs256(aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap())
    }
    pub fn eddsa() -> Self {
        Self::EdDsa(Ed25519KeyPair::generate().unwrap())
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Self::Es256(_) => "ES256",
            Self::Rs256(_) => "RS256",
            Self::EdDsa(_) => "EdDSA",
        }
    }

    /// The public JWK as Keycard publishes it.
    pub fn jwk(&self, kid: &str) -> Value {
        match self {
            Self::Es256(k) => {
                let p = k.public_key().as_ref();
                json!({"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":kid,
                       "x": b64(&p[1..33]), "y": b64(&p[33..65])})
            }
            Self::Rs256(k) => {
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(k.public_key());
                json!({"kty":"RSA","alg":"RS256","use":"sig","kid":kid,"n": b64(&c.n), "e": b64(&c.e)})
            }
            Self::EdDsa(k) => {
                json!({"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid":kid,
                                     "x": b64(k.public_key().as_ref())})
            }
        }
    }

    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            Self::Es256(k) => k.sign(&SystemRandom::new(), msg).unwrap().as_ref().to_vec(),
            Self::Rs256(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig).unwrap();
                sig
            }
            Self::EdDsa(k) => k.sign(msg).as_ref().to_vec(),
        }
    }
}

/// `header.payload.signature` with the signature from `sign`.
pub fn jwt_with(header: &Value, claims: &Value, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let sig = sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&sig))
}

/// A well-formed token signed by `key` under `kid`.
pub fn jwt(key: &TestKey, kid: &str, claims: &Value) -> String {
    let header = json!({"alg": key.alg(), "typ": "at+jwt", "kid": kid});
    jwt_with(&header, claims, |m| key.sign(m))
}

/// The claims Keycard puts in an access token, valid for 5 minutes.
pub fn claims(issuer: &str) -> Value {
    let now = now();
    json!({"iss": issuer, "sub": "user-1", "aud": AUDIENCE, "exp": now + 300, "iat": now,
           "nbf": now, "jti": "jti-1", "client_id": "web", "scope": "invoices:read profile",
           "auth_time": now - 10})
}

/// What the mock server does and saw.
#[derive(Default)]
pub struct MockState {
    pub issuer: Mutex<String>,
    /// Overrides the `issuer` in the metadata document.
    pub metadata_issuer: Mutex<Option<String>>,
    pub jwks: Mutex<Vec<Value>>,
    /// token → introspection answer; unknown tokens are inactive.
    pub introspection: Mutex<HashMap<String, Value>>,
    pub metadata_fetches: AtomicUsize,
    pub jwks_fetches: AtomicUsize,
    pub introspection_calls: AtomicUsize,
    pub last_authorization: Mutex<Option<String>>,
    pub last_form: Mutex<Option<HashMap<String, String>>>,
    /// Every endpoint answers 503.
    pub down: AtomicBool,
    /// Answer introspection with 401 (credentials refused).
    pub refuse_client: AtomicBool,
    /// Delay of the JWKS endpoint (to make concurrent refreshes overlap).
    pub jwks_delay_ms: AtomicUsize,
}

pub struct MockAs {
    pub issuer: String,
    pub state: Arc<MockState>,
}

impl MockAs {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(MockState::default());
        *state.issuer.lock().unwrap() = issuer.clone();
        let app = Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/jwks", get(jwks))
            .route("/introspect", post(introspect))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { issuer, state }
    }

    pub fn set_keys(&self, keys: &[(&TestKey, &str)]) {
        *self.state.jwks.lock().unwrap() = keys.iter().map(|(k, kid)| k.jwk(kid)).collect();
    }

    pub fn add_key(&self, key: &TestKey, kid: &str) {
        self.state.jwks.lock().unwrap().push(key.jwk(kid));
    }

    pub fn jwks_fetches(&self) -> usize {
        self.state.jwks_fetches.load(Ordering::SeqCst)
    }

    pub fn introspection_calls(&self) -> usize {
        self.state.introspection_calls.load(Ordering::SeqCst)
    }

    pub fn set_introspection(&self, token: &str, answer: Value) {
        self.state.introspection.lock().unwrap().insert(token.to_owned(), answer);
    }

    /// An active answer as Keycard gives it.
    pub fn active(&self, scope: &str) -> Value {
        let now = now();
        json!({"active": true, "scope": scope, "client_id": "web", "sub": "user-2", "aud": AUDIENCE,
               "iss": self.issuer, "exp": now + 300, "iat": now, "jti": "jti-opaque",
               "token_type": "Bearer"})
    }

    /// A builder with the audience and the introspection credentials set.
    pub fn builder(&self) -> ValidatorBuilder {
        Validator::builder(&self.issuer).audience(AUDIENCE).introspection_credentials(CLIENT_ID, CLIENT_SECRET)
    }

    pub fn validator(&self) -> Validator {
        self.builder().build().unwrap()
    }
}

fn down(state: &MockState) -> Option<Response> {
    state.down.load(Ordering::SeqCst).then(|| StatusCode::SERVICE_UNAVAILABLE.into_response())
}

async fn metadata(State(s): State<Arc<MockState>>) -> Response {
    s.metadata_fetches.fetch_add(1, Ordering::SeqCst);
    if let Some(r) = down(&s) {
        return r;
    }
    let issuer = s.issuer.lock().unwrap().clone();
    let claimed = s.metadata_issuer.lock().unwrap().clone().unwrap_or_else(|| issuer.clone());
    Json(json!({
        "issuer": claimed,
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "response_types_supported": [],
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
    }))
    .into_response()
}

async fn jwks(State(s): State<Arc<MockState>>) -> Response {
    s.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let delay = s.jwks_delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay as u64)).await;
    }
    if let Some(r) = down(&s) {
        return r;
    }
    let keys = s.jwks.lock().unwrap().clone();
    Json(json!({ "keys": keys })).into_response()
}

async fn introspect(State(s): State<Arc<MockState>>, headers: HeaderMap, body: String) -> Response {
    s.introspection_calls.fetch_add(1, Ordering::SeqCst);
    if let Some(r) = down(&s) {
        return r;
    }
    *s.last_authorization.lock().unwrap() = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned());
    let form: HashMap<String, String> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    *s.last_form.lock().unwrap() = Some(form.clone());
    if s.refuse_client.load(Ordering::SeqCst) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    let token = form.get("token").cloned().unwrap_or_default();
    let answer = s.introspection.lock().unwrap().get(&token).cloned().unwrap_or(json!({"active": false}));
    Json(answer).into_response()
}

/// Waits a little longer than `d`.
pub async fn sleep_past(d: Duration) {
    tokio::time::sleep(d + Duration::from_millis(50)).await;
}
