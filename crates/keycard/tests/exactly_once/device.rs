//! Device codes (RFC 8628 §3.4–3.5): the device authorization is approved by alice, then its
//! device code is polled by every racer at once. One poll gets the tokens; every other is
//! `invalid_grant` (RFC 8628 §3.5 defines no error for a code already redeemed; RFC 6749 §5.2
//! `invalid_grant` is what Keycard answers, oauth/grant/device_code.rs). Never
//! `authorization_pending` or `slow_down` (the code is approved), never a second token.

use super::*;
use keycard::admin::ClientSpec;
use keycard::model::GrantType;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

pub async fn setup(c: &Cluster) {
    c.a.create_client(ClientSpec {
        id: Some("tv".into()),
        name: Some("Living Room TV".into()),
        public: true,
        grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
        scopes: ["openid", "offline_access", "api:read"].map(String::from).into(),
        ..Default::default()
    })
    .await;
}

pub async fn round(c: &Cluster, round: usize) {
    let r = post_form(
        &c.b.url("/device_authorization"),
        None,
        &format!("client_id=tv&scope={}", enc("openid offline_access")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = r.json();
    let device_code = d["device_code"].as_str().expect("device_code").to_owned();
    let user_code = d["user_code"].as_str().expect("user_code").to_owned();
    // A browser of its own: the helper plays a user who signs in after typing the code.
    let ua = UserAgent::behind_proxy(&c.a.base, ISSUER);
    let (_, done) = device_user_acts(&ua, &user_code, "Living Room TV", "approve").await;
    assert_eq!(done.status, 200, "{}", done.body);

    let body = format!("grant_type={}&device_code={}&client_id=tv", enc(GRANT), enc(&device_code));
    let what = format!("device code, round {round}");
    let answers = race(c, |n, _| form(n.url("/token"), None, &body)).await;
    let won = Tally::of(answers, is_200, 400, Some("invalid_grant"), &what).one(&what).json();
    assert!(won["access_token"].is_string() && won["refresh_token"].is_string(), "{what}: {won}");
    // And later polls stay refused.
    let r = post_form(&c.a.url("/token"), None, &body).await;
    r.assert_error(400, "invalid_grant");
}
