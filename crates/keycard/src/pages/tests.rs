//! Checks of the built-in templates and of the renderer: structure of every page and state,
//! escaping (SECURITY G3), URL rules, the form_post script hash, overrides.

use super::*;

fn ui() -> UiConfig {
    UiConfig { logo_uri: Some("/assets/logo.svg".into()), ..UiConfig::default() }
}

fn render_all(pages: &Pages, list: &[Page]) -> Vec<(&'static str, String)> {
    list.iter()
        .map(|p| {
            let html = pages.render(p).unwrap_or_else(|e| panic!("{}: {e}", p.template_name()));
            (p.template_name(), html)
        })
        .collect()
}

/// A start tag (or `/name` for an end tag) and its attributes, entity-decoded.
#[derive(Debug)]
struct Tag {
    name: String,
    attrs: Vec<(String, String)>,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

fn decode_entities(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.find(';').expect("entity ends with ;");
        let ent = &rest[1..end];
        let c = match ent {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            _ if ent.starts_with("#x") => char::from_u32(u32::from_str_radix(&ent[2..], 16).unwrap()).unwrap(),
            _ if ent.starts_with('#') => char::from_u32(ent[1..].parse().unwrap()).unwrap(),
            _ => panic!("unknown entity &{ent};"),
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// A small HTML tag scanner: enough to see every element and attribute the markup creates
/// (the escaped output never contains a raw `<` from data, so only template tags appear).
/// Script content is skipped.
fn scan(html: &str) -> Vec<Tag> {
    let b = html.as_bytes();
    let mut tags = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        i += 1;
        if b.get(i) == Some(&b'!') {
            while b[i] != b'>' {
                i += 1;
            }
            continue;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
            i += 1;
        }
        let name = html[start..i].to_ascii_lowercase();
        let mut attrs = Vec::new();
        loop {
            while b[i].is_ascii_whitespace() || b[i] == b'/' {
                i += 1;
            }
            if b[i] == b'>' {
                i += 1;
                break;
            }
            let a = i;
            while !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>') {
                i += 1;
            }
            let attr = html[a..i].to_ascii_lowercase();
            let mut value = String::new();
            if b[i] == b'=' {
                i += 1;
                if matches!(b[i], b'"' | b'\'') {
                    let q = b[i];
                    i += 1;
                    let v = i;
                    while b[i] != q {
                        i += 1;
                    }
                    value = decode_entities(&html[v..i]);
                    i += 1;
                } else {
                    let v = i;
                    while !b[i].is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                    value = decode_entities(&html[v..i]);
                }
            }
            attrs.push((attr, value));
        }
        if name == "script" {
            i += html[i..].find("</script>").expect("script is closed");
        }
        tags.push(Tag { name, attrs });
    }
    tags
}

const ALLOWED_TAGS: &[&str] = &[
    "html", "head", "meta", "title", "link", "body", "div", "header", "img", "span", "main", "h1", "p", "strong",
    "form", "input", "label", "button", "ul", "li", "code", "noscript", "script", "a",
];
const ALLOWED_ATTRS: &[&str] = &[
    "lang",
    "charset",
    "name",
    "content",
    "rel",
    "href",
    "src",
    "alt",
    "referrerpolicy",
    "class",
    "method",
    "action",
    "type",
    "value",
    "id",
    "for",
    "autocomplete",
    "autocapitalize",
    "autocorrect",
    "spellcheck",
    "inputmode",
    "required",
    "autofocus",
    "role",
];

/// The structural rules every page must keep, whatever the context holds (G3, G7, a11y).
fn check_structure(name: &str, html: &str) {
    assert!(html.starts_with("<!doctype html>"), "{name}: doctype");
    assert!(!html.contains("style="), "{name}: inline style attribute");
    assert!(!html.to_ascii_lowercase().contains("<style"), "{name}: <style>");
    let tags = scan(html);
    let mut ids = Vec::new();
    let mut label_for = Vec::new();
    for tag in &tags {
        let bare = tag.name.trim_start_matches('/');
        assert!(ALLOWED_TAGS.contains(&bare), "{name}: unexpected element <{}>", tag.name);
        for (attr, value) in &tag.attrs {
            assert!(ALLOWED_ATTRS.contains(&attr.as_str()), "{name}: attribute {attr}= on <{}>", tag.name);
            if matches!(attr.as_str(), "href" | "src" | "action") {
                let local = value.starts_with('/') && !value.starts_with("//");
                let remote =
                    value.starts_with("https://") || (name == "form_post.html" && value.starts_with("http://"));
                assert!(local || remote, "{name}: {attr}={value:?}");
            }
        }
        if tag.name == "img" {
            assert_eq!(tag.attr("referrerpolicy"), Some("no-referrer"), "{name}: img referrer");
            assert_eq!(tag.attr("alt"), Some(""), "{name}: img alt");
        }
        if tag.name == "button" {
            assert_eq!(tag.attr("type"), Some("submit"), "{name}: button type");
        }
        if tag.name == "form" {
            assert_eq!(tag.attr("method"), Some("post"), "{name}: form method");
        }
        if let Some(id) = tag.attr("id") {
            ids.push(id.to_owned());
        }
        if tag.name == "label" {
            label_for.push(tag.attr("for").expect("label has for").to_owned());
        }
        if tag.name == "input" && tag.attr("type") != Some("hidden") {
            let id = tag.attr("id").expect("visible input has an id");
            assert!(tag.attr("autocomplete").is_some(), "{name}: #{id} autocomplete");
        }
    }
    for tag in tags.iter().filter(|t| t.name == "input" && t.attr("type") != Some("hidden")) {
        let id = tag.attr("id").unwrap();
        assert!(label_for.iter().any(|f| f == id), "{name}: no <label for={id}>");
    }
    for f in &label_for {
        assert!(ids.contains(f), "{name}: label for={f} points nowhere");
    }
    let scripts = tags.iter().filter(|t| t.name == "script").count();
    let expected = usize::from(name == "form_post.html");
    assert_eq!(scripts, expected, "{name}: <script> count");
    let main = tags.iter().filter(|t| t.name == "main").count();
    assert_eq!(main, 1, "{name}: one <main>");
}

fn hidden_value<'a>(tags: &'a [Tag], field: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.name == "input" && t.attr("type") == Some("hidden") && t.attr("name") == Some(field))
        .and_then(|t| t.attr("value"))
}

