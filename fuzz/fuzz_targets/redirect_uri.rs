#![no_main]
//! Redirect URI matching at the authorization endpoint (RFC 6749 §3.1.2.3, RFC 9700 §4.1.3,
//! RFC 8252 §7.3: `redirect_uri_matches`) and the registration rules of every URI a client
//! registers (`validate::{validate_redirect_uri, validate_post_logout_redirect_uri,
//! validate_https_uri, validate_web_origin, validate_jwks_uri, validate_client_id,
//! validate_resource_audience}`). Inputs: arbitrary strings, and registered-looking URIs edited
//! once. Asserts: matching is exact string comparison except a native client's loopback port —
//! so an accepted URI always matches itself, a URI one edit away never matches unless the edit
//! is in a native loopback port, a web client's loopback URI on another port never matches;
//! what registration accepts is printable ASCII without fragment, userinfo or wildcard, `http`
//! only on a loopback IP literal, never a script-capable scheme.

use arbitrary::Arbitrary;
use keycard::model::ApplicationType;
use keycard::oauth::authorize::redirect_uri_matches;
use keycard::validate::*;
use keycard_fuzz::Edit;
use libfuzzer_sys::fuzz_target;

const BASES: [&str; 9] = [
    "https://client.example/cb",
    "https://a.b.example:8443/p/q?x=1",
    "com.example.app:/oauth2redirect",
    "http://127.0.0.1/cb",
    "http://127.0.0.1:8080/cb?x=y",
    "http://[::1]:3000/",
    "http://[::1]",
    "http://localhost:8080/cb",
    "https://client.example",
];

#[derive(Debug, Arbitrary)]
enum Uri {
    Any(String),
    Base(u8),
    Edited(u8, Edit),
}

impl Uri {
    fn text(&self) -> Option<String> {
        match self {
            Uri::Any(s) => Some(s.clone()),
            Uri::Base(i) => Some(BASES[usize::from(*i) % BASES.len()].to_owned()),
            Uri::Edited(i, e) => String::from_utf8(e.apply(BASES[usize::from(*i) % BASES.len()])?).ok(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Input {
    /// A URI as a client would send or register it, checked against every base URI.
    Text(String),
    Full(Full),
}

#[derive(Debug, Arbitrary)]
struct Full {
    registered: Vec<Uri>,
    requested: Uri,
    native: bool,
    port: Option<u16>,
}

/// The span of the port of a loopback IP literal URI (from after the host to the path), or
/// `None` when `uri` is not one.
fn port_span(uri: &str) -> Option<(usize, usize)> {
    let host_end = ["http://127.0.0.1", "http://[::1]"].into_iter().find(|p| uri.starts_with(p))?.len();
    let end = uri[host_end..].find(['/', '?', '#']).map_or(uri.len(), |i| host_end + i);
    Some((host_end, end))
}

fn check_registration(uri: &str) {
    let ok = validate_redirect_uri(uri).is_ok();
    assert_eq!(ok, validate_post_logout_redirect_uri(uri).is_ok());
    if ok {
        assert!(uri.bytes().all(|b| b.is_ascii_graphic()), "{uri:?}");
        assert!(!uri.contains('#') && !uri.contains('*'), "{uri:?}");
        let u = url::Url::parse(uri).expect("accepted URIs are absolute");
        assert!(u.username().is_empty() && u.password().is_none(), "{uri:?}");
        assert!(!["javascript", "data", "vbscript", "file", "about", "blob"].contains(&u.scheme()), "{uri:?}");
        if u.scheme() == "http" {
            assert!(
                matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                    || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback()),
                "{uri:?}"
            );
        }
        // A registered URI always matches itself, whatever the client type.
        let reg = [uri.to_owned()];
        assert!(redirect_uri_matches(&reg, uri, ApplicationType::Web));
        assert!(redirect_uri_matches(&reg, uri, ApplicationType::Native));
    }
    if validate_https_uri("logo_uri", uri).is_ok() {
        assert!(
            uri.starts_with("https:")
                || uri.starts_with("HTTPS:")
                || url::Url::parse(uri).is_ok_and(|u| u.scheme() == "https")
        );
    }
    if validate_web_origin(uri).is_ok() {
        let u = url::Url::parse(uri).expect("an accepted origin parses");
        assert_eq!(u.origin().ascii_serialization(), uri);
    }
    let _ = validate_jwks_uri(uri);
    if validate_client_id(uri).is_ok() {
        assert!(!uri.is_empty() && uri.len() <= 255 && uri.bytes().all(|b| b.is_ascii_graphic()));
    }
    let _ = validate_resource_audience(uri, "https://as.example");
}

/// The matching rules for `requested` against `registered`.
fn check_match(registered: &[String], requested: &str, app: ApplicationType) {
    let exact = registered.iter().any(|r| r == requested);
    let matched = redirect_uri_matches(registered, requested, app);
    if exact {
        assert!(matched);
    }
    if matched && !exact {
        // The one exception: a native client, a loopback IP literal, only the port differs.
        assert_eq!(app, ApplicationType::Native, "{requested:?} matched {registered:?} for a web client");
        let (qs, qe) = port_span(requested).expect("only loopback literals are flexible");
        assert!(
            registered
                .iter()
                .any(|r| port_span(r).is_some_and(|(rs, re)| r[..rs] == requested[..qs] && r[re..] == requested[qe..])),
            "{requested:?} matched {registered:?} beyond the port"
        );
        let port = &requested[qs..qe];
        assert!(
            port.is_empty()
                || port.strip_prefix(':').is_some_and(|p| !p.starts_with('0') && p.parse::<u16>().is_ok_and(|n| n > 0)),
            "odd port {port:?}"
        );
    }
}

fuzz_target!(|input: Input| {
    let input = match input {
        Input::Text(t) => {
            check_registration(&t);
            let all: Vec<String> = BASES.iter().map(|b| (*b).to_owned()).collect();
            for app in [ApplicationType::Web, ApplicationType::Native] {
                check_match(&all, &t, app);
                for b in &all {
                    check_match(std::slice::from_ref(b), &t, app);
                }
            }
            return;
        }
        Input::Full(f) => f,
    };
    let app = if input.native { ApplicationType::Native } else { ApplicationType::Web };
    let registered: Vec<String> = input.registered.iter().take(8).filter_map(Uri::text).collect();
    let Some(requested) = input.requested.text() else { return };
    check_registration(&requested);
    check_match(&registered, &requested, app);
    // A loopback URI moved to another port: never for a web client, always for a native one.
    if let (Some(port), Some(reg)) = (input.port.filter(|p| *p > 0), registered.first())
        && validate_redirect_uri(reg).is_ok()
        && let Some((s, e)) = port_span(reg)
    {
        let moved = format!("{}:{port}{}", &reg[..s], &reg[e..]);
        if &moved != reg {
            assert!(
                !redirect_uri_matches(std::slice::from_ref(reg), &moved, ApplicationType::Web),
                "{moved} matched {reg} for a web client"
            );
            assert!(
                redirect_uri_matches(std::slice::from_ref(reg), &moved, ApplicationType::Native),
                "{moved} refused for {reg}"
            );
        }
    }
});
