//! What must hold after a crash and restart, checked against the [`Ledger`] over real HTTP:
//!
//! 1. access tokens (RFC 7662 introspection by their own client): every acknowledged revocation
//!    stays revoked (`active:false`, JWT and opaque); every acknowledged token that was not
//!    revoked is still active (nothing acknowledged is lost: an opaque token's row, a grant's
//!    row); a token whose revocation was in flight may be either, and keeps what it shows;
//! 2. refresh tokens: the newest token of every family whose last exchange was acknowledged is
//!    usable exactly once (first use 200, second `invalid_grant`); a revoked family's token is
//!    refused; a token whose rotation or revocation was in flight works at most once;
//! 3. authorization codes: a code whose redemption was acknowledged is refused; a code whose
//!    redemption was in flight succeeds at most once over two tries (and never after a refusal);
//!    a code issued and never presented is redeemable exactly once;
//! 4. the tokens obtained by these checks are inactive afterwards: the second use of a refresh
//!    token or code revoked their grant (RFC 9700 §4.14.2, RFC 6749 §4.1.2).
//!
//! Every answer must be one RFC 6749 allows: 200, or 400 `invalid_grant` at the token endpoint;
//! a 5xx, a 401 or a dropped connection is a failure. Items of earlier rounds are checked again
//! (a random sample, bounded) so that a later crash cannot undo what an earlier round settled.

use super::ledger::{AccessToken, CodeState, Family, FamilyState, Ledger, Outcome};
use super::{Answer, ClientKind, Rng, enc, post};

/// Earlier rounds' items checked again per round, per category.
const SAMPLE: usize = 48;

/// Runs the checks of one round and collects failures.
pub struct Verifier {
    http: reqwest::Client,
    base: String,
    round: usize,
    /// What went wrong (empty when the round passed).
    pub failures: Vec<String>,
    /// Checks of acknowledged outcomes.
    pub checked: usize,
    /// In-flight outcomes observed (either answer allowed, but at most one success).
    pub resolved: usize,
}

/// The token endpoint's answer to a grant.
#[derive(Debug, PartialEq, Eq)]
enum Grant {
    /// 200 with an access token (and the refresh token, when one came).
    Granted(String, Option<String>),
    /// 400 `invalid_grant`.
    Refused,
}

fn sample(rng: &mut Rng, mut v: Vec<usize>) -> Vec<usize> {
    for i in 0..v.len().min(SAMPLE) {
        let j = i + rng.index(v.len() - i);
        v.swap(i, j);
    }
    v.truncate(SAMPLE);
    v
}

/// Must `t` be active now? `None` when its fate is unknown (a revocation lost in the crash).
fn expected_active(l: &Ledger, t: &AccessToken) -> Option<bool> {
    if let Some(s) = t.settled {
        return Some(s);
    }
    match t.revoke {
        Outcome::Acked => return Some(false),
        Outcome::InFlight => return None,
        Outcome::None => {}
    }
    match t.family.map(|f| l.families[f].state) {
        None | Some(FamilyState::Live | FamilyState::RefreshInFlight) => Some(true),
        Some(FamilyState::RevokeAcked | FamilyState::Ended) => Some(false),
        Some(FamilyState::RevokeInFlight) => None,
    }
}

impl Verifier {
    /// A verifier for `round` against the server at `base`.
    pub fn new(base: &str, round: usize) -> Verifier {
        Verifier {
            http: super::http_client(),
            base: base.to_owned(),
            round,
            failures: Vec::new(),
            checked: 0,
            resolved: 0,
        }
    }

    fn fail(&mut self, what: String) {
        self.failures.push(format!("round {}: {what}", self.round));
    }

    async fn introspect(&mut self, client: ClientKind, token: &str, what: &str) -> Option<bool> {
        let url = format!("{}/introspect", self.base);
        let a = post(&self.http, &url, &client.auth(), format!("token={}", enc(token))).await;
        match a.ok_json().and_then(|j| j["active"].as_bool()) {
            Some(active) => Some(active),
            None => {
                self.fail(format!("introspection of {what} answered {}", a.describe()));
                None
            }
        }
    }

    async fn grant(&mut self, client: ClientKind, body: String, what: &str) -> Option<Grant> {
        let url = format!("{}/token", self.base);
        let a = post(&self.http, &url, &client.auth(), body).await;
        if let Some(j) = a.ok_json()
            && let Some(at) = j["access_token"].as_str()
        {
            return Some(Grant::Granted(at.to_owned(), j["refresh_token"].as_str().map(str::to_owned)));
        }
        if let Answer::Complete { status: 400, body, .. } = &a
            && serde_json::from_str::<serde_json::Value>(body).is_ok_and(|j| j["error"] == "invalid_grant")
        {
            return Some(Grant::Refused);
        }
        self.fail(format!("{what}: the token endpoint answered {}", a.describe()));
        None
    }