fn form_action(tags: &[Tag]) -> Option<&str> {
    tags.iter().find(|t| t.name == "form").and_then(|t| t.attr("action"))
}

fn has_button(tags: &[Tag], name: &str, value: &str) -> bool {
    tags.iter().any(|t| t.name == "button" && t.attr("name") == Some(name) && t.attr("value") == Some(value))
}

#[test]
fn check_builtin_templates() {
    let pages = Pages::new(&ui()).unwrap();
    for page in Page::samples() {
        let name = page.template_name();
        let html = pages.render(&page).unwrap();
        check_structure(name, &html);
        let tags = scan(&html);
        let meta = |n: &str| tags.iter().any(|t| t.name == "meta" && t.attr("name") == Some(n));
        assert!(meta("viewport"), "{name}: viewport");
        assert!(tags.iter().any(|t| t.name == "meta" && t.attr("charset") == Some("utf-8")));
        assert!(tags.iter().any(|t| t.name == "link"
            && t.attr("rel") == Some("stylesheet")
            && t.attr("href") == Some("/assets/keycard.css")));
        assert!(tags.iter().any(|t| t.name == "img" && t.attr("src") == Some("/assets/logo.svg")));
        assert!(html.contains("<span class=\"kc-product\">Keycard</span>"), "{name}: product");
        let title = html.split("<title>").nth(1).unwrap().split("</title>").next().unwrap();
        assert!(title.ends_with(" – Keycard"), "{name}: title {title:?}");
        let has_alert = html.contains("role=\"alert\"");
        match &page {
            Page::Login(p) => {
                let lang = p.locale.as_deref().unwrap_or("en");
                assert!(html.contains(&format!("<html lang=\"{lang}\">")));
                assert_eq!(form_action(&tags), Some("/login"));
                assert_eq!(hidden_value(&tags, "request_id"), Some("sample-request"));
                assert_eq!(hidden_value(&tags, "csrf_token"), Some("sample-csrf"));
                assert!(html.contains("<label for=\"username\">Username or e-mail</label>"));
                assert!(html.contains("<label for=\"password\">Password</label>"));
                let user = tags.iter().find(|t| t.attr("id") == Some("username")).unwrap();
                assert_eq!(user.attr("name"), Some("username"));
                assert_eq!(user.attr("autocomplete"), Some("username"));
                assert!(user.attr("autofocus").is_some());
                assert_eq!(user.attr("value"), Some(p.login_hint.as_deref().unwrap_or("")));
                let pw = tags.iter().find(|t| t.attr("id") == Some("password")).unwrap();
                assert_eq!(pw.attr("type"), Some("password"));
                assert_eq!(pw.attr("autocomplete"), Some("current-password"));
                assert!(html.contains(">Sign in</button>"));
                assert_eq!(has_alert, p.error.is_some());
                if let Some(e) = &p.error {
                    assert!(html.contains(&format!("role=\"alert\">{e}<")));
                }
                // Focus order follows the visual order: username, password, submit.
                let u = html.find("id=\"username\"").unwrap();
                let w = html.find("id=\"password\"").unwrap();
                let s = html.find("<button").unwrap();
                assert!(u < w && w < s);
            }
            Page::Consent(p) => {
                assert_eq!(form_action(&tags), Some("/consent"));
                assert_eq!(hidden_value(&tags, "request_id"), Some("sample-request"));
                assert_eq!(hidden_value(&tags, "csrf_token"), Some("sample-csrf"));
                assert!(has_button(&tags, "decision", "approve"));
                assert!(has_button(&tags, "decision", "deny"));
                assert!(html.contains("value=\"approve\">Allow</button>"));
                assert!(html.contains("value=\"deny\">Deny</button>"));
                assert!(html.contains(&p.user_display));
                for s in &p.scopes {
                    let shown = if s.description.is_empty() { &s.name } else { &s.description };
                    assert!(html.contains(&format!("<li>{shown}</li>")), "{shown}");
                }
                let logo =
                    tags.iter().any(|t| t.name == "img" && t.attr("src") == Some("https://app.example/logo.png"));
                assert_eq!(logo, p.client_logo_uri.is_some());
            }
            Page::Error(p) => {
                assert!(html.contains(&format!("<h1>{}</h1>", p.title)));
                assert!(html.contains(&p.message));
                assert_eq!(html.contains("sample-request"), p.reference.is_some());
                assert!(!tags.iter().any(|t| t.name == "form"));
            }
            Page::Logout(p) => {
                assert!(html.contains("Sign out of Keycard?"));
                assert_eq!(html.contains("a different account"), p.other_user);
                assert_eq!(form_action(&tags), Some("/logout"));
                assert_eq!(hidden_value(&tags, "csrf_token"), Some("sample-csrf"));
                for (k, v) in &p.hidden {
                    assert_eq!(hidden_value(&tags, k), Some(v.as_str()));
                }
                assert!(has_button(&tags, "decision", "logout"));
                assert!(has_button(&tags, "decision", "cancel"));
                assert_eq!(html.contains("Sample App"), p.client_name.is_some());
            }
            Page::LoggedOut(_) => assert!(html.contains("You are signed out")),
            Page::FormPost(p) => {
                assert_eq!(form_action(&tags), Some(p.action.as_str()));
                for (k, v) in &p.fields {
                    assert_eq!(hidden_value(&tags, k), Some(v.as_str()));
                }
                let noscript = html.split("<noscript>").nth(1).unwrap();
                let noscript = noscript.split("</noscript>").next().unwrap();
                assert!(noscript.contains("<button type=\"submit\""));
                let form_end = html.find("</form>").unwrap();
                assert!(html.find("<noscript>").unwrap() < form_end, "button inside the form");
            }
            Page::Device(p) => match &p.step {
                DeviceStep::EnterCode => {
                    assert_eq!(form_action(&tags), Some("/device"));
                    assert_eq!(hidden_value(&tags, "csrf_token"), Some("sample-csrf"));
                    assert!(html.contains("<label for=\"user_code\">"));
                    let code = tags.iter().find(|t| t.attr("id") == Some("user_code")).unwrap();
                    assert_eq!(code.attr("name"), Some("user_code"));
                    assert_eq!(code.attr("autocomplete"), Some("one-time-code"));
                    assert_eq!(code.attr("autocapitalize"), Some("characters"));
                    assert!(code.attr("inputmode").is_some());
                    assert_eq!(code.attr("value"), Some(p.user_code.as_deref().unwrap_or("")));
                    assert_eq!(has_alert, p.error.is_some());
                }
                DeviceStep::Confirm { client_name, scopes } => {
                    assert_eq!(form_action(&tags), Some("/device"));
                    assert_eq!(hidden_value(&tags, "csrf_token"), Some("sample-csrf"));
                    assert_eq!(hidden_value(&tags, "user_code"), p.user_code.as_deref());
                    assert!(html.contains(client_name));
                    assert!(has_button(&tags, "decision", "approve"));
                    assert!(has_button(&tags, "decision", "deny"));
                    assert!(html.contains("<li>calendar.read</li>"));
                    assert_eq!(scopes.len(), 2);
                }
                DeviceStep::Done { approved } => {
                    assert!(!tags.iter().any(|t| t.name == "form"));
                    let text = if *approved { "Device connected" } else { "Access denied" };
                    assert!(html.contains(text));
                }
            },
            Page::ForgotPassword(p) => {
                let form = tags.iter().any(|t| t.name == "form");
                assert_eq!(form, p.step == ForgotStep::Form, "{:?}", p.step);
                assert_eq!(has_alert, p.error.is_some());
                match p.step {
                    ForgotStep::Form => {
                        assert_eq!(form_action(&tags), Some("/password/forgot"));
                        assert_eq!(hidden_value(&tags, "csrf_token"), Some("sample-csrf"));
                        let login = tags.iter().find(|t| t.attr("id") == Some("login")).unwrap();
                        assert_eq!((login.attr("name"), login.attr("autocomplete")), (Some("login"), Some("username")));
                    }
                    ForgotStep::Sent => assert!(html.contains("If an account exists")),
                    ForgotStep::Unavailable => assert!(html.contains("not available")),
                }
            }
            Page::ResetPassword(p) => {
                assert_eq!(form_action(&tags), Some("/password/reset"));
                assert_eq!(hidden_value(&tags, "csrf_token"), Some("sample-csrf"));
                assert_eq!(hidden_value(&tags, "token"), Some("sample-token"));
                assert_eq!(hidden_value(&tags, "username"), Some("alice"));
                for id in ["new_password", "new_password2"] {
                    let f = tags.iter().find(|t| t.attr("id") == Some(id)).unwrap();
                    assert_eq!((f.attr("type"), f.attr("autocomplete")), (Some("password"), Some("new-password")));
                }
                assert_eq!(html.contains("Choose your password"), p.invite);
                assert_eq!(has_alert, p.error.is_some());
            }
            Page::AccountPassword(p) => {
                assert_eq!(form_action(&tags), Some("/account/password"));
                assert_eq!(hidden_value(&tags, "csrf_token"), Some("sample-csrf"));
                let cur = tags.iter().find(|t| t.attr("id") == Some("current_password")).unwrap();
                assert_eq!(cur.attr("autocomplete"), Some("current-password"));
                assert!(html.contains(&p.user_display));
                assert_eq!(has_alert, p.error.is_some());
                let resend = tags.iter().any(|t| t.name == "form" && t.attr("action") == Some("/email/verify"));
                assert_eq!(resend, p.unverified_email.is_some());
            }
        }
    }
}

