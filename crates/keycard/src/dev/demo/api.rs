//! The demo API, which is what a real service built on `keycard-resource` has: invoices kept in
//! memory (at most 50) and the caller as the verified token says (RFC 9068 claims). Each route's
//! scope is checked by a [`require_scopes`] layer before its handler runs, which answers 401, 403
//! or 400 per RFC 6750 §3 otherwise.
//!
//! Adding a route: a handler here taking [`BearerClaims`], its `.route(…)` in [`router`] behind
//! `route_layer(needs("scope"))`, and the scope in `provision.rs` so the demo clients may ask
//! for it.

use super::lock;
use crate::model::is_user_subject;
use axum::body::Bytes;
use axum::extract::{FromRef, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use keycard_resource::axum::{BearerClaims, require_scopes};
use keycard_resource::{Claims, Validator};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

const MAX_INVOICES: usize = 50;
const MAX_CUSTOMER_LEN: usize = 100;

#[derive(Debug, Clone, Serialize)]
struct Invoice {
    id: u64,
    customer: String,
    amount_cents: u64,
    currency: &'static str,
    created_by: String,
}

struct Invoices {
    next_id: u64,
    list: VecDeque<Invoice>,
}

impl Invoices {
    fn seeded() -> Self {
        let mut inv = Invoices { next_id: 1, list: VecDeque::new() };
        for (customer, amount_cents) in [("ACME Corp", 125_000), ("Globex", 48_050), ("Initech", 9_900)] {
            inv.add(customer.to_owned(), amount_cents, "seed".to_owned());
        }
        inv
    }

    fn add(&mut self, customer: String, amount_cents: u64, created_by: String) -> Invoice {
        let invoice = Invoice { id: self.next_id, customer, amount_cents, currency: "EUR", created_by };
        self.next_id += 1;
        if self.list.len() >= MAX_INVOICES {
            self.list.pop_front();
        }
        self.list.push_back(invoice.clone());
        invoice
    }
}

#[derive(Clone)]
struct ApiState {
    validator: Arc<Validator>,
    invoices: Arc<Mutex<Invoices>>,
}

impl FromRef<ApiState> for Arc<Validator> {
    fn from_ref(s: &ApiState) -> Self {
        s.validator.clone()
    }
}

/// Who called, as the verified token says.
#[derive(Debug, Serialize)]
struct Caller {
    subject: String,
    client_id: String,
    scopes: Vec<String>,
    /// `user` (a user delegated access to the client) or `client` (the client acts for itself).
    on_behalf_of: &'static str,
}

impl Caller {
    fn of(c: &Claims) -> Caller {
        Caller {
            subject: c.subject.clone(),
            client_id: c.client_id.clone(),
            scopes: c.scopes.iter().map(str::to_owned).collect(),
            on_behalf_of: if is_user_subject(&c.subject) { "user" } else { "client" },
        }
    }

    /// What the unprotected twin of `/api/invoices` reports, of about the same size.
    fn anonymous() -> Caller {
        Caller {
            subject: "anonymous".into(),
            client_id: "none".into(),
            scopes: vec!["none".into()],
            on_behalf_of: "nobody",
        }
    }
}

/// The demo API: the routes of the [module documentation](super), each scope checked by a
/// [`require_scopes`] layer before the handler runs (401/403/400 per RFC 6750 §3 otherwise).
pub fn router(validator: Arc<Validator>) -> Router {
    let state = ApiState { validator: validator.clone(), invoices: Arc::new(Mutex::new(Invoices::seeded())) };
    let needs = |scope: &str| require_scopes(validator.clone(), [scope]);
    Router::new()
        .route("/api/health", get(health))
        .route("/api/profile", get(profile).route_layer(needs("profile")))
        .route(
            "/api/invoices",
            get(list_invoices)
                .route_layer(needs("invoices:read"))
                .merge(post(create_invoice).route_layer(needs("invoices:write"))),
        )
        .route("/api/invoices-unprotected", get(list_invoices_unprotected))
        .with_state(state)
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn profile(BearerClaims(c): BearerClaims) -> Json<Value> {
    Json(json!({
        "caller": Caller::of(&c),
        "token": { "audience": c.audience, "expires_at": c.expires_at, "jwt_id": c.jwt_id },
    }))
}

fn invoices_body(state: &ApiState, caller: Caller) -> Json<Value> {
    let invoices: Vec<Invoice> = lock(&state.invoices).list.iter().cloned().collect();
    Json(json!({ "caller": caller, "invoices": invoices }))
}

async fn list_invoices(State(state): State<ApiState>, BearerClaims(c): BearerClaims) -> Json<Value> {
    invoices_body(&state, Caller::of(&c))
}

async fn list_invoices_unprotected(State(state): State<ApiState>) -> Json<Value> {
    invoices_body(&state, Caller::anonymous())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewInvoice {
    customer: Option<String>,
    amount_cents: Option<u64>,
}

fn bad_request(description: &str) -> Response {
    let mut res =
        (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_request", "error_description": description })))
            .into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `POST /api/invoices` with an optional JSON body `{"customer": "…", "amount_cents": 1234}`.
async fn create_invoice(State(state): State<ApiState>, BearerClaims(c): BearerClaims, body: Bytes) -> Response {
    let new: NewInvoice = if body.iter().all(u8::is_ascii_whitespace) {
        NewInvoice::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(n) => n,
            Err(_) => return bad_request("the body must be JSON: {\"customer\": \"...\", \"amount_cents\": 1234}"),
        }
    };
    let customer = new.customer.unwrap_or_else(|| "Demo customer".to_owned());
    if customer.trim().is_empty()
        || customer.chars().count() > MAX_CUSTOMER_LEN
        || customer.chars().any(char::is_control)
    {
        return bad_request("customer must be 1 to 100 printable characters");
    }
    let invoice = lock(&state.invoices).add(customer, new.amount_cents.unwrap_or(1000), c.subject.clone());
    (StatusCode::CREATED, Json(json!({ "caller": Caller::of(&c), "invoice": invoice }))).into_response()
}
