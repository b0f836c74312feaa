//! Authorization codes (RFC 6749 §4.1.2: used once; SECURITY B7) and refresh tokens without a
//! replay window (RFC 9700 §4.14.2 rotation; SECURITY C3): one 200, every other racer
//! `invalid_grant`. The code's losers are duplicate redemptions, which revoke its grant (RFC 6749
//! §4.1.2): the winner's refresh token is then refused too.

use super::*;

/// A fresh code for `web` (alice's session on node A), with its PKCE verifier.
pub async fn fresh_code(c: &Cluster, scope: &str, state: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let url = format!(
        "/authorize?response_type=code&client_id=web&redirect_uri={}&scope={}&state={state}&code_challenge={challenge}&code_challenge_method=S256",
        enc(CB),
        enc(scope)
    );
    let back = finish_authorization(&c.ua, c.ua.get(&url).await, "alice", "alice-password-1").await;
    (query_of(&back)["code"].clone(), verifier)
}

/// The body that redeems `code`.
pub fn code_body(code: &str, verifier: &str) -> String {
    format!("grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}", enc(CB))
}

pub async fn round(c: &Cluster, round: usize) {
    let auth = basic("web", &c.web_secret);
    let (code, verifier) = fresh_code(c, "openid offline_access api:read", &format!("s{round}")).await;
    let body = code_body(&code, &verifier);
    let what = format!("code, round {round}");
    let answers = race(c, |n, _| form(n.url("/token"), Some(&auth), &body)).await;
    let won = Tally::of(answers, is_200, 400, Some("invalid_grant"), &what).one(&what).json();
    let rt = won["refresh_token"].as_str().expect("a refresh token");
    let r = post_form(&c.b.url("/token"), Some(&auth), &format!("grant_type=refresh_token&refresh_token={}", enc(rt)))
        .await;
    r.assert_error(400, "invalid_grant");

    // A fresh refresh token, redeemed once alone, then raced.
    let (code, verifier) = fresh_code(c, "openid offline_access api:read", "r").await;
    let r = post_form(&c.a.url("/token"), Some(&auth), &code_body(&code, &verifier)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rt = r.json()["refresh_token"].as_str().expect("a refresh token").to_owned();
    let body = format!("grant_type=refresh_token&refresh_token={}", enc(&rt));
    let what = format!("refresh, round {round}");
    let answers = race(c, |n, _| form(n.url("/token"), Some(&auth), &body)).await;
    Tally::of(answers, is_200, 400, Some("invalid_grant"), &what).one(&what);
}
