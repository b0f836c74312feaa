//! Talking to the authorization server: RFC 8414 metadata (fetched once, lazily), the endpoint
//! URLs it yields, and size-bounded HTTP reads shared by the JWKS and introspection clients.
//!
//! Every failure here is an [`Error::Unavailable`] (the server may come back) except a metadata
//! document whose `issuer` differs from the configured one, which is an
//! [`Error::Configuration`] (RFC 8414 §3.3: such a document must not be used).

use crate::Error;
use keycard_types::ServerMetadata;
use reqwest::Url;
use reqwest::header::{ACCEPT, HeaderValue};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// Largest metadata, JWKS or introspection body read; more is refused rather than buffered.
pub(crate) const MAX_BODY: usize = 256 * 1024;

/// The endpoints this crate needs, explicit or from metadata.
#[derive(Debug)]
pub(crate) struct Endpoints {
    pub(crate) jwks_uri: Url,
    pub(crate) introspection_endpoint: Option<Url>,
}

/// How a failed metadata fetch is replayed while waiting to retry.
#[derive(Debug, Clone)]
enum Failure {
    Unavailable(String),
    Configuration(String),
}

impl Failure {
    fn to_error(&self) -> Error {
        match self {
            Self::Unavailable(m) => Error::unavailable("metadata", m.clone()),
            Self::Configuration(m) => Error::Configuration(m.clone()),
        }
    }
}

/// The authorization server as seen by one validator.
#[derive(Debug)]
pub(crate) struct Upstream {
    pub(crate) http: reqwest::Client,
    pub(crate) issuer: String,
    metadata_url: Url,
    allow_http: bool,
    explicit_jwks_uri: Option<Url>,
    explicit_introspection_endpoint: Option<Url>,
    metadata: OnceCell<Endpoints>,
    last_failure: Mutex<Option<(Instant, Failure)>>,
    /// No new metadata fetch sooner than this after a failed one.
    failure_backoff: Duration,
}

impl Upstream {
    pub(crate) fn new(
        http: reqwest::Client,
        issuer: String,
        metadata_url: Url,
        allow_http: bool,
        explicit_jwks_uri: Option<Url>,
        explicit_introspection_endpoint: Option<Url>,
        failure_backoff: Duration,
    ) -> Self {
        Self {
            http,
            issuer,
            metadata_url,
            allow_http,
            explicit_jwks_uri,
            explicit_introspection_endpoint,
            metadata: OnceCell::new(),
            last_failure: Mutex::new(None),
            failure_backoff,
        }
    }

    /// The JWKS URL: explicit, or `jwks_uri` from the metadata.
    pub(crate) async fn jwks_uri(&self) -> Result<Url, Error> {
        if let Some(u) = &self.explicit_jwks_uri {
            return Ok(u.clone());
        }
        Ok(self.metadata().await?.jwks_uri.clone())
    }

    /// The introspection URL: explicit, or `introspection_endpoint` from the metadata.
    pub(crate) async fn introspection_endpoint(&self) -> Result<Url, Error> {
        if let Some(u) = &self.explicit_introspection_endpoint {
            return Ok(u.clone());
        }
        self.metadata().await?.introspection_endpoint.clone().ok_or_else(|| {
            Error::Configuration("the authorization server metadata has no introspection_endpoint".into())
        })
    }

    /// RFC 8414 metadata, fetched once; concurrent first callers share one fetch (the
    /// `OnceCell`), and after a failure nobody refetches for `failure_backoff`.
    async fn metadata(&self) -> Result<&Endpoints, Error> {
        if let Some(m) = self.metadata.get() {
            return Ok(m);
        }
        self.metadata
            .get_or_try_init(|| async {
                // Checked inside the cell so that callers queued behind a failed fetch replay
                // its failure instead of each fetching again.
                if let Some(e) = self.recent_failure() {
                    return Err(e);
                }
                let result = self.fetch_metadata().await;
                if let Err(e) = &result {
                    let failure = match e {
                        Error::Configuration(m) => Failure::Configuration(m.clone()),
                        other => Failure::Unavailable(error_chain(other)),
                    };
                    *lock(&self.last_failure) = Some((Instant::now(), failure));
                }
                result
            })
            .await
    }

    fn recent_failure(&self) -> Option<Error> {
        match &*lock(&self.last_failure) {
            Some((at, failure)) if at.elapsed() < self.failure_backoff => Some(failure.to_error()),
            _ => None,
        }
    }

