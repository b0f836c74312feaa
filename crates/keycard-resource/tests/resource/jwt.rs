//! JWT access tokens against the mock authorization server.

use crate::common::*;
use keycard_resource::{Error, InvalidToken, Validator};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn invalid(r: Result<keycard_resource::Claims, Error>) -> InvalidToken {
    match r {
        Err(Error::InvalidToken(reason)) => reason,
        other => panic!("expected an invalid token, got {other:?}"),
    }
}

#[tokio::test]
async fn valid_tokens_of_every_algorithm() {
    let mock = MockAs::start().await;
    let (es, rs, ed) = (TestKey::es256(), TestKey::rs256(), TestKey::eddsa());
    mock.set_keys(&[(&es, "es"), (&rs, "rs"), (&ed, "ed")]);
    let v = mock.validator();
    for (key, kid) in [(&es, "es"), (&rs, "rs"), (&ed, "ed")] {
        let claims = v.validate(&jwt(key, kid, &claims(&mock.issuer))).await.unwrap();
        assert_eq!(claims.subject, "user-1");
        assert_eq!(claims.client_id, "web");
        assert_eq!(claims.scopes.to_string(), "invoices:read profile");
        assert_eq!(claims.audience, [AUDIENCE]);
        assert_eq!(claims.jwt_id.as_deref(), Some("jti-1"));
        assert!(claims.expires_at > now());
        assert_eq!(claims.raw["auth_time"], json!(now_minus(&claims, 10)));
    }
    assert_eq!(mock.jwks_fetches(), 1, "one JWKS fetch serves every key");
    assert_eq!(mock.state.metadata_fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
}

fn now_minus(c: &keycard_resource::Claims, secs: i64) -> i64 {
    c.raw["iat"].as_i64().unwrap() - secs
}

#[tokio::test]
async fn typ_variants_and_audience_arrays() {
    let mock = MockAs::start().await;
    let key = TestKey::es256();
    mock.set_keys(&[(&key, "k")]);
    let v = mock.validator();
    let c = claims(&mock.issuer);
    for typ in ["AT+JWT", "application/at+jwt"] {
        let t = jwt_with(&json!({"alg":"ES256","typ":typ,"kid":"k"}), &c, |m| key.sign(m));
        assert!(v.validate(&t).await.is_ok(), "{typ}");
    }
    let mut c = claims(&mock.issuer);
    c["aud"] = json!(["https://other.example", AUDIENCE]);
    let claims = v.validate(&jwt(&key, "k", &c)).await.unwrap();
    assert_eq!(claims.audience.len(), 2);
}

#[tokio::test]
async fn time_claims_with_leeway() {
    let mock = MockAs::start().await;
    let key = TestKey::es256();
    mock.set_keys(&[(&key, "k")]);
    let v = mock.builder().leeway(Duration::from_secs(30)).build().unwrap();
    let now = now();

    let mut c = claims(&mock.issuer);
    c["exp"] = json!(now - 31);
    c["iat"] = json!(now - 400);
    c["nbf"] = json!(now - 400);
    assert_eq!(invalid(v.validate(&jwt(&key, "k", &c)).await), InvalidToken::Expired);
    c["exp"] = json!(now - 10); // within the leeway
    assert!(v.validate(&jwt(&key, "k", &c)).await.is_ok());

    let mut c = claims(&mock.issuer);
    c["nbf"] = json!(now + 120);
    assert_eq!(invalid(v.validate(&jwt(&key, "k", &c)).await), InvalidToken::NotYetValid);
    c["nbf"] = json!(now + 10);
    assert!(v.validate(&jwt(&key, "k", &c)).await.is_ok());

    let mut c = claims(&mock.issuer);
    c["iat"] = json!(now + 120);
    assert_eq!(invalid(v.validate(&jwt(&key, "k", &c)).await), InvalidToken::IssuedInFuture);

    // The clock is an input: the same token is valid before its exp and not after.
    let t = jwt(&key, "k", &claims(&mock.issuer));
    let at = |secs: i64| std::time::UNIX_EPOCH + Duration::from_secs(secs as u64);
    assert!(v.validate_at(&t, at(now + 299)).await.is_ok());
    assert_eq!(invalid(v.validate_at(&t, at(now + 330)).await), InvalidToken::Expired);
}

#[tokio::test]
async fn wrong_audience_issuer_and_type() {
    let mock = MockAs::start().await;
    let key = TestKey::es256();
    mock.set_keys(&[(&key, "k")]);
    let v = mock.validator();

    let mut c = claims(&mock.issuer);
    c["aud"] = json!("https://other-api.example");
    assert_eq!(invalid(v.validate(&jwt(&key, "k", &c)).await), InvalidToken::WrongAudience);

    let mut c = claims(&mock.issuer);
    c["iss"] = json!("https://evil.example");
    assert_eq!(invalid(v.validate(&jwt(&key, "k", &c)).await), InvalidToken::WrongIssuer);
    c["iss"] = json!(format!("{}/", mock.issuer));
    assert_eq!(invalid(v.validate(&jwt(&key, "k", &c)).await), InvalidToken::WrongIssuer);

    let c = claims(&mock.issuer);
    for typ in [json!("JWT"), json!("id_token+jwt"), serde_json::Value::Null] {
        let mut h = json!({"alg":"ES256","kid":"k"});
        if !typ.is_null() {
            h["typ"] = typ.clone();
        }
        let t = jwt_with(&h, &c, |m| key.sign(m));
        assert_eq!(invalid(v.validate(&t).await), InvalidToken::WrongType, "{typ}");
    }
}

#[tokio::test]
async fn forged_and_confused_algorithms() {
    let mock = MockAs::start().await;
    let (es, rs) = (TestKey::es256(), TestKey::rs256());
    mock.set_keys(&[(&es, "es"), (&rs, "rs")]);
    let v = mock.validator();
    let c = claims(&mock.issuer);

    // alg none, with and without a signature.
    for sig in ["", "AAAA"] {
        let h = b64(json!({"alg":"none","typ":"at+jwt","kid":"es"}).to_string().as_bytes());
        let p = b64(c.to_string().as_bytes());
        let t = format!("{h}.{p}.{sig}");
        assert_eq!(invalid(v.validate(&t).await), InvalidToken::AlgorithmNotAllowed);
    }
    for none in ["None", "NONE"] {
        let t = jwt_with(&json!({"alg":none,"typ":"at+jwt","kid":"es"}), &c, |_| Vec::new());
        assert_eq!(invalid(v.validate(&t).await), InvalidToken::AlgorithmNotAllowed);
    }

    // HS256 with the public key as the HMAC secret, in the forms an attacker would try.
    let jwk = es.jwk("es");
    let point = {
        let mut p = vec![4u8];
        p.extend(
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, jwk["x"].as_str().unwrap())
                .unwrap(),
        );
        p.extend(
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, jwk["y"].as_str().unwrap())
                .unwrap(),
        );
        p
    };
    for secret in [point, jwk.to_string().into_bytes()] {
        for alg in ["HS256", "HS384", "HS512"] {
            let t = jwt_with(&json!({"alg":alg,"typ":"at+jwt","kid":"es"}), &c, |m| {
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
                aws_lc_rs::hmac::sign(&key, m).as_ref().to_vec()
            });
            assert_eq!(invalid(v.validate(&t).await), InvalidToken::AlgorithmNotAllowed);
        }
    }

    // Header alg differs from the key's: RS256-signed under the EC key's kid, and the reverse.
    let t = jwt_with(&json!({"alg":"RS256","typ":"at+jwt","kid":"es"}), &c, |m| rs.sign(m));
    assert_eq!(invalid(v.validate(&t).await), InvalidToken::AlgorithmNotAllowed);
    let t = jwt_with(&json!({"alg":"ES256","typ":"at+jwt","kid":"rs"}), &c, |m| es.sign(m));
    assert_eq!(invalid(v.validate(&t).await), InvalidToken::AlgorithmNotAllowed);
    // Right alg, wrong key.
    let t = jwt_with(&json!({"alg":"ES256","typ":"at+jwt","kid":"es"}), &c, |m| TestKey::es256().sign(m));
    assert_eq!(invalid(v.validate(&t).await), InvalidToken::BadSignature);

    // A crit header, a missing kid.
    // Found by the fuzz target `resource_validate` (issue 10 item 7): `"crit": null` passed, as
    // if the header had no `crit` (Keycard's own verifier refuses any `crit`, RFC 7515 §4.1.11).
    for crit in [json!(["exp"]), json!(null), json!([]), json!("exp")] {
        let t = jwt_with(&json!({"alg":"ES256","typ":"at+jwt","kid":"es","crit":crit,"exp":1}), &c, |m| es.sign(m));
        assert_eq!(invalid(v.validate(&t).await), InvalidToken::UnsupportedCriticalHeader, "crit {crit}");
    }
    let t = jwt_with(&json!({"alg":"ES256","typ":"at+jwt"}), &c, |m| es.sign(m));
    assert_eq!(invalid(v.validate(&t).await), InvalidToken::MissingKeyId);
}

