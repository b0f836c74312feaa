//! The scope parameter of RFC 6749 §3.3: a space-delimited, case-sensitive list of tokens made of
//! `%x21 / %x23-5B / %x5D-7E` (printable ASCII except space, `"` and `\`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// A set of scope tokens, kept sorted and free of duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scope(BTreeSet<String>);

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    /// A token contains a character outside RFC 6749 §3.3's `scope-token` grammar.
    InvalidCharacter,
    /// More tokens than the caller allows.
    TooMany,
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCharacter => f.write_str("scope contains a character not allowed by RFC 6749 section 3.3"),
            Self::TooMany => f.write_str("too many scope values"),
        }
    }
}

impl std::error::Error for ScopeError {}

/// Is `c` allowed in a scope token (RFC 6749 §3.3 `NQCHAR`)?
fn is_scope_char(c: u8) -> bool {
    c == 0x21 || (0x23..=0x5B).contains(&c) || (0x5D..=0x7E).contains(&c)
}

impl Scope {
    /// The most tokens [`Scope::parse`] accepts; more is refused rather than processed.
    pub const MAX_TOKENS: usize = 100;

    /// Parses a space-delimited scope string. Repeated spaces are tolerated, an empty string is
    /// the empty scope.
    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        let mut set = BTreeSet::new();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            if !token.bytes().all(is_scope_char) {
                return Err(ScopeError::InvalidCharacter);
            }
            set.insert(token.to_owned());
            if set.len() > Self::MAX_TOKENS {
                return Err(ScopeError::TooMany);
            }
        }
        Ok(Self(set))
    }

    /// Builds a scope from tokens that are already known to be valid.
    pub fn from_tokens<I: IntoIterator<Item = S>, S: Into<String>>(tokens: I) -> Self {
        Self(tokens.into_iter().map(Into::into).collect())
    }

    /// True when no token is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Does the scope contain `token`?
    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    /// Is every token of `self` also in `other`?
    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The tokens of `self` that are not in `other`.
    pub fn difference(&self, other: &Scope) -> Scope {
        Scope(self.0.difference(&other.0).cloned().collect())
    }

    /// The tokens in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for t in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(t)?;
            first = false;
        }
        Ok(())
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Scope::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sorts_and_dedups() {
        let s = Scope::parse("b a  b").unwrap();
        assert_eq!(s.to_string(), "a b");
        assert_eq!(s.len(), 2);
        assert!(Scope::parse("").unwrap().is_empty());
    }

    #[test]
    fn refuses_forbidden_characters() {
        for bad in ["a\"b", "a\\b", "caf\u{e9}", "a\tb", "a\u{7f}"] {
            assert_eq!(Scope::parse(bad), Err(ScopeError::InvalidCharacter), "{bad:?}");
        }
        assert!(Scope::parse("invoices:read https://api.example/x").is_ok());
    }

    #[test]
    fn refuses_too_many_tokens() {
        let many: Vec<String> = (0..=Scope::MAX_TOKENS).map(|i| format!("s{i}")).collect();
        assert_eq!(Scope::parse(&many.join(" ")), Err(ScopeError::TooMany));
    }

    #[test]
    fn subset_and_difference() {
        let a = Scope::parse("a b").unwrap();
        let b = Scope::parse("a b c").unwrap();
        assert!(a.is_subset(&b));
        assert!(!b.is_subset(&a));
        assert_eq!(b.difference(&a).to_string(), "c");
    }
}
