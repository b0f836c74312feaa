//! The virtual browser of flow_bench: a cookie jar (reqwest's cookie feature is not enabled)
//! over a shared keep-alive client that never follows redirects, and the captured response
//! [`Res`]. Add a request kind as a method of [`Browser`] that goes through `send`, so that
//! cookies are kept.

/// A captured response.
pub(crate) struct Res {
    pub(crate) status: u16,
    pub(crate) location: Option<String>,
    pub(crate) body: String,
}

impl Res {
    /// Short description for error reports: status, Location, and the page's heading and alert
    /// (HTML) or the body (JSON).
    pub(crate) fn describe(&self) -> String {
        let mut s = format!("HTTP {}", self.status);
        if let Some(l) = &self.location {
            s.push_str(&format!(" Location: {}", truncate(l, 200)));
        }
        let b = self.body.trim();
        if b.starts_with('{') {
            s.push_str(&format!(" body: {}", truncate(b, 300)));
        } else {
            let mut parts = Vec::new();
            for (open, close) in [("<h1>", "</h1>"), ("role=\"alert\">", "</p>")] {
                if let Some(i) = b.find(open) {
                    let rest = &b[i + open.len()..];
                    parts.push(rest[..rest.find(close).unwrap_or(rest.len().min(200))].trim().to_owned());
                }
            }
            if parts.is_empty() && !b.is_empty() {
                parts.push(truncate(b, 200));
            }
            if !parts.is_empty() {
                s.push_str(&format!(" page: {}", parts.join(" / ")));
            }
        }
        s
    }
}

pub(crate) fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_owned();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// One browser: a cookie jar over a shared keep-alive client that never follows redirects.
pub(crate) struct Browser {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    jar: Vec<(String, String)>,
}

impl Browser {
    pub(crate) fn new(http: reqwest::Client, base: &str) -> Browser {
        Browser { http, base: base.to_owned(), jar: Vec::new() }
    }

    fn abs(&self, url: &str) -> String {
        if url.starts_with('/') { format!("{}{}", self.base, url) } else { url.to_owned() }
    }

    fn cookie_header(&self) -> String {
        self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    /// Drops the sign-in session cookie (both spellings), keeping the browser cookie.
    pub(crate) fn clear_session(&mut self) {
        self.jar.retain(|(k, _)| k != "kc_session" && k != "__Host-kc_session");
    }

    fn store_cookies(&mut self, headers: &reqwest::header::HeaderMap) {
        for sc in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(sc) = sc.to_str() else { continue };
            let (kv, attrs) = sc.split_once(';').unwrap_or((sc, ""));
            let Some((k, v)) = kv.split_once('=') else { continue };
            let (k, v) = (k.trim(), v.trim());
            self.jar.retain(|(n, _)| n != k);
            let expired = attrs.split(';').any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            if !expired && !v.is_empty() {
                self.jar.push((k.to_owned(), v.to_owned()));
            }
        }
    }

    async fn send(&mut self, rb: reqwest::RequestBuilder) -> Result<Res, String> {
        let rb = if self.jar.is_empty() { rb } else { rb.header(reqwest::header::COOKIE, self.cookie_header()) };
        let r = rb.send().await.map_err(|e| format!("request failed: {e}"))?;
        self.store_cookies(r.headers());
        let status = r.status().as_u16();
        let location = r.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = r.text().await.map_err(|e| format!("reading the body failed: {e}"))?;
        Ok(Res { status, location, body })
    }

    pub(crate) async fn get(&mut self, url: &str) -> Result<Res, String> {
        let rb = self.http.get(self.abs(url));
        self.send(rb).await
    }

    pub(crate) async fn post_form(&mut self, url: &str, fields: &[(&str, &str)]) -> Result<Res, String> {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let rb = self
            .http
            .post(self.abs(url))
            .header(reqwest::header::ORIGIN, self.base.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        self.send(rb).await
    }
}

/// Finds `name="NAME" value="VALUE"` in HTML and unescapes the value (as the tests do).
pub(crate) fn form_field(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&#x2f;", "/")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}
