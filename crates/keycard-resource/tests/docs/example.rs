use axum::Router;
use axum::routing::{get, post};
use keycard_resource::Validator;
use keycard_resource::axum::{BearerClaims, require_scopes};
use std::sync::Arc;

async fn list_invoices(BearerClaims(claims): BearerClaims) -> String {
    format!("invoices of {} (client {}, scopes {})", claims.subject, claims.client_id, claims.scopes)
}

async fn create_invoice(BearerClaims(claims): BearerClaims) -> String {
    format!("invoice created by {}", claims.subject)
}

/// Every route needs a valid access token for this API; each method needs its own scope.
pub fn app(validator: Arc<Validator>) -> Router {
    let read = require_scopes(validator.clone(), ["invoices:read"]);
    let write = require_scopes(validator.clone(), ["invoices:write"]);
    Router::new()
        // One layer per method: `.merge` keeps GET's layer off POST and POST's off GET.
        .route("/invoices", get(list_invoices).route_layer(read).merge(post(create_invoice).route_layer(write)))
        .with_state(validator)
}

#[tokio::main]
pub async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let validator = Validator::builder("https://auth.example.com") // Keycard's issuer
        .audience("https://api.example.com") // this API: the `audience` of its clients in Keycard
        .build()?;
    let validator = Arc::new(validator);
    validator.warm_up().await?; // optional: read the metadata and keys now, fail fast if misconfigured
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app(validator)).await?;
    Ok(())
}
