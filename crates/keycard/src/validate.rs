//! Validation of registered identifiers and URIs, shared by provisioning (`config`), the admin
//! operations (`admin`) and, later, dynamic client registration: client ids (RFC 6749 §2.2),
//! redirect URIs (OAuth 2.1 §2.3.1, RFC 9700 §2.1/§2.6, RFC 8252 §7.3), CORS web origins and
//! scope names (RFC 6749 §3.3). Pure functions over strings, below both callers; a new rule is
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

/// Checks a redirect URI for registration (OAuth 2.1 §2.3.1, RFC 9700 §2.1/§2.6): absolute, no
/// fragment, no wildcard, `http` only for loopback IP literals, no script-capable schemes,
/// private-use schemes must contain a dot (reverse domain name).
pub fn validate_redirect_uri(uri: &str) -> Result<(), String> {
    let u = url::Url::parse(uri).map_err(|_| format!("redirect URI {uri:?} is not an absolute URI"))?;
    if u.fragment().is_some() || uri.contains('#') {
        return Err(format!("redirect URI {uri:?} must not contain a fragment"));
    }
    if uri.contains('*') {
        return Err(format!("redirect URI {uri:?} must not contain wildcards"));
    }
    match u.scheme() {
        "https" => Ok(()),
        "http" => match u.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(()),
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(()),
            _ => Err(format!("redirect URI {uri:?}: http is allowed only for loopback IP literals (127.0.0.1, [::1])")),
        },
        "javascript" | "data" | "vbscript" | "file" | "about" | "blob" => {
            Err(format!("redirect URI {uri:?} uses a forbidden scheme"))
        }
        s if s.contains('.') => Ok(()),
        _ => Err(format!(
            "redirect URI {uri:?}: a private-use scheme must be a reverse domain name such as com.example.app"
        )),
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