const PAYLOADS: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "</textarea><svg/onload=alert(1)>",
    "javascript:alert(1)",
    "{{7*7}}",
    "${7*7}",
    "'\"><",
    "a\u{2028}b",
];

/// Every page with every string field set to `s`.
fn pages_with(s: &str) -> Vec<Page> {
    let o = || Some(s.to_owned());
    let scopes = || {
        vec![
            ScopeView { name: s.into(), description: s.into() },
            ScopeView { name: s.into(), description: String::new() },
        ]
    };
    let pairs = || vec![(s.to_owned(), s.to_owned()), ("state".to_owned(), s.to_owned())];
    let device = |step| Page::Device(DevicePage { csrf_token: s.into(), user_code: o(), error: o(), step });
    vec![
        Page::Login(LoginPage {
            request_id: s.into(),
            csrf_token: s.into(),
            client_name: s.into(),
            login_hint: o(),
            error: o(),
            locale: o(),
        }),
        Page::Consent(ConsentPage {
            request_id: s.into(),
            csrf_token: s.into(),
            client_name: s.into(),
            client_logo_uri: o(),
            user_display: s.into(),
            scopes: scopes(),
            locale: o(),
        }),
        Page::Consent(ConsentPage {
            request_id: s.into(),
            csrf_token: s.into(),
            client_name: s.into(),
            client_logo_uri: Some(format!("https://app.example/{s}")),
            user_display: s.into(),
            scopes: scopes(),
            locale: o(),
        }),
        Page::Error(ErrorPage { title: s.into(), message: s.into(), reference: o() }),
        Page::Logout(LogoutPage { csrf_token: s.into(), client_name: o(), hidden: pairs(), other_user: true }),
        Page::LoggedOut(LoggedOutPage {}),
        Page::FormPost(FormPostPage {
            // A real redirect URI has no spaces (those are refused, tested below).
            action: format!("https://app.example/cb?x={}", s.replace(char::is_whitespace, "")),
            fields: pairs(),
        }),
        device(DeviceStep::EnterCode),
        device(DeviceStep::Confirm { client_name: s.into(), scopes: scopes() }),
        device(DeviceStep::Done { approved: true }),
        Page::ForgotPassword(ForgotPasswordPage { csrf_token: s.into(), step: ForgotStep::Form, error: o() }),
        Page::ResetPassword(ResetPasswordPage {
            csrf_token: s.into(),
            token: s.to_owned().into(),
            username: s.into(),
            invite: true,
            error: o(),
            min_length: 8,
        }),
        Page::AccountPassword(AccountPasswordPage {
            csrf_token: s.into(),
            username: s.into(),
            user_display: s.into(),
            error: o(),
            min_length: 8,
            unverified_email: o(),
        }),
    ]
}

