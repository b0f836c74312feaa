//! Human-readable and `--json` output of the admin commands. Secrets are printed only by
//! `created_client`, `updated_client` (when the update generated one) and `rotated_secret`,
//! once, and never stored anywhere in plain text; a `client_secret_jwt` client's sealed secret is
//! never printed at all. A client's JWK Set is shown as its keys' ids, types and RFC 7638
//! thumbprints.

use crate::admin::PlainSecret;
use crate::clock::{UnixTime, rfc3339};
use crate::keys::is_published;
use crate::model::{AuthMethod, Client, ScopeDef, StoredKey, User};
use serde_json::{Value, json};

/// Where and how to print.
pub struct Out {
    json: bool,
}

/// One line per registered key: (kid, kty, RFC 7638 thumbprint), or the parse error.
fn jwks_keys(jwks: &Value) -> Result<Vec<(Option<String>, String, String)>, String> {
    let set = keycard_resource::jwk::KeySet::from_jwks(jwks).map_err(|e| e.to_string())?;
    let raw = jwks.get("keys").and_then(Value::as_array).cloned().unwrap_or_default();
    Ok(set
        .keys()
        .iter()
        .zip(raw.iter())
        .map(|(k, r)| {
            let kty = r.get("kty").and_then(Value::as_str).unwrap_or("?").to_owned();
            (k.kid().map(str::to_owned), kty, k.thumbprint())
        })
        .collect())
}

fn jwks_json(jwks: Option<&Value>) -> Value {
    match jwks.map(jwks_keys) {
        None => Value::Null,
        Some(Err(e)) => json!({ "error": e }),
        Some(Ok(keys)) => json!({
            "key_count": keys.len(),
            "keys": keys.iter().map(|(kid, kty, tp)| json!({"kid": kid, "kty": kty, "thumbprint": tp})).collect::<Vec<_>>(),
        }),
    }
}

fn client_json(c: &Client) -> Value {
    let st = &c.settings;
    json!({
        "client_id": c.id,
        "name": c.name,
        "public": c.is_public(),
        "token_endpoint_auth_method": c.auth_method.as_str(),
        "grant_types": c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scopes": c.scopes,
        "redirect_uris": c.redirect_uris,
        "access_token_ttl": c.access_token_ttl,
        "token_format": c.token_format.as_str(),
        "audience": c.settings.audience,
        "web_origins": c.settings.web_origins,
        "resource_audiences": c.settings.resource_audiences,
        "application_type": c.application_type().as_str(),
        "application_type_inferred": st.application_type.is_none(),
        "jwks": jwks_json(st.jwks.as_ref()),
        "jwks_uri": st.jwks_uri,
        "token_endpoint_auth_signing_alg": st.token_endpoint_auth_signing_alg,
        "dpop_bound_access_tokens": st.dpop_bound_access_tokens,
        "require_pushed_authorization_requests": st.require_pushed_authorization_requests,
        "device_code_ttl_secs": st.device_code_ttl_secs,
        "disabled": c.disabled,
        "created_at": rfc3339(c.created_at),
        "updated_at": rfc3339(c.updated_at),
    })
}

fn user_json(u: &User) -> Value {
    json!({
        "id": u.id,
        "username": u.username,
        "email": u.email,
        "email_verified": u.email_verified,
        "name": u.name,
        "has_password": u.password_hash.is_some(),
        "disabled": u.disabled,
        "created_at": rfc3339(u.created_at),
    })
}

fn key_state(k: &StoredKey, now: UnixTime) -> &'static str {
    match (k.retired_at, is_published(k, now)) {
        (None, _) => "active",
        (Some(_), true) => "retired (still published)",
        (Some(_), false) => "expired",
    }
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn or_dash(v: &[String]) -> String {
    if v.is_empty() { "-".into() } else { v.join(" ") }
}

impl Out {
    /// Text unless `json`.
    pub fn new(json: bool) -> Out {
        Out { json }
    }

    /// A client was created.
    pub fn created_client(&self, c: &Client, secret: Option<&PlainSecret>) {
        if self.json {
            let mut v = client_json(c);
            v["client_secret"] = json!(secret.map(|s| s.0.as_str()));
            return print_json(&v);
        }
        println!("Created client {:?}", c.name);
        println!("  client_id:     {}", c.id);
        match secret {
            Some(s) => {
                println!("  client_secret: {}", s.0);
                println!();
                println!(
                    "  The secret is shown only now: store it safely. Lost it? `keycard client rotate-secret {}`",
                    c.id
                );
            }
            None if c.auth_method == AuthMethod::PrivateKeyJwt => {
                println!("  no secret: the client signs its assertions with its own key (private_key_jwt)")
            }
            None => println!("  public client: no secret"),
        }
        self.client_details(c);
    }

    /// A client was changed; `secret` is a new secret the change needed (shown ONCE).
    pub fn updated_client(&self, c: &Client, secret: Option<&PlainSecret>) {
        if self.json {
            let mut v = client_json(c);
            if let Some(s) = secret {
                v["client_secret"] = json!(s.0);
            }
            return print_json(&v);
        }
        if let Some(s) = secret {
            println!("New secret for client {:?} (its new auth method needs one):", c.id);
            println!("  client_secret: {}", s.0);
            println!("  It is shown only now: store it safely.");
            println!();
        }
        self.client(c);
    }

