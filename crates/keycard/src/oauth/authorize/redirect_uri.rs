//! Redirect URI comparison at the authorization endpoint (RFC 6749 §3.1.2.3, RFC 9700 §4.1.3,
//! OAuth 2.1 §4.1.1): simple string comparison, with the one exception of RFC 8252 §7.3 (any
//! port on a registered loopback IP literal) for native clients only
//! (`Client::application_type`, RFC 7591 §2). Registration rules live in `crate::validate`.
//! Never add normalisation here (SECURITY A1/A2); a new exception needs its RFC and a test.

use crate::model::ApplicationType;

/// Loopback IP literals that get port flexibility (RFC 8252 §7.3); `localhost` does not (§8.3).
const LOOPBACK_PREFIXES: [&str; 2] = ["http://127.0.0.1", "http://[::1]"];

/// Splits a loopback redirect URI into (prefix, port, rest) when it is `http://127.0.0.1` or
/// `http://[::1]`, optionally followed by `:port` (a valid port, see [`parse_port`]), followed by
/// the end, `/`, `?` or `#`. Anything else (another host, userinfo, a bad port) is `None`.
fn split_loopback(uri: &str) -> Option<(&'static str, Option<u16>, &str)> {
    let prefix = LOOPBACK_PREFIXES.into_iter().find(|p| uri.starts_with(p))?;
    let after = &uri[prefix.len()..];
    let (port, rest) = match after.strip_prefix(':') {
        Some(p) => {
            let end = p.find(['/', '?', '#']).unwrap_or(p.len());
            (Some(parse_port(&p[..end])?), &p[end..])
        }
        None => (None, after),
    };
    if rest.is_empty() || rest.starts_with(['/', '?', '#']) { Some((prefix, port, rest)) } else { None }
}

/// A TCP port 1-65535 written in decimal without sign or leading zeros.
fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|&p| p != 0)
}

