#![no_main]
//! Scope strings (RFC 6749 §3.3): `Scope::parse` (every `scope` parameter, stored grants, token
//! claims) and `validate::validate_scope_name`. Asserts: an accepted scope has at most
//! `MAX_TOKENS` tokens, each non-empty and of `NQCHAR`s without space, `"` or `\`; its display
//! parses back to the same set (and displays the same); a scope name is accepted exactly when
//! it parses to one token equal to itself.

use keycard_types::Scope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Ok(scope) = Scope::parse(s) {
        assert!(scope.len() <= Scope::MAX_TOKENS);
        for t in scope.iter() {
            assert!(!t.is_empty());
            assert!(t.bytes().all(|c| c == 0x21 || (0x23..=0x5b).contains(&c) || (0x5d..=0x7e).contains(&c)), "{t:?}");
            assert!(scope.contains(t));
        }
        let shown = scope.to_string();
        let again = Scope::parse(&shown).expect("a displayed scope parses");
        assert_eq!(again, scope);
        assert_eq!(again.to_string(), shown);
        assert!(scope.is_subset(&again) && scope.difference(&again).is_empty());
        assert_eq!(scope.is_empty(), s.split(' ').all(str::is_empty));
    }
    let name_ok = keycard::validate::validate_scope_name(s).is_ok();
    assert_eq!(
        name_ok,
        Scope::parse(s).is_ok_and(|sc| sc.len() == 1 && sc.iter().next() == Some(s.trim_matches(' ')))
            && !s.is_empty()
            && s.trim_matches(' ') == s,
        "{s:?}"
    );
});
