//! Mailed links (`people::links`; verification here, password reset and invitation links are
//! used by the same conditional statement): a verification link is issued for alice, then every
//! racer opens it at once on either node. Exactly one is told the address is confirmed (200);
//! every other gets the invalid-link page (400).

use super::*;
use keycard::people::links::{self, LinkPurpose};

pub async fn round(c: &Cluster, round: usize) {
    let s = &c.a;
    let alice = s.admin().user("alice").await.expect("alice");
    let (store, key, config) = (&s.state.store, &s.state.secrets.hash_key, &s.state.config);
    let link = links::issue(store, key, config, &alice, LinkPurpose::VerifyEmail, s.state.clock.now())
        .await
        .expect("issue a link")
        .expect("alice has an address");
    let token = link.url.split("token=").nth(1).expect("a token").to_owned();
    let answers = race(c, |node, _| http().get(node.url(&format!("/email/verify?token={token}")))).await;
    let what = format!("verification link, round {round}");
    let won = Tally::of(answers, is_200, 400, None, &what).one(&what);
    assert!(won.body.contains("Your e-mail address is confirmed"), "{what}: {}", won.body);
}