    /// A refresh with `family`'s newest token.
    async fn refresh(&mut self, l: &Ledger, f: usize, what: &str) -> Option<Grant> {
        self.grant(l.families[f].client, l.families[f].refresh_body(), what).await
    }

    /// A redemption of code `c`.
    async fn redeem(&mut self, l: &Ledger, c: usize, what: &str) -> Option<Grant> {
        self.grant(l.codes[c].client, l.codes[c].redeem_body(), what).await
    }

    /// Two tries of something acknowledged and never presented since: the first must be
    /// granted (else it was `lost`), the second refused (else it worked `twice`). Returns the
    /// index of the access token the first try obtained.
    #[allow(clippy::too_many_arguments)]
    fn exactly_once(
        &mut self,
        l: &mut Ledger,
        client: ClientKind,
        family: Option<usize>,
        tries: [Option<Grant>; 2],
        what: &str,
        lost: &str,
        twice: &str,
    ) -> Option<usize> {
        let [first, second] = tries;
        self.checked += 2;
        if let Some(Grant::Granted(..)) = second {
            self.fail(format!("{what}: {twice}"));
        }
        match first {
            Some(g @ Grant::Granted(..)) => self.adopt(l, client, family, &g),
            Some(Grant::Refused) => {
                self.fail(format!("{what}: {lost}"));
                None
            }
            None => None,
        }
    }

    /// Records the tokens a successful check obtained (they belong to a family that the check's
    /// second try ends); returns the new access token's index.
    fn adopt(&self, l: &mut Ledger, client: ClientKind, family: Option<usize>, g: &Grant) -> Option<usize> {
        let Grant::Granted(at, rt) = g else { return None };
        // The newest refresh token is the one later rounds must see refused.
        if let (Some(f), Some(rt)) = (family, rt) {
            l.families[f].refresh = rt.clone();
        }
        let family = family.or_else(|| {
            l.families.push(Family {
                round: self.round,
                client,
                refresh: rt.clone().unwrap_or_default(),
                rotations: 0,
                state: FamilyState::Ended,
            });
            Some(l.families.len() - 1)
        });
        l.tokens.push(AccessToken {
            round: self.round,
            client,
            token: at.clone(),
            family,
            revoke: Outcome::None,
            settled: None,
        });
        Some(l.tokens.len() - 1)
    }

    /// Every check of this round, in an order where no check disturbs an earlier one: access
    /// tokens first, then refresh tokens, then codes (whose replays revoke grants).
    pub async fn run(&mut self, l: &mut Ledger, rng: &mut Rng) {
        let r = self.round;
        let old_tokens = sample(rng, (0..l.tokens.len()).filter(|&t| l.tokens[t].round < r).collect());
        let tokens: Vec<usize> = (0..l.tokens.len()).filter(|&t| l.tokens[t].round == r).chain(old_tokens).collect();
        let mut observed = Vec::with_capacity(tokens.len());
        for &t in &tokens {
            observed.push(self.check_token(l, t).await);
        }

        let old_families = sample(rng, (0..l.families.len()).filter(|&f| l.families[f].round < r).collect());
        let families: Vec<usize> =
            (0..l.families.len()).filter(|&f| l.families[f].round == r).chain(old_families).collect();
        let mut obtained = Vec::new();
        for f in families {
            obtained.extend(self.check_family(l, f).await);
        }

        let old_codes = sample(rng, (0..l.codes.len()).filter(|&c| l.codes[c].round < r).collect());
        let codes: Vec<usize> = (0..l.codes.len()).filter(|&c| l.codes[c].round == r).chain(old_codes).collect();
        for c in codes {
            obtained.extend(self.check_code(l, c).await);
        }

        // The second try of each check above ended the grant of what the first try obtained.
        for t in obtained {
            let (client, token) = (l.tokens[t].client, l.tokens[t].token.clone());
            if let Some(active) = self.introspect(client, &token, "a token whose grant a replay revoked").await {
                self.checked += 1;
                if active {
                    self.fail(format!(
                        "{} access token #{t} is active after its code or refresh token was replayed (the grant must be revoked)",
                        client.id()
                    ));
                }
            }
            l.tokens[t].settled = Some(false);
        }

        // What this round saw is now settled for every later round.
        for (&t, seen) in tokens.iter().zip(observed) {
            let tok = &l.tokens[t];
            if tok.settled.is_none() {
                let settled = if tok.family.is_some() { Some(false) } else { expected_active(l, tok).or(seen) };
                l.tokens[t].settled = settled;
            }
        }
    }

