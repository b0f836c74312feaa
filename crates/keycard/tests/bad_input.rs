//! Bad input at the token, introspection and revocation endpoints: each gets the precise
//! RFC 6749 §5.2 error and status, JSON with `Cache-Control: no-store`, and never a 5xx.

mod common;

use base64::Engine as _;
use common::*;
use keycard::admin::ClientSpec;
use keycard::model::GrantType;

fn b64(s: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// SECURITY I4: malformed input gets a 4xx with an RFC error code, never a 5xx or a panic.
#[tokio::test(flavor = "multi_thread")]
async fn token_endpoint_bad_input_table() {
    let s = TestServer::start().await;
    let (id, secret) = s.cc_client("svc:billing", &["invoices:read"]).await;
    let good = basic(&id, &secret);
    let url = s.url("/token");
    let cc = "grant_type=client_credentials";

    // (name, auth header, body, expected status, expected error)
    type Case<'a> = (&'a str, Option<String>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "malformed percent-encoding",
            Some(good.clone()),
            b"grant_type=client_credentials&scope=%zz".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "repeated parameter",
            Some(good.clone()),
            b"grant_type=client_credentials&grant_type=client_credentials".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "repeated scope",
            Some(good.clone()),
            b"grant_type=client_credentials&scope=a&scope=b".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "non-UTF-8 body",
            Some(good.clone()),
            b"grant_type=client_credentials&scope=\xff\xfe".to_vec(),
            400,
            "invalid_request",
        ),
        (
            "non-UTF-8 percent-encoded",
            Some(good.clone()),
            b"grant_type=client_credentials&scope=%ff".to_vec(),
            400,
            "invalid_request",
        ),
        ("missing grant_type", Some(good.clone()), b"scope=invoices%3Aread".to_vec(), 400, "invalid_request"),
        ("empty grant_type", Some(good.clone()), b"grant_type=".to_vec(), 400, "invalid_request"),
        (
            "unknown grant type",
            Some(good.clone()),
            b"grant_type=urn:example:magic".to_vec(),
            400,
            "unsupported_grant_type",
        ),
        (
            "password grant is off",
            Some(good.clone()),
            b"grant_type=password&username=a&password=b".to_vec(),
            400,
            "unsupported_grant_type",
        ),
        (
            "scope outside the allowed set",
            Some(good.clone()),
            b"grant_type=client_credentials&scope=invoices%3Aread+admin".to_vec(),
            400,
            "invalid_scope",
        ),
        (
            "scope with a forbidden character",
            Some(good.clone()),
            b"grant_type=client_credentials&scope=a%22b".to_vec(),
            400,
            "invalid_scope",
        ),
        ("Basic not base64", Some("Basic !!!***".into()), cc.as_bytes().to_vec(), 401, "invalid_client"),
        (
            "Basic without colon",
            Some(format!("Basic {}", b64(b"svc%3Abilling"))),
            cc.as_bytes().to_vec(),
            401,
            "invalid_client",
        ),
        (
            "Basic with a raw (not form-encoded) bad escape",
            Some(format!("Basic {}", b64(b"svc%zz:x"))),
            cc.as_bytes().to_vec(),
            401,
            "invalid_client",
        ),
        (
            "Basic not form-decoded: raw id with colon is split at the first colon",
            Some(format!("Basic {}", b64(format!("svc:billing:{secret}").as_bytes()))),
            cc.as_bytes().to_vec(),
            401,
            "invalid_client",
        ),
        ("unknown client", Some(basic("nobody", "x")), cc.as_bytes().to_vec(), 401, "invalid_client"),
        ("wrong secret", Some(basic(&id, "kc_cs_wrong")), cc.as_bytes().to_vec(), 401, "invalid_client"),
        (
            "wrong secret, same length",
            Some(basic(&id, &format!("{}X", &secret[..secret.len() - 1]))),
            cc.as_bytes().to_vec(),
            401,
            "invalid_client",
        ),
        ("no client authentication", None, cc.as_bytes().to_vec(), 401, "invalid_client"),
        ("Bearer instead of Basic", Some("Bearer abc".into()), cc.as_bytes().to_vec(), 401, "invalid_client"),
        (
            "Basic and client_secret together",
            Some(good.clone()),
            format!("{cc}&client_secret={secret}").into_bytes(),
            400,
            "invalid_request",
        ),
        (
            "client_secret_post with the wrong secret",
            None,
            format!("{cc}&client_id=svc%3Abilling&client_secret=nope").into_bytes(),
            401,
            "invalid_client",
        ),
    ];
    for (name, auth, body, status, code) in cases {
        let mut rb = http().post(&url).header("content-type", "application/x-www-form-urlencoded").body(body);
        if let Some(a) = &auth {
            rb = rb.header("authorization", a);
        }
        let r = send(rb).await;
        assert_eq!(r.status, status, "{name}: {}", r.body);
        r.assert_error(status, code);
        if status == 401 && auth.as_deref().is_some_and(|a| a.starts_with("Basic")) {
            let h =
                r.header("www-authenticate").unwrap_or_else(|| panic!("{name}: WWW-Authenticate on 401 after Basic"));
            assert!(h.starts_with("Basic"), "{name}: {h}");
        }
        assert!(!r.body.contains(&secret), "{name}: the secret never appears in an error");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn percent_encoded_credentials_work_in_basic_and_post() {
    let s = TestServer::start().await;
    let spec = ClientSpec {
        id: Some("svc:billing+ü".replace('ü', "u")),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: vec!["s".into()],
        ..Default::default()
    };
    let (id, secret) = s.create_client(spec).await;
    assert_eq!(id, "svc:billing+u");
    let r = cc_token(&s, &id, &secret, None).await;
    assert_eq!(r.status, 200, "Basic with form-encoded ':' and '+': {}", r.body);
    // A client uses only its registered method (issue 14, defect 9): switch it to the body.
    let admin = s.admin();
    let mut c = admin.client(&id).await.unwrap();
    c.auth_method = keycard::model::AuthMethod::ClientSecretPost;
    admin.save_client(c).await.unwrap();
    s.sync_caches().await;
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>(),
        form_urlencoded::byte_serialize(secret.as_bytes()).collect::<String>()
    );
    let r = post_form(&s.url("/token"), None, &body).await;
    assert_eq!(r.status, 200, "client_secret_post: {}", r.body);
    // '+' in Basic credentials means a space after form-decoding: the raw id does not match.
    let raw = format!("Basic {}", b64(format!("svc%3Abilling+u:{secret}").as_bytes()));
    let r = post_form(&s.url("/token"), Some(&raw), "grant_type=client_credentials").await;
    r.assert_error(401, "invalid_client");
    s.stop().await;
}

