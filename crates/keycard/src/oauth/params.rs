//! Strict parsing of `application/x-www-form-urlencoded` request bodies (RFC 6749 Appendix B).
//! Stricter than a generic form parser on purpose: invalid UTF-8 (raw or percent-encoded) and
//! broken `%` escapes are refused instead of being replaced, every parameter may appear at most
//! once (RFC 6749 §3.1, §3.2), and an empty value counts as absent (RFC 6749 §3.1).
//!
//! A parsed body carries every form field, secrets included (`client_secret`, `code`,
//! `code_verifier`, `refresh_token`, `password`, …), so its `Debug` prints parameter names only,
//! never a value (SECURITY I7).

use super::OAuthError;
use keycard_types::ErrorCode;
use std::fmt;

/// Parameters that RFC 8707 allows to repeat.
const MULTI_VALUED: &[&str] = &["resource"];

/// Most parameters accepted in one request.
const MAX_PARAMS: usize = 64;

/// Parsed request parameters. `{:?}` shows the names only (SECURITY I7).
#[derive(Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
    /// Names that appeared more than once ([`Params::parse_keeping_repeats`] only).
    repeated: Vec<String>,
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Params").field("names", &self.pairs.iter().map(|(k, _)| k).collect::<Vec<_>>()).finish()
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one form component: `+` is a space, `%XX` a byte; the result must be UTF-8 without
/// NUL (no parameter of any grant has one, and PostgreSQL text cannot hold it: a NUL reaching a
/// query would be a 500, SECURITY I5).
pub fn decode_component(s: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex(*s.get(i + 1)?)?;
                let lo = hex(*s.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    if out.contains(&0) {
        return None;
    }
    String::from_utf8(out).ok()
}

impl Params {
    /// Parses a body. Errors are `invalid_request` naming the problem (never the value).
    pub fn parse(body: &[u8]) -> Result<Params, OAuthError> {
        Self::parse_inner(body, false)
    }

    /// RFC 6749 §4.1.2.1 (issue 9 item 8): the authorization endpoint's parse. A repeated
    /// parameter is not an error here but recorded ([`Params::repeated`]; [`Params::get`] gives
    /// the first value), so the validator decides: a repeated `client_id` or `redirect_uri` is an
    /// error page, any other an error redirect once the redirect URI is verified. Malformed
    /// encoding is still an error.
    pub fn parse_keeping_repeats(body: &[u8]) -> Result<Params, OAuthError> {
        Self::parse_inner(body, true)
    }

    /// Parameters built from name/value pairs (a verified request object's claims, a stored
    /// pushed request): at most one value per name, at most the usual number of parameters, and
    /// no NUL in a name or value, exactly as [`Params::parse`] (SECURITY I5), so every `Params`
    /// can be stored.
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Result<Params, OAuthError> {
        if pairs.len() > MAX_PARAMS {
            return Err(OAuthError::invalid_request("too many parameters"));
        }
        if pairs.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
            return Err(OAuthError::invalid_request("a parameter contains a NUL character"));
        }
        for (i, (k, _)) in pairs.iter().enumerate() {
            if !MULTI_VALUED.contains(&k.as_str()) && pairs[..i].iter().any(|(n, _)| n == k) {
                return Err(OAuthError::invalid_request(format!("parameter `{}` is repeated", printable(k))));
            }
        }
        Ok(Params { pairs, repeated: Vec::new() })
    }

    /// The names given more than once (only after [`Params::parse_keeping_repeats`]).
    pub fn repeated(&self) -> &[String] {
        &self.repeated
    }

    /// Was `name` given more than once?
    pub fn is_repeated(&self, name: &str) -> bool {
        self.repeated.iter().any(|n| n == name)
    }

    /// Every (name, value) pair, in order, empty values included.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The same parameters without `names` (e.g. client credentials before a request is stored).
    pub fn without(&self, names: &[&str]) -> Params {
        Params {
            pairs: self.pairs.iter().filter(|(k, _)| !names.contains(&k.as_str())).cloned().collect(),
            repeated: self.repeated.iter().filter(|k| !names.contains(&k.as_str())).cloned().collect(),
        }
    }

    /// `application/x-www-form-urlencoded` form of the pairs (read back with [`Params::parse`]).
    pub fn encode(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new()).extend_pairs(self.pairs.iter()).finish()
    }

    fn parse_inner(body: &[u8], keep_repeats: bool) -> Result<Params, OAuthError> {
        if std::str::from_utf8(body).is_err() {
            return Err(OAuthError::invalid_request("the request body is not valid UTF-8"));
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut repeated: Vec<String> = Vec::new();
        for part in body.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (k, v) = match part.iter().position(|&b| b == b'=') {
                Some(i) => (&part[..i], &part[i + 1..]),
                None => (part, &b""[..]),
            };
            let (Some(k), Some(v)) = (decode_component(k), decode_component(v)) else {
                return Err(OAuthError::invalid_request(
                    "the request body has a malformed percent-encoding, invalid UTF-8 or a NUL character",
                ));
            };
            if pairs.len() >= MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            if !MULTI_VALUED.contains(&k.as_str()) && pairs.iter().any(|(n, _)| *n == k) {
                if keep_repeats {
                    if !repeated.contains(&k) {
                        repeated.push(k);
                    }
                    continue;
                }
                return Err(OAuthError::invalid_request(format!(
                    "parameter `{}` is repeated (RFC 6749 section 3.2)",
                    printable(&k)
                )));
            }
            pairs.push((k, v));
        }
        Ok(Params { pairs, repeated })
    }

    /// The value of `name`, `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// The value of `name` or `invalid_request` naming it.
    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::invalid_request(format!("missing required parameter `{name}`")))
    }

    /// Every non-empty value of a multi-valued parameter.
    pub fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.pairs.iter().filter(move |(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// RFC 8707 §2: Keycard does not support resource indicators yet, so a request naming a
    /// `resource` is `invalid_target` rather than served for a resource it did not ask for.
    /// Used by the token endpoint and, after the redirect URI is verified, `/authorize`.
    pub fn refuse_resource(&self) -> Result<(), OAuthError> {
        match self.all("resource").next() {
            Some(_) => Err(OAuthError::new(ErrorCode::InvalidTarget, "resource indicators are not supported")),
            None => Ok(()),
        }
    }
}

/// A parameter name made safe to echo in an error description.
fn printable(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_graphic()).take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_percent() {
        let p = Params::parse(b"a=x+y%2Bz&b=%E2%9C%93&c=").unwrap();
        assert_eq!(p.get("a"), Some("x y+z"));
        assert_eq!(p.get("b"), Some("\u{2713}"));
        assert_eq!(p.get("c"), None, "empty means absent");
        assert_eq!(p.get("d"), None);
    }

    #[test]
    fn refuses_duplicates_but_not_resource() {
        let e = Params::parse(b"scope=a&scope=b").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.description.contains("scope"));
        let p = Params::parse(b"resource=a&resource=b").unwrap();
        assert_eq!(p.all("resource").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(p.refuse_resource().unwrap_err().code, ErrorCode::InvalidTarget);
        assert!(Params::parse(b"resource=&scope=a").unwrap().refuse_resource().is_ok(), "empty means absent");
    }

    #[test]
    fn refuses_bad_encoding() {
        for bad in [&b"a=%"[..], b"a=%4", b"a=%zz", b"a=%FF", b"a=\xff", b"%C3%28=x"] {
            assert!(Params::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn require_names_the_parameter() {
        let p = Params::parse(b"").unwrap();
        assert!(p.require("grant_type").unwrap_err().description.contains("grant_type"));
    }

    /// Issue 14 defect 10, SECURITY I7: `{:?}` of a parsed body names the parameters, never a
    /// value (client secrets, codes, verifiers, refresh tokens, passwords travel in it).
    #[test]
    fn i7_debug_prints_names_never_values() {
        let p = Params::parse(
            b"client_id=app-1d&client_secret=s3cr3t-v4lue&code=kc_ac_c0de&code_verifier=v3rifier-x\
              &refresh_token=kc_rt_r3fresh&password=pa55w0rd&username=alice-x",
        )
        .unwrap();
        let s = format!("{p:?} {p:#?}");
        for v in ["app-1d", "s3cr3t-v4lue", "kc_ac_c0de", "v3rifier-x", "kc_rt_r3fresh", "pa55w0rd", "alice-x"] {
            assert!(!s.contains(v), "{v} leaked: {s}");
        }
        for name in ["client_secret", "code_verifier", "refresh_token", "password"] {
            assert!(s.contains(name), "{name} not named: {s}");
        }
    }

    /// Found by the fuzz target `client_jws` (issue 10 item 7): parameters built from a request
    /// object's claims could hold a NUL, which no parsed body can (SECURITY I5).
    #[test]
    fn pairs_with_a_nul_are_refused_like_bodies() {
        for (k, v) in [("nonce", "n\0x"), ("a\0", "1"), ("state", "\0")] {
            let e = Params::from_pairs(vec![("scope".into(), "openid".into()), (k.into(), v.into())]).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequest);
            assert!(e.description.contains("NUL"), "{}", e.description);
        }
        assert!(Params::from_pairs(vec![("nonce".into(), "n x".into())]).is_ok());
    }

    #[test]
    fn repeats_are_kept_for_the_authorization_endpoint() {
        let p = Params::parse_keeping_repeats(b"state=a&scope=x&state=b&state=c").unwrap();
        assert_eq!(p.get("state"), Some("a"), "the first value");
        assert_eq!(p.repeated(), ["state"]);
        assert!(p.is_repeated("state") && !p.is_repeated("scope"));
        assert!(Params::parse_keeping_repeats(b"a=%zz").is_err(), "malformed is still an error");
        assert!(Params::from_pairs(vec![("a".into(), "1".into()), ("a".into(), "2".into())]).is_err());
        let q = Params::parse(p.without(&["scope"]).encode().as_bytes()).unwrap();
        assert_eq!(q.get("state"), Some("a"));
        assert_eq!(q.get("scope"), None);
    }

    #[test]
    fn too_many_parameters() {
        let body: Vec<String> = (0..100).map(|i| format!("p{i}=1")).collect();
        assert!(Params::parse(body.join("&").as_bytes()).is_err());
    }
}
