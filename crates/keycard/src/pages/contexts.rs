//! The typed context of every page ([`Page`] and one struct per template) and the samples the
//! start-up check and the tests render. Fields are what the template may print; all of it is
//! escaped by the renderer in `pages/mod.rs`. To add a page, see the recipe there.

use super::{html_lang, is_https};
use minijinja::value::{Serde, Value};
use serde::{Serialize, Serializer};

/// One variant per page, each with its typed context.
#[derive(Debug, Clone)]
pub enum Page {
    /// `login.html`.
    Login(LoginPage),
    /// `consent.html`.
    Consent(ConsentPage),
    /// `error.html`.
    Error(ErrorPage),
    /// `logout.html`: OpenID Connect RP-Initiated Logout 1.0 §2 confirmation.
    Logout(LogoutPage),
    /// `logged_out.html`.
    LoggedOut(LoggedOutPage),
    /// `form_post.html`: OAuth 2.0 Form Post Response Mode.
    FormPost(FormPostPage),
    /// `device.html`: RFC 8628 §3.3 user interaction.
    Device(DevicePage),
}

impl Page {
    /// The template that renders this page.
    pub fn template_name(&self) -> &'static str {
        match self {
            Page::Login(_) => "login.html",
            Page::Consent(_) => "consent.html",
            Page::Error(_) => "error.html",
            Page::Logout(_) => "logout.html",
            Page::LoggedOut(_) => "logged_out.html",
            Page::FormPost(_) => "form_post.html",
            Page::Device(_) => "device.html",
        }
    }

    pub(super) fn context(&self) -> Value {
        match self {
            Page::Login(p) => Value::from(Serde(p)),
            Page::Consent(p) => Value::from(Serde(p)),
            Page::Error(p) => Value::from(Serde(p)),
            Page::Logout(p) => Value::from(Serde(p)),
            Page::LoggedOut(p) => Value::from(Serde(p)),
            Page::FormPost(p) => Value::from(Serde(p)),
            Page::Device(p) => Value::from(Serde(p)),
        }
    }

    pub(super) fn lang(&self) -> &str {
        match self {
            Page::Login(p) => html_lang(p.locale.as_deref()),
            Page::Consent(p) => html_lang(p.locale.as_deref()),
            _ => html_lang(None),
        }
    }

    /// A sample of every page and page state: rendered at start-up to check overrides, and by
    /// the tests.
    pub fn samples() -> Vec<Page> {
        let scopes = || {
            vec![
                ScopeView { name: "openid".into(), description: "Confirm who you are".into() },
                ScopeView { name: "calendar.read".into(), description: String::new() },
            ]
        };
        let device = |step| {
            Page::Device(DevicePage {
                csrf_token: "sample-csrf".into(),
                user_code: Some("WDJB-MJHT".into()),
                error: Some("That code is not valid.".into()),
                step,
            })
        };
        vec![
            Page::Login(LoginPage {
                request_id: "sample-request".into(),
                csrf_token: "sample-csrf".into(),
                client_name: "Sample App".into(),
                login_hint: None,
                error: None,
                locale: None,
            }),
            Page::Login(LoginPage {
                request_id: "sample-request".into(),
                csrf_token: "sample-csrf".into(),
                client_name: "Sample App".into(),
                login_hint: Some("alice@example.com".into()),
                error: Some("Wrong username or password.".into()),
                locale: Some("de-DE".into()),
            }),
            Page::Consent(ConsentPage {
                request_id: "sample-request".into(),
                csrf_token: "sample-csrf".into(),
                client_name: "Sample App".into(),
                client_logo_uri: Some("https://app.example/logo.png".into()),
                user_display: "Alice Example".into(),
                scopes: scopes(),
                locale: None,
            }),
            Page::Consent(ConsentPage {
                request_id: "sample-request".into(),
                csrf_token: "sample-csrf".into(),
                client_name: "Sample App".into(),
                client_logo_uri: None,
                user_display: "alice".into(),
                scopes: Vec::new(),
                locale: Some("fr".into()),
            }),
            Page::Error(ErrorPage {
                title: "Something went wrong".into(),
                message: "The request is invalid.".into(),
                reference: Some("sample-request".into()),
            }),
            Page::Error(ErrorPage {
                title: "Not found".into(),
                message: "This page does not exist.".into(),
                reference: None,
            }),
            Page::Logout(LogoutPage {
                csrf_token: "sample-csrf".into(),
                client_name: Some("Sample App".into()),
                hidden: vec![
                    ("post_logout_redirect_uri".into(), "https://app.example/bye".into()),
                    ("state".into(), "sample-state".into()),
                ],
                other_user: false,
            }),
            Page::Logout(LogoutPage {
                csrf_token: "sample-csrf".into(),
                client_name: None,
                hidden: Vec::new(),
                other_user: true,
            }),
            Page::LoggedOut(LoggedOutPage {}),
            Page::FormPost(FormPostPage {
                action: "https://app.example/callback".into(),
                fields: vec![
                    ("code".into(), "sample-code".into()),
                    ("state".into(), "sample-state".into()),
                    ("iss".into(), "https://keycard.example".into()),
                ],
            }),
            device(DeviceStep::EnterCode),
            Page::Device(DevicePage {
                csrf_token: "sample-csrf".into(),
                user_code: None,
                error: None,
                step: DeviceStep::EnterCode,
            }),
            device(DeviceStep::Confirm { client_name: "Sample TV".into(), scopes: scopes() }),
            device(DeviceStep::Done { approved: true }),
            device(DeviceStep::Done { approved: false }),
        ]
    }
}