/// SECURITY I4: malformed input gets a 4xx with an RFC error code, never a 5xx or a panic.
#[tokio::test(flavor = "multi_thread")]
async fn transport_level_bad_input() {
    let s = TestServer::start().await;
    let (id, secret) = s.cc_client("c", &["x"]).await;
    let url = s.url("/token");
    // Wrong content type.
    let r = send(
        http()
            .post(&url)
            .header("authorization", basic(&id, &secret))
            .header("content-type", "application/json")
            .body("{\"grant_type\":\"client_credentials\"}"),
    )
    .await;
    r.assert_error(400, "invalid_request");
    // No content type at all.
    let r = send(http().post(&url).header("authorization", basic(&id, &secret)).body("grant_type=client_credentials"))
        .await;
    r.assert_error(400, "invalid_request");
    // A huge body: 413, quickly, without the server reading all of it.
    let big = format!("grant_type=client_credentials&scope={}", "a".repeat(1 << 20));
    let r = post_form(&url, Some(&basic(&id, &secret)), &big).await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid_request");
    // Credentials in the URL are refused (OAuth 2.1 §2.4.1).
    let r = post_form(
        &format!("{url}?client_secret={secret}"),
        Some(&basic(&id, &secret)),
        "grant_type=client_credentials",
    )
    .await;
    r.assert_error(400, "invalid_request");
    // GET is not allowed (OAuth 2.1 §3.2).
    let r = send(http().get(&url)).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["error"], "invalid_request");
    // Two Authorization headers.
    let r = send(
        http()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", basic(&id, &secret))
            .header("authorization", basic(&id, &secret))
            .body("grant_type=client_credentials"),
    )
    .await;
    r.assert_error(400, "invalid_request");
    // Unknown path: JSON 404.
    let r = send(http().get(s.url("/nope"))).await;
    assert_eq!(r.status, 404);
    s.stop().await;
}

