//! `keycard serve --demo` end to end: the demo provisioning, client credentials → demo API,
//! authorization code with the `oauth2` crate → demo API, and the demo's own browser client
//! (start page → Keycard's pages → `/callback` → the API).

mod common;

use common::*;
use keycard::demo::{self, DemoCredentials};

const PASSWORD: &str = "demo-password-1";

/// A Keycard with the demo provisioned and the demo API served on another loopback port.
struct Demo {
    s: TestServer,
    /// The demo API's base URL (= the audience of the demo clients' tokens).
    base: String,
    secret: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Demo {
    async fn start() -> Demo {
        let s = TestServer::start().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let creds = DemoCredentials {
            service_secret: format!("kc_cs_{}", keycard::jose::random_token(32)),
            user_password: PASSWORD.into(),
        };
        demo::provision(&s.state, &base, &creds).await.expect("provision");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (issuer, audience) = (s.base.clone(), base.clone());
        let task = tokio::spawn(async move {
            demo::serve_demo(listener, &issuer, &audience, async {
                let _ = rx.await;
            })
            .await
        });
        Demo { s, base, secret: creds.service_secret, stop: Some(tx), task }
    }

    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A client_credentials token of `demo-service`.
    async fn service_token(&self, scope: &str) -> String {
        let res = cc_token(&self.s, demo::SERVICE_CLIENT_ID, &self.secret, Some(scope)).await;
        assert_eq!(res.status, 200, "{}", res.body);
        res.json()["access_token"].as_str().unwrap().to_owned()
    }

    async fn call(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> Res {
        let mut rb = http().request(method, self.api(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        send(rb).await
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap().expect("demo API stopped cleanly");
        self.s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn provisioning_is_idempotent_and_follows_the_port() {
    let d = Demo::start().await;
    let creds = DemoCredentials { service_secret: d.secret.clone(), user_password: PASSWORD.into() };
    // Again, and again on another port: same objects, updated URLs, nothing duplicated.
    demo::provision(&d.s.state, &d.base, &creds).await.unwrap();
    demo::provision(&d.s.state, "http://127.0.0.1:18081", &creds).await.unwrap();
    let admin = d.s.admin();
    let app = admin.client(demo::APP_CLIENT_ID).await.unwrap();
    assert!(app.is_public());
    assert_eq!(app.redirect_uris, ["http://127.0.0.1:18081/callback"]);
    assert_eq!(app.settings.audience.as_deref(), Some("http://127.0.0.1:18081"));
    let svc = admin.client(demo::SERVICE_CLIENT_ID).await.unwrap();
    assert_eq!(svc.scopes, ["invoices:read", "invoices:write"]);
    assert_eq!(admin.user(demo::DEMO_USER).await.unwrap().username, "demo");
    assert_eq!(d.s.state.store.list_users().await.unwrap().len(), 1);
    let scopes = d.s.state.store.list_scopes().await.unwrap();
    let described = |n: &str| scopes.iter().find(|s| s.name == n).map(|s| s.description.clone()).unwrap_or_default();
    assert_eq!(described("invoices:read"), "Read your invoices");
    assert!(!described("invoices:write").is_empty());
    // The secret still works after re-provisioning.
    demo::provision(&d.s.state, &d.base, &creds).await.unwrap();
    d.service_token("invoices:read").await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_credentials_to_the_demo_api() {
    let d = Demo::start().await;
    use reqwest::Method;

    let health = d.call(Method::GET, "/api/health", None).await;
    assert_eq!((health.status, health.json()["status"].clone()), (200, "ok".into()));

    // No token: 401 with a bare challenge (RFC 6750 §3.1).
    let r = d.call(Method::GET, "/api/invoices", None).await;
    assert_eq!((r.status, r.header("www-authenticate")), (401, Some("Bearer")));

    // The right scope: 200, and the API says who called.
    let read = d.service_token("invoices:read").await;
    let r = d.call(Method::GET, "/api/invoices", Some(&read)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["caller"]["subject"], demo::SERVICE_CLIENT_ID);
    assert_eq!(v["caller"]["client_id"], demo::SERVICE_CLIENT_ID);
    assert_eq!(v["caller"]["scopes"], serde_json::json!(["invoices:read"]));
    assert_eq!(v["caller"]["on_behalf_of"], "client");
    assert!(v["invoices"].as_array().is_some_and(|a| !a.is_empty()));

    // Without the scope the route needs: 403 insufficient_scope naming it.
    let r = d.call(Method::POST, "/api/invoices", Some(&read)).await;
    r.assert_error(403, "insufficient_scope");
    let challenge = r.header("www-authenticate").unwrap();
    assert!(challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"invoices:write\""));
    let r = d.call(Method::GET, "/api/profile", Some(&read)).await;
    r.assert_error(403, "insufficient_scope");

    // With it: the invoice is created, in the caller's name.
    let write = d.service_token("invoices:write").await;
    let r = send(
        http()
            .post(d.api("/api/invoices"))
            .bearer_auth(&write)
            .header("content-type", "application/json")
            .body(r#"{"customer":"Umbrella","amount_cents":4200}"#),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["invoice"]["customer"], "Umbrella");
    assert_eq!(r.json()["invoice"]["created_by"], demo::SERVICE_CLIENT_ID);
    let r = send(http().post(d.api("/api/invoices")).bearer_auth(&write).body("not json")).await;
    r.assert_error(400, "invalid_request");

    // A bad token: 401 invalid_token; a token in the query string: 400.
    let mut forged = read.clone().into_bytes();
    let i = forged.len() - 20;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    let r = d.call(Method::GET, "/api/invoices", Some(&forged)).await;
    r.assert_error(401, "invalid_token");
    let r = send(http().get(d.api(&format!("/api/invoices?access_token={read}")))).await;
    r.assert_error(400, "invalid_request");

    // A token of a client whose tokens are for another audience (Keycard's default): refused.
    let (id, secret) = d.s.cc_client("elsewhere", &["invoices:read"]).await;
    let other = cc_token(&d.s, &id, &secret, None).await.json()["access_token"].as_str().unwrap().to_owned();
    d.call(Method::GET, "/api/invoices", Some(&other)).await.assert_error(401, "invalid_token");

    // The benchmark's baseline does the same work without a token.
    let r = d.call(Method::GET, "/api/invoices-unprotected", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["invoices"].as_array().unwrap().len(), v["invoices"].as_array().unwrap().len() + 1);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn authorization_code_with_the_oauth2_crate_to_the_demo_api() {
    use oauth2::TokenResponse as _;
    use oauth2::basic::BasicClient;
    use oauth2::{AuthUrl, TokenUrl};
    let d = Demo::start().await;
    let client = BasicClient::new(oauth2::ClientId::new(demo::APP_CLIENT_ID.into()))
        .set_auth_uri(AuthUrl::new(d.s.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(d.s.url("/token")).unwrap())
        .set_redirect_uri(oauth2::RedirectUrl::new(d.api("/callback")).unwrap());
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(oauth2::CsrfToken::new_random)
        .add_scopes(demo::APP_SCOPES.iter().map(|s| oauth2::Scope::new(s.to_string())))
        .set_pkce_challenge(challenge)
        .url();
    let ua = UserAgent::new(&d.s.base);
    let back = authorize_in(&ua, url.as_str(), demo::DEMO_USER, PASSWORD).await;
    assert!(back.starts_with(&d.api("/callback?")), "{back}");
    let q = query_of(&back);
    assert_eq!(&q["state"], state.secret());
    assert_eq!(q["iss"], d.s.base);
    let tok = client
        .exchange_code(oauth2::AuthorizationCode::new(q["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&oauth2_http)
        .await
        .expect("demo-app redeems its code");
    assert!(tok.refresh_token().is_some(), "offline_access");
    let at = tok.access_token().secret();

    let r = d.call(reqwest::Method::GET, "/api/profile", Some(at)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert!(v["caller"]["subject"].as_str().unwrap().starts_with("usr_"), "{v}");
    assert_eq!(v["caller"]["client_id"], demo::APP_CLIENT_ID);
    assert_eq!(v["caller"]["on_behalf_of"], "user");
    assert_eq!(v["token"]["audience"], serde_json::json!([d.base]));
    let scopes: Vec<&str> = v["caller"]["scopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert!(scopes.contains(&"profile") && scopes.contains(&"invoices:read"), "{scopes:?}");
    assert_eq!(d.call(reqwest::Method::GET, "/api/invoices", Some(at)).await.status, 200);
    d.call(reqwest::Method::POST, "/api/invoices", Some(at)).await.assert_error(403, "insufficient_scope");

    // A refreshed access token works the same.
    let t2 = client.exchange_refresh_token(tok.refresh_token().unwrap()).request_async(&oauth2_http).await.unwrap();
    assert_eq!(d.call(reqwest::Method::GET, "/api/profile", Some(t2.access_token().secret())).await.status, 200);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_start_page_runs_the_whole_flow() {
    let d = Demo::start().await;
    let ua = UserAgent::new(&d.s.base);
    let start = ua.get(&d.api("/")).await;
    let authorize = start.location();
    assert!(authorize.starts_with(&d.s.url("/authorize?")), "{authorize}");
    let q = query_of(&authorize);
    assert_eq!(q["client_id"], demo::APP_CLIENT_ID);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], d.api("/callback"));
    assert_eq!(ua.cookie("kc_demo_state").as_deref(), Some(q["state"].as_str()));

    let back = authorize_in(&ua, &authorize, demo::DEMO_USER, PASSWORD).await;
    // Another browser (no state cookie) cannot complete this sign-in.
    let stranger = UserAgent::new(&d.s.base);
    assert_eq!(stranger.get(&back).await.status, 400);

    let page = ua.get(&back).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.header("content-security-policy").is_some_and(|c| c.contains("default-src 'none'")));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    for expected in [
        "Resource owner",
        "Client: demo-app",
        "Authorization server: Keycard",
        "Resource server",
        "<code>GET /api/profile</code> → <strong class=\"ok\">200</strong>",
        "<code>POST /api/invoices</code> → <strong class=\"no\">403</strong>",
        "&quot;on_behalf_of&quot;: &quot;user&quot;",
    ] {
        assert!(page.body.contains(expected), "{expected:?} missing from:\n{}", page.body);
    }
    // The state is single use.
    ua.set_cookie("kc_demo_state", &q["state"]);
    assert_eq!(ua.get(&back).await.status, 400);

    // An error response (e.g. the user refused consent) shows as an error page.
    let ua = UserAgent::new(&d.s.base);
    let state = query_of(&ua.get(&d.api("/")).await.location())["state"].clone();
    let denied = ua
        .get(&d.api(&format!("/callback?error=access_denied&error_description=no&state={state}&iss={}", d.s.base)))
        .await;
    assert_eq!(denied.status, 400);
    assert!(denied.body.contains("error=access_denied"), "{}", denied.body);
    d.stop().await;
}
