//! Human-readable and `--json` output of the admin commands. Secrets are printed only by
//! `created_client` and `rotated_secret`, once, and never stored anywhere in plain text.

use crate::admin::PlainSecret;
use crate::clock::{UnixTime, rfc3339};
use crate::keys::is_published;
use crate::model::{Client, ScopeDef, StoredKey, User};
use serde_json::{Value, json};

/// Where and how to print.
pub struct Out {
    json: bool,
}

fn client_json(c: &Client) -> Value {
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
            None => println!("  public client: no secret"),
        }
        self.client_details(c);
    }

    fn client_details(&self, c: &Client) {
        let grants: Vec<String> = c.grant_types.iter().map(|g| g.as_str().to_owned()).collect();
        println!("  grant types:   {}", or_dash(&grants));
        println!("  scopes:        {}", or_dash(&c.scopes));
        if !c.redirect_uris.is_empty() {
            println!("  redirect URIs: {}", c.redirect_uris.join(" "));
        }
        println!("  auth method:   {}", c.auth_method.as_str());
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
        println!("{:<28} {:<24} {:<8} GRANTS", "CLIENT_ID", "NAME", "TYPE");
        for c in cs {
            let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
            println!(
                "{:<28} {:<24} {:<8} {}{}",
                c.id,
                c.name,
                if c.is_public() { "public" } else { "confid." },
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
