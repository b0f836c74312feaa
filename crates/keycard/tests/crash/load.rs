//! The mixed load of one round: concurrent workers over real HTTP, each acting only on the codes,
//! families and tokens it received itself (so no two requests of the load race for one item and
//! every refusal during the load is a defect). Every answer goes to the [`Ledger`]: acknowledged,
//! in flight at the crash, or not sent.
//!
//! The mix: client_credentials (JWT and opaque), `/authorize` answered from alice's SSO session,
//! code redemption, refresh-token rotation, and RFC 7009 revocation of access tokens (JWT and
//! opaque, client credentials and code flow) and of refresh tokens.

use super::ledger::{AccessToken, Code, CodeState, Family, FamilyState, Kind, Ledger, Outcome};
use super::{Answer, CB, ClientKind, Rng, USER_SCOPE, call, enc, post};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What every worker of a round shares.
pub struct Load {
    /// The server.
    pub base: String,
    /// A keep-alive client.
    pub http: reqwest::Client,
    /// alice's browser cookies (her SSO session), sent with `/authorize`.
    pub cookie: String,
    /// Where outcomes go.
    pub ledger: Arc<Mutex<Ledger>>,
    /// Set just before the kill: start no new request.
    pub stop: Arc<AtomicBool>,
    /// Acknowledged operations so far this round.
    pub acked: Arc<AtomicUsize>,
    /// The kill point: the first acknowledgement (of `kill_after`'s kind, when set) once `kill_at`
    /// operations were acknowledged wakes the killer at once, so that the kill can land right
    /// after an acknowledged write of any kind (where a server that answers before its commit is
    /// durable loses it).
    pub kill_at: usize,
    /// The kind of write the kill follows (any when `None`).
    pub kill_after: Option<Kind>,
    /// Set when the kill point was reached.
    pub kill_fired: AtomicBool,
    /// Woken at the kill point.
    pub kill_now: Arc<tokio::sync::Notify>,
    /// The round.
    pub round: usize,
}

/// The items a worker may act on (indices into the ledger).
#[derive(Default)]
struct Mine {
    codes: Vec<usize>,
    families: Vec<usize>,
    tokens: Vec<usize>,
}

/// The access and refresh tokens of an acknowledged code or refresh-token grant.
fn user_tokens(a: &Answer) -> Option<(String, String)> {
    let j = a.ok_json()?;
    Some((j["access_token"].as_str()?.to_owned(), j["refresh_token"].as_str()?.to_owned()))
}

fn take(rng: &mut Rng, v: &mut Vec<usize>) -> usize {
    let i = rng.index(v.len());
    v.swap_remove(i)
}

impl Load {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Books an answer that is not an acknowledgement: in flight (or not sent), or, when the
    /// server answered something else or dropped a request before the kill, an anomaly.
    /// Returns true when the request may have reached the server and its outcome is unknown.
    fn unacked(&self, kind: Kind, a: &Answer) -> bool {
        let mut l = self.ledger();
        match a {
            Answer::NotSent => {
                l.counts.not_sent += 1;
                if !self.stop.load(Ordering::SeqCst) {
                    l.anomalies.push(format!(
                        "round {}: {} refused at connect before the kill",
                        self.round,
                        kind.name()
                    ));
                }
                false
            }
            Answer::Lost(e) => {
                l.counts.lost(kind);
                if !self.stop.load(Ordering::SeqCst) {
                    l.anomalies.push(format!("round {}: {} lost before the kill: {e}", self.round, kind.name()));
                }
                true
            }
            Answer::Complete { .. } => {
                l.anomalies.push(format!("round {}: {} answered {}", self.round, kind.name(), a.describe()));
                // A complete answer that is not a success changed nothing the client knows of.
                false
            }
        }
    }

    fn acked(&self, kind: Kind, l: &mut Ledger) {
        l.counts.ack(kind);
        let n = self.acked.fetch_add(1, Ordering::SeqCst) + 1;
        // A kind that stopped succeeding (an anomaly, reported) must not hold the kill off.
        let overdue = n >= 2 * self.kill_at + 200;
        if n >= self.kill_at
            && (self.kill_after.is_none_or(|k| k == kind) || overdue)
            && !self.kill_fired.swap(true, Ordering::SeqCst)
        {
            self.kill_now.notify_one();
        }
    }

    fn push_token(&self, l: &mut Ledger, client: ClientKind, token: &str, family: Option<usize>) -> usize {
        l.tokens.push(AccessToken {
            round: self.round,
            client,
            token: token.to_owned(),
            family,
            revoke: Outcome::None,
            settled: None,
        });
        l.tokens.len() - 1
    }

    async fn client_credentials(&self, client: ClientKind, mine: &mut Mine) {
        let kind = if client.opaque() { Kind::CcOpaque } else { Kind::CcJwt };
        let a = post(
            &self.http,
            &self.url("/token"),
            &client.auth(),
            "grant_type=client_credentials&scope=api%3Aread".into(),
        )
        .await;
        match a.ok_json().and_then(|j| j["access_token"].as_str().map(str::to_owned)) {
            Some(at) => {
                let mut l = self.ledger();
                self.acked(kind, &mut l);
                mine.tokens.push(self.push_token(&mut l, client, &at, None));
            }
            None => {
                self.unacked(kind, &a);
            }
        }
    }