#[tokio::test]
async fn tampered_tokens() {
    let mock = MockAs::start().await;
    let key = TestKey::es256();
    mock.set_keys(&[(&key, "k")]);
    let v = mock.validator();
    let t = jwt(&key, "k", &claims(&mock.issuer));
    let parts: Vec<&str> = t.split('.').collect();

    // Another payload under the original signature.
    let mut c = claims(&mock.issuer);
    c["scope"] = json!("invoices:read invoices:write admin");
    let forged = format!("{}.{}.{}", parts[0], b64(c.to_string().as_bytes()), parts[2]);
    assert_eq!(invalid(v.validate(&forged).await), InvalidToken::BadSignature);

    // One flipped character of the signature.
    let mut sig = parts[2].to_owned().into_bytes();
    sig[10] = if sig[10] == b'A' { b'B' } else { b'A' };
    let t2 = format!("{}.{}.{}", parts[0], parts[1], String::from_utf8(sig).unwrap());
    assert_eq!(invalid(v.validate(&t2).await), InvalidToken::BadSignature);

    // Padding, a bad character, an empty signature.
    assert_eq!(invalid(v.validate(&format!("{t}=")).await), InvalidToken::Malformed);
    assert_eq!(invalid(v.validate(&format!("{}.{}.", parts[0], parts[1])).await), InvalidToken::BadSignature);
    assert_eq!(invalid(v.validate(&format!("{}!.{}.{}", parts[0], parts[1], parts[2])).await), InvalidToken::Malformed);
    // The original is still fine.
    assert!(v.validate(&t).await.is_ok());
}

