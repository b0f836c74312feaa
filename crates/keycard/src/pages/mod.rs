//! Server-rendered HTML pages of the browser flows (login, consent, error, logout, form_post,
//! device verification), with no HTTP in them: `http/` turns a rendered page into a response and
//! sets the headers (CSP, `Referrer-Policy`, frame options; SECURITY G3, G6, G7 in docs/security.md).
//!
//! Templates are minijinja files in `crates/keycard/templates/`, embedded in the binary. With
//! `[ui] template_dir` set, a file of the same name in that directory replaces the built-in one;
//! overrides are read once, at start-up, and every page is rendered once with a sample context
//! so a broken override stops the server from starting instead of failing a user's login.
//!
//! Rules the tests enforce: `.html` templates are auto-escaped and undefined variables are an
//! error; everything from a context is escaped; no inline `style` attributes and no JavaScript
//! except [`FORM_POST_SCRIPT`] (the CSP is `default-src 'self'` plus that script's hash); every
//! input has a `<label for>`; URLs in `href`/`src`/`action` are local paths or https (a client
//! logo that is not https is dropped; a form_post action must pass [`is_safe_form_action`]).
//!
//! This module is the one place that renders HTML: the environment, template overrides and the
//! URL rules here, one typed context per page in `contexts.rs`, the template checks in `tests.rs`.
//! The HTTP side (headers, cookies, forms, handlers) is `http/html.rs`, `http/interaction.rs`
//! and `http/device.rs`.
//!
//! To add a page: write `templates/<name>.html` extending `base.html`, add a context struct
//! deriving `Serialize` in `contexts.rs`, a [`Page`] variant, its entry in [`Page::template_name`]
//! and [`TEMPLATES`], and a sample in [`Page::samples`] (start-up check and
//! `check_builtin_templates`). Every page sees the globals `product_name`, `logo_uri`,
//! `password_reset` and `lang`.
//!
//! Account mails (`crate::people`) are rendered here too, from `templates/mail/<kind>.txt` (first
//! line `Subject: …`) and `mail/<kind>.html`, overridable the same way
//! (`<template_dir>/mail/<kind>.txt`). A new mail: a [`MailKind`] variant, its two templates in
//! [`TEMPLATES`], and a sample in [`MailContext::samples`].

mod contexts;
#[cfg(test)]
mod tests;

pub use contexts::*;

use crate::config::UiConfig;
use base64::Engine as _;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, context};
use std::fmt;
use std::path::{Path, PathBuf};

/// Built-in templates by name; a file of the same name in `template_dir` replaces one.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("consent.html", include_str!("../../templates/consent.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("logout.html", include_str!("../../templates/logout.html")),
    ("logged_out.html", include_str!("../../templates/logged_out.html")),
    ("form_post.html", include_str!("../../templates/form_post.html")),
    ("device.html", include_str!("../../templates/device.html")),
    ("forgot_password.html", include_str!("../../templates/forgot_password.html")),
    ("reset_password.html", include_str!("../../templates/reset_password.html")),
    ("account_password.html", include_str!("../../templates/account_password.html")),
    (STYLESHEET, include_str!("../../templates/keycard.css")),
    ("mail/base.html", include_str!("../../templates/mail/base.html")),
    ("mail/reset_password.txt", include_str!("../../templates/mail/reset_password.txt")),
    ("mail/reset_password.html", include_str!("../../templates/mail/reset_password.html")),
    ("mail/invite.txt", include_str!("../../templates/mail/invite.txt")),
    ("mail/invite.html", include_str!("../../templates/mail/invite.html")),
    ("mail/verify_email.txt", include_str!("../../templates/mail/verify_email.txt")),
    ("mail/verify_email.html", include_str!("../../templates/mail/verify_email.html")),
];

/// The stylesheet template, rendered once at start-up (not HTML-escaped).
const STYLESHEET: &str = "keycard.css";

/// OAuth 2.0 Form Post Response Mode §2: the only script on any page; it submits the form once
/// the page has loaded. Templates print it with `{{ form_post_script }}` (a safe string), so the
/// bytes between `<script>` and `</script>` are exactly these and the CSP hash matches. It calls
/// the prototype's `submit` so a field named `submit` cannot shadow it (DOM clobbering).
pub const FORM_POST_SCRIPT: &str =
    r#"window.addEventListener("load",function(){HTMLFormElement.prototype.submit.call(document.forms[0]);});"#;

/// The CSP source for [`FORM_POST_SCRIPT`]: `'sha256-<base64 of SHA-256>'` (CSP Level 2
/// hash-source), to go in `script-src` of the form_post response only.
pub fn form_post_script_csp_hash() -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, FORM_POST_SCRIPT.as_bytes());
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest.as_ref()))
}

