//! The client's IP address behind trusted reverse proxies (SECURITY I8, G9; OAuth 2.0 Security
//! BCP §4.13: a reverse proxy must sanitise the headers it forwards, and the server must trust
//! them only from the proxy).
//!
//! By default `X-Forwarded-For` is ignored and the TCP peer is the client: anyone can send the
//! header. With `http.trusted_proxies` (CIDR blocks), a request whose TCP peer is in one of them
//! is attributed to the right-most `X-Forwarded-For` address that is not itself a trusted proxy
//! (each proxy appends the address it received the request from, so entries to the left of the
//! first untrusted one may be forged by the client). The result keys the sign-in, device-code and
//! client-secret throttles.

pub use crate::net::Cidr;
use axum::http::HeaderMap;
use std::net::IpAddr;

/// The client address of a request that came from TCP peer `peer`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if trusted.is_empty() || !is_trusted(peer) {
        return peer.to_canonical();
    }
    // Every X-Forwarded-For header, in order, as one list (RFC 9110 §5.3).
    let mut hops: Vec<&str> = Vec::new();
    for v in headers.get_all("x-forwarded-for") {
        let Ok(v) = v.to_str() else {
            return peer.to_canonical();
        };
        hops.extend(v.split(',').map(str::trim));
    }
    let mut client = peer.to_canonical();
    for hop in hops.iter().rev() {
        // A malformed entry ends the walk: what lies left of it cannot be trusted either.
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = ip.to_canonical();
        if !is_trusted(client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn cidrs(list: &[&str]) -> Vec<Cidr> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn parses_cidr_blocks() {
        assert!("10.0.0.0/8".parse::<Cidr>().unwrap().contains(ip("10.200.1.1")));
        assert!(!"10.0.0.0/8".parse::<Cidr>().unwrap().contains(ip("11.0.0.1")));
        assert!("192.168.1.10".parse::<Cidr>().unwrap().contains(ip("192.168.1.10")));
        assert!(!"192.168.1.10".parse::<Cidr>().unwrap().contains(ip("192.168.1.11")));
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        assert!("fd00::/8".parse::<Cidr>().unwrap().contains(ip("fd12::1")));
        assert!(!"fd00::/8".parse::<Cidr>().unwrap().contains(ip("10.0.0.1")));
        assert!("127.0.0.1/32".parse::<Cidr>().unwrap().contains(ip("::ffff:127.0.0.1")), "mapped IPv4");
        for bad in ["", "10.0.0.0/33", "10.0.0.1/8", "fd00::/129", "example.com", "10.0.0.0/x"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
        assert!("10.0.0.1/8".parse::<Cidr>().unwrap_err().contains("10.0.0.0/8"));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = cidrs(&["10.0.0.0/8"]);
        // No trusted proxies (the default), or an untrusted peer: the header is ignored.
        assert_eq!(client_ip(ip("10.0.0.5"), &xff(&["203.0.113.7"]), &[]), ip("10.0.0.5"));
        assert_eq!(client_ip(ip("198.51.100.1"), &xff(&["203.0.113.7"]), &trusted), ip("198.51.100.1"));
        // A trusted proxy: the address it saw.
        assert_eq!(client_ip(ip("10.0.0.5"), &xff(&["203.0.113.7"]), &trusted), ip("203.0.113.7"));
        // The client forged an entry; the proxy appended the real address: the right-most
        // untrusted entry wins.
        assert_eq!(client_ip(ip("10.0.0.5"), &xff(&["1.2.3.4, 203.0.113.7"]), &trusted), ip("203.0.113.7"));
        // Two proxies (both trusted), several headers.
        assert_eq!(client_ip(ip("10.0.0.5"), &xff(&["1.2.3.4", "203.0.113.7, 10.0.0.9"]), &trusted), ip("203.0.113.7"));
        // No header, garbage, or only proxies: the last address known.
        assert_eq!(client_ip(ip("10.0.0.5"), &xff(&[]), &trusted), ip("10.0.0.5"));
        assert_eq!(client_ip(ip("10.0.0.5"), &xff(&["1.2.3.4, garbage"]), &trusted), ip("10.0.0.5"));
        assert_eq!(client_ip(ip("10.0.0.5"), &xff(&["10.0.0.7"]), &trusted), ip("10.0.0.7"));
        assert_eq!(client_ip(ip("10.0.0.5"), &xff(&["[::1]:80"]), &trusted), ip("10.0.0.5"));
    }
}
