//! PAR request URIs (RFC 9126 §2.2: single use; §4): `web` pushes a request, then every racer,
//! each a browser of its own, opens `/authorize` with the one `request_uri` at once. Exactly one
//! proceeds (303 to the sign-in page); every other is the error page naming
//! `invalid_request_uri` (400). The one that proceeded then signs in and gets a code that
//! redeems: the pushed request was consumed by the winner and not by anybody else.

use super::*;

pub async fn round(c: &Cluster, round: usize) {
    let (verifier, challenge) = pkce();
    let state = format!("par{round}");
    let pairs = [
        ("response_type", "code"),
        ("client_id", "web"),
        ("redirect_uri", CB),
        ("scope", "openid api:read"),
        ("state", state.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    let r = post_form(&c.a.url("/par"), Some(&basic("web", &c.web_secret)), &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let request_uri = r.json()["request_uri"].as_str().expect("request_uri").to_owned();
    let path = format!("/authorize?client_id=web&request_uri={}", enc(&request_uri));

    // One browser per racer (a cookie jar each), alternating the nodes.
    let browsers: Vec<Arc<UserAgent>> =
        (0..CONCURRENCY).map(|i| Arc::new(UserAgent::behind_proxy(&c.nodes()[i % 2].base, ISSUER))).collect();
    let barrier = Arc::new(tokio::sync::Barrier::new(CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for (i, ua) in browsers.iter().enumerate() {
        let (ua, barrier, path) = (ua.clone(), barrier.clone(), path.clone());
        set.spawn(async move {
            barrier.wait().await;
            (i, ua.get(&path).await)
        });
    }
    let mut answers = set.join_all().await;
    answers.sort_by_key(|(i, _)| *i);
    let answers: Vec<Res> = answers.into_iter().map(|(_, r)| r).collect();
    for r in &answers {
        if r.status == 400 {
            assert!(r.body.contains("invalid_request_uri"), "round {round}: {}", r.body);
        }
    }
    let what = format!("PAR request_uri, round {round}");
    let tally = Tally::of(answers, |s| s == 303, 400, None, &what);
    assert_eq!(tally.won.len(), 1, "{what}: {} browsers proceeded", tally.won.len());
    let (i, res) = tally.won.into_iter().next().expect("one");
    assert!(res.location().starts_with("/login?request="), "{what}: {}", res.location());
    let back = finish_authorization(&browsers[i], res, "alice", "alice-password-1").await;
    let q = query_of(&back);
    assert_eq!(q["state"], state, "{what}: the pushed state");
    let r = post_form(
        &c.b.url("/token"),
        Some(&basic("web", &c.web_secret)),
        &super::codes::code_body(&q["code"], &verifier),
    )
    .await;
    assert_eq!(r.status, 200, "{what}: the winner's code: {}", r.body);
}
