//! The authorization decision (OpenID Connect Core §3.1.2.1 `prompt`/`max_age`, §3.1.2.3–4,
//! §3.1.2.6): login, consent or issue, as one pure function of the request and the signed-in
//! state. A new interaction (e.g. account selection) gets a [`Decision`] or [`LoginReason`]
//! variant, its rule in [`decide`] and a test below.

use super::{AuthorizationRequest, Prompt};
use crate::clock::UnixTime;
use crate::oauth::OAuthError;
use keycard_types::{ErrorCode, Scope};

/// The signed-in state [`decide`] needs (OpenID Connect Core §3.1.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// The signed-in user.
    pub user_id: String,
    /// When the user last actively authenticated (the ID token's `auth_time`).
    pub auth_time: UnixTime,
    /// The user's `sub` as the requesting client sees it (OpenID Connect Core §8), compared
    /// with [`AuthorizationRequest::hinted_subject`].
    pub subject: String,
}

/// Why the login page is shown (OpenID Connect Core §3.1.2.1, §3.1.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginReason {
    /// Nobody is signed in.
    NoSession,
    /// `prompt=login`.
    PromptLogin,
    /// The session is older than `max_age`.
    MaxAgeExceeded,
    /// `prompt=select_account`.
    SelectAccount,
    /// The `id_token_hint` names another user than the signed-in one (OpenID Connect Core
    /// §3.1.2.1): the user must sign in as the hinted user.
    HintedUser,
}

/// What the authorization endpoint does next (OpenID Connect Core §3.1.2.3–3.1.2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Show the login page.
    Login(LoginReason),
    /// Show the consent page. `missing` are the requested scopes not yet granted (all of them
    /// when the user never consented to this client; possibly empty when only `prompt=consent`
    /// forces the page).
    Consent {
        /// Requested but not yet granted scopes.
        missing: Scope,
    },
    /// Issue the code.
    Issue,
}