/// SECURITY G3 (docs/security.md): hostile strings in every context field (and the product name and logo)
/// never create an element, attribute or handler, and are not evaluated as templates.
#[test]
fn g3_xss_payloads_are_escaped_everywhere() {
    for payload in PAYLOADS {
        let ui = UiConfig {
            product_name: (*payload).to_owned(),
            logo_uri: Some(format!("https://logo.example/{payload}")),
            ..UiConfig::default()
        };
        let pages = Pages::new(&ui).unwrap();
        for (name, html) in render_all(&pages, &pages_with(payload)) {
            let ctx = format!("{name} with {payload:?}");
            check_structure(name, &html);
            let lower = html.to_ascii_lowercase();
            assert!(!lower.contains("<script>alert"), "{ctx}");
            assert!(!lower.contains("<img src=x"), "{ctx}");
            assert!(!lower.contains("<svg"), "{ctx}");
            assert!(!lower.contains("</textarea"), "{ctx}");
            assert!(!html.contains("49"), "{ctx}: template syntax was evaluated");
            if payload.contains('<') || payload.contains('"') {
                assert!(!html.contains(payload), "{ctx}: raw payload");
            }
            if payload.starts_with("{{") {
                assert!(html.contains(payload), "{ctx}: shown literally");
            }
            // A payload may be the text *value* of an input, never a URL the browser follows
            // (check_structure also pins every URL attribute to a local path or https).
            for tag in scan(&html) {
                for (attr, value) in &tag.attrs {
                    let url = matches!(attr.as_str(), "href" | "src" | "action");
                    assert!(
                        !(url && value.to_ascii_lowercase().contains("javascript:") && !value.starts_with("https://")),
                        "{ctx}: {attr}"
                    );
                }
            }
            let scripts = lower.matches("<script").count();
            assert_eq!(scripts, usize::from(name == "form_post.html"), "{ctx}");
        }
    }
}

