//! Helpers shared by the client-assertion tests (tests/client_assertions.rs,
//! tests/exactly_once/jti.rs): keys generated with aws-lc-rs, compact JWS signing, and the
//! registration of private_key_jwt / client_secret_jwt clients.
#![allow(dead_code)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
    RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use keycard::admin::ClientSpec;
use keycard::model::{AuthMethod, GrantType};
use keycard::testing::TestServer;
use serde_json::{Value, json};

/// RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The same, form-encoded.
pub const JWT_BEARER_ENC: &str = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

/// The redirect URI registered for assertion clients.
pub const CB: &str = "https://pk.example/cb";

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A client's signing key with its public JWK.
pub struct Signer {
    pair: Pair,
    /// The `kid` put in headers (and in the JWK).
    pub kid: String,
    /// The public JWK (with `kid`).
    pub jwk: Value,
}

impl Signer {
    /// A fresh P-256 key.
    pub fn es256(kid: &str) -> Signer {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
        let pt = pair.public_key().as_ref().to_vec();
        let jwk = json!({"kty":"EC","crv":"P-256","kid":kid,"x":B64.encode(&pt[1..33]),"y":B64.encode(&pt[33..65])});
        Signer { pair: Pair::Ec(pair), kid: kid.into(), jwk }
    }

    /// A fresh RSA-2048 key (RS256 and PS256).
    pub fn rsa(kid: &str) -> Signer {
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let p = pair.public_key();
        let n = B64.encode(p.modulus().big_endian_without_leading_zero());
        let e = B64.encode(p.exponent().big_endian_without_leading_zero());
        let jwk = json!({"kty":"RSA","kid":kid,"n":n,"e":e});
        Signer { pair: Pair::Rsa(pair), kid: kid.into(), jwk }
    }

    /// A fresh Ed25519 key (EdDSA).
    pub fn ed25519(kid: &str) -> Signer {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
        let x = B64.encode(pair.public_key().as_ref());
        let jwk = json!({"kty":"OKP","crv":"Ed25519","kid":kid,"x":x});
        Signer { pair: Pair::Ed(pair), kid: kid.into(), jwk }
    }

    /// The alg this key signs with by default.
    pub fn default_alg(&self) -> &'static str {
        match self.pair {
            Pair::Ec(_) => "ES256",
            Pair::Rsa(_) => "RS256",
            Pair::Ed(_) => "EdDSA",
        }
    }

    /// A JWK Set of this key alone.
    pub fn jwks(&self) -> Value {
        json!({"keys": [self.jwk.clone()]})
    }

    /// Signs `claims` under exactly `header` (which must name an alg this key has).
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let rng = SystemRandom::new();
        let sig = match (&self.pair, header["alg"].as_str().unwrap()) {
            (Pair::Ec(p), "ES256") => p.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
            (Pair::Rsa(p), alg @ ("RS256" | "PS256")) => {
                let mut sig = vec![0; p.public_modulus_len()];
                let enc: &'static dyn aws_lc_rs::signature::RsaEncoding =
                    if alg == "RS256" { &RSA_PKCS1_SHA256 } else { &RSA_PSS_SHA256 };
                p.sign(enc, &rng, input.as_bytes(), &mut sig).unwrap();
                sig
            }
            (Pair::Ed(p), "EdDSA") => p.sign(input.as_bytes()).as_ref().to_vec(),
            (_, alg) => panic!("this key does not sign {alg}"),
        };
        format!("{input}.{}", B64.encode(sig))
    }

    /// Signs `claims` with `alg` and this key's `kid`.
    pub fn sign(&self, alg: &str, claims: &Value) -> String {
        self.sign_with_header(&json!({"alg": alg, "kid": self.kid, "typ": "JWT"}), claims)
    }
}

/// An HMAC-signed JWS (client_secret_jwt, or an alg-confusion attempt).
pub fn hmac_jws(alg: &str, secret: &[u8], header_extra: Value, claims: &Value) -> String {
    use aws_lc_rs::hmac;
    let mut header = json!({"alg": alg, "typ": "JWT"});
    if let Value::Object(m) = header_extra {
        header.as_object_mut().unwrap().extend(m);
    }
    let h = match alg {
        "HS256" => hmac::HMAC_SHA256,
        "HS384" => hmac::HMAC_SHA384,
        _ => hmac::HMAC_SHA512,
    };
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
    let tag = hmac::sign(&hmac::Key::new(h, secret), input.as_bytes());
    format!("{input}.{}", B64.encode(tag.as_ref()))
}

/// An unsigned JWS (`alg: none`).
pub fn unsigned(claims: &Value) -> String {
    format!("{}.{}.", B64.encode(json!({"alg":"none"}).to_string()), B64.encode(claims.to_string()))
}

/// Good claims for client `id` with audience `aud`, valid from the server's now, a fresh jti.
pub fn claims(s: &TestServer, id: &str, aud: &str) -> Value {
    let now = s.state.clock.now();
    json!({"iss": id, "sub": id, "aud": aud, "iat": now, "exp": now + 120, "jti": keycard::jose::random_token(16)})
}

/// Where the client's keys are.
#[derive(Default)]
pub struct Keys {
    /// Inline JWK Set.
    pub jwks: Option<Value>,
    /// A `jwks_uri`.
    pub jwks_uri: Option<String>,
    /// `token_endpoint_auth_signing_alg`.
    pub alg: Option<String>,
}

/// Registers client `id` for `method` with every grant, scopes `openid api:read offline_access`
/// and redirect URI [`CB`]; returns its secret (the one client_secret_jwt MACs with).
///
/// This branch's `ClientSpec` does not carry the issue-9 fields yet (the model helper adds them),
/// so they are set on the stored client here; at merge this becomes one `ClientSpec`.
pub async fn register(s: &TestServer, id: &str, method: AuthMethod, keys: Keys) -> String {
    let (_, secret) = s
        .create_client(ClientSpec {
            id: Some(id.into()),
            name: Some(format!("Client {id}")),
            auth_method: Some(method),
            grant_types: vec![
                GrantType::ClientCredentials,
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::DeviceCode,
            ],
            scopes: ["openid", "api:read", "offline_access"].map(String::from).into(),
            redirect_uris: vec![CB.into()],
            jwks: keys.jwks,
            jwks_uri: keys.jwks_uri,
            token_endpoint_auth_signing_alg: keys.alg,
            ..Default::default()
        })
        .await;
    secret
}

/// A client_credentials request authenticated by `assertion` alone (raw form body).
pub fn cc_body(assertion: &str) -> String {
    format!("grant_type=client_credentials&client_assertion_type={JWT_BEARER_ENC}&client_assertion={assertion}")
}
