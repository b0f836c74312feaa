//! The ledger: every outcome the load saw, as the client saw it. An operation is ACKNOWLEDGED
//! when a complete 200 (302 for `/authorize`) came back; it is IN FLIGHT when it was sent and
//! the crash took its answer (outcome unknown); NOT SENT when the connection was refused. Only
//! acknowledged outcomes are promises the server must keep after a crash; in-flight ones may go
//! either way, but only one way (a code or refresh token still works at most once).
//!
//! Items outlive their round: what verification settles (a revoked token, a spent code) must
//! stay so after every later crash, and later rounds check a sample of them again.

use super::{CB, ClientKind, enc};

/// The kinds of operation the load sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// client_credentials, JWT.
    CcJwt,
    /// client_credentials, opaque.
    CcOpaque,
    /// `GET /authorize` answered from the SSO session with a code.
    Authorize,
    /// Code redemption.
    Redeem,
    /// Refresh-token rotation.
    Refresh,
    /// RFC 7009 revocation of an access token.
    RevokeAccess,
    /// RFC 7009 revocation of a refresh token (its grant).
    RevokeRefresh,
}

impl Kind {
    /// Every kind, in report order.
    pub const ALL: [Kind; 7] = [
        Kind::CcJwt,
        Kind::CcOpaque,
        Kind::Authorize,
        Kind::Redeem,
        Kind::Refresh,
        Kind::RevokeAccess,
        Kind::RevokeRefresh,
    ];

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::CcJwt => "cc_jwt",
            Kind::CcOpaque => "cc_opaque",
            Kind::Authorize => "authorize",
            Kind::Redeem => "redeem",
            Kind::Refresh => "refresh",
            Kind::RevokeAccess => "revoke_access",
            Kind::RevokeRefresh => "revoke_refresh",
        }
    }

    fn slot(self) -> usize {
        Kind::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// What the client knows of one request that was meant to change state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not attempted.
    None,
    /// Acknowledged.
    Acked,
    /// Sent; the crash took the answer.
    InFlight,
}

/// An access token the client received in an acknowledged response.
#[derive(Debug)]
pub struct AccessToken {
    /// The round it was issued in.
    pub round: usize,
    /// Its client (who introspects and revokes it).
    pub client: ClientKind,
    /// The token.
    pub token: String,
    /// The family (grant) it belongs to, for code-flow tokens.
    pub family: Option<usize>,
    /// Its revocation.
    pub revoke: Outcome,
    /// Once verified: whether it must be active from now on.
    pub settled: Option<bool>,
}

/// Where a refresh-token family stands, as far as the client knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyState {
    /// Its current refresh token was received and never presented since.
    Live,
    /// The current token was presented and the answer lost (rotated or not: unknown).
    RefreshInFlight,
    /// Its refresh token was revoked (acknowledged).
    RevokeAcked,
    /// Its revocation was lost in the crash.
    RevokeInFlight,
    /// Verified and ended (revoked by verification's replays): every token of it is refused.
    Ended,
}

/// A grant, seen through its refresh tokens.
#[derive(Debug)]
pub struct Family {
    /// The round it was created in.
    pub round: usize,
    /// Its client.
    pub client: ClientKind,
    /// The newest refresh token received for it.
    pub refresh: String,
    /// Acknowledged rotations so far.
    pub rotations: usize,
    /// Its state.
    pub state: FamilyState,
}

impl Family {
    /// The token request that presents its newest refresh token (RFC 6749 §6).
    pub fn refresh_body(&self) -> String {
        format!("grant_type=refresh_token&refresh_token={}", enc(&self.refresh))
    }
}

/// Where an authorization code stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeState {
    /// Received in a redirect, never presented.
    Issued,
    /// Redeemed, acknowledged.
    RedeemAcked,
    /// Its redemption was lost in the crash.
    RedeemInFlight,
    /// Verified and spent: refused from now on.
    Ended,
}

/// An authorization code with its PKCE verifier.
#[derive(Debug)]
pub struct Code {
    /// The round it was issued in.
    pub round: usize,
    /// Its client.
    pub client: ClientKind,
    /// The code.
    pub code: String,
    /// Its PKCE verifier.
    pub verifier: String,
    /// Its state.
    pub state: CodeState,
}

impl Code {
    /// The token request that redeems it (RFC 6749 §4.1.3, RFC 7636 §4.5).
    pub fn redeem_body(&self) -> String {
        format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
            enc(&self.code),
            enc(CB),
            self.verifier
        )
    }
}

/// Counters of one round or of a whole run.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    /// Acknowledged operations per kind.
    pub acked: [usize; 7],
    /// Operations in flight at the crash, per kind.
    pub in_flight: [usize; 7],
    /// Requests refused at connect (after the kill).
    pub not_sent: usize,
}

impl Counts {
    /// Records an acknowledged operation.
    pub fn ack(&mut self, k: Kind) {
        self.acked[k.slot()] += 1;
    }

    /// Records an operation whose answer the crash took.
    pub fn lost(&mut self, k: Kind) {
        self.in_flight[k.slot()] += 1;
    }

    /// Total acknowledged operations.
    pub fn acked_total(&self) -> usize {
        self.acked.iter().sum()
    }

    /// Total in-flight operations.
    pub fn in_flight_total(&self) -> usize {
        self.in_flight.iter().sum()
    }

    /// Adds another round's counts.
    pub fn add(&mut self, o: &Counts) {
        for i in 0..7 {
            self.acked[i] += o.acked[i];
            self.in_flight[i] += o.in_flight[i];
        }
        self.not_sent += o.not_sent;
    }

    /// `cc_jwt 12/1 …` (acknowledged/in flight per kind).
    pub fn by_kind(&self) -> String {
        Kind::ALL
            .iter()
            .map(|k| format!("{} {}/{}", k.name(), self.acked[k.slot()], self.in_flight[k.slot()]))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Everything the load saw, over every round of one backend.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Access tokens received.
    pub tokens: Vec<AccessToken>,
    /// Refresh-token families.
    pub families: Vec<Family>,
    /// Authorization codes received.
    pub codes: Vec<Code>,
    /// This round's counters.
    pub counts: Counts,
    /// Answers during the load that a healthy server must not give (each a failure).
    pub anomalies: Vec<String>,
}
