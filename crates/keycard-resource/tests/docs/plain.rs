use keycard_resource::{Claims, Error, Validator};

/// Built once at start-up and shared: it holds the key and introspection caches.
pub fn validator() -> Result<Validator, Error> {
    Validator::builder("https://auth.example.com").audience("https://api.example.com").build()
}

/// Per request: the token from `Authorization: Bearer …`, then the scopes the route needs.
pub async fn authorize(validator: &Validator, token: &str) -> Result<Claims, Error> {
    let claims = validator.validate(token).await?;
    claims.require_scopes(["invoices:read"])?;
    Ok(claims)
}
