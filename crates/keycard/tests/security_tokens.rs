//! SECURITY B8 / E5 (OAuth 2.1 §7.7, RFC 6749 §10.10, RFC 6819 §5.1.4.2.2): every credential
//! Keycard mints is unguessable — authorization codes, access tokens (opaque, and the `jti` of
//! JWT access tokens), refresh tokens and device codes carry a random part of at least 22
//! base64url characters (≥128 bits) and never repeat in a sample; and every `/token` response,
//! success or error, is `Cache-Control: no-store` (RFC 6749 §5.1, OAuth 2.1 §3.2.3).
//! Samples are a few hundred per kind so the file runs in seconds.

mod common;

use common::*;
use keycard::admin::ClientSpec;
use keycard::model::{GrantType, TokenFormat};
use std::collections::HashSet;

const DEVICE_GRANT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code";

/// Collects random parts and checks each: ≥22 base64url characters, never seen before. At the
/// end, the union of characters must cover the whole base64url alphabet (a hex or decimal
/// encoding, or a biased generator, would not).
struct Sample {
    kind: &'static str,
    seen: HashSet<String>,
    chars: HashSet<char>,
}

impl Sample {
    fn new(kind: &'static str) -> Sample {
        Sample { kind, seen: HashSet::new(), chars: HashSet::new() }
    }

    fn add(&mut self, random_part: &str) {
        let kind = self.kind;
        assert!(random_part.len() >= 22, "{kind}: random part {random_part:?} is shorter than 22 chars (128 bits)");
        assert!(
            random_part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{kind}: {random_part:?} is not base64url"
        );
        assert!(self.seen.insert(random_part.to_owned()), "{kind}: duplicate {random_part:?}");
        self.chars.extend(random_part.chars());
    }

    fn finish(&self, min: usize) {
        assert!(self.seen.len() >= min, "{}: only {} samples", self.kind, self.seen.len());
        assert_eq!(self.chars.len(), 64, "{}: the samples do not use the whole base64url alphabet", self.kind);
    }
}

fn strip<'a>(token: &'a str, prefix: &str) -> &'a str {
    token.strip_prefix(prefix).unwrap_or_else(|| panic!("{token:?} lacks the prefix {prefix}"))
}

fn assert_no_store(r: &Res, what: &str) {
    assert_eq!(r.header("cache-control"), Some("no-store"), "{what}: /token answered {} without no-store", r.status);
}

