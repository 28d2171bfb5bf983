//! Where a delivery came from, by each front door's own field, and the
//! allowlist it is checked against before any signature work.

use std::net::IpAddr;
use std::str::FromStr;

/// One IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = ();

    /// `network/prefix`, or a single address.
    fn from_str(s: &str) -> Result<Self, ()> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().map_err(|_| ())?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|p| *p <= max).ok_or(())?
            }
            Some(_) => return Err(()),
        };
        Ok(Self { network, prefix })
    }
}

/// The networks deliveries may come from; empty (the default, when no list
/// is set) allows every address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist(Vec<Cidr>);

impl Allowlist {
    pub fn new(cidrs: Vec<Cidr>) -> Self {
        Self(cidrs)
    }

    /// Comma-separated networks, blanks around each ignored. A list that
    /// names no network (`","`) is refused rather than read as "allow every
    /// address": a typo must not open the front door. The error names the
    /// bad entry; networks are not secret.
    pub fn parse(list: &str) -> Result<Self, String> {
        let cidrs = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse()
                    .map_err(|()| format!("{entry:?} is not an IPv4 or IPv6 address or CIDR"))
            })
            .collect::<Result<Vec<Cidr>, String>>()?;
        if cidrs.is_empty() {
            return Err(format!(
                "{list:?} names no network: list IPv4 or IPv6 CIDRs, or leave it unset to allow every address"
            ));
        }
        Ok(Self(cidrs))
    }

    /// An address the front door did not report is outside any non-empty
    /// allowlist.
    pub fn allows(&self, source: Option<IpAddr>) -> bool {
        self.0.is_empty() || source.is_some_and(|ip| self.0.iter().any(|c| c.contains(ip)))
    }
}

/// The address an ALB appended to `X-Forwarded-For`: the right-most one.
/// Anything to its left came from the client and proves nothing.
pub(super) fn alb_source(forwarded_for: Option<&str>) -> Option<IpAddr> {
    forwarded_for?.rsplit(',').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_and_v6_networks() {
        assert!(cidr("52.0.0.0/8").contains("52.1.2.3".parse().unwrap()));
        assert!(!cidr("52.0.0.0/8").contains("53.1.2.3".parse().unwrap()));
        assert!(cidr("0.0.0.0/0").contains("8.8.8.8".parse().unwrap()));
        assert!(cidr("10.0.0.1").contains("10.0.0.1".parse().unwrap()));
        assert!(!cidr("10.0.0.1").contains("10.0.0.2".parse().unwrap()));
        assert!(cidr("2600:1f18::/32").contains("2600:1f18:abcd::1".parse().unwrap()));
        assert!(!cidr("2600:1f18::/32").contains("2600:1f19::1".parse().unwrap()));
        assert!(!cidr("::/0").contains("1.2.3.4".parse().unwrap()));
        for bad in [
            "",
            "1.2.3.4/33",
            "::/129",
            "1.2.3/8",
            "x",
            "1.2.3.4/",
            "1.2.3.4/+8",
            "1.2.3.4/8/8",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn only_the_address_the_load_balancer_appended_counts() {
        assert_eq!(
            alb_source(Some("1.1.1.1, 52.1.2.3")),
            "52.1.2.3".parse().ok()
        );
        assert_eq!(alb_source(Some("52.1.2.3")), "52.1.2.3".parse().ok());
        assert_eq!(alb_source(Some("52.1.2.3, garbage")), None);
        assert_eq!(alb_source(None), None);
    }

    #[test]
    fn a_list_that_names_no_network_is_refused_and_a_bad_entry_named() {
        for empty in [",", " , ", " ", ",,,", "\t,"] {
            let e = Allowlist::parse(empty).unwrap_err();
            assert!(e.contains("names no network"), "{empty:?}: {e}");
        }
        let e = Allowlist::parse("52.0.0.0/8, 52.1.2.3/33 ,10.0.0.0/8").unwrap_err();
        assert!(e.starts_with("\"52.1.2.3/33\" is not"), "{e}");
        assert_eq!(
            Allowlist::parse(" 52.0.0.0/8 ,, 2600:1f18::/32 "),
            Ok(Allowlist::new(vec![
                cidr("52.0.0.0/8"),
                cidr("2600:1f18::/32")
            ]))
        );
    }

    #[test]
    fn an_empty_allowlist_allows_all_and_an_unknown_source_is_refused() {
        assert!(Allowlist::default().allows(None));
        let list = Allowlist::new(vec![cidr("52.0.0.0/8")]);
        assert!(list.allows("52.9.9.9".parse().ok()));
        assert!(!list.allows("9.9.9.9".parse().ok()));
        assert!(!list.allows(None));
    }
}