/// Context of `login.html`: a form posting `request_id`, `csrf_token`, `username`, `password`
/// to `POST /login`.
#[derive(Debug, Clone, Serialize)]
pub struct LoginPage {
    /// The pending authorization request.
    pub request_id: String,
    /// Anti-CSRF token bound to the pre-auth cookie (G1).
    pub csrf_token: String,
    /// The client's display name.
    pub client_name: String,
    /// OpenID Connect Core §3.1.2.1 `login_hint`, pre-filled as the username.
    pub login_hint: Option<String>,
    /// A message shown in `role="alert"`; keep it generic (G8).
    pub error: Option<String>,
    /// The first `ui_locales` tag, for `<html lang>` (default `en`).
    pub locale: Option<String>,
}

/// Context of `consent.html`: `POST /consent` with `decision=approve|deny`.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentPage {
    /// The pending authorization request.
    pub request_id: String,
    /// Anti-CSRF token (G2).
    pub csrf_token: String,
    /// The client's display name.
    pub client_name: String,
    /// The client's logo; given to the template only when it is an https URL (G3).
    #[serde(serialize_with = "https_only")]
    pub client_logo_uri: Option<String>,
    /// Who is signed in.
    pub user_display: String,
    /// The scopes asked for.
    pub scopes: Vec<ScopeView>,
    /// The first `ui_locales` tag, for `<html lang>` (default `en`).
    pub locale: Option<String>,
}

fn https_only<S: Serializer>(uri: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    uri.as_deref().filter(|u| is_https(u)).serialize(s)
}

/// A scope as shown on consent screens.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeView {
    /// The scope value; shown when there is no description.
    pub name: String,
    /// Human-readable description.
    pub description: String,
}

/// Context of `error.html`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorPage {
    /// Heading and title.
    pub title: String,
    /// What happened, for the user.
    pub message: String,
    /// The request id, for support.
    pub reference: Option<String>,
}

/// Context of `logout.html`: `POST /logout` with `decision=logout|cancel`.
#[derive(Debug, Clone, Serialize)]
pub struct LogoutPage {
    /// Anti-CSRF token.
    pub csrf_token: String,
    /// The client that asked for the logout, if known.
    pub client_name: Option<String>,
    /// Fields carried as hidden inputs: `post_logout_redirect_uri`, `state`, `id_token_hint`,
    /// `client_id`.
    pub hidden: Vec<(String, String)>,
    /// The `id_token_hint` names another account than the signed-in one (a fixed notice).
    pub other_user: bool,
}

/// Context of `logged_out.html`.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedOutPage {}

/// Context of `form_post.html`: OAuth 2.0 Form Post Response Mode §2.
#[derive(Debug, Clone, Serialize)]
pub struct FormPostPage {
    /// The redirect URI; [`Pages::render`] refuses one failing [`is_safe_form_action`].
    pub action: String,
    /// The response parameters (`code`, `state`, `iss`, ...).
    pub fields: Vec<(String, String)>,
}

/// Context of `device.html`: RFC 8628 §3.3, `POST /device`.
#[derive(Debug, Clone, Serialize)]
pub struct DevicePage {
    /// Anti-CSRF token.
    pub csrf_token: String,
    /// The code entered or from `verification_uri_complete`.
    pub user_code: Option<String>,
    /// A message shown in `role="alert"`.
    pub error: Option<String>,
    /// Where the user is in the flow.
    pub step: DeviceStep,
}

/// The steps of the device verification page; templates see `step.kind`
/// (`enter_code`, `confirm`, `done`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeviceStep {
    /// Ask for the user code (field `user_code`).
    EnterCode,
    /// Show the client and scopes; `decision=approve|deny` with the code as a hidden field.
    Confirm {
        /// The device client's display name.
        client_name: String,
        /// The scopes asked for.
        scopes: Vec<ScopeView>,
    },
    /// The outcome.
    Done {
        /// Whether the user allowed the device.
        approved: bool,
    },
}
