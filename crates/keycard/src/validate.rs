//! Validation of registered identifiers and URIs, shared by provisioning (`config`), the admin
//! operations (`admin`) and, later, dynamic client registration: client ids (RFC 6749 §2.2),
//! redirect URIs (OAuth 2.1 §2.3.1, RFC 9700 §2.1/§2.6, RFC 8252 §7.3), CORS web origins and
//! scope names (RFC 6749 §3.3), post-logout redirect URIs and the https-only page URIs of a
//! client (logo, policy, terms of service; RFC 7591 §2), and a client's keys and assertion
//! settings (RFC 7591 §2 `jwks`, `jwks_uri`, `token_endpoint_auth_signing_alg`; RFC 7523 §2.2)
//! and its device-code lifetime (RFC 8628 §3.2). Pure functions, below both callers; a new rule
//! is one more function here, with its unit test.

use crate::model::{AuthMethod, USER_SUBJECT_PREFIXES};
use keycard_resource::jwk::{JwsAlg, KeySet};

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
    if !loopback_port_is_plain(uri) {
        return Err(format!("{what} {uri:?}: a loopback port must be 1 to 65535 in plain decimal (or no port at all)"));
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

/// RFC 8252 §7.3: a native client's loopback redirect URI matches any port
/// (`oauth::authorize::redirect_uri`), which reads the port written after `http://127.0.0.1` or
/// `http://[::1]` as 1-65535 in plain decimal. A port written otherwise (`:0`, `:000`, `:080`),
/// which the URL parser would accept, is refused at registration: such a URI would silently lose
/// the port flexibility.
fn loopback_port_is_plain(uri: &str) -> bool {
    let Some(rest) = ["http://127.0.0.1:", "http://[::1]:"].into_iter().find_map(|p| uri.strip_prefix(p)) else {
        return true;
    };
    let port = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    !port.starts_with('0') && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
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

/// Validates a scope token (RFC 6749 §3.3): exactly one token, nothing around it.
pub fn validate_scope_name(name: &str) -> Result<(), String> {
    match keycard_types::Scope::parse(name) {
        Ok(s) if s.len() == 1 && s.contains(name) => Ok(()),
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

/// Most keys a registered JWK Set may hold.
pub const MAX_JWKS_KEYS: usize = 32;
/// Largest registered JWK Set, serialised as JSON.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;
/// Bounds of a client's `device_code_ttl_secs` (the same as `device.code_ttl_secs`).
pub const DEVICE_CODE_TTL_SECS: std::ops::RangeInclusive<i64> = 60..=3600;
/// The `token_endpoint_auth_signing_alg` values of `client_secret_jwt` clients (RFC 7518 §3.2),
/// the HMACs `oauth::client_assertion` verifies.
pub const CLIENT_SECRET_JWT_ALGS: [&str; 3] = ["HS256", "HS384", "HS512"];

/// RFC 7591 §2 `jwks` (RFC 7517 §5): a JWK Set of 1 to [`MAX_JWKS_KEYS`] public, asymmetric
/// signing keys, parsed exactly as they will be used (`keycard_resource::jwk`): a private member
/// (`d`, `p`, …) or a symmetric (`oct`) key is refused, so a client can never register a secret
/// as a "public" key (RFC 8725 §3.1). Messages name the field and never repeat key material.
pub fn validate_jwks(jwks: &serde_json::Value) -> Result<KeySet, String> {
    if serde_json::to_vec(jwks).map_or(true, |v| v.len() > MAX_JWKS_BYTES) {
        return Err(format!("jwks: the JWK Set is larger than {MAX_JWKS_BYTES} bytes"));
    }
    let keys = jwks.get("keys").and_then(serde_json::Value::as_array);
    if keys.is_some_and(|ks| ks.iter().any(|k| k.get("kty").and_then(serde_json::Value::as_str) == Some("oct"))) {
        return Err(
            "jwks: symmetric (oct) keys are not accepted: register public keys only (RFC 8725 section 3.1)".into()
        );
    }
    let set = KeySet::from_jwks(jwks).map_err(|e| format!("jwks: {e}"))?;
    match set.keys().len() {
        0 => Err("jwks: the JWK Set has no keys".into()),
        n if n > MAX_JWKS_KEYS => Err(format!("jwks: the JWK Set has {n} keys, at most {MAX_JWKS_KEYS} are allowed")),
        _ => Ok(set),
    }
}

/// RFC 7591 §2 `jwks_uri`: an absolute `https` URL, or `http` on a loopback host (`127.0.0.1`,
/// `[::1]`, `localhost`) for development; printable ASCII, no userinfo, no fragment. Keycard
/// fetches it, so this is also the first SSRF guard (SECURITY I6).
pub fn validate_jwks_uri(uri: &str) -> Result<(), String> {
    if uri.is_empty() || !uri.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!("jwks_uri {uri:?} must be printable ASCII without spaces"));
    }
    let u = url::Url::parse(uri).map_err(|_| format!("jwks_uri {uri:?} is not an absolute URL"))?;
    if u.fragment().is_some() || uri.contains('#') {
        return Err(format!("jwks_uri {uri:?} must not contain a fragment"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!("jwks_uri {uri:?} must not contain user information (user@)"));
    }
    let loopback = match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match u.scheme() {
        "https" if u.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("jwks_uri {uri:?} must be an https URL (http only on 127.0.0.1, [::1] or localhost)")),
    }
}

/// What a client registers about its keys and JWT assertions (RFC 7591 §2), checked together by
/// [`validate_key_registration`].
#[derive(Debug, Clone, Copy)]
pub struct KeyRegistration<'a> {
    /// `token_endpoint_auth_method`.
    pub auth_method: AuthMethod,
    /// `jwks`.
    pub jwks: Option<&'a serde_json::Value>,
    /// `jwks_uri`.
    pub jwks_uri: Option<&'a str>,
    /// `token_endpoint_auth_signing_alg`.
    pub signing_alg: Option<&'a str>,
}

/// RFC 7591 §2, RFC 7523 §2.2, OIDC Core §9: `jwks` and `jwks_uri` never together; a
/// `private_key_jwt` client has exactly one of them; `token_endpoint_auth_signing_alg` is only for
/// the two assertion methods, never `none`: one of ES256, RS256, PS256, EdDSA for
/// `private_key_jwt` (and then some inline key must allow it), HS256/384/512 for `client_secret_jwt`.
/// On failure: the field at fault and a message that names it.
pub fn validate_key_registration(r: &KeyRegistration<'_>) -> Result<(), (&'static str, String)> {
    if r.jwks.is_some() && r.jwks_uri.is_some() {
        return Err(("jwks", "jwks and jwks_uri must not both be registered (RFC 7591 section 2): pick one".into()));
    }
    let set = match r.jwks {
        Some(j) => Some(validate_jwks(j).map_err(|m| ("jwks", m))?),
        None => None,
    };
    if let Some(u) = r.jwks_uri {
        validate_jwks_uri(u).map_err(|m| ("jwks_uri", m))?;
    }
    if r.auth_method == AuthMethod::PrivateKeyJwt && set.is_none() && r.jwks_uri.is_none() {
        return Err((
            "jwks",
            "a private_key_jwt client needs its public keys: register jwks or jwks_uri (RFC 7523 section 2.2)".into(),
        ));
    }
    let Some(alg) = r.signing_alg else { return Ok(()) };
    const FIELD: &str = "token_endpoint_auth_signing_alg";
    if alg.eq_ignore_ascii_case("none") {
        return Err((FIELD, format!("{FIELD} must not be none: assertions are always signed")));
    }
    match r.auth_method {
        AuthMethod::PrivateKeyJwt => {
            let a = JwsAlg::parse(alg).ok_or_else(|| {
                (
                    FIELD,
                    format!("{FIELD} {alg:?} is not supported for private_key_jwt (use ES256, RS256, PS256 or EdDSA)"),
                )
            })?;
            if let Some(set) = &set
                && !set.keys().iter().any(|k| k.allows(a))
            {
                return Err((FIELD, format!("{FIELD} is {alg}, but no key in jwks allows {alg}")));
            }
            Ok(())
        }
        AuthMethod::ClientSecretJwt if CLIENT_SECRET_JWT_ALGS.contains(&alg) => Ok(()),
        AuthMethod::ClientSecretJwt => {
            Err((FIELD, format!("{FIELD} {alg:?} is not supported for client_secret_jwt (use HS256, HS384 or HS512)")))
        }
        other => Err((
            FIELD,
            format!(
                "{FIELD} applies only to private_key_jwt and client_secret_jwt (RFC 7591 section 2); this client uses {}",
                other.as_str()
            ),
        )),
    }
}

/// RFC 8628 §3.2: a client's own device-code lifetime, within [`DEVICE_CODE_TTL_SECS`], and only
/// for a client that has the device_code grant.
pub fn validate_device_code_ttl(ttl: i64, has_device_grant: bool) -> Result<(), String> {
    if !has_device_grant {
        return Err("device_code_ttl_secs applies only to clients with the device_code grant".into());
    }
    if !DEVICE_CODE_TTL_SECS.contains(&ttl) {
        return Err(format!(
            "device_code_ttl_secs must be between {} and {} seconds",
            DEVICE_CODE_TTL_SECS.start(),
            DEVICE_CODE_TTL_SECS.end()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzz target `scope` (issue 10 item 7): `"a "` and `" openid"` were accepted
    /// as scope names (the scope parser skips spaces), so a scope registered with a space could
    /// never be granted: requests name `openid`, not `" openid"`.
    /// Found by the fuzz target `redirect_uri` (issue 10 item 7): `http://[::1]:000/` was
    /// accepted, and a native client that registered it got no loopback port flexibility
    /// (RFC 8252 §7.3), which reads only plain decimal ports.
    #[test]
    fn loopback_ports_are_plain_decimal() {
        for ok in
            ["http://127.0.0.1/cb", "http://127.0.0.1:8080/cb", "http://[::1]:1/", "http://[::1]", "http://[::1]:65535"]
        {
            assert!(validate_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://[::1]:000/",
            "http://127.0.0.1:0/cb",
            "http://127.0.0.1:080/cb",
            "http://[::1]:00080",
            "http://127.0.0.1:/cb",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scope_names_are_one_token_without_spaces() {
        for ok in ["openid", "api:read", "a", "!#$%&'()*+,-./:;<=>?@[]^_`{|}~"] {
            assert!(validate_scope_name(ok).is_ok(), "{ok:?}");
        }
        for bad in ["", " ", "a ", " openid", "openid  ", "a b", "a\"b", "a\\b", "\u{e9}"] {
            assert!(validate_scope_name(bad).is_err(), "{bad:?}");
        }
    }

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

    /// RFC 7517 Appendix A.1 (EC P-256) and RFC 8037 Appendix A.2 (Ed25519) public keys.
    fn ec() -> serde_json::Value {
        serde_json::json!({"kty": "EC", "crv": "P-256", "kid": "ec1",
            "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"})
    }

    fn reg<'a>(
        m: AuthMethod,
        jwks: Option<&'a serde_json::Value>,
        uri: Option<&'a str>,
        alg: Option<&'a str>,
    ) -> KeyRegistration<'a> {
        KeyRegistration { auth_method: m, jwks, jwks_uri: uri, signing_alg: alg }
    }

    #[test]
    fn key_registration_rules() {
        let set = serde_json::json!({"keys": [ec()]});
        let okp = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]});
        let pk = AuthMethod::PrivateKeyJwt;
        assert!(validate_key_registration(&reg(pk, Some(&set), None, Some("ES256"))).is_ok());
        assert!(validate_key_registration(&reg(pk, Some(&set), None, None)).is_ok());
        assert!(validate_key_registration(&reg(pk, None, Some("https://c.example/jwks"), Some("PS256"))).is_ok());
        assert!(validate_key_registration(&reg(pk, Some(&okp), None, Some("EdDSA"))).is_ok());
        let e = |r: KeyRegistration<'_>| validate_key_registration(&r).unwrap_err();
        assert_eq!(e(reg(pk, None, None, None)).0, "jwks");
        assert_eq!(e(reg(pk, Some(&set), Some("https://c.example/jwks"), None)).0, "jwks");
        assert_eq!(e(reg(pk, Some(&set), None, Some("RS256"))).0, "token_endpoint_auth_signing_alg");
        assert_eq!(e(reg(pk, Some(&set), None, Some("none"))).0, "token_endpoint_auth_signing_alg");
        assert_eq!(e(reg(pk, Some(&set), None, Some("HS256"))).0, "token_endpoint_auth_signing_alg");
        let sj = AuthMethod::ClientSecretJwt;
        assert!(validate_key_registration(&reg(sj, None, None, Some("HS256"))).is_ok());
        assert!(validate_key_registration(&reg(sj, None, None, Some("ES256"))).is_err());
        let basic = AuthMethod::ClientSecretBasic;
        assert!(validate_key_registration(&reg(basic, Some(&set), None, None)).is_ok(), "jwks for JAR");
        assert!(e(reg(basic, None, None, Some("ES256"))).1.contains("client_secret_basic"));
        // Private and symmetric keys, empty sets.
        let mut private = ec();
        private["d"] = "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE".into();
        let m = validate_jwks(&serde_json::json!({"keys": [private]})).unwrap_err();
        assert!(m.starts_with("jwks:") && m.contains("private") && !m.contains("870MB6"), "{m}");
        let m = validate_jwks(&serde_json::json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]})).unwrap_err();
        assert!(m.contains("jwks") && m.contains("oct"), "{m}");
        assert!(validate_jwks(&serde_json::json!({"keys": []})).is_err());
        assert!(validate_jwks(&serde_json::json!([ec()])).is_err());
    }

    #[test]
    fn jwks_uri_rules() {
        for ok in ["https://c.example/jwks", "http://127.0.0.1:8080/jwks", "http://[::1]/jwks", "http://localhost:9/k"]
        {
            assert!(validate_jwks_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://c.example/jwks",
            "https://c.example/jwks#x",
            "https://u:p@c.example/jwks",
            "ftp://c.example/jwks",
            "/jwks",
            "https://c.example/a b",
            "http://127.0.0.1.evil.example/jwks",
            "",
        ] {
            assert!(validate_jwks_uri(bad).unwrap_err().contains("jwks_uri"), "{bad}");
        }
    }

    #[test]
    fn device_code_ttl_rules() {
        assert!(validate_device_code_ttl(60, true).is_ok());
        assert!(validate_device_code_ttl(3600, true).is_ok());
        assert!(validate_device_code_ttl(59, true).is_err());
        assert!(validate_device_code_ttl(3601, true).is_err());
        assert!(validate_device_code_ttl(600, false).is_err());
    }
}