/// A logo that is not https (`javascript:`, `data:`, `http:`, a path) is never a `src`.
#[test]
fn g3_client_logo_only_https() {
    let pages = Pages::new(&UiConfig::default()).unwrap();
    for (logo, shown) in [
        ("javascript:alert(1)", false),
        ("data:image/svg+xml,<svg/onload=alert(1)>", false),
        ("http://app.example/logo.png", false),
        ("//app.example/logo.png", false),
        (" https://app.example/logo.png", false),
        ("https://", false),
        ("https://app.example/logo.png", true),
    ] {
        let html = pages
            .render(&Page::Consent(ConsentPage {
                request_id: "r".into(),
                csrf_token: "c".into(),
                client_name: "App".into(),
                client_logo_uri: Some(logo.into()),
                user_display: "alice".into(),
                scopes: Vec::new(),
                locale: None,
            }))
            .unwrap();
        assert_eq!(html.contains("<img"), shown, "{logo}");
    }
}

#[test]
fn g3_form_post_action_must_be_http_or_private_use_scheme() {
    for ok in [
        "https://app.example/cb",
        "HTTPS://app.example/cb",
        "http://127.0.0.1:8080/cb",
        "com.example.app:/oauth2redirect",
        "com.example.app://cb",
    ] {
        assert!(is_safe_form_action(ok), "{ok}");
    }
    for bad in [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "java\tscript:alert(1)",
        " javascript:alert(1)",
        "javascript\n:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "myapp:/cb",
        "https:app.example",
        "https://",
        "/relative",
        "//app.example/cb",
        "",
        "{{7*7}}",
        "1com.example:/cb",
        "https://app.example/a b",
    ] {
        assert!(!is_safe_form_action(bad), "{bad:?}");
    }
    let pages = Pages::new(&UiConfig::default()).unwrap();
    for payload in PAYLOADS {
        let page = Page::FormPost(FormPostPage { action: (*payload).to_owned(), fields: Vec::new() });
        assert!(matches!(pages.render(&page), Err(PageError::UnsafeFormAction)), "{payload}");
    }
    let err = pages
        .render(&Page::FormPost(FormPostPage { action: "javascript:alert(1)".into(), fields: Vec::new() }))
        .unwrap_err();
    assert!(err.to_string().contains("form_post.html"), "{err}");
}