/// The verified-token cache skips the signature for a token seen before, so it must never serve a
/// different token, and its time checks must run on every use.
#[tokio::test]
async fn the_verified_token_cache_serves_only_the_same_token_while_valid() {
    let mock = MockAs::start().await;
    let key = TestKey::es256();
    mock.set_keys(&[(&key, "k")]);
    let v = mock.validator();
    let now = now();
    let t = jwt(&key, "k", &claims(&mock.issuer));
    let first = v.validate(&t).await.unwrap();
    assert_eq!(v.validate(&t).await.unwrap(), first, "cached: the same claims");
    let parts: Vec<&str> = t.split('.').collect();

    // Same signature (so the same cache slot), another payload or header: a miss, and refused.
    let mut c = claims(&mock.issuer);
    c["scope"] = json!("invoices:read invoices:write admin");
    let forged = format!("{}.{}.{}", parts[0], b64(c.to_string().as_bytes()), parts[2]);
    assert_eq!(invalid(v.validate(&forged).await), InvalidToken::BadSignature);
    let header = b64(json!({"alg":"ES256","typ":"at+jwt","kid":"k","x":1}).to_string().as_bytes());
    assert_eq!(invalid(v.validate(&format!("{header}.{}.{}", parts[1], parts[2])).await), InvalidToken::BadSignature);
    // A prefix or an extension of the cached token.
    assert!(v.validate(&t[1..]).await.is_err());
    assert!(v.validate(&format!("A{t}")).await.is_err());
    // Time checks still run on a cached token.
    let at = |secs: i64| std::time::UNIX_EPOCH + Duration::from_secs(secs as u64);
    assert_eq!(invalid(v.validate_at(&t, at(now + 400)).await), InvalidToken::Expired);
    assert_eq!(invalid(v.validate_at(&t, at(now - 400)).await), InvalidToken::NotYetValid);
    // The same signing input under another (invalid) signature.
    assert_eq!(
        invalid(v.validate(&format!("{}.{}.{}", parts[0], parts[1], b64(&[7u8; 64]))).await),
        InvalidToken::BadSignature
    );
    // The forged tokens did not evict or replace the real one.
    assert_eq!(v.validate(&t).await.unwrap(), first);

    // A full cache starts over; the cache can be turned off.
    let small = mock.builder().verified_cache_capacity(2).build().unwrap();
    let off = mock.builder().verified_cache_capacity(0).build().unwrap();
    for i in 0..5 {
        let mut c = claims(&mock.issuer);
        c["jti"] = json!(format!("jti-{i}"));
        let t = jwt(&key, "k", &c);
        for v in [&small, &off] {
            assert_eq!(v.validate(&t).await.unwrap().jwt_id.as_deref(), Some(format!("jti-{i}").as_str()));
            assert_eq!(v.validate(&t).await.unwrap().jwt_id.as_deref(), Some(format!("jti-{i}").as_str()));
        }
    }
    assert_eq!(invalid(off.validate(&forged).await), InvalidToken::BadSignature);
}

