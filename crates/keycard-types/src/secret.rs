//! [`SecretString`]: a token or other secret in a wire type. `Debug` prints `<redacted>` so a
//! logged or dumped response never shows a credential (SECURITY I7, RFC 6819 §4.6.7); serde reads
//! and writes it as the plain string, so the JSON on the wire is byte-for-byte what a `String`
//! field gives. It has no `Display` on purpose: a secret is read with `&*s`, [`SecretString::expose`]
//! or [`SecretString::into_inner`], never formatted by accident.
//!
//! Use it for every secret field of a type in this crate that derives `Debug`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Deref;

/// A secret string: `Debug` prints `<redacted>`; serde, `Deref<Target = str>`, equality and
/// hashing behave as the string itself.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// The secret, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Unwraps the secret.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Deref for SecretString {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_serde_is_the_string() {
        let s = SecretString::from("kc_at_supersecret");
        assert_eq!(format!("{s:?} {s:#?} {:?}", Some(&s)), "<redacted> <redacted> Some(<redacted>)");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"kc_at_supersecret\"");
        assert_eq!(serde_json::from_str::<SecretString>("\"x\\u0041\"").unwrap().expose(), "xA");
        assert_eq!(&*s, "kc_at_supersecret");
        assert_eq!(s.len(), 17, "derefs to str");
    }
}