/// DESIGN §2, OpenID Connect Core §3.1.2.1 (`prompt`, `max_age`) and §3.1.2.3–3.1.2.4: the pure
/// authorization decision (node-oidc-provider's interaction policy).
///
/// - `session`: the signed-in user, if any.
/// - `login_done_in_this_request`: the user authenticated for THIS request, so `prompt=login`,
///   `prompt=select_account` and `max_age` are satisfied (no loop).
/// - `consent_done_in_this_request`: the user approved the consent page of THIS request, which
///   showed the whole requested scope: consent is satisfied (no loop, even if `granted` was not
///   yet updated).
/// - `granted`: scopes this user already granted this client; `None` when there is no consent
///   record at all (then even an empty or `openid`-only request asks once).
/// - `first_party`: the client skips consent.
///
/// A valid `id_token_hint` ([`AuthorizationRequest::hinted_subject`]) that names another user
/// than the session's asks for a login ([`LoginReason::HintedUser`]; with `prompt=none`,
/// `login_required`), and when the user who signed in for this request is still not the hinted
/// one the answer is `login_required` (Core §3.1.2.1: "otherwise, it SHOULD return an error,
/// such as login_required"): never a code for a user the hint does not name (SECURITY E2).
///
/// `max_age` is exceeded when `now - auth_time >= max_age` (whole seconds; so `max_age=0` acts as
/// `prompt=login`, as Core §3.1.2.1 says). With `prompt=none` a needed login is
/// `Err(login_required)` and a needed consent `Err(consent_required)` (Core §3.1.2.6); the
/// caller redirects these with [`error_response`](super::error_response).
pub fn decide(
    req: &AuthorizationRequest,
    session: Option<&SessionView>,
    login_done_in_this_request: bool,
    consent_done_in_this_request: bool,
    granted: Option<&Scope>,
    first_party: bool,
    now: UnixTime,
) -> Result<Decision, OAuthError> {
    let silent = req.has_prompt(Prompt::None);

    // SECURITY A5: a deferred error goes out once somebody is signed in, never a code.
    if let Some(d) = &req.deferred_error {
        return match session {
            None => Ok(Decision::Login(LoginReason::NoSession)),
            Some(_) => Err(OAuthError::new(d.error, d.description.clone())),
        };
    }

    let hint_mismatch = |s: &SessionView| req.hinted_subject.as_ref().is_some_and(|h| *h != s.subject);
    let login = match session {
        None => Some(LoginReason::NoSession),
        Some(s) if login_done_in_this_request && hint_mismatch(s) => {
            return Err(OAuthError::new(
                ErrorCode::LoginRequired,
                "the signed-in user is not the one the ID token hint names",
            ));
        }
        Some(_) if login_done_in_this_request => None,
        Some(s) if hint_mismatch(s) => Some(LoginReason::HintedUser),
        Some(_) if req.has_prompt(Prompt::Login) => Some(LoginReason::PromptLogin),
        Some(_) if req.has_prompt(Prompt::SelectAccount) => Some(LoginReason::SelectAccount),
        Some(s) if req.max_age.is_some_and(|m| now.saturating_sub(s.auth_time) >= m) => {
            Some(LoginReason::MaxAgeExceeded)
        }
        Some(_) => None,
    };
    if let Some(reason) = login {
        return if silent {
            Err(OAuthError::new(ErrorCode::LoginRequired, "the user must sign in"))
        } else {
            Ok(Decision::Login(reason))
        };
    }

    if first_party || consent_done_in_this_request {
        return Ok(Decision::Issue);
    }
    let missing = match granted {
        Some(g) => req.scope.difference(g),
        None => req.scope.clone(),
    };
    if granted.is_none() || !missing.is_empty() || req.has_prompt(Prompt::Consent) {
        return if silent {
            Err(OAuthError::new(ErrorCode::ConsentRequired, "the user must approve this request"))
        } else {
            Ok(Decision::Consent { missing })
        };
    }
    Ok(Decision::Issue)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::authorize::test_support::*;

    #[test]
    fn decide_login() {
        let r = req_with(&[]);
        let all = scope("openid profile");
        let s = session(10);
        assert_eq!(
            decide(&r, None, false, false, Some(&all), false, NOW).unwrap(),
            Decision::Login(LoginReason::NoSession)
        );
        assert_eq!(decide(&r, Some(&s), false, false, Some(&all), false, NOW).unwrap(), Decision::Issue);

        let login = req_with(&[("prompt", "login")]);
        assert_eq!(
            decide(&login, Some(&s), false, false, Some(&all), false, NOW).unwrap(),
            Decision::Login(LoginReason::PromptLogin)
        );
        assert_eq!(
            decide(&login, Some(&session(0)), true, false, Some(&all), false, NOW).unwrap(),
            Decision::Issue,
            "no loop after logging in for this request"
        );

        let select = req_with(&[("prompt", "select_account")]);
        assert_eq!(
            decide(&select, Some(&s), false, false, Some(&all), false, NOW).unwrap(),
            Decision::Login(LoginReason::SelectAccount)
        );
        assert_eq!(decide(&select, Some(&s), true, false, Some(&all), false, NOW).unwrap(), Decision::Issue);

        let max_age = req_with(&[("max_age", "60")]);
        assert_eq!(
            decide(&max_age, Some(&session(59)), false, false, Some(&all), false, NOW).unwrap(),
            Decision::Issue
        );
        for age in [60, 3600] {
            assert_eq!(
                decide(&max_age, Some(&session(age)), false, false, Some(&all), false, NOW).unwrap(),
                Decision::Login(LoginReason::MaxAgeExceeded)
            );
        }
        assert_eq!(decide(&max_age, Some(&session(0)), true, false, Some(&all), false, NOW).unwrap(), Decision::Issue);
        // max_age=0 behaves like prompt=login (OpenID Connect Core §3.1.2.1).
        let zero = req_with(&[("max_age", "0")]);
        assert_eq!(
            decide(&zero, Some(&session(0)), false, false, Some(&all), false, NOW).unwrap(),
            Decision::Login(LoginReason::MaxAgeExceeded)
        );
        assert_eq!(decide(&zero, Some(&session(0)), true, false, Some(&all), false, NOW).unwrap(), Decision::Issue);
    }

    #[test]
    fn decide_prompt_none() {
        let none = req_with(&[("prompt", "none")]);
        let all = scope("openid profile");
        assert_eq!(code_of(decide(&none, None, false, false, Some(&all), false, NOW)), ErrorCode::LoginRequired);
        assert_eq!(code_of(decide(&none, None, false, false, Some(&all), true, NOW)), ErrorCode::LoginRequired);
        let s = session(10);
        assert_eq!(
            code_of(decide(&none, Some(&s), false, false, Some(&scope("openid")), false, NOW)),
            ErrorCode::ConsentRequired
        );
        assert_eq!(code_of(decide(&none, Some(&s), false, false, None, false, NOW)), ErrorCode::ConsentRequired);
        assert_eq!(decide(&none, Some(&s), false, false, Some(&all), false, NOW).unwrap(), Decision::Issue);
        assert_eq!(
            decide(&none, Some(&s), false, false, None, true, NOW).unwrap(),
            Decision::Issue,
            "first-party clients need no consent"
        );
        let old = req_with(&[("prompt", "none"), ("max_age", "60")]);
        assert_eq!(
            code_of(decide(&old, Some(&session(61)), false, false, Some(&all), false, NOW)),
            ErrorCode::LoginRequired
        );
    }

    #[test]
    fn decide_consent() {
        let s = session(10);
        let r = req_with(&[("scope", "openid profile")]);
        // Never consented: everything is missing.
        assert_eq!(
            decide(&r, Some(&s), false, false, None, false, NOW).unwrap(),
            Decision::Consent { missing: scope("openid profile") }
        );
        // openid alone still asks the first time.
        let oidc_only = req_with(&[("scope", "openid")]);
        assert_eq!(
            decide(&oidc_only, Some(&s), false, false, None, false, NOW).unwrap(),
            Decision::Consent { missing: scope("openid") }
        );
        // First-party clients skip consent.
        assert_eq!(decide(&r, Some(&s), false, false, None, true, NOW).unwrap(), Decision::Issue);
        // A new scope asks again, for the new scope only.
        assert_eq!(
            decide(&r, Some(&s), false, false, Some(&scope("openid")), false, NOW).unwrap(),
            Decision::Consent { missing: scope("profile") }
        );
        // All consented.
        let granted = scope("openid profile email");
        assert_eq!(decide(&r, Some(&s), false, false, Some(&granted), false, NOW).unwrap(), Decision::Issue);
        // prompt=consent asks even then, once per request.
        let again = req_with(&[("prompt", "consent")]);
        assert_eq!(
            decide(&again, Some(&s), false, false, Some(&granted), false, NOW).unwrap(),
            Decision::Consent { missing: Scope::default() }
        );
        assert_eq!(decide(&again, Some(&s), false, true, Some(&granted), false, NOW).unwrap(), Decision::Issue);
        // Consent given in this request issues even if `granted` is not updated yet.
        assert_eq!(decide(&r, Some(&s), false, true, None, false, NOW).unwrap(), Decision::Issue);
        // An empty scope needs a consent record once, then issues.
        let empty = req_with(&[("scope", "")]);
        assert!(matches!(decide(&empty, Some(&s), false, false, None, false, NOW).unwrap(), Decision::Consent { .. }));
        assert_eq!(
            decide(&empty, Some(&s), false, false, Some(&Scope::default()), false, NOW).unwrap(),
            Decision::Issue
        );
        // Login comes before consent.
        assert_eq!(decide(&r, None, false, false, None, false, NOW).unwrap(), Decision::Login(LoginReason::NoSession));
    }

    /// SECURITY E2 (OIDC Core §3.1.2.1): a hint for another user never yields a code for the
    /// signed-in one: login page, `login_required` with `prompt=none`, and `login_required`
    /// when the user who signed in for this request is still not the hinted one.
    #[test]
    fn e2_id_token_hint_for_another_user() {
        let all = scope("openid profile");
        let alice = session(10);
        let mut r = req_with(&[]);
        r.hinted_subject = Some(alice.subject.clone());
        assert_eq!(decide(&r, Some(&alice), false, false, Some(&all), false, NOW).unwrap(), Decision::Issue);
        r.hinted_subject = Some("bob".into());
        assert_eq!(
            decide(&r, Some(&alice), false, false, Some(&all), true, NOW).unwrap(),
            Decision::Login(LoginReason::HintedUser)
        );
        for (login_done, first_party) in [(true, false), (true, true)] {
            let e = decide(&r, Some(&alice), login_done, true, Some(&all), first_party, NOW).unwrap_err();
            assert_eq!(e.code, ErrorCode::LoginRequired, "signed in for this request, still not bob");
        }
        let bob = SessionView { subject: "bob".into(), ..session(0) };
        assert_eq!(decide(&r, Some(&bob), true, false, Some(&all), false, NOW).unwrap(), Decision::Issue);
        assert_eq!(
            decide(&r, None, false, false, Some(&all), false, NOW).unwrap(),
            Decision::Login(LoginReason::NoSession)
        );
        let mut silent = req_with(&[("prompt", "none")]);
        silent.hinted_subject = Some("bob".into());
        for first_party in [false, true] {
            assert_eq!(
                code_of(decide(&silent, Some(&alice), false, false, Some(&all), first_party, NOW)),
                ErrorCode::LoginRequired
            );
        }
        assert_eq!(decide(&silent, Some(&bob), false, false, Some(&all), false, NOW).unwrap(), Decision::Issue);
        let json = serde_json::to_string(&silent).unwrap();
        assert_eq!(serde_json::from_str::<AuthorizationRequest>(&json).unwrap(), silent, "stored and loaded");
        assert!(!serde_json::to_string(&req_with(&[])).unwrap().contains("hinted_subject"));
    }

    /// SECURITY A5: a deferred error asks for a login without a session, and is the answer with
    /// one — never a consent page or a code, whatever the flags say.
    #[test]
    fn a5_deferred_error_waits_for_a_session() {
        let mut r = req_with(&[]);
        r.deferred_error = Some(DeferredError { error: ErrorCode::InvalidScope, description: "bad".into() });
        assert_eq!(decide(&r, None, false, false, None, false, NOW).unwrap(), Decision::Login(LoginReason::NoSession));
        let s = session(10);
        for (login_done, consent_done, first_party) in [(false, false, false), (true, true, true), (true, false, false)]
        {
            let e = decide(&r, Some(&s), login_done, consent_done, None, first_party, NOW).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidScope);
        }
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<AuthorizationRequest>(&json).unwrap(), r, "stored and loaded");
        assert!(!serde_json::to_string(&req_with(&[])).unwrap().contains("deferred_error"));
    }
}
