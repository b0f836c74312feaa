#!/usr/bin/env python3
"""Writes the seed inputs of the fuzz corpora (fuzz/corpus/<target>/seed-*): real inputs from the
RFCs' examples and from what Keycard's tests send. Run once when a target or its input shape
changes, then fuzz and minimise (`bash fuzz/run.sh --cmin`), which keeps the seeds that still add
coverage.

A target whose input is an `arbitrary` enum reads the variant from the first four bytes (a
little-endian u32, variant = u32 * count >> 32), so variant 0 is four zero bytes; every target
puts its "raw text" variant first, whose last field takes the rest of the input as it is.
"""

import base64
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
V0 = b"\0\0\0\0"


def b64(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jws(header, claims, sig=b"\x01" * 64):
    return f"{b64(json.dumps(header, separators=(',', ':')))}.{b64(json.dumps(claims, separators=(',', ':')))}.{b64(sig)}"


# RFC 7515 Appendix A.3: the ES256 example JWS.
RFC7515_A3 = (
    "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
)
# RFC 7519 §3.1: the example JWT (HS256).
RFC7519 = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ."
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)
# RFC 9449 §4.1: the example DPoP proof.
RFC9449_PROOF = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19"
    ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ"
    ".2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
EC_JWK = {"kty": "EC", "crv": "P-256", "kid": "1", "use": "sig",
          "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}
RSA_JWK = {"kty": "RSA", "kid": "2011-04-29", "e": "AQAB", "alg": "RS256",
           "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
# RFC 8037 Appendix A.2: the Ed25519 public key.
OKP_JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
NOW = 1_800_000_000

SEEDS = {
    "form_body": [
        b"grant_type=client_credentials&scope=invoices%3Aread",
        b"grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA&redirect_uri=https%3A%2F%2Fclient%2Eexample%2Ecom%2Fcb",
        b"grant_type=refresh_token&refresh_token=kc_rt_abc.1.0123456789012345678901234567890123456789abc&scope=openid",
        b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=kc_dc_x&client_id=tv",
        b"token=kc_at_abc&token_type_hint=access_token",
        b"resource=https%3A%2F%2Fa.example&resource=https%3A%2F%2Fb.example&x=+%2B%20",
        b"client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJ.a.b",
    ],
    "basic_credentials": [
        V0 + b"Basic czZCaGRSa3F0MzpnWDFmQmF0M2JW",  # RFC 6749 §2.3.1
        V0 + b"Basic " + base64.b64encode(b"svc%3Abilling:s%3Acret%2B"),
        V0 + b"Bearer abc",
        V0 + b"basic  d2ViOg==",
    ],
    "jwt": [V0 + RFC7515_A3.encode(), V0 + RFC7519.encode(),
            V0 + jws({"alg": "ES256", "kid": "k-es", "typ": "at+jwt"}, {"iss": "https://as.example", "exp": NOW}).encode()],
    "jwk": [V0 + json.dumps(k).encode() for k in (EC_JWK, RSA_JWK, OKP_JWK, dict(EC_JWK, d="870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE"))]
    + [V0 + json.dumps({"keys": [EC_JWK, RSA_JWK, OKP_JWK]}).encode()],
    "dpop_proof": [V0 + RFC9449_PROOF.encode(),
                   V0 + jws({"typ": "dpop+jwt", "alg": "ES256", "jwk": EC_JWK},
                            {"jti": "j", "htm": "POST", "htu": "https://as.example/token", "iat": NOW}).encode()],
    "client_jws": [
        V0 + jws({"alg": "ES256", "kid": "es", "typ": "JWT"},
                 {"iss": "app", "sub": "app", "aud": "https://as.example/token", "exp": NOW + 60, "iat": NOW, "jti": "j-1"}).encode(),
        V0 + jws({"alg": "HS256", "typ": "JWT"}, {"iss": "app", "sub": "app", "aud": "https://as.example", "exp": NOW, "jti": "x"},
                 b"\x02" * 32).encode(),
        # RFC 9101 §4: a request object.
        V0 + jws({"alg": "RS256", "kid": "k2bdc", "typ": "oauth-authz-req+jwt"},
                 {"iss": "s6BhdRkqt3", "aud": "https://server.example.com", "response_type": "code id_token",
                  "client_id": "s6BhdRkqt3", "redirect_uri": "https://client.example.org/cb", "scope": "openid",
                  "state": "af0ifjsldkj", "nonce": "n-0S6_WzA2Mj", "max_age": 86400}, b"\x03" * 256).encode(),
    ],
    "authorize_request": [
        V0 + b"\0" + b"response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fclient.example%2Fcb&scope=openid%20profile"
        b"&state=af0ifjsldkj&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&nonce=n-0S6_WzA2Mj",
        V0 + b"\0" + b"response_type=code&client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%3A4711%2Fcb&scope=openid"
        b"&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&prompt=none&max_age=0",
        V0 + b"\x01" + b"response_type=id_token&client_id=web&response_mode=form_post&state=s&state=t&scope=openid",
        V0 + b"\0" + b"client_id=web&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ax&dpop_jkt=" + b"A" * 43,
    ],
    "redirect_uri": [V0 + u.encode() for u in (
        "https://client.example/cb", "http://127.0.0.1:51004/cb", "http://[::1]:8080/", "com.example.app:/oauth2redirect",
        "https://client.example/cb#frag", "javascript:alert(1)", "https://user@client.example/cb", "http://localhost/cb")],
    "scope": [b"openid profile email offline_access", b"invoices:read invoices:write", b"a  b ", b"x\"y"],
    "cookie": [V0 + b"kc_browser=AbC-_1; kc_session=xyz", V0 + b"__Host-kc_session=s; __Host-kc_browser=b", V0 + b"a=b;kc_session"],
    "config": [
        V0 + b'issuer = "https://auth.example.com"\n[database]\nurl = "postgres://postgres@127.0.0.1/test"\n',
        V0 + b'[http]\nlisten = "127.0.0.1:8080"\n[tokens]\naccess_token_ttl_secs = 600\nformat = "opaque"\n',
        V0 + b'[[provision.clients]]\nid = "svc"\ngrant_types = ["client_credentials"]\n',
    ],
    "grant_request": [V0 + s for s in (
        b"grant_type=client_credentials&scope=invoices%3Aread",
        b"grant_type=authorization_code&code=kc_ac_x&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        b"grant_type=password&username=alice&password=alice-password-1&scope=openid",
        b"grant_type=refresh_token&refresh_token=kc_rt_g.2.0123456789012345678901234567890123456789abc",
        b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=kc_dc_abc",
        b"grant_type=implicit")],
    "small_tokens": [b"kc_rt_abc123.7.0123456789012345678901234567890123456789abcd", b"BCDF-GHJK", b"bcdf ghjk",
                     b"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", b"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cMdBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"],
    "resource_bearer": [V0 + b"Bearer mF_9.B5f-4.1JqM", V0 + b"DPoP Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU", V0 + b"Basic YWxhZGRpbjpvcGVuc2VzYW1l"],
    "resource_validate": [V0 + RFC7515_A3.encode(),
                          V0 + jws({"alg": "ES256", "typ": "at+jwt", "kid": "es"},
                                   {"iss": "https://as.example", "sub": "usr_1", "aud": "https://api.example", "exp": NOW + 60,
                                    "iat": NOW, "jti": "j", "client_id": "app", "scope": "openid"}).encode()],
}


def main():
    only = set(sys.argv[1:])
    for target, seeds in SEEDS.items():
        if only and target not in only:
            continue
        d = os.path.join(HERE, "corpus", target)
        os.makedirs(d, exist_ok=True)
        for i, s in enumerate(seeds):
            with open(os.path.join(d, f"seed-{i:02}"), "wb") as f:
                f.write(s)
        print(f"{target}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
