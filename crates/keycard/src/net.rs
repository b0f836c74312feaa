//! Network address types shared by configuration and the HTTP layer: CIDR blocks for
//! `http.trusted_proxies` (SECURITY I8). Plain data with no HTTP in it, so `config` can parse
//! and validate them without naming `http/`.

use std::net::IpAddr;

/// A CIDR block such as `10.0.0.0/8`, `192.168.1.10` (one address) or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr.trim().parse().map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        let cidr = Cidr { net, prefix };
        if cidr.masked(net) != net {
            return Err(format!("{s:?}: host bits are set after the prefix (did you mean {}?)", cidr.display_net()));
        }
        Ok(cidr)
    }
}

impl Cidr {
    fn masked(&self, ip: IpAddr) -> IpAddr {
        match ip {
            IpAddr::V4(v4) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                IpAddr::from((u32::from(v4) & mask).to_be_bytes())
            }
            IpAddr::V6(v6) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                IpAddr::from((u128::from(v6) & mask).to_be_bytes())
            }
        }
    }

    fn display_net(&self) -> String {
        format!("{}/{}", self.masked(self.net), self.prefix)
    }

    /// Is `ip` in this block? (An IPv4-mapped IPv6 address counts as its IPv4 address.)
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.net.is_ipv4() && self.masked(ip) == self.net
    }
}