#[tokio::test]
async fn forged_kids_cause_at_most_one_refetch() {
    let mock = MockAs::start().await;
    let key = TestKey::es256();
    mock.set_keys(&[(&key, "k")]);
    let v = mock.validator();
    assert!(v.validate(&jwt(&key, "k", &claims(&mock.issuer))).await.is_ok());
    assert_eq!(mock.jwks_fetches(), 1);

    let c = claims(&mock.issuer);
    for i in 0..20 {
        let t = jwt(&key, &format!("forged-{i}"), &c);
        assert_eq!(invalid(v.validate(&t).await), InvalidToken::UnknownKey);
    }
    assert!(mock.jwks_fetches() <= 2, "20 forged kids made {} fetches", mock.jwks_fetches() - 1);

    // Concurrently, too.
    let v = Arc::new(v);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (v, t) = (v.clone(), jwt(&key, &format!("forged-c{i}"), &c));
            tokio::spawn(async move { v.validate(&t).await })
        })
        .collect();
    for t in tasks {
        assert!(matches!(t.await.unwrap(), Err(Error::InvalidToken(InvalidToken::UnknownKey))));
    }
    assert!(mock.jwks_fetches() <= 2);
}

#[tokio::test]
async fn unknown_kid_refetch_is_rate_limited_but_not_forever() {
    let mock = MockAs::start().await;
    let (old, new) = (TestKey::es256(), TestKey::eddsa());
    mock.set_keys(&[(&old, "old")]);
    let interval = Duration::from_secs(1);
    let v = mock.builder().jwks_refetch_interval(interval).build().unwrap();
    let c = claims(&mock.issuer);
    assert!(v.validate(&jwt(&old, "old", &c)).await.is_ok());
    // A forged kid uses up the refetch...
    assert_eq!(invalid(v.validate(&jwt(&old, "forged", &c)).await), InvalidToken::UnknownKey);
    assert_eq!(mock.jwks_fetches(), 2);
    // ...so a real new key within the interval is not seen yet...
    mock.add_key(&new, "new");
    assert_eq!(invalid(v.validate(&jwt(&new, "new", &c)).await), InvalidToken::UnknownKey);
    assert_eq!(mock.jwks_fetches(), 2);
    // ...and is once the interval has passed.
    sleep_past(interval).await;
    assert!(v.validate(&jwt(&new, "new", &c)).await.is_ok());
    assert_eq!(mock.jwks_fetches(), 3);
}

