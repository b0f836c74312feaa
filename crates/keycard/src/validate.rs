//! Validation of registered identifiers and URIs, shared by provisioning (`config`), the admin
//! operations (`admin`) and, later, dynamic client registration: client ids (RFC 6749 §2.2),
//! redirect URIs (OAuth 2.1 §2.3.1, RFC 9700 §2.1/§2.6, RFC 8252 §7.3), CORS web origins and
//! scope names (RFC 6749 §3.3), post-logout redirect URIs and the https-only page URIs of a
//! client (logo, policy, terms of service; RFC 7591 §2). Pure functions over strings, below both callers; a new rule is
//! one more function here, with its unit test.

use crate::model::USER_SUBJECT_PREFIXES;

/// RFC 6749 §2.2: client ids are `VSCHAR`s; Keycard allows printable ASCII without spaces
/// (1–255 characters) and reserves the prefixes of user subjects (`usr_`, pairwise `pw_`), so a
/// client-credentials `sub` (the client id) never equals a user's (RFC 9700 §4.15.1).
pub fn validate_client_id(id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 255 {
        return Err("client id must be 1 to 255 characters".into());
    }
    if !id.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err("client id must be printable ASCII without spaces".into());
    }
    if let Some(p) = USER_SUBJECT_PREFIXES.iter().find(|p| id.starts_with(**p)) {
        return Err(format!("client id must not start with {p:?} (reserved for user subjects)"));
    }
    Ok(())
}

/// Checks a redirect URI for registration (OAuth 2.1 §2.3.1, RFC 9700 §2.1/§2.6, RFC 6749
/// §3.1.2, SECURITY A3): absolute, no fragment, no wildcard, no userinfo, printable ASCII only
/// (the URI is compared byte for byte later, so what the URL parser would silently strip or
/// escape is refused here), `http` only for loopback IP literals, no script-capable schemes,
/// private-use schemes must contain a dot (reverse domain name).
pub fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    validate_uri_rules("redirect URI", uri, false)
}

/// OpenID Connect RP-Initiated Logout §3 / SECURITY A3: a `post_logout_redirect_uri` is
/// registered under the same rules as a redirect URI.
pub fn validate_post_logout_redirect_uri(uri: &str) -> Result<(), String> {
    validate_uri_rules("post-logout redirect URI", uri, false)
}

/// RFC 7591 §2 / SECURITY A3: `logo_uri`, `policy_uri`, `tos_uri` and similar pages shown to the
/// user: absolute `https` only, without userinfo or fragment. `field` names the setting in the
/// message.
pub fn validate_https_uri(field: &str, uri: &str) -> Result<(), String> {
    validate_uri_rules(field, uri, true)
}

fn validate_uri_rules(what: &str, uri: &str, https_only: bool) -> Result<(), String> {
    if uri.is_empty() || !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("{what} {uri:?} must be printable ASCII without spaces (percent-encode the rest)"));
    }
    let u = url::Url::parse(uri).map_err(|_| format!("{what} {uri:?} is not an absolute URI"))?;
    if u.fragment().is_some() || uri.contains('#') {
        return Err(format!("{what} {uri:?} must not contain a fragment"));
    }
    if uri.contains('*') {
        return Err(format!("{what} {uri:?} must not contain wildcards"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!("{what} {uri:?} must not contain user information (user@)"));
    }
    if https_only {
        return match u.scheme() {
            "https" => Ok(()),
            _ => Err(format!("{what} {uri:?} must be an https URL")),
        };
    }
    match u.scheme() {
        "https" => Ok(()),
        "http" => match u.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            _ => Err(format!("{what} {uri:?}: http is allowed only for loopback IP literals (127.0.0.1, [::1])")),
        },
        "javascript" | "data" | "vbscript" | "file" | "about" | "blob" => {
            Err(format!("{what} {uri:?} uses a forbidden scheme"))
        }
        s if s.contains('.') => Ok(()),
        _ => Err(format!("{what} {uri:?}: a private-use scheme must be a reverse domain name such as com.example.app")),
    }
}

/// A browser origin for CORS: `https://host[:port]` (or `http` on a loopback IP literal), no
/// path, query or trailing slash — exactly what browsers send in `Origin`.
pub fn validate_web_origin(origin: &str) -> Result<(), String> {
    let u = url::Url::parse(origin).map_err(|_| format!("web origin {origin:?} is not a URL"))?;
    let loopback = matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback());
    let ok_scheme = u.scheme() == "https" || (u.scheme() == "http" && loopback);
    if !ok_scheme || u.origin().ascii_serialization() != origin {
        return Err(format!(
            "web origin {origin:?} must be exactly scheme://host[:port] (https, or http on 127.0.0.1/[::1]), without path or slash"
        ));
    }
    Ok(())
}

/// Validates a scope token (RFC 6749 §3.3).
pub fn validate_scope_name(name: &str) -> Result<(), String> {
    match keycard_types::Scope::parse(name) {
        Ok(s) if s.len() == 1 => Ok(()),
        _ => Err(format!("scope {name:?} is not a single RFC 6749 scope token")),
    }
}

/// A resource audience a resource-server client serves (RFC 7662 §4; the `aud` of access
/// tokens, usually the API's URL, RFC 8707 §2): 1–255 printable ASCII characters without spaces,
/// and not the issuer, which is Keycard's own audience (the default `aud` of every client without
/// an `audience`), so no resource server can claim every token.
pub fn validate_resource_audience(aud: &str, issuer: &str) -> Result<(), String> {
    if aud.is_empty() || aud.len() > 255 || !aud.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(format!("resource audience {aud:?} must be 1 to 255 printable ASCII characters without spaces"));
    }
    if aud.trim_end_matches('/') == issuer.trim_end_matches('/') {
        return Err(format!(
            "resource audience {aud:?} is the issuer: give the API's tokens their own audience (--audience) and name that"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SECURITY A3: what the URL parser would strip or re-encode (spaces, controls, non-ASCII)
    /// and userinfo are refused, so the registered string is the one compared later.
    #[test]
    fn a3_byte_exact_and_no_userinfo() {
        for bad in [
            "https://user:pw@c.example/cb",
            "https://c.example@evil.example/cb",
            "https://c.example/cb ",
            " https://c.example/cb",
            "https://c.example/c b",
            "https://c.example/cb\n",
            "https://c.example/caf\u{e9}",
            "",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad:?}");
            assert!(validate_post_logout_redirect_uri(bad).is_err(), "{bad:?}");
        }
        assert!(validate_redirect_uri("https://c.example/caf%C3%A9").is_ok());
        assert!(validate_post_logout_redirect_uri("http://127.0.0.1/bye").is_ok());
        assert!(validate_https_uri("logo_uri", "https://c.example/logo.png").is_ok());
        assert!(validate_https_uri("logo_uri", "http://127.0.0.1/logo.png").unwrap_err().contains("logo_uri"));
        assert!(validate_https_uri("tos_uri", "com.example.app:/tos").is_err());
    }
}