/// The CSP hash covers exactly the bytes of the one script as rendered.
#[test]
fn form_post_script_hash_matches_rendered_script() {
    let pages = Pages::new(&UiConfig::default()).unwrap();
    let html = pages
        .render(&Page::FormPost(FormPostPage {
            action: "https://app.example/cb".into(),
            fields: vec![("submit".into(), "x".into()), ("code".into(), "c".into())],
        }))
        .unwrap();
    assert_eq!(html.matches("<script").count(), 1);
    let script = html.split("<script>").nth(1).unwrap().split("</script>").next().unwrap();
    assert_eq!(script, FORM_POST_SCRIPT);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, script.as_bytes());
    let expected = format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest.as_ref()));
    assert_eq!(form_post_script_csp_hash(), expected);
    // Independently computed: printf '%s' "$script" | openssl dgst -sha256 -binary | base64
    assert!(expected.starts_with("'sha256-") && expected.ends_with("='"), "{expected}");
    assert_eq!(expected.len(), "'sha256-'".len() + 44);
}

#[test]
fn stylesheet_has_colours_and_html_no_inline_styles() {
    let ui = UiConfig { primary_color: "#123abc".into(), background_color: "#fedcba".into(), ..UiConfig::default() };
    let pages = Pages::new(&ui).unwrap();
    let css = pages.stylesheet();
    assert!(css.contains("--kc-primary: #123abc;"), "{css}");
    assert!(css.contains("--kc-background: #fedcba;"), "{css}");
    assert!(css.contains(":focus-visible"), "visible focus styles");
    assert!(!css.contains("{{"), "template fully rendered");
    for (name, html) in render_all(&pages, &Page::samples()) {
        assert!(!html.contains("style="), "{name}");
        assert!(!html.contains("#123abc"), "{name}: colours only in the stylesheet");
    }
    for bad in ["red", "#12345", "#12345g", "#123456;}body{x:y", "#123456 "] {
        let ui = UiConfig { primary_color: bad.into(), ..UiConfig::default() };
        let err = Pages::new(&ui).unwrap_err();
        assert!(err.to_string().contains("ui.primary_color"), "{err}");
    }
    for bad in ["javascript:alert(1)", "//evil.example/logo.png", "http://x.example/l.png"] {
        let ui = UiConfig { logo_uri: Some(bad.into()), ..UiConfig::default() };
        assert!(matches!(Pages::new(&ui), Err(PageError::Config { key: "ui.logo_uri", .. })), "{bad}");
    }
}