    async fn fetch_metadata(&self) -> Result<Endpoints, Error> {
        let body = get(&self.http, self.metadata_url.clone(), "metadata").await?;
        let meta: ServerMetadata = serde_json::from_slice(&body)
            .map_err(|e| Error::unavailable("metadata", format!("malformed metadata: {e}")))?;
        if meta.issuer != self.issuer {
            // RFC 8414 §3.3: the issuer must be identical, or the document must not be used.
            return Err(Error::Configuration(format!(
                "metadata issuer {:?} differs from the configured issuer {:?}",
                meta.issuer, self.issuer
            )));
        }
        let jwks_uri = match &self.explicit_jwks_uri {
            Some(u) => u.clone(),
            None => self.endpoint_url("jwks_uri", &meta.jwks_uri)?,
        };
        let introspection_endpoint = match &meta.introspection_endpoint {
            Some(u) => Some(self.endpoint_url("introspection_endpoint", u)?),
            None => None,
        };
        Ok(Endpoints { jwks_uri, introspection_endpoint })
    }

    fn endpoint_url(&self, what: &str, s: &str) -> Result<Url, Error> {
        let url = Url::parse(s).map_err(|e| Error::Configuration(format!("metadata {what} is not a URL: {e}")))?;
        check_scheme(&url, self.allow_http).map_err(|m| Error::Configuration(format!("metadata {what}: {m}")))?;
        Ok(url)
    }
}

/// A poisoned lock only means another thread panicked mid-update of a cache; the data is still
/// a valid cache state, so carry on with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The error and its causes on one line, for logs and replayed failures.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// `https`, or `http` when allowed or to a loopback host (development and tests).
pub(crate) fn check_scheme(url: &Url, allow_http: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback(url) => Ok(()),
        "http" => Err(format!("{url} uses plain http; use https (or allow_http(true) for a trusted network)")),
        other => Err(format!("{url}: unsupported URL scheme {other:?}")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// RFC 8414 §3.1: the metadata URL of an issuer. With no path component, append the well-known
/// suffix; with one, insert the suffix between the host and the path.
pub(crate) fn metadata_url(issuer: &Url) -> Url {
    const SUFFIX: &str = "/.well-known/oauth-authorization-server";
    let mut url = issuer.clone();
    let path = issuer.path().trim_end_matches('/');
    url.set_path(&format!("{SUFFIX}{path}"));
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// GET a JSON document, 2xx only, body bounded by [`MAX_BODY`].
pub(crate) async fn get(http: &reqwest::Client, url: Url, endpoint: &'static str) -> Result<Vec<u8>, Error> {
    let resp = http
        .get(url)
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .send()
        .await
        .map_err(|e| Error::unavailable(endpoint, e))?;
    if !resp.status().is_success() {
        return Err(Error::unavailable(endpoint, format!("HTTP status {}", resp.status())));
    }
    read_body(resp, endpoint).await
}

/// Reads a response body, refusing more than [`MAX_BODY`] bytes.
pub(crate) async fn read_body(mut resp: reqwest::Response, endpoint: &'static str) -> Result<Vec<u8>, Error> {
    if resp.content_length().is_some_and(|n| n > MAX_BODY as u64) {
        return Err(Error::unavailable(endpoint, "response body too large"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| Error::unavailable(endpoint, e))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(Error::unavailable(endpoint, "response body too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_url_follows_rfc8414() {
        let u = |s: &str| metadata_url(&Url::parse(s).unwrap()).to_string();
        assert_eq!(u("https://as.example"), "https://as.example/.well-known/oauth-authorization-server");
        assert_eq!(u("https://as.example/"), "https://as.example/.well-known/oauth-authorization-server");
        assert_eq!(
            u("https://as.example/tenant/a"),
            "https://as.example/.well-known/oauth-authorization-server/tenant/a"
        );
        assert_eq!(u("http://127.0.0.1:8080"), "http://127.0.0.1:8080/.well-known/oauth-authorization-server");
    }

    #[test]
    fn https_required_except_loopback() {
        let c = |s: &str, allow| check_scheme(&Url::parse(s).unwrap(), allow).is_ok();
        assert!(c("https://as.example", false));
        assert!(c("http://127.0.0.1:1", false));
        assert!(c("http://[::1]:1", false));
        assert!(c("http://localhost:1", false));
        assert!(!c("http://as.example", false));
        assert!(c("http://as.example", true));
        assert!(!c("ftp://as.example", true));
    }
}