#[tokio::test(flavor = "multi_thread")]
async fn b8_e5_client_credentials_jwt_jti_and_opaque_tokens_are_unique_128_bit() {
    let s = TestServer::start().await;
    let (jwt_id, jwt_secret) = s.cc_client("svc-jwt", &[]).await;
    let (op_id, op_secret) = s
        .create_client(ClientSpec {
            id: Some("svc-opaque".into()),
            grant_types: vec![GrantType::ClientCredentials],
            token_format: Some(TokenFormat::Opaque),
            ..Default::default()
        })
        .await;
    let mut jti = Sample::new("JWT access token jti");
    let mut opaque = Sample::new("opaque access token");
    for _ in 0..250 {
        let r = cc_token(&s, &jwt_id, &jwt_secret, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_no_store(&r, "client_credentials (JWT)");
        let (_, claims) = jwt_parts(r.json()["access_token"].as_str().unwrap());
        jti.add(claims["jti"].as_str().expect("jti"));
        let r = cc_token(&s, &op_id, &op_secret, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_no_store(&r, "client_credentials (opaque)");
        opaque.add(strip(r.json()["access_token"].as_str().unwrap(), "kc_at_"));
    }
    jti.finish(250);
    opaque.finish(250);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn b8_e5_codes_refresh_tokens_and_user_access_tokens_are_unique_128_bit() {
    let s = TestServer::start().await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let auth = basic(&web, &secret);
    let ua = UserAgent::new(&s.base);
    let mut codes = Sample::new("authorization code");
    let mut rts = Sample::new("refresh token");
    let mut jtis = Sample::new("user access token jti");
    let mut id_jtis = HashSet::new();
    for i in 0..150 {
        let (verifier, challenge) = pkce();
        let url = format!(
            "/authorize?response_type=code&client_id={web}&redirect_uri=https%3A%2F%2Fweb.example%2Fcb\
             &scope=openid+offline_access&state=s{i}&code_challenge={challenge}&code_challenge_method=S256"
        );
        let back = authorize_in(&ua, &url, "alice", "alice-password-1").await;
        let code = query_of(&back)["code"].clone();
        codes.add(strip(&code, "kc_ac_"));
        let r = post_form(
            &s.url("/token"),
            Some(&auth),
            &format!(
                "grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&code_verifier={verifier}"
            ),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_no_store(&r, "authorization_code");
        let j = r.json();
        let rt = j["refresh_token"].as_str().expect("refresh_token").to_owned();
        // kc_rt_<grant id>.<generation>.<random>: the random part is the last segment.
        rts.add(strip(&rt, "kc_rt_").rsplit('.').next().unwrap());
        jtis.add(jwt_parts(j["access_token"].as_str().unwrap()).1["jti"].as_str().expect("jti"));
        if let Some(jti) = jwt_parts(j["id_token"].as_str().unwrap()).1["jti"].as_str() {
            assert!(id_jtis.insert(jti.to_owned()), "ID token jti repeats");
        }
        // A rotation mints another refresh token from the same family.
        let r = post_form(&s.url("/token"), Some(&auth), &format!("grant_type=refresh_token&refresh_token={rt}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_no_store(&r, "refresh_token");
        let j = r.json();
        rts.add(strip(j["refresh_token"].as_str().unwrap(), "kc_rt_").rsplit('.').next().unwrap());
        jtis.add(jwt_parts(j["access_token"].as_str().unwrap()).1["jti"].as_str().expect("jti"));
    }
    codes.finish(150);
    rts.finish(300);
    jtis.finish(300);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn b8_e5_device_codes_are_unique_128_bit() {
    // Many device authorizations from one client and address: lift the per-(client, IP) rate
    // limit (SECURITY H3, tested in device_flow.rs) for the sample.
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c| c.device.max_authorizations_per_client_ip = 1_000),
        ..Default::default()
    })
    .await;
    s.create_client(ClientSpec {
        id: Some("tv".into()),
        public: true,
        grant_types: vec![GrantType::DeviceCode],
        ..Default::default()
    })
    .await;
    let mut device = Sample::new("device code");
    let mut user_codes = HashSet::new();
    for _ in 0..120 {
        let r = post_form(&s.url("/device_authorization"), None, "client_id=tv").await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let j = r.json();
        device.add(strip(j["device_code"].as_str().unwrap(), "kc_dc_"));
        // RFC 8628 §6.1: user codes are short by design; they must still not repeat while live.
        assert!(user_codes.insert(j["user_code"].as_str().unwrap().to_owned()), "user_code repeats");
    }
    device.finish(120);
    s.stop().await;
}

/// Every /token answer carries `Cache-Control: no-store` (and `Pragma: no-cache` is not required
/// by OAuth 2.1): successes of each grant are covered above; here the error paths — 400s of
/// every kind, 401 with and without Basic, 405 and 413.
#[tokio::test(flavor = "multi_thread")]
async fn e5_every_token_error_response_is_no_store() {
    let s = TestServer::start().await;
    let (id, secret) = s.cc_client("svc", &["a"]).await;
    s.create_client(ClientSpec {
        id: Some("tv".into()),
        public: true,
        grant_types: vec![GrantType::DeviceCode],
        ..Default::default()
    })
    .await;
    let good = basic(&id, &secret);
    let url = s.url("/token");
    let cases: Vec<(Option<String>, String)> = vec![
        (Some(good.clone()), "".into()),
        (Some(good.clone()), "grant_type=".into()),
        (Some(good.clone()), "grant_type=client_credentials&grant_type=client_credentials".into()),
        (Some(good.clone()), "grant_type=urn:example:nope".into()),
        (Some(good.clone()), "grant_type=client_credentials&scope=zzz".into()),
        (Some(good.clone()), "grant_type=authorization_code&code=kc_ac_nope&code_verifier=x".into()),
        (Some(good.clone()), "grant_type=refresh_token&refresh_token=kc_rt_a.1.b".into()),
        (Some(basic(&id, "wrong")), "grant_type=client_credentials".into()),
        (Some(basic("nobody", "wrong")), "grant_type=client_credentials".into()),
        (None, "grant_type=client_credentials".into()),
        (None, "grant_type=client_credentials&client_id=svc&client_secret=wrong".into()),
        (None, format!("grant_type={DEVICE_GRANT}&client_id=tv&device_code=kc_dc_nope")),
        (Some("Bearer x".into()), "grant_type=client_credentials".into()),
        (Some(good.clone()), "grant_type=client_credentials&scope=%zz".into()),
        (Some(good.clone()), "a".repeat(70 * 1024)),
    ];
    for (auth, body) in cases {
        let r = post_form(&url, auth.as_deref(), &body).await;
        assert!((400..500).contains(&r.status), "{body:.60}: {} {}", r.status, r.body);
        assert_no_store(&r, &format!("{body:.60}"));
    }
    // Wrong content type, a query string, and the wrong method.
    let r = send(http().post(&url).header("authorization", &good).body("grant_type=client_credentials")).await;
    assert_eq!(r.status, 400);
    assert_no_store(&r, "no content type");
    let r = post_form(&format!("{url}?client_secret=x"), Some(&good), "grant_type=client_credentials").await;
    assert_eq!(r.status, 400);
    assert_no_store(&r, "query string");
    let r = send(http().get(&url)).await;
    assert_eq!(r.status, 405);
    assert_no_store(&r, "GET /token");
    s.stop().await;
}