/// Why the pages could not be set up or rendered. Messages name the template or file.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// A `[ui]` setting the pages cannot use.
    #[error("{key} {reason}")]
    Config {
        /// The configuration key.
        key: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `template_dir` is set but cannot be read as a directory.
    #[error("ui.template_dir {}: {cause}", path.display())]
    TemplateDir {
        /// The configured directory.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// An override file exists but cannot be read.
    #[error("cannot read template override {}: {cause}", path.display())]
    ReadOverride {
        /// The override file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// An override does not compile or fails its start-up render.
    #[error("template override {}: {cause}", path.display())]
    Override {
        /// The override file.
        path: PathBuf,
        /// The template error (it carries the template name and line).
        cause: minijinja::Error,
    },
    /// A built-in template does not compile (a bug caught by `check_builtin_templates`).
    #[error("built-in template {name}: {cause}")]
    Builtin {
        /// The template name.
        name: &'static str,
        /// The template error.
        cause: minijinja::Error,
    },
    /// A mail's text template does not start with a `Subject:` line.
    #[error("template {name}: the first line must be `Subject: …`")]
    MailSubject {
        /// The template name.
        name: &'static str,
    },
    /// Rendering failed.
    #[error("rendering {name} failed: {cause}")]
    Render {
        /// The template name.
        name: &'static str,
        /// The template error.
        cause: minijinja::Error,
    },
    /// A form_post action that is not http(s) or a private-use scheme (defence in depth: the
    /// redirect URI was registered, but `javascript:` must never reach an `action` attribute).
    #[error(
        "form_post.html: refusing form action that is not an http(s) URL or a private-use URI scheme containing a '.'"
    )]
    UnsafeFormAction,
}

/// The page templates and the rendered stylesheet. Build once at start-up; cheap to share.
pub struct Pages {
    env: Environment<'static>,
    stylesheet: String,
    /// Template names replaced from `template_dir`, with the file that replaced them.
    overrides: Vec<(&'static str, PathBuf)>,
}

impl fmt::Debug for Pages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pages").field("overrides", &self.overrides).finish_non_exhaustive()
    }
}

/// What the pages offer besides the configured look.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageOptions {
    /// Password reset by mail is on (`mail.sender` is not `off`): the login page links to
    /// `/password/forgot` (templates see the global `password_reset`).
    pub password_reset: bool,
}

impl Pages {
    /// [`Pages::with_options`] with nothing optional offered.
    pub fn new(ui: &UiConfig) -> Result<Pages, PageError> {
        Self::with_options(ui, PageOptions::default())
    }

    /// Built-in templates, each replaced by `<template_dir>/<name>` when that file exists (read
    /// once, here). Every page and mail is rendered once with a sample context, so a syntax error
    /// or an undefined variable in an override is a start-up error naming the file.
    pub fn with_options(ui: &UiConfig, options: PageOptions) -> Result<Pages, PageError> {
        for (key, color) in [("ui.primary_color", &ui.primary_color), ("ui.background_color", &ui.background_color)] {
            // The colours are pasted into CSS unescaped: exactly `#rrggbb`, nothing else.
            let ok = color.len() == 7 && color.starts_with('#') && color[1..].bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                return Err(PageError::Config { key, reason: "must be a colour like #1f5fbf" });
            }
        }
        if let Some(logo) = &ui.logo_uri
            && !is_https(logo)
            && !is_local_path(logo)
        {
            return Err(PageError::Config {
                key: "ui.logo_uri",
                reason: "must be an https URL or a path on this server (starting with a single /)",
            });
        }

        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
        env.add_global("product_name", ui.product_name.clone());
        env.add_global("logo_uri", ui.logo_uri.clone());
        env.add_global("form_post_script", Value::from_safe_string(FORM_POST_SCRIPT.to_owned()));
        env.add_global("password_reset", options.password_reset);

        if let Some(dir) = &ui.template_dir {
            let meta = std::fs::metadata(dir).map_err(|cause| PageError::TemplateDir { path: dir.clone(), cause })?;
            if !meta.is_dir() {
                return Err(PageError::TemplateDir {
                    path: dir.clone(),
                    cause: std::io::Error::other("not a directory"),
                });
            }
        }
        let mut overrides = Vec::new();
        for &(name, builtin) in TEMPLATES {
            match read_override(ui.template_dir.as_deref(), name)? {
                Some((path, source)) => {
                    env.add_template_owned(name, source)
                        .map_err(|cause| PageError::Override { path: path.clone(), cause })?;
                    overrides.push((name, path));
                }
                None => env.add_template(name, builtin).map_err(|cause| PageError::Builtin { name, cause })?,
            }
        }