    fn client_details(&self, c: &Client) {
        let grants: Vec<String> = c.grant_types.iter().map(|g| g.as_str().to_owned()).collect();
        println!("  grant types:   {}", or_dash(&grants));
        println!("  scopes:        {}", or_dash(&c.scopes));
        if !c.redirect_uris.is_empty() {
            println!("  redirect URIs: {}", c.redirect_uris.join(" "));
        }
        println!("  auth method:   {}", c.auth_method.as_str());
        let st = &c.settings;
        println!(
            "  app type:      {}{}",
            c.application_type().as_str(),
            if st.application_type.is_none() { " (inferred)" } else { "" }
        );
        if let Some(jwks) = &st.jwks {
            match jwks_keys(jwks) {
                Ok(keys) => {
                    println!("  jwks:          {} key(s)", keys.len());
                    for (kid, kty, tp) in keys {
                        println!("    kid {} ({kty}), thumbprint {tp}", kid.as_deref().unwrap_or("-"));
                    }
                }
                Err(e) => println!("  jwks:          unusable ({e})"),
            }
        }
        if let Some(u) = &st.jwks_uri {
            println!("  jwks_uri:      {u}");
        }
        if let Some(a) = &st.token_endpoint_auth_signing_alg {
            println!("  assertion alg: {a}");
        }
        if st.dpop_bound_access_tokens {
            println!("  DPoP:          required (dpop_bound_access_tokens)");
        }
        if st.require_pushed_authorization_requests {
            println!("  PAR:           required (require_pushed_authorization_requests)");
        }
        if let Some(t) = st.device_code_ttl_secs {
            println!("  device codes:  {t}s");
        }
        println!("  access tokens: {} for {}s", c.token_format.as_str(), c.access_token_ttl);
        if let Some(a) = &c.settings.audience {
            println!("  audience:      {a}");
        }
        if !c.settings.resource_audiences.is_empty() {
            println!("  resource server for: {}", c.settings.resource_audiences.join(" "));
        }
        if c.disabled {
            println!("  DISABLED");
        }
    }

    /// One client.
    pub fn client(&self, c: &Client) {
        if self.json {
            return print_json(&client_json(c));
        }
        println!("Client {:?}", c.name);
        println!("  client_id:     {}", c.id);
        self.client_details(c);
        println!("  created:       {}", rfc3339(c.created_at));
    }

    /// Client list.
    pub fn clients(&self, cs: &[Client]) {
        if self.json {
            return print_json(&Value::Array(cs.iter().map(client_json).collect()));
        }
        if cs.is_empty() {
            println!("no clients yet: `keycard client create --name NAME --grant client_credentials`");
            return;
        }
        println!("{:<28} {:<24} {:<8} {:<7} {:<20} GRANTS", "CLIENT_ID", "NAME", "TYPE", "APP", "AUTH");
        for c in cs {
            let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
            println!(
                "{:<28} {:<24} {:<8} {:<7} {:<20} {}{}",
                c.id,
                c.name,
                if c.is_public() { "public" } else { "confid." },
                c.application_type().as_str(),
                c.auth_method.as_str(),
                grants.join(","),
                if c.disabled { "  (disabled)" } else { "" }
            );
        }
    }

    /// A new secret.
    pub fn rotated_secret(&self, id: &str, s: &PlainSecret) {
        if self.json {
            return print_json(&json!({"client_id": id, "client_secret": s.0}));
        }
        println!("New secret for client {id:?} (the old one no longer works):");
        println!("  client_secret: {}", s.0);
        println!("  It is shown only now: store it safely.");
    }

    /// One user.
    pub fn user(&self, u: &User, created: bool) {
        if self.json {
            return print_json(&user_json(u));
        }
        println!("{} user {:?}", if created { "Created" } else { "User" }, u.username);
        println!("  id:       {}", u.id);
        println!("  email:    {}", u.email.as_deref().unwrap_or("-"));
        println!("  name:     {}", u.name.as_deref().unwrap_or("-"));
        println!("  password: {}", if u.password_hash.is_some() { "set" } else { "not set" });
        if u.disabled {
            println!("  DISABLED");
        }
    }

    /// User list.
    pub fn users(&self, us: &[User]) {
        if self.json {
            return print_json(&Value::Array(us.iter().map(user_json).collect()));
        }
        if us.is_empty() {
            println!("no users yet: `keycard user create --username NAME`");
            return;
        }
        println!("{:<24} {:<30} {:<28} STATE", "USERNAME", "EMAIL", "ID");
        for u in us {
            println!(
                "{:<24} {:<30} {:<28} {}",
                u.username,
                u.email.as_deref().unwrap_or("-"),
                u.id,
                if u.disabled { "disabled" } else { "active" }
            );
        }
    }

    /// Scope list.
    pub fn scopes(&self, ss: &[ScopeDef]) {
        if self.json {
            return print_json(&serde_json::to_value(ss).unwrap_or_default());
        }
        for s in ss {
            println!("{:<28} {}", s.name, s.description);
        }
    }

    /// Key list.
    pub fn keys(&self, ks: &[StoredKey], now: UnixTime) {
        if self.json {
            let v: Vec<Value> = ks
                .iter()
                .map(|k| {
                    json!({
                        "kid": k.kid, "alg": k.alg, "state": key_state(k, now),
                        "created_at": rfc3339(k.created_at),
                        "retired_at": k.retired_at.map(rfc3339),
                        "published_until": k.publish_until.map(rfc3339),
                    })
                })
                .collect();
            return print_json(&Value::Array(v));
        }
        println!("{:<34} {:<6} {:<26} {:<21} PUBLISHED UNTIL", "KID", "ALG", "STATE", "CREATED");
        for k in ks {
            println!(
                "{:<34} {:<6} {:<26} {:<21} {}",
                k.kid,
                k.alg,
                key_state(k, now),
                rfc3339(k.created_at),
                k.publish_until.map(rfc3339).unwrap_or_else(|| "-".into())
            );
        }
    }
}