/// SECURITY K2: a rotated key is picked up without one failed validation.
#[tokio::test]
async fn key_rotation_causes_no_failed_request() {
    let mock = MockAs::start().await;
    let (old, new) = (TestKey::es256(), TestKey::rs256());
    mock.set_keys(&[(&old, "2026-01")]);
    let v = Arc::new(mock.validator());
    let c = claims(&mock.issuer);
    assert!(v.validate(&jwt(&old, "2026-01", &c)).await.is_ok());

    // Keycard publishes the next key and starts signing with it; 20 requests arrive at once.
    mock.add_key(&new, "2026-02");
    mock.state.jwks_delay_ms.store(100, std::sync::atomic::Ordering::SeqCst);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let v = v.clone();
            let t = if i % 2 == 0 { jwt(&new, "2026-02", &c) } else { jwt(&old, "2026-01", &c) };
            tokio::spawn(async move { v.validate(&t).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().expect("no request fails during a rotation");
    }
    assert_eq!(mock.jwks_fetches(), 2, "concurrent refreshes coalesce into one fetch");

    // The old key is retired; once the cache is refreshed its tokens are refused.
    mock.set_keys(&[(&new, "2026-02")]);
    let v = mock.builder().jwks_max_age(Duration::from_millis(200)).build().unwrap();
    assert!(v.validate(&jwt(&old, "2026-01", &c)).await.is_err());
    assert!(v.validate(&jwt(&new, "2026-02", &c)).await.is_ok());
}

#[tokio::test]
async fn jwks_is_refreshed_when_older_than_max_age() {
    let mock = MockAs::start().await;
    let (a, b) = (TestKey::es256(), TestKey::es256());
    mock.set_keys(&[(&a, "a")]);
    let max_age = Duration::from_secs(1);
    let v = mock.builder().jwks_max_age(max_age).build().unwrap();
    let c = claims(&mock.issuer);
    assert!(v.validate(&jwt(&a, "a", &c)).await.is_ok());
    assert!(v.validate(&jwt(&a, "a", &c)).await.is_ok());
    assert_eq!(mock.jwks_fetches(), 1);

    // Key "a" is withdrawn (compromised): after max age the refresh drops it.
    mock.set_keys(&[(&b, "b")]);
    sleep_past(max_age).await;
    assert_eq!(invalid(v.validate(&jwt(&a, "a", &c)).await), InvalidToken::UnknownKey);
    assert_eq!(mock.jwks_fetches(), 2);
    assert!(v.validate(&jwt(&b, "b", &c)).await.is_ok());

    // If the server is down at refresh time, the cached keys keep working.
    mock.state.down.store(true, std::sync::atomic::Ordering::SeqCst);
    sleep_past(max_age).await;
    assert!(v.validate(&jwt(&b, "b", &c)).await.is_ok());
    assert_eq!(mock.jwks_fetches(), 3);
}

#[tokio::test]
async fn authorization_server_down_is_unavailable_not_invalid() {
    let mock = MockAs::start().await;
    let key = TestKey::es256();
    mock.set_keys(&[(&key, "k")]);
    mock.state.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let v = mock.validator();
    let t = jwt(&key, "k", &claims(&mock.issuer));
    let err = v.validate(&t).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
    assert_eq!(err.status(), 503);
    assert!(!err.to_string().contains(&t));
    // Within the backoff, no new fetch is made and the answer stays 503.
    let fetches = mock.state.metadata_fetches.load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..5 {
        assert!(matches!(v.validate(&t).await, Err(Error::Unavailable { .. })));
    }
    assert_eq!(mock.state.metadata_fetches.load(std::sync::atomic::Ordering::SeqCst), fetches);

    // Nothing listening at all.
    let v = Validator::builder("http://127.0.0.1:9").audience(AUDIENCE).build().unwrap();
    assert!(matches!(v.validate(&t).await, Err(Error::Unavailable { .. })));
}

#[tokio::test]
async fn recovers_when_the_server_comes_back() {
    let mock = MockAs::start().await;
    let key = TestKey::es256();
    mock.set_keys(&[(&key, "k")]);
    mock.state.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let interval = Duration::from_millis(200);
    let v = mock.builder().jwks_refetch_interval(interval).build().unwrap();
    let t = jwt(&key, "k", &claims(&mock.issuer));
    assert!(matches!(v.validate(&t).await, Err(Error::Unavailable { .. })));
    mock.state.down.store(false, std::sync::atomic::Ordering::SeqCst);
    sleep_past(interval).await;
    assert!(v.validate(&t).await.is_ok());
}

#[tokio::test]
async fn metadata_issuer_must_match() {
    let mock = MockAs::start().await;
    let key = TestKey::es256();
    mock.set_keys(&[(&key, "k")]);
    *mock.state.metadata_issuer.lock().unwrap() = Some("https://evil.example".into());
    let v = mock.validator();
    let err = v.validate(&jwt(&key, "k", &claims(&mock.issuer))).await.unwrap_err();
    assert!(matches!(err, Error::Configuration(_)), "{err:?}");
    assert_eq!(err.status(), 500);
    assert!(matches!(v.warm_up().await, Err(Error::Configuration(_))));
}

#[tokio::test]
async fn explicit_urls_skip_discovery() {
    let mock = MockAs::start().await;
    let key = TestKey::es256();
    mock.set_keys(&[(&key, "k")]);
    let v =
        Validator::builder(&mock.issuer).audience(AUDIENCE).jwks_uri(format!("{}/jwks", mock.issuer)).build().unwrap();
    v.warm_up().await.unwrap();
    assert_eq!(mock.jwks_fetches(), 1);
    assert!(v.validate(&jwt(&key, "k", &claims(&mock.issuer))).await.is_ok());
    assert_eq!(mock.jwks_fetches(), 1);
    assert_eq!(mock.state.metadata_fetches.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn scopes() {
    let mock = MockAs::start().await;
    let key = TestKey::es256();
    mock.set_keys(&[(&key, "k")]);
    let v = mock.validator();
    let claims_ = v.validate(&jwt(&key, "k", &claims(&mock.issuer))).await.unwrap();
    assert!(claims_.require_scopes(["invoices:read"]).is_ok());
    assert!(claims_.require_scopes(Vec::<String>::new()).is_ok());
    let err = claims_.require_scopes(["invoices:read", "invoices:write"]).unwrap_err();
    assert_eq!(err.status(), 403);
    match err {
        Error::InsufficientScope { required } => {
            assert_eq!(required.to_string(), "invoices:read invoices:write")
        }
        other => panic!("{other:?}"),
    }
    // A token without any scope.
    let mut c = claims(&mock.issuer);
    c.as_object_mut().unwrap().remove("scope");
    let none = v.validate(&jwt(&key, "k", &c)).await.unwrap();
    assert!(none.scopes.is_empty());
    assert!(matches!(none.require_scopes(["profile"]), Err(Error::InsufficientScope { .. })));
}

#[tokio::test]
async fn error_messages_never_contain_the_token() {
    let mock = MockAs::start().await;
    let key = TestKey::es256();
    mock.set_keys(&[(&key, "k")]);
    let v = mock.validator();
    let mut c = claims(&mock.issuer);
    c["exp"] = json!(1);
    for t in [jwt(&key, "k", &c), jwt(&key, "secret-kid", &c), "kc_at_secret".into()] {
        let err = v.validate(&t).await.unwrap_err();
        for text in [err.to_string(), format!("{err:?}"), err.www_authenticate(None).unwrap_or_default()] {
            assert!(!text.contains(&t) && !text.contains("secret"), "{text}");
        }
    }
}
