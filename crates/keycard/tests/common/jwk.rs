//! Public JWKs from the RFCs' own examples, for tests of client key registration: EC P-256 and
//! RSA (RFC 7517 Appendix A.1), with the EC key's private part (Appendix A.2) to prove it is
//! refused and the RSA key's RFC 7638 thumbprint to prove what `client show` prints.

use serde_json::{Value, json};

/// RFC 7638 §3.1: the thumbprint of the RSA key of RFC 7517 Appendix A.1 ([`rsa_jwk`]).
pub const RSA_THUMBPRINT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
/// RFC 7517 Appendix A.2: the private part of [`ec_jwk`], which must never be accepted.
pub const EC_D: &str = "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE";

/// RFC 7517 Appendix A.1: a public EC P-256 key.
pub fn ec_jwk(kid: &str) -> Value {
    json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
        "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"})
}

/// RFC 7517 Appendix A.1 / RFC 7638 §3.1: a public 2048-bit RSA key.
pub fn rsa_jwk(kid: &str) -> Value {
    json!({"kty": "RSA", "kid": kid, "e": "AQAB",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"})
}

/// A JWK Set of `keys`.
pub fn jwk_set(keys: &[Value]) -> Value {
    json!({ "keys": keys })
}