        let mut pages = Pages { env, stylesheet: String::new(), overrides };
        pages.stylesheet = pages
            .env
            .get_template(STYLESHEET)
            .and_then(|t| {
                t.render(context! {
                    primary_color => ui.primary_color.as_str(),
                    background_color => ui.background_color.as_str(),
                })
            })
            .map_err(|cause| pages.blame(STYLESHEET, cause))?;
        for sample in Page::samples() {
            pages.render(&sample)?;
        }
        for (kind, sample) in MailContext::samples() {
            pages.render_mail(kind, &sample)?;
        }
        Ok(pages)
    }

    /// Renders an account mail: `mail/<kind>.txt` (whose first line is `Subject: …`) and
    /// `mail/<kind>.html` (auto-escaped, extending `mail/base.html`).
    pub fn render_mail(&self, kind: MailKind, ctx: &MailContext) -> Result<RenderedMail, PageError> {
        let (text_name, html_name) = kind.templates();
        let render = |name: &'static str| {
            self.env
                .get_template(name)
                .and_then(|t| t.render(Value::from(minijinja::value::Serde(ctx))))
                .map_err(|cause| self.blame(name, cause))
        };
        let text = render(text_name)?;
        let (first, body) = text.split_once('\n').unwrap_or((&text, ""));
        let subject = first
            .strip_prefix("Subject:")
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty() && !s.contains('\r'))
            .ok_or(PageError::MailSubject { name: text_name })?;
        Ok(RenderedMail {
            subject,
            text: body.trim_start_matches(['\r', '\n']).to_owned().into(),
            html: render(html_name)?.into(),
        })
    }

    /// Render one page to a complete HTML document (serve as `text/html; charset=utf-8`).
    pub fn render(&self, page: &Page) -> Result<String, PageError> {
        let name = page.template_name();
        if let Page::FormPost(p) = page
            && !is_safe_form_action(&p.action)
        {
            return Err(PageError::UnsafeFormAction);
        }
        let ctx = context! { lang => page.lang(), ..page.context() };
        self.env.get_template(name).and_then(|t| t.render(ctx)).map_err(|cause| self.blame(name, cause))
    }

    /// The stylesheet, served at `GET /assets/keycard.css` (`text/css; charset=utf-8`), with the
    /// configured colours as CSS custom properties. The HTML has no inline styles.
    pub fn stylesheet(&self) -> &str {
        &self.stylesheet
    }

    /// The error for a failed render, naming the override file when an override is at fault.
    fn blame(&self, name: &'static str, cause: minijinja::Error) -> PageError {
        let culprit = cause.name().unwrap_or(name);
        match self.overrides.iter().find(|(n, _)| *n == culprit) {
            Some((_, path)) => PageError::Override { path: path.clone(), cause },
            None => PageError::Render { name, cause },
        }
    }
}

/// `<dir>/<name>` if it exists.
fn read_override(dir: Option<&Path>, name: &str) -> Result<Option<(PathBuf, String)>, PageError> {
    let Some(dir) = dir else { return Ok(None) };
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(source) => Ok(Some((path, source))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(cause) => Err(PageError::ReadOverride { path, cause }),
    }
}

fn is_https(uri: &str) -> bool {
    uri.get(..8).is_some_and(|p| p.eq_ignore_ascii_case("https://")) && uri.len() > 8
}

/// A path on this server: `/x`, but not `//host` or `/\host` (protocol-relative, other origin).
fn is_local_path(uri: &str) -> bool {
    uri.starts_with('/') && !uri.starts_with("//") && !uri.starts_with("/\\")
}

/// RFC 6749 §3.1.2 / RFC 8252 §7.1: a form_post `action` must be an `http://` or `https://`
/// URL or a private-use scheme (reverse domain name, so it contains a '.'). Never
/// `javascript:`, `data:`, `vbscript:`, or anything a browser would parse differently from us
/// (control characters or spaces anywhere, a scheme that is not RFC 3986 `ALPHA *(ALPHA / DIGIT
/// / "+" / "-" / ".")`).
pub fn is_safe_form_action(action: &str) -> bool {
    if action.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return false;
    }
    let Some((scheme, rest)) = action.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return false;
    }
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
        rest.len() > 2 && rest.starts_with("//")
    } else {
        scheme.contains('.')
    }
}

/// `<html lang>`: a well-formed BCP 47 tag (e.g. `de`, `pt-BR`), else `en`.
fn html_lang(locale: Option<&str>) -> &str {
    let ok = |tag: &str| {
        let mut parts = tag.split('-');
        let first = parts.next().unwrap_or("");
        tag.len() <= 35
            && (2..=8).contains(&first.len())
            && first.bytes().all(|b| b.is_ascii_alphabetic())
            && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
    };
    locale.filter(|t| ok(t)).unwrap_or("en")
}