/// RFC 6749 §3.1.2.3, RFC 9700 §4.1.3, OAuth 2.1 §4.1.1, OpenID Connect Core §3.1.2.1 (SECURITY
/// A1): simple string comparison, byte for byte, no normalisation of any kind. The one exception
/// is RFC 8252 §7.3 (SECURITY A2), for `application` [`ApplicationType::Native`] only: for a
/// registered `http://127.0.0.1…` or `http://[::1]…` URI the requested URI may carry any port
/// (1-65535 in plain decimal), or none, and must otherwise be byte-identical (scheme, host
/// literal, path, query). `localhost` gets no port flexibility (RFC 8252 §8.3). A registered
/// loopback URI that itself names a port is treated the same way. A web client's loopback URI
/// (a local development server such as `http://127.0.0.1:3000/cb`) matches exactly, port
/// included. Callers pass `client.application_type()`, which infers native for public clients
/// registered with loopback redirects before the field existed.
pub fn redirect_uri_matches(registered: &[String], requested: &str, application: ApplicationType) -> bool {
    registered.iter().any(|r| {
        if r == requested {
            return true;
        }
        if application != ApplicationType::Native {
            return false;
        }
        match (split_loopback(r), split_loopback(requested)) {
            (Some((rp, _, rrest)), Some((qp, _, qrest))) => rp == qp && rrest == qrest,
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::authorize::test_support::*;

    fn native(reg: &[String], requested: &str) -> bool {
        redirect_uri_matches(reg, requested, ApplicationType::Native)
    }

    fn web(reg: &[String], requested: &str) -> bool {
        redirect_uri_matches(reg, requested, ApplicationType::Web)
    }

    // ---- SECURITY A1: exact matching --------------------------------------------------------

    #[test]
    fn a1_exact_redirect_uri_matching() {
        let reg = vec!["https://client.example/cb".to_owned()];
        assert!(native(&reg, "https://client.example/cb"));
        let variants = [
            "https://client.example/cb/",
            "https://client.example/CB",
            "https://CLIENT.example/cb",
            "https://client.example:443/cb",
            "https://client.example/cb?x=1",
            "https://client.example/cb#f",
            "https://client.example/cb/../cb",
            "https://client.example/cb%2F..%2Fevil",
            "https://client.example/cb/../evil",
            "https://client.example/c%62",
            "https://client.example.evil.example/cb",
            "https://client.example@evil.example/cb",
            "https://evil.example\\@client.example/cb",
            "http://client.example/cb",
            "https://client.example/cb%00",
            "https://client.example/cb\0",
            "%20https://client.example/cb",
            " https://client.example/cb",
            "https://client.example/cb ",
            "",
        ];
        for v in variants {
            assert!(!native(&reg, v), "{v:?} must not match");
            if v.contains('\0') {
                // The parser already refuses a NUL (SECURITY I5); that error is an error page.
                let body = url::form_urlencoded::Serializer::new(String::new()).append_pair("redirect_uri", v).finish();
                assert!(Params::parse(body.as_bytes()).is_err(), "{v:?}");
                continue;
            }
            assert_page(run(&pub_client(), &[("redirect_uri", v)]));
        }
        assert!(run(&pub_client(), &[]).is_ok());
    }

    #[test]
    fn a1_registered_with_query() {
        let reg = vec!["https://client.example/cb?a=1".to_owned()];
        assert!(native(&reg, "https://client.example/cb?a=1"));
        for v in [
            "https://client.example/cb?a=2",
            "https://client.example/cb?a=1&b=2",
            "https://client.example/cb",
            "https://client.example/cb?",
        ] {
            assert!(!native(&reg, v), "{v:?}");
        }
        let c = client("pub", true, &["https://client.example/cb?a=1"]);
        let req = run(&c, &[("redirect_uri", "https://client.example/cb?a=1")]).unwrap();
        assert_eq!(req.redirect_uri, "https://client.example/cb?a=1");
        assert_page(run(&c, &[("redirect_uri", "https://client.example/cb?a=1&b=2")]));
    }

    // ---- SECURITY A2: loopback port flexibility -----------------------------------------------

    fn a2_matrix(host: &str) {
        let reg = vec![format!("http://{host}/cb")];
        let ok = |s: &str| native(&reg, s);
        assert!(ok(&format!("http://{host}/cb")));
        assert!(ok(&format!("http://{host}:51004/cb")));
        assert!(ok(&format!("http://{host}:1/cb")));
        assert!(ok(&format!("http://{host}:65535/cb")));
        for bad in [
            format!("http://{host}:51004/cb2"),
            format!("http://{host}:51004/cb?x=1"),
            format!("http://{host}:51004/cb/"),
            format!("http://{host}:51004/CB"),
            "http://127.0.0.2:51004/cb".to_owned(),
            format!("http://{host}:51004@evil.example/cb"),
            format!("http://{host}@evil.example/cb"),
            format!("http://user@{host}:51004/cb"),
            format!("http://{host}.evil.example:51004/cb"),
            format!("https://{host}:51004/cb"),
            format!("HTTP://{host}:51004/cb"),
            "http://localhost:51004/cb".to_owned(),
            "http://localhost/cb".to_owned(),
            format!("http://{host}:0/cb"),
            format!("http://{host}:65536/cb"),
            format!("http://{host}:99999999999999999999/cb"),
            format!("http://{host}:-1/cb"),
            format!("http://{host}:+80/cb"),
            format!("http://{host}:0x50/cb"),
            format!("http://{host}:080/cb"),
            format!("http://{host}:/cb"),
            format!("http://{host}: 80/cb"),
            format!("http://{host}:51004:51005/cb"),
            format!("http://{host}:51004"),
        ] {
            assert!(!ok(&bad), "{bad:?} must not match");
        }
        // End to end: accepted, and the response goes to the requested port.
        let native = client("native", true, &[&format!("http://{host}/cb")]);
        let wanted = format!("http://{host}:51004/cb");
        let req =
            validate(&request(&[("client_id", "native"), ("redirect_uri", &wanted)]), Some(&native), &known).unwrap();
        assert_eq!(req.redirect_uri, wanted);
        assert!(req.redirect_uri_given);
        assert_page(validate(
            &request(&[("client_id", "native"), ("redirect_uri", &format!("http://{host}:51004@evil.example/cb"))]),
            Some(&native),
            &known,
        ));
    }

    #[test]
    fn a2_loopback_matrix_ipv4() {
        a2_matrix("127.0.0.1");
    }

    #[test]
    fn a2_loopback_matrix_ipv6() {
        a2_matrix("[::1]");
        let reg = vec!["http://[::1]/cb".to_owned()];
        assert!(!native(&reg, "http://[0:0:0:0:0:0:0:1]:51004/cb"));
        assert!(!native(&reg, "http://127.0.0.1:51004/cb"));
    }

    #[test]
    fn a2_registered_loopback_with_port_and_query() {
        let reg = vec!["http://127.0.0.1:8080/cb?a=1".to_owned()];
        assert!(native(&reg, "http://127.0.0.1:8080/cb?a=1"));
        assert!(native(&reg, "http://127.0.0.1:51004/cb?a=1"));
        assert!(!native(&reg, "http://127.0.0.1:51004/cb?a=2"));
        assert!(!native(&reg, "http://127.0.0.1:51004/cb"));
    }

    #[test]
    fn a2_no_port_flexibility_elsewhere() {
        let reg = vec!["https://client.example/cb".to_owned()];
        assert!(!native(&reg, "https://client.example:8443/cb"));
        let reg = vec!["http://localhost/cb".to_owned()];
        assert!(native(&reg, "http://localhost/cb"));
        assert!(!native(&reg, "http://localhost:51004/cb"));
        let reg = vec!["https://127.0.0.1/cb".to_owned()];
        assert!(!native(&reg, "https://127.0.0.1:51004/cb"));
    }

    /// SECURITY A2: a web client's loopback redirect URI (a local dev server) matches exactly,
    /// port included; the same URIs registered by a native client keep any-port matching.
    #[test]
    fn a2_web_client_loopback_is_exact() {
        let reg = vec!["http://127.0.0.1:3000/cb".to_owned(), "http://[::1]/cb".to_owned()];
        assert!(web(&reg, "http://127.0.0.1:3000/cb"));
        assert!(web(&reg, "http://[::1]/cb"));
        for other in ["http://127.0.0.1:3001/cb", "http://127.0.0.1/cb", "http://[::1]:51004/cb"] {
            assert!(!web(&reg, other), "{other}");
            assert!(native(&reg, other), "{other}");
        }
        // End to end through validate: an error page for the web client, accepted for native.
        let mut c = client("pub", false, &["http://127.0.0.1:3000/cb"]);
        c.settings.application_type = Some(ApplicationType::Web);
        assert!(run(&c, &[("redirect_uri", "http://127.0.0.1:3000/cb")]).is_ok());
        assert_page(run(&c, &[("redirect_uri", "http://127.0.0.1:3001/cb")]));
        c.settings.application_type = Some(ApplicationType::Native);
        assert!(run(&c, &[("redirect_uri", "http://127.0.0.1:3001/cb")]).is_ok());
        // Inferred: a confidential client without application_type is web ...
        c.settings.application_type = None;
        assert_page(run(&c, &[("redirect_uri", "http://127.0.0.1:3001/cb")]));
        // ... a public one with a loopback redirect (registered before the field) is native.
        let old = client("pub", true, &["http://127.0.0.1:3000/cb"]);
        assert!(run(&old, &[("redirect_uri", "http://127.0.0.1:3001/cb")]).is_ok());
    }
}