    async fn authorize(&self, client: ClientKind, rng: &mut Rng, mine: &mut Mine) {
        let (verifier, challenge) = crate::common::pkce();
        let state = format!("s{}", rng.next_u64());
        let url = self.url(&format!(
            "/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state={state}&code_challenge={challenge}&code_challenge_method=S256",
            client.id(),
            enc(CB),
            enc(USER_SCOPE)
        ));
        let a = call(self.http.get(url).header("cookie", &self.cookie)).await;
        let code = match &a {
            Answer::Complete { status: 302 | 303, location: Some(loc), .. } if loc.starts_with(CB) => {
                let q = crate::common::query_of(loc);
                (q.get("state") == Some(&state)).then(|| q.get("code").cloned()).flatten()
            }
            _ => None,
        };
        match code {
            Some(code) => {
                let mut l = self.ledger();
                self.acked(Kind::Authorize, &mut l);
                l.codes.push(Code { round: self.round, client, code, verifier, state: CodeState::Issued });
                mine.codes.push(l.codes.len() - 1);
            }
            None => {
                self.unacked(Kind::Authorize, &a);
            }
        }
    }

    async fn redeem(&self, idx: usize, mine: &mut Mine) {
        let (client, body) = {
            let l = self.ledger();
            (l.codes[idx].client, l.codes[idx].redeem_body())
        };
        let a = post(&self.http, &self.url("/token"), &client.auth(), body).await;
        match user_tokens(&a) {
            Some((at, rt)) => {
                let mut l = self.ledger();
                self.acked(Kind::Redeem, &mut l);
                l.codes[idx].state = CodeState::RedeemAcked;
                l.families.push(Family {
                    round: self.round,
                    client,
                    refresh: rt,
                    rotations: 0,
                    state: FamilyState::Live,
                });
                let f = l.families.len() - 1;
                mine.families.push(f);
                mine.tokens.push(self.push_token(&mut l, client, &at, Some(f)));
            }
            None => {
                if self.unacked(Kind::Redeem, &a) {
                    self.ledger().codes[idx].state = CodeState::RedeemInFlight;
                }
            }
        }
    }

    async fn refresh(&self, f: usize, mine: &mut Mine) {
        let (client, body) = {
            let l = self.ledger();
            (l.families[f].client, l.families[f].refresh_body())
        };
        let a = post(&self.http, &self.url("/token"), &client.auth(), body).await;
        match user_tokens(&a) {
            Some((at, next)) => {
                let mut l = self.ledger();
                self.acked(Kind::Refresh, &mut l);
                let fam = &mut l.families[f];
                fam.refresh = next;
                fam.rotations += 1;
                mine.families.push(f);
                mine.tokens.push(self.push_token(&mut l, client, &at, Some(f)));
            }
            None => {
                if self.unacked(Kind::Refresh, &a) {
                    self.ledger().families[f].state = FamilyState::RefreshInFlight;
                }
            }
        }
    }

    async fn revoke_access(&self, t: usize) {
        let (client, token) = {
            let l = self.ledger();
            (l.tokens[t].client, l.tokens[t].token.clone())
        };
        let a = post(&self.http, &self.url("/revoke"), &client.auth(), format!("token={}", enc(&token))).await;
        if matches!(a, Answer::Complete { status: 200, .. }) {
            let mut l = self.ledger();
            self.acked(Kind::RevokeAccess, &mut l);
            l.tokens[t].revoke = Outcome::Acked;
        } else if self.unacked(Kind::RevokeAccess, &a) {
            self.ledger().tokens[t].revoke = Outcome::InFlight;
        }
    }

    async fn revoke_refresh(&self, f: usize) {
        let (client, rt) = {
            let l = self.ledger();
            (l.families[f].client, l.families[f].refresh.clone())
        };
        let body = format!("token={}&token_type_hint=refresh_token", enc(&rt));
        let a = post(&self.http, &self.url("/revoke"), &client.auth(), body).await;
        if matches!(a, Answer::Complete { status: 200, .. }) {
            let mut l = self.ledger();
            self.acked(Kind::RevokeRefresh, &mut l);
            l.families[f].state = FamilyState::RevokeAcked;
        } else if self.unacked(Kind::RevokeRefresh, &a) {
            self.ledger().families[f].state = FamilyState::RevokeInFlight;
        }
    }
}

/// One worker: picks an operation (weighted, among those it has items for) until `stop`.
pub async fn worker(load: Arc<Load>, mut rng: Rng) {
    let mut mine = Mine::default();
    while !load.stop.load(Ordering::SeqCst) {
        let weights = [
            10,
            20,
            14,
            if mine.codes.is_empty() { 0 } else { 14 },
            if mine.families.is_empty() { 0 } else { 16 },
            if mine.tokens.is_empty() { 0 } else { 12 },
            if mine.families.is_empty() { 0 } else { 6 },
        ];
        let mut pick = rng.range(0, weights.iter().sum());
        let kind = Kind::ALL
            .iter()
            .zip(weights)
            .find(|(_, w)| {
                let hit = pick < *w;
                pick = pick.saturating_sub(*w);
                hit
            })
            .map(|(k, _)| *k)
            .unwrap_or(Kind::CcOpaque);
        let web = if rng.one_in(2) { ClientKind::WebJwt } else { ClientKind::WebOpaque };
        match kind {
            Kind::CcJwt => load.client_credentials(ClientKind::SvcJwt, &mut mine).await,
            Kind::CcOpaque => load.client_credentials(ClientKind::SvcOpaque, &mut mine).await,
            Kind::Authorize => load.authorize(web, &mut rng, &mut mine).await,
            Kind::Redeem => {
                let c = take(&mut rng, &mut mine.codes);
                load.redeem(c, &mut mine).await
            }
            Kind::Refresh => {
                let f = take(&mut rng, &mut mine.families);
                load.refresh(f, &mut mine).await
            }
            Kind::RevokeAccess => {
                let t = take(&mut rng, &mut mine.tokens);
                load.revoke_access(t).await
            }
            Kind::RevokeRefresh => {
                let f = take(&mut rng, &mut mine.families);
                load.revoke_refresh(f).await
            }
        }
    }
}
