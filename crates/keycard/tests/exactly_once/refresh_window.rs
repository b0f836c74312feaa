//! Refresh tokens with a replay window (client settings `refresh_replay_window_secs`,
//! `refresh_replay_max`; oauth/grant/refresh_token.rs): the immediately previous token, presented
//! again within the window, gets the SAME successor pair back instead of revoking the family, at
//! most `refresh_replay_max` times. Exactly once here means ONE successor pair is issued:
//!
//! - every 200 carries the same refresh token and the same access token (the winner's pair);
//! - exactly `1 + min(racers - 1, refresh_replay_max)` answers are 200, the rest `invalid_grant`;
//! - within the budget (client `win`, replay_max ≥ racers) the family is not revoked: the
//!   successor then rotates once (a new pair, different from every answer of the race);
//! - beyond it (client `win-small`, replay_max 3 < 63 losers) the extra presentations are reuse:
//!   the family is revoked and the successor is refused.

use super::*;
use keycard::admin::ClientSpec;
use keycard::model::GrantType;

/// `refresh_replay_max` of the small-budget client.
const SMALL_MAX: usize = 3;

async fn client(c: &Cluster, id: &str, max: usize) -> String {
    let (_, secret) =
        c.a.create_client(ClientSpec {
            id: Some(id.into()),
            name: Some(format!("Client {id}")),
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: ["openid", "offline_access", "api:read"].map(String::from).into(),
            redirect_uris: vec![CB.into()],
            ..Default::default()
        })
        .await;
    edit_client(&c.a, id, |cl| {
        cl.settings.refresh_replay_window_secs = 60;
        cl.settings.refresh_replay_max = max as i64;
        cl.settings.first_party = true;
    })
    .await;
    secret
}

pub async fn setup(c: &Cluster) {
    let big = client(c, "win", CONCURRENCY).await;
    let small = client(c, "win-small", SMALL_MAX).await;
    SECRETS.set((big, small)).expect("setup runs once");
}

static SECRETS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();

/// A refresh token of a fresh family of `id`.
async fn fresh_refresh_token(c: &Cluster, id: &str, secret: &str) -> String {
    let (verifier, challenge) = pkce();
    let url = format!(
        "/authorize?response_type=code&client_id={id}&redirect_uri={}&scope={}&state=w&code_challenge={challenge}&code_challenge_method=S256",
        enc(CB),
        enc("openid offline_access")
    );
    let back = finish_authorization(&c.ua, c.ua.get(&url).await, "alice", "alice-password-1").await;
    let code = query_of(&back)["code"].clone();
    let body = format!("grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}", enc(CB));
    let r = post_form(&c.a.url("/token"), Some(&basic(id, secret)), &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["refresh_token"].as_str().expect("a refresh token").to_owned()
}

fn refresh(rt: &str) -> String {
    format!("grant_type=refresh_token&refresh_token={}", enc(rt))
}

/// Races `rt` and checks that every success carries one pair; returns (successes, that pair).
async fn race_one_pair(c: &Cluster, id: &str, secret: &str, rt: &str, what: &str) -> (usize, String, String) {
    let auth = basic(id, secret);
    let body = refresh(rt);
    let answers = race(c, |n, _| form(n.url("/token"), Some(&auth), &body)).await;
    let won = Tally::of(answers, is_200, 400, Some("invalid_grant"), what).won;
    assert!(!won.is_empty(), "{what}: no success at all");
    let pair = |r: &Res| {
        let j = r.json();
        (
            j["refresh_token"].as_str().expect("refresh_token").to_owned(),
            j["access_token"].as_str().expect("access_token").to_owned(),
        )
    };
    let first = pair(&won[0].1);
    assert_ne!(first.0, rt, "{what}: the successor is a new token");
    for (i, r) in &won {
        assert_eq!(pair(r), first, "{what}: racer {i} got another pair: more than one successor was issued");
    }
    (won.len(), first.0, first.1)
}

pub async fn round(c: &Cluster, round: usize) {
    let (big, small) = SECRETS.get().expect("setup");

    // Within the budget: every racer gets the one successor pair; the family lives on.
    let what = format!("refresh with a replay window, round {round}");
    let rt = fresh_refresh_token(c, "win", big).await;
    let (won, successor, access) = race_one_pair(c, "win", big, &rt, &what).await;
    // 1 + min(63 losers, replay_max 64): every racer.
    assert_eq!(won, CONCURRENCY, "{what}: {won} successes");
    let r = post_form(&c.b.url("/token"), Some(&basic("win", big)), &refresh(&successor)).await;
    assert_eq!(r.status, 200, "{what}: the successor was refused (the family was revoked?): {}", r.body);
    let next = r.json();
    assert_ne!(next["refresh_token"], successor.as_str(), "{what}: the successor rotates");
    assert_ne!(next["refresh_token"], rt.as_str());
    assert_ne!(next["access_token"], access.as_str(), "{what}: a new access token");

    // Beyond it: exactly 1 + SMALL_MAX successes, one pair; the rest is reuse and revokes.
    let what = format!("refresh with a replay budget of {SMALL_MAX}, round {round}");
    let rt = fresh_refresh_token(c, "win-small", small).await;
    let (won, successor, _) = race_one_pair(c, "win-small", small, &rt, &what).await;
    assert_eq!(won, 1 + SMALL_MAX, "{what}: {won} successes");
    let r = post_form(&c.b.url("/token"), Some(&basic("win-small", small)), &refresh(&successor)).await;
    r.assert_error(400, "invalid_grant");
}