#[test]
fn html_lang_is_a_language_tag() {
    assert_eq!(html_lang(None), "en");
    assert_eq!(html_lang(Some("de")), "de");
    assert_eq!(html_lang(Some("pt-BR")), "pt-BR");
    assert_eq!(html_lang(Some("zh-Hant-TW")), "zh-Hant-TW");
    for bad in ["", "x", "\"><", "de_DE", "de-", "-de", "a-toolongsubtag", "1a"] {
        assert_eq!(html_lang(Some(bad)), "en", "{bad}");
    }
}

#[test]
fn template_dir_override_replaces_builtin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("login.html"),
        "{% extends \"base.html\" %}{% block title %}Custom{% endblock %}\
         {% block content %}<p class=\"custom\">Custom login for {{ client_name }}</p>{% endblock %}",
    )
    .unwrap();
    std::fs::write(dir.path().join("unrelated.txt"), "{% broken").unwrap();
    let ui = UiConfig { template_dir: Some(dir.path().to_owned()), ..UiConfig::default() };
    let pages = Pages::new(&ui).unwrap();
    let html = pages
        .render(&Page::Login(LoginPage {
            request_id: "r".into(),
            csrf_token: "c".into(),
            client_name: "<b>App</b>".into(),
            login_hint: None,
            error: None,
            locale: None,
        }))
        .unwrap();
    assert!(html.contains("<p class=\"custom\">Custom login for &lt;b&gt;App&lt;&#x2f;b&gt;</p>"), "{html}");
    assert!(html.contains("<title>Custom – Keycard</title>"));
    assert!(!html.contains("Username or e-mail"));
    // The other pages are still the built-in ones.
    let consent = pages.render(&Page::samples().remove(2)).unwrap();
    assert!(consent.contains("value=\"approve\">Allow</button>"));
}