/// SECURITY H2: client credentials only for confidential clients allowed the grant.
#[tokio::test(flavor = "multi_thread")]
async fn disabled_client_and_grant_not_allowed() {
    let s = TestServer::start().await;
    let (id, secret) = s.cc_client("c", &["x"]).await;
    let spec = ClientSpec {
        id: Some("web".into()),
        grant_types: vec![GrantType::AuthorizationCode],
        redirect_uris: vec!["https://app.example/cb".into()],
        ..Default::default()
    };
    let (web, web_secret) = s.create_client(spec).await;
    cc_token(&s, &web, &web_secret, None).await.assert_error(400, "unauthorized_client");
    // Public client: no secret, cannot use client_credentials.
    let spec = ClientSpec {
        id: Some("spa".into()),
        public: true,
        grant_types: vec![GrantType::AuthorizationCode],
        redirect_uris: vec!["https://spa.example/cb".into()],
        ..Default::default()
    };
    s.create_client(spec).await;
    post_form(&s.url("/token"), None, "grant_type=client_credentials&client_id=spa")
        .await
        .assert_error(400, "unauthorized_client");
    post_form(&s.url("/token"), None, "grant_type=client_credentials&client_id=spa&client_secret=x")
        .await
        .assert_error(401, "invalid_client");

    let admin = s.admin();
    let mut c = admin.client(&id).await.unwrap();
    c.disabled = true;
    admin.save_client(c).await.unwrap();
    // The cache follows the change within the poll interval (100 ms in tests): wait for it, up
    // to a bound a loaded machine cannot overrun.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while cc_token(&s, &id, &secret, None).await.status == 200 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    cc_token(&s, &id, &secret, None).await.assert_error(401, "invalid_client");
    s.stop().await;
}

/// SECURITY I4: malformed input gets a 4xx with an RFC error code, never a 5xx or a panic.
#[tokio::test(flavor = "multi_thread")]
async fn introspection_and_revocation_bad_input() {
    let s = TestServer::start().await;
    let (id, secret) = s.cc_client("rs", &["x"]).await;
    let auth = basic(&id, &secret);
    let intro = s.url("/introspect");
    let revoke = s.url("/revoke");
    // Unauthenticated introspection: 401 (RFC 7662 §2.1).
    post_form(&intro, None, "token=abc").await.assert_error(401, "invalid_client");
    post_form(&intro, Some(&basic(&id, "bad")), "token=abc").await.assert_error(401, "invalid_client");
    // Missing token: invalid_request.
    post_form(&intro, Some(&auth), "").await.assert_error(400, "invalid_request");
    post_form(&revoke, Some(&auth), "").await.assert_error(400, "invalid_request");
    // Garbage of every shape: active:false, never an error.
    let long = "a".repeat(5000);
    for garbage in
        ["abc", "kc_at_nope", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "...", long.as_str(), "%F0%9F%98%80"]
    {
        let r = post_form(&intro, Some(&auth), &format!("token={garbage}")).await;
        assert_eq!(r.status, 200, "{garbage}: {}", r.body);
        assert_eq!(r.json(), serde_json::json!({"active": false}), "{garbage}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let r = post_form(&revoke, Some(&auth), &format!("token={garbage}")).await;
        assert_eq!(r.status, 200, "revocation of garbage is 200 (RFC 7009 §2.2): {garbage}");
    }
    // A NUL is in no parameter's syntax (RFC 6749 Appendix A): a malformed request, refused
    // before any lookup (on PostgreSQL it would otherwise reach a text column; SECURITY I5).
    for endpoint in [&intro, &revoke] {
        post_form(endpoint, Some(&auth), "token=%00%01").await.assert_error(400, "invalid_request");
        post_form(endpoint, Some(&auth), "token=a%00").await.assert_error(400, "invalid_request");
    }
    s.stop().await;
}
