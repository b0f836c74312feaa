//! A wrapper for values that must never reach a log line, an error message or a `Debug` dump
//! (SECURITY I7; rauthy #708): codes, tokens, verifiers, passwords, cookie values.
//!
//! `Redacted<T>` derefs to `T` and (de)serialises as `T`, so a field becomes secret by changing its
//! type only; `{:?}` prints `<redacted>`. Wrap every secret field of a type that derives `Debug`;
//! read the value with `*field`, `&field[..]`, `field.as_str()` (through `Deref`) or `.expose()`.

use std::fmt;
use std::ops::{Deref, DerefMut};

/// A secret value: `Debug` prints `<redacted>`, everything else behaves as `T`.
#[derive(Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Redacted<T>(pub T);

impl<T> Redacted<T> {
    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the secret.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T> Deref for Redacted<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Redacted<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> From<T> for Redacted<T> {
    fn from(v: T) -> Self {
        Redacted(v)
    }
}

impl From<&str> for Redacted<String> {
    fn from(v: &str) -> Self {
        Redacted(v.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Req {
            code: Redacted<String>,
            verifier: Option<Redacted<String>>,
        }
        let r = Req { code: "kc_ac_supersecret".to_string().into(), verifier: Some("v3rifier".to_string().into()) };
        let s = format!("{r:?} {r:#?}");
        assert!(!s.contains("supersecret") && !s.contains("v3rifier"), "{s}");
        assert_eq!(r.code.len(), 17, "derefs to the value");
        let json = serde_json::to_string(&r.code).unwrap();
        assert_eq!(json, "\"kc_ac_supersecret\"", "serialises as the value");
    }
}
