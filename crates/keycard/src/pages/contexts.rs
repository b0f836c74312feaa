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
    /// `forgot_password.html`: ask for a password reset link.
    ForgotPassword(ForgotPasswordPage),
    /// `reset_password.html`: choose a new password from a mailed link (reset or invitation).
    ResetPassword(ResetPasswordPage),
    /// `account_password.html`: a signed-in user changes their password.
    AccountPassword(AccountPasswordPage),
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
            Page::ForgotPassword(_) => "forgot_password.html",
            Page::ResetPassword(_) => "reset_password.html",
            Page::AccountPassword(_) => "account_password.html",
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
            Page::ForgotPassword(p) => Value::from(Serde(p)),
            Page::ResetPassword(p) => Value::from(Serde(p)),
            Page::AccountPassword(p) => Value::from(Serde(p)),
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
            Page::ForgotPassword(ForgotPasswordPage {
                csrf_token: "sample-csrf".into(),
                step: ForgotStep::Form,
                error: None,
            }),
            Page::ForgotPassword(ForgotPasswordPage {
                csrf_token: "sample-csrf".into(),
                step: ForgotStep::Form,
                error: Some("Too many requests. Try again later.".into()),
            }),
            Page::ForgotPassword(ForgotPasswordPage { csrf_token: String::new(), step: ForgotStep::Sent, error: None }),
            Page::ForgotPassword(ForgotPasswordPage {
                csrf_token: String::new(),
                step: ForgotStep::Unavailable,
                error: None,
            }),
            Page::ResetPassword(ResetPasswordPage {
                csrf_token: "sample-csrf".into(),
                token: "sample-token".to_owned().into(),
                username: "alice".into(),
                invite: false,
                error: None,
                min_length: 8,
            }),
            Page::ResetPassword(ResetPasswordPage {
                csrf_token: "sample-csrf".into(),
                token: "sample-token".to_owned().into(),
                username: "alice".into(),
                invite: true,
                error: Some("The two passwords differ.".into()),
                min_length: 8,
            }),
            Page::AccountPassword(AccountPasswordPage {
                csrf_token: "sample-csrf".into(),
                username: "alice".into(),
                user_display: "Alice Example".into(),
                error: None,
                min_length: 8,
                unverified_email: Some("alice@example.com".into()),
            }),
            Page::AccountPassword(AccountPasswordPage {
                csrf_token: "sample-csrf".into(),
                username: "alice".into(),
                user_display: "alice".into(),
                error: Some("The current password is not correct.".into()),
                min_length: 8,
                unverified_email: None,
            }),
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

/// Where `forgot_password.html` is; templates see `step` as `form`, `sent` or `unavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ForgotStep {
    /// Ask for the username or e-mail (`POST /password/forgot`, field `login`).
    Form,
    /// The same answer for every address: "if an account exists, we sent a link" (G8).
    Sent,
    /// Mail is off: no reset by mail.
    Unavailable,
}

/// Context of `forgot_password.html`.
#[derive(Debug, Clone, Serialize)]
pub struct ForgotPasswordPage {
    /// Anti-CSRF token (empty on the pages without a form).
    pub csrf_token: String,
    /// Which state the page shows.
    pub step: ForgotStep,
    /// A message shown in `role="alert"`.
    pub error: Option<String>,
}

/// Context of `reset_password.html`: `POST /password/reset` with `token`, `new_password`,
/// `new_password2`.
#[derive(Debug, Clone, Serialize)]
pub struct ResetPasswordPage {
    /// Anti-CSRF token.
    pub csrf_token: String,
    /// The mailed token, carried to the POST (never in `Debug`).
    pub token: crate::secret::Redacted<String>,
    /// The account whose password is set (also a hidden `username` field for password managers).
    pub username: String,
    /// An invitation (first password) rather than a reset.
    pub invite: bool,
    /// A message shown in `role="alert"`.
    pub error: Option<String>,
    /// The shortest password accepted.
    pub min_length: usize,
}

/// Context of `account_password.html`: `POST /account/password` with `current_password`,
/// `new_password`, `new_password2`.
#[derive(Debug, Clone, Serialize)]
pub struct AccountPasswordPage {
    /// Anti-CSRF token (bound to the session and the browser).
    pub csrf_token: String,
    /// The signed-in account (a hidden `username` field for password managers).
    pub username: String,
    /// Who is signed in, as shown.
    pub user_display: String,
    /// A message shown in `role="alert"`.
    pub error: Option<String>,
    /// The shortest password accepted.
    pub min_length: usize,
    /// The user's address when it is not verified yet and mail is on: a second form
    /// (`POST /email/verify`, same `csrf_token`) sends a new confirmation link.
    pub unverified_email: Option<String>,
}

/// The account mails (`templates/mail/<name>.txt` and `.html`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// A link confirming the address (`/email/verify`).
    VerifyEmail,
    /// A link to choose a new password (`/password/reset`).
    ResetPassword,
    /// An invitation: a link to choose the first password (`/password/reset`).
    Invite,
}

impl MailKind {
    /// The name of the mail (its templates, its logs).
    pub fn name(self) -> &'static str {
        match self {
            MailKind::VerifyEmail => "verify_email",
            MailKind::ResetPassword => "reset_password",
            MailKind::Invite => "invite",
        }
    }

    pub(super) fn templates(self) -> (&'static str, &'static str) {
        match self {
            MailKind::VerifyEmail => ("mail/verify_email.txt", "mail/verify_email.html"),
            MailKind::ResetPassword => ("mail/reset_password.txt", "mail/reset_password.html"),
            MailKind::Invite => ("mail/invite.txt", "mail/invite.html"),
        }
    }
}

/// What every mail template may print (besides the global `product_name`).
#[derive(Debug, Clone, Serialize)]
pub struct MailContext {
    /// The account's login name.
    pub username: String,
    /// The name to greet (full name, else username).
    pub user_display: String,
    /// The single-use link (never in `Debug`).
    pub link: crate::secret::Redacted<String>,
    /// How long the link works, in words ("30 minutes").
    pub expires_in: String,
}

impl MailContext {
    /// A sample of every mail, rendered at start-up and by the tests.
    pub fn samples() -> Vec<(MailKind, MailContext)> {
        [MailKind::VerifyEmail, MailKind::ResetPassword, MailKind::Invite]
            .into_iter()
            .map(|k| {
                (
                    k,
                    MailContext {
                        username: "alice".into(),
                        user_display: "Alice Example".into(),
                        link: "https://id.example/password/reset?token=sample".to_owned().into(),
                        expires_in: "30 minutes".into(),
                    },
                )
            })
            .collect()
    }
}

/// A rendered mail.
#[derive(Debug, Clone)]
pub struct RenderedMail {
    /// From the first line of the text template.
    pub subject: String,
    /// The plain-text part.
    pub text: crate::secret::Redacted<String>,
    /// The HTML part.
    pub html: crate::secret::Redacted<String>,
}
