//! Address ranges, and which addresses are a region's own.

use std::net::IpAddr;

/// Whether an address is private to a site: RFC 1918, loopback,
/// link-local, or IPv6 unique-local.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_private() || a.is_loopback() || a.is_link_local(),
        IpAddr::V6(a) => {
            a.is_loopback()
                || (a.segments()[0] & 0xfe00) == 0xfc00
                || (a.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// An address range (`10.0.0.0/8`, `2001:db8::/32`; a bare address is a
/// range of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    v6: bool,
    base: u128,
    mask: u128,
}

impl Cidr {
    /// Reads `address/length` or a bare address; `None` if it is neither.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (
                a.trim().parse::<IpAddr>().ok()?,
                Some(l.trim().parse::<u32>().ok()?),
            ),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let (v6, bits, width) = match addr {
            IpAddr::V4(v) => (false, u128::from(u32::from(v)), 32),
            IpAddr::V6(v) => (true, u128::from(v), 128),
        };
        let len = len.unwrap_or(width);
        if len > width {
            return None;
        }
        let mask = if len == 0 {
            0
        } else {
            (u128::MAX << (128 - len)) >> (128 - width)
        };
        Some(Cidr {
            v6,
            base: bits & mask,
            mask,
        })
    }

    /// The range of one address.
    pub fn host(ip: IpAddr) -> Cidr {
        let (v6, base) = match ip {
            IpAddr::V4(v) => (false, u128::from(u32::from(v))),
            IpAddr::V6(v) => (true, u128::from(v)),
        };
        let mask = if v6 { u128::MAX } else { u128::from(u32::MAX) };
        Cidr { v6, base, mask }
    }

    /// The prefix length (0: every address of its family).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u32 {
        let width = if self.v6 { 128 } else { 32 };
        width
            - (!self.mask
                & if self.v6 {
                    u128::MAX
                } else {
                    u128::from(u32::MAX)
                })
            .count_ones()
    }

    /// Whether the range holds `ip`.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v6, bits) = match ip {
            IpAddr::V4(v) => (false, u128::from(u32::from(v))),
            IpAddr::V6(v) => (true, u128::from(v)),
        };
        v6 == self.v6 && bits & self.mask == self.base
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.v6 {
            write!(f, "{}/{}", std::net::Ipv6Addr::from(self.base), self.len())
        } else {
            let v4 = u32::try_from(self.base).unwrap_or(0);
            write!(f, "{}/{}", std::net::Ipv4Addr::from(v4), self.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_private_addresses() {
        let n = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(n.contains("10.9.8.7".parse().unwrap()));
        assert!(!n.contains("11.0.0.1".parse().unwrap()));
        assert!(!n.contains("::a00:1".parse().unwrap()));
        assert!(
            Cidr::parse("1.2.3.4")
                .unwrap()
                .contains("1.2.3.4".parse().unwrap())
        );
        assert!(Cidr::parse("1.2.3.4/33").is_none());
        assert_eq!(Cidr::parse("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(Cidr::parse("fd00::1").unwrap().len(), 128);
        assert_eq!(Cidr::parse("0.0.0.0/0").unwrap().len(), 0);
        for ip in ["10.1.2.3", "fd00::7"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(Cidr::host(ip), Cidr::parse(&ip.to_string()).unwrap());
        }
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        for ip in [
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "127.0.0.1",
            "169.254.1.1",
            "fd00::1",
            "fe80::1",
            "::1",
        ] {
            assert!(internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "172.32.0.1", "2001:db8::1"] {
            assert!(!internal(ip.parse().unwrap()), "{ip}");
        }
    }
}