#[test]
fn broken_override_is_a_startup_error_naming_the_file() {
    // A syntax error.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("consent.html");
    std::fs::write(&path, "{% extends \"base.html\" %}{% block content %}{% if %}").unwrap();
    let ui = UiConfig { template_dir: Some(dir.path().to_owned()), ..UiConfig::default() };
    let err = Pages::new(&ui).unwrap_err();
    assert!(matches!(&err, PageError::Override { path: p, .. } if *p == path), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");

    // A variable no context has (undefined is strict): found by the start-up render.
    std::fs::write(&path, "{% extends \"base.html\" %}{% block content %}{{ no_such_thing }}{% endblock %}").unwrap();
    let err = Pages::new(&ui).unwrap_err();
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");

    // A broken base.html is blamed even though login.html is the page being rendered.
    std::fs::remove_file(&path).unwrap();
    let base = dir.path().join("base.html");
    std::fs::write(&base, "<html>{{ lang.nope.deeper }}{% block content %}{% endblock %}").unwrap();
    let err = Pages::new(&ui).unwrap_err();
    assert!(err.to_string().contains(&base.display().to_string()), "{err}");

    // template_dir that does not exist.
    let ui = UiConfig { template_dir: Some(dir.path().join("missing")), ..UiConfig::default() };
    let err = Pages::new(&ui).unwrap_err();
    assert!(err.to_string().contains("ui.template_dir"), "{err}");
}

#[test]
fn auto_escape_is_on_for_html_only() {
    let pages = Pages::new(&UiConfig::default()).unwrap();
    let html = pages.render(&Page::Error(ErrorPage { title: "a&b".into(), message: "<i>".into(), reference: None }));
    let html = html.unwrap();
    assert!(html.contains("<h1>a&amp;b</h1>") && html.contains("&lt;i&gt;"));
    // The stylesheet is CSS, not HTML: the colour is not entity-escaped.
    assert!(pages.stylesheet().contains("#1f5fbf"));
    // Only FormPost may be rendered with a script; the constant has no HTML-breaking bytes.
    assert!(!FORM_POST_SCRIPT.contains('<') && !FORM_POST_SCRIPT.contains('&'));
}

/// The login page links to the reset form only when mail is on.
#[test]
fn login_links_to_password_reset_only_when_mail_is_on() {
    let login = Page::samples().remove(0);
    let off = Pages::new(&UiConfig::default()).unwrap().render(&login).unwrap();
    assert!(!off.contains("/password/forgot"));
    let on = Pages::with_options(&UiConfig::default(), PageOptions { password_reset: true }).unwrap();
    let html = on.render(&login).unwrap();
    check_structure("login.html", &html);
    let link = scan(&html).into_iter().find(|t| t.name == "a").expect("a link");
    assert_eq!(link.attr("href"), Some("/password/forgot"));
}

/// Every mail renders a subject, a text part with the link and an HTML part that escapes the
/// context (a hostile display name cannot add markup) and links only to the link.
#[test]
fn mails_render_subject_text_and_escaped_html() {
    let pages = Pages::new(&UiConfig::default()).unwrap();
    for (kind, mut ctx) in MailContext::samples() {
        ctx.user_display = "<img src=x onerror=alert(1)>".into();
        let m = pages.render_mail(kind, &ctx).unwrap();
        assert!(m.subject.contains("Keycard") && !m.subject.contains('\n'), "{kind:?}: {}", m.subject);
        assert!(m.text.contains(ctx.link.as_str()), "{kind:?}: link in the text part");
        assert!(!m.text.starts_with("Subject:"), "the subject line is not in the body");
        assert!(!m.html.contains("<img"), "{kind:?}: escaped");
        let hrefs: Vec<_> = scan(&m.html).into_iter().filter_map(|t| t.attr("href").map(str::to_owned)).collect();
        assert_eq!(hrefs, vec![ctx.link.to_string()], "{kind:?}");
        assert!(!format!("{m:?}").contains("token=sample"), "Debug hides the link");
    }
}

/// A mail override replaces the built-in one; one without a subject line stops the start-up.
#[test]
fn mail_overrides_are_themable_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("mail")).unwrap();
    let ui = UiConfig { template_dir: Some(dir.path().to_owned()), ..UiConfig::default() };
    std::fs::write(dir.path().join("mail/invite.txt"), "Subject: Welcome aboard\n\nGo to {{ link }}\n").unwrap();
    let pages = Pages::new(&ui).unwrap();
    let (kind, ctx) = MailContext::samples().into_iter().find(|(k, _)| *k == MailKind::Invite).unwrap();
    let m = pages.render_mail(kind, &ctx).unwrap();
    assert_eq!(m.subject, "Welcome aboard");
    assert_eq!(m.text.trim_end(), "Go to https://id.example/password/reset?token=sample");
    std::fs::write(dir.path().join("mail/invite.txt"), "Hello {{ link }}\n").unwrap();
    let err = Pages::new(&ui).unwrap_err();
    assert!(err.to_string().contains("mail/invite.txt"), "{err}");
}