    async fn check_token(&mut self, l: &Ledger, t: usize) -> Option<bool> {
        let tok = &l.tokens[t];
        let expect = expected_active(l, tok);
        let kind = if tok.token.starts_with("kc_at_") { "opaque" } else { "JWT" };
        let what = format!(
            "{} {kind} access token #{t} (round {}, revocation {:?}, family {:?})",
            tok.client.id(),
            tok.round,
            tok.revoke,
            tok.family.map(|f| l.families[f].state)
        );
        let got = self.introspect(tok.client, &tok.token, &what).await?;
        match expect {
            Some(e) => {
                self.checked += 1;
                if got != e {
                    let why = if e { "acknowledged and never revoked, but lost" } else { "revoked, but active again" };
                    self.fail(format!("{what}: introspection says active={got}: {why}"));
                }
            }
            None => self.resolved += 1,
        }
        Some(got)
    }

    async fn check_family(&mut self, l: &mut Ledger, f: usize) -> Vec<usize> {
        let (client, state, rotations, round) =
            (l.families[f].client, l.families[f].state, l.families[f].rotations, l.families[f].round);
        let what = format!("{} refresh family #{f} (round {round}, {rotations} rotations, {state:?})", client.id());
        let mut obtained = Vec::new();
        match state {
            FamilyState::Live => {
                let tries = [self.refresh(l, f, &what).await, self.refresh(l, f, &what).await];
                let lost = "its acknowledged refresh token is refused on first use (lost)";
                let twice = "the same refresh token was accepted twice";
                obtained.extend(self.exactly_once(l, client, Some(f), tries, &what, lost, twice));
            }
            FamilyState::RevokeAcked | FamilyState::Ended => {
                self.checked += 1;
                if let Some(g @ Grant::Granted(..)) = self.refresh(l, f, &what).await {
                    self.fail(format!("{what}: a revoked or spent refresh token was accepted"));
                    obtained.extend(self.adopt(l, client, Some(f), &g));
                }
            }
            FamilyState::RefreshInFlight | FamilyState::RevokeInFlight => {
                let first = self.refresh(l, f, &what).await;
                let second = self.refresh(l, f, &what).await;
                self.resolved += 1;
                if let Some(g @ Grant::Granted(..)) = &first {
                    obtained.extend(self.adopt(l, client, Some(f), g));
                }
                if let Some(Grant::Granted(..)) = second {
                    self.fail(format!(
                        "{what}: a refresh token whose use was in flight was accepted on the second try"
                    ));
                }
            }
        }
        l.families[f].state = FamilyState::Ended;
        obtained
    }

    async fn check_code(&mut self, l: &mut Ledger, c: usize) -> Vec<usize> {
        let (client, state, round) = (l.codes[c].client, l.codes[c].state, l.codes[c].round);
        let what = format!("{} code #{c} (round {round}, {state:?})", client.id());
        let mut obtained = Vec::new();
        match state {
            CodeState::Issued => {
                let tries = [self.redeem(l, c, &what).await, self.redeem(l, c, &what).await];
                let lost = "a code issued and never presented is refused (lost)";
                let twice = "the code was redeemed twice";
                obtained.extend(self.exactly_once(l, client, None, tries, &what, lost, twice));
            }
            CodeState::RedeemAcked | CodeState::Ended => {
                self.checked += 1;
                if let Some(g @ Grant::Granted(..)) = self.redeem(l, c, &what).await {
                    self.fail(format!("{what}: a spent code was redeemed again"));
                    obtained.extend(self.adopt(l, client, None, &g));
                }
            }
            CodeState::RedeemInFlight => {
                let first = self.redeem(l, c, &what).await;
                let second = self.redeem(l, c, &what).await;
                self.resolved += 1;
                for g in [&first, &second].into_iter().flatten() {
                    obtained.extend(self.adopt(l, client, None, g));
                }
                match (&first, &second) {
                    (Some(Grant::Granted(..)), Some(Grant::Granted(..))) => {
                        self.fail(format!("{what}: a code whose redemption was in flight was redeemed twice"))
                    }
                    (Some(Grant::Refused), Some(Grant::Granted(..))) => {
                        self.fail(format!("{what}: a code refused after the crash was accepted on the next try"))
                    }
                    _ => {}
                }
            }
        }
        l.codes[c].state = CodeState::Ended;
        obtained
    }
}
