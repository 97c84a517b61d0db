//! The addresses "send webhook" never connects to.
//!
//! [`SPECIAL_RANGES`] is the one table of them. Its source is IANA:
//! - the **IANA IPv4 Special-Purpose Address Registry** and the **IANA IPv6 Special-Purpose
//!   Address Registry** (RFC 6890 and its updates): every entry, whether marked globally reachable
//!   or not, since none of them is where a webhook receiver lives;
//! - the **IPv4 Address Space** registry: multicast, 224.0.0.0/4;
//! - the **Internet Protocol Version 6 Address Space** registry: every block that is not
//!   2000::/3, the only one allocated for global unicast (so a range IANA sets apart outside
//!   2000::/3 later is refused already), plus the deprecated IPv4-compatible ::/96 and site-local
//!   fec0::/10 under their own names.
//!
//! An IPv6 address that carries an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4,
//! Teredo) is also judged by the IPv4 address inside it ([`embedded_ipv4`]).

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// One range set apart by IANA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialRange {
    /// The block.
    pub net: IpNet,
    /// Its name in the registry.
    pub name: &'static str,
    /// The document that set it apart.
    pub spec: &'static str,
}

impl fmt::Display for SpecialRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {})", self.net, self.name, self.spec)
    }
}

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> IpNet {
    IpNet::V4(Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len))
}

const fn v6(s: [u16; 8], len: u8) -> IpNet {
    IpNet::V6(Ipv6Net::new_assert(
        Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
        len,
    ))
}

const fn range(net: IpNet, name: &'static str, spec: &'static str) -> SpecialRange {
    SpecialRange { net, name, spec }
}

/// Every range a webhook may not reach (sources in the module's documentation). A prefix with
/// a bad length does not compile.
pub const SPECIAL_RANGES: &[SpecialRange] = &[
    // IANA IPv4 Special-Purpose Address Registry.
    range(
        v4(0, 0, 0, 0, 8),
        "\"This network\"",
        "RFC 791, section 3.2",
    ),
    range(
        v4(0, 0, 0, 0, 32),
        "\"This host on this network\"",
        "RFC 1122, section 3.2.1.3",
    ),
    range(v4(10, 0, 0, 0, 8), "Private-Use", "RFC 1918"),
    range(v4(100, 64, 0, 0, 10), "Shared Address Space", "RFC 6598"),
    range(v4(127, 0, 0, 0, 8), "Loopback", "RFC 1122, section 3.2.1.3"),
    range(v4(169, 254, 0, 0, 16), "Link Local", "RFC 3927"),
    range(v4(172, 16, 0, 0, 12), "Private-Use", "RFC 1918"),
    range(
        v4(192, 0, 0, 0, 24),
        "IETF Protocol Assignments",
        "RFC 6890, section 2.1",
    ),
    range(
        v4(192, 0, 0, 0, 29),
        "IPv4 Service Continuity Prefix",
        "RFC 7335",
    ),
    range(v4(192, 0, 0, 8, 32), "IPv4 dummy address", "RFC 7600"),
    range(
        v4(192, 0, 0, 9, 32),
        "Port Control Protocol Anycast",
        "RFC 7723",
    ),
    range(
        v4(192, 0, 0, 10, 32),
        "Traversal Using Relays around NAT Anycast",
        "RFC 8155",
    ),
    range(
        v4(192, 0, 0, 170, 32),
        "NAT64/DNS64 Discovery",
        "RFC 8880, RFC 7050",
    ),
    range(
        v4(192, 0, 0, 171, 32),
        "NAT64/DNS64 Discovery",
        "RFC 8880, RFC 7050",
    ),
    range(
        v4(192, 0, 2, 0, 24),
        "Documentation (TEST-NET-1)",
        "RFC 5737",
    ),
    range(v4(192, 31, 196, 0, 24), "AS112-v4", "RFC 7535"),
    range(v4(192, 52, 193, 0, 24), "AMT", "RFC 7450"),
    range(
        v4(192, 88, 99, 0, 24),
        "Deprecated (6to4 Relay Anycast)",
        "RFC 7526",
    ),
    range(
        v4(192, 88, 99, 2, 32),
        "6a44-relay anycast address",
        "RFC 6751",
    ),
    range(v4(192, 168, 0, 0, 16), "Private-Use", "RFC 1918"),
    range(
        v4(192, 175, 48, 0, 24),
        "Direct Delegation AS112 Service",
        "RFC 7534",
    ),
    range(v4(198, 18, 0, 0, 15), "Benchmarking", "RFC 2544"),
    range(
        v4(198, 51, 100, 0, 24),
        "Documentation (TEST-NET-2)",
        "RFC 5737",
    ),
    range(
        v4(203, 0, 113, 0, 24),
        "Documentation (TEST-NET-3)",
        "RFC 5737",
    ),
    range(v4(240, 0, 0, 0, 4), "Reserved", "RFC 1112, section 4"),
    range(
        v4(255, 255, 255, 255, 32),
        "Limited Broadcast",
        "RFC 8190, RFC 919 section 7",
    ),
    // IPv4 Address Space registry.
    range(v4(224, 0, 0, 0, 4), "Multicast", "RFC 5771"),
    // IANA IPv6 Special-Purpose Address Registry.
    range(
        v6([0, 0, 0, 0, 0, 0, 0, 1], 128),
        "Loopback Address",
        "RFC 4291",
    ),
    range(
        v6([0, 0, 0, 0, 0, 0, 0, 0], 128),
        "Unspecified Address",
        "RFC 4291",
    ),
    range(
        v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96),
        "IPv4-mapped Address",
        "RFC 4291",
    ),
    range(
        v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96),
        "IPv4-IPv6 Translation",
        "RFC 6052",
    ),
    range(
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "IPv4-IPv6 Translation (local use)",
        "RFC 8215",
    ),
    range(
        v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
        "Discard-Only Address Block",
        "RFC 6666",
    ),
    range(
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        "IETF Protocol Assignments",
        "RFC 2928",
    ),
    range(
        v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 32),
        "TEREDO",
        "RFC 4380, RFC 8190",
    ),
    range(
        v6([0x2001, 1, 0, 0, 0, 0, 0, 1], 128),
        "Port Control Protocol Anycast",
        "RFC 7723",
    ),
    range(
        v6([0x2001, 1, 0, 0, 0, 0, 0, 2], 128),
        "Traversal Using Relays around NAT Anycast",
        "RFC 8155",
    ),
    range(
        v6([0x2001, 1, 0, 0, 0, 0, 0, 3], 128),
        "DNS-SD Service Registration Protocol Anycast",
        "RFC 9665",
    ),
    range(
        v6([0x2001, 2, 0, 0, 0, 0, 0, 0], 48),
        "Benchmarking",
        "RFC 5180",
    ),
    range(v6([0x2001, 3, 0, 0, 0, 0, 0, 0], 32), "AMT", "RFC 7450"),
    range(
        v6([0x2001, 4, 0x112, 0, 0, 0, 0, 0], 48),
        "AS112-v6",
        "RFC 7535",
    ),
    range(
        v6([0x2001, 0x10, 0, 0, 0, 0, 0, 0], 28),
        "Deprecated (previously ORCHID)",
        "RFC 4843",
    ),
    range(
        v6([0x2001, 0x20, 0, 0, 0, 0, 0, 0], 28),
        "ORCHIDv2",
        "RFC 7343",
    ),
    range(
        v6([0x2001, 0x30, 0, 0, 0, 0, 0, 0], 28),
        "Drone Remote ID Protocol Entity Tags (DETs) Prefix",
        "RFC 9374",
    ),
    range(
        v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        "Documentation",
        "RFC 3849",
    ),
    range(v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), "6to4", "RFC 3056"),
    range(
        v6([0x2620, 0x4f, 0x8000, 0, 0, 0, 0, 0], 48),
        "Direct Delegation AS112 Service",
        "RFC 7534",
    ),
    range(
        v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20),
        "Documentation",
        "RFC 9637",
    ),
    range(
        v6([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16),
        "Segment Routing (SRv6) SIDs",
        "RFC 9602",
    ),
    range(
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "Unique-Local",
        "RFC 4193, RFC 8190",
    ),
    range(
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        "Link-Local Unicast",
        "RFC 4291",
    ),
    // Internet Protocol Version 6 Address Space registry: all but 2000::/3.
    range(
        v6([0, 0, 0, 0, 0, 0, 0, 0], 96),
        "IPv4-compatible (deprecated)",
        "RFC 4291, section 2.5.5.1",
    ),
    range(
        v6([0, 0, 0, 0, 0, 0, 0, 0], 8),
        "Reserved by IETF",
        "RFC 4291",
    ),
    range(
        v6([0x100, 0, 0, 0, 0, 0, 0, 0], 8),
        "Reserved by IETF",
        "RFC 4291",
    ),
    range(
        v6([0x200, 0, 0, 0, 0, 0, 0, 0], 7),
        "Reserved by IETF",
        "RFC 4048",
    ),
    range(
        v6([0x400, 0, 0, 0, 0, 0, 0, 0], 6),
        "Reserved by IETF",
        "RFC 4291",
    ),
    range(
        v6([0x800, 0, 0, 0, 0, 0, 0, 0], 5),
        "Reserved by IETF",
        "RFC 4291",
    ),
    range(
        v6([0x1000, 0, 0, 0, 0, 0, 0, 0], 4),
        "Reserved by IETF",
        "RFC 4291",
    ),
    range(
        v6([0x4000, 0, 0, 0, 0, 0, 0, 0], 3),
        "Reserved by IETF",
        "RFC 4291",
    ),
    range(
        v6([0x6000, 0, 0, 0, 0, 0, 0, 0], 3),
        "Reserved by IETF",
        "RFC 4291",
    ),
    range(
        v6([0x8000, 0, 0, 0, 0, 0, 0, 0], 3),
        "Reserved by IETF",
        "RFC 4291",
    ),
    range(
        v6([0xa000, 0, 0, 0, 0, 0, 0, 0], 3),
        "Reserved by IETF",
        "RFC 4291",
    ),
    range(
        v6([0xc000, 0, 0, 0, 0, 0, 0, 0], 3),
        "Reserved by IETF",
        "RFC 4291",
    ),
    range(
        v6([0xe000, 0, 0, 0, 0, 0, 0, 0], 4),
        "Reserved by IETF",
        "RFC 4291",
    ),
    range(
        v6([0xf000, 0, 0, 0, 0, 0, 0, 0], 5),
        "Reserved by IETF",
        "RFC 4291",
    ),
    range(
        v6([0xf800, 0, 0, 0, 0, 0, 0, 0], 6),
        "Reserved by IETF",
        "RFC 4291",
    ),
    range(
        v6([0xfe00, 0, 0, 0, 0, 0, 0, 0], 9),
        "Reserved by IETF",
        "RFC 4291",
    ),
    range(
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "Site-local (deprecated)",
        "RFC 3879",
    ),
    range(
        v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
        "Multicast",
        "RFC 4291",
    ),
];

/// The IPv4 addresses an IPv6 address carries: IPv4-mapped (::ffff:0:0/96), IPv4-compatible
/// (::/96), NAT64 (64:ff9b::/96 and 64:ff9b:1::/48, RFC 6052), 6to4 (2002::/16, RFC 3056) and
/// Teredo (2001::/32, RFC 4380: the server, and the client with its bits inverted).
pub fn embedded_ipv4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => vec![tail],
        // IPv4-compatible, but not :: and ::1 (RFC 4291, section 2.5.5.1).
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 || lo > 1 => vec![tail],
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => vec![tail],
        // RFC 6052 section 2.2 with a /48 prefix: bits 64..72 ("u") are skipped.
        [0x64, 0xff9b, 1, ..] => vec![Ipv4Addr::new(o[6], o[7], o[9], o[10])],
        [0x2002, ..] => vec![Ipv4Addr::new(o[2], o[3], o[4], o[5])],
        [0x2001, 0, ..] => vec![
            Ipv4Addr::new(o[4], o[5], o[6], o[7]),
            Ipv4Addr::from(!u32::from(tail)),
        ],
        _ => Vec::new(),
    }
}

fn listed(ip: IpAddr) -> Option<&'static SpecialRange> {
    SPECIAL_RANGES.iter().find(|r| r.net.contains(&ip))
}

/// The special-purpose range that makes `ip` unreachable for webhooks, or `None` for a public
/// address. An IPv6 address is judged by the IPv4 addresses it carries first, then by itself.
pub fn special_range(ip: IpAddr) -> Option<&'static SpecialRange> {
    match ip {
        IpAddr::V4(_) => listed(ip),
        IpAddr::V6(v6) => embedded_ipv4(v6)
            .into_iter()
            .find_map(|v4| listed(IpAddr::V4(v4)))
            .or_else(|| listed(ip)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> bool {
        special_range(ip.parse().expect("an address")).is_some()
    }

    /// The first, last and a middle address of a block.
    fn samples(net: IpNet) -> Vec<IpAddr> {
        match net {
            IpNet::V4(n) => {
                let (first, last) = (u32::from(n.network()), u32::from(n.broadcast()));
                [first, first + (last - first) / 2, last]
                    .map(|a| IpAddr::V4(a.into()))
                    .to_vec()
            }
            IpNet::V6(n) => {
                let (first, last) = (u128::from(n.network()), u128::from(n.broadcast()));
                [first, first + (last - first) / 2, last]
                    .map(|a| IpAddr::V6(a.into()))
                    .to_vec()
            }
        }
    }

    #[test]
    fn every_address_of_every_special_purpose_range_is_refused() {
        assert!(SPECIAL_RANGES.len() > 60, "the whole table is checked");
        for entry in SPECIAL_RANGES {
            for ip in samples(entry.net) {
                let hit = special_range(ip).unwrap_or_else(|| panic!("{ip} of {entry} passed"));
                // The reason given is a range that holds the address or the IPv4 address in it.
                let holds = hit.net.contains(&ip)
                    || matches!(ip, IpAddr::V6(v6) if embedded_ipv4(v6)
                        .iter()
                        .any(|v4| hit.net.contains(&IpAddr::V4(*v4))));
                assert!(holds, "{ip} refused for {hit}, which does not hold it");
            }
        }
    }

    #[test]
    fn known_internal_and_reserved_addresses_are_refused() {
        for ip in [
            // The ranges named in the issue.
            "64:ff9b::1",
            "64:ff9b::808:808",
            "::ffff:0:0",
            "::ffff:8.8.8.8",
            "2002::1",
            "2002:808:808::1",
            "::",
            "::8.8.8.8",
            "fec0::1",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "255.255.255.254",
            "192.0.0.1",
            "192.0.0.255",
            // Loopback, private and link-local, and what embeds them.
            "127.0.0.1",
            "127.255.255.254",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1:7f00:0:100::",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "febf:ffff::1",
            "ff02::1",
            "100::1",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
            "1::1",
            "4000::1",
            "e000::1",
        ] {
            assert!(refused(ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "9.9.9.9",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2a00:1450:4001:80b::200e",
            "2001:200::1",
            "2003::1",
            "3ffe::1",
            "3ff0:ffff::1",
            "3fff:1000::1",
        ] {
            assert!(
                !refused(ip),
                "{ip} is public, refused as {:?}",
                special_range(ip.parse().expect("ip"))
            );
        }
    }

    #[test]
    fn the_ipv4_address_inside_an_ipv6_address_is_found() {
        let v4 = |s: &str| s.parse::<Ipv4Addr>().expect("v4");
        let inside = |s: &str| embedded_ipv4(s.parse().expect("v6"));
        assert_eq!(inside("::ffff:10.0.0.1"), vec![v4("10.0.0.1")]);
        assert_eq!(inside("::10.0.0.1"), vec![v4("10.0.0.1")]);
        assert_eq!(inside("64:ff9b::a00:1"), vec![v4("10.0.0.1")]);
        assert_eq!(inside("64:ff9b:1:a00:0:100::"), vec![v4("10.0.0.1")]);
        assert_eq!(inside("2002:a00:1::"), vec![v4("10.0.0.1")]);
        // Teredo: server 65.54.227.120, client 192.0.2.45 (RFC 4380's example, bits inverted).
        assert_eq!(
            inside("2001:0:4136:e378:8000:63bf:3fff:fdd2"),
            vec![v4("65.54.227.120"), v4("192.0.2.45")]
        );
        assert!(inside("2606:4700:4700::1111").is_empty());
        // The reason given for an embedded address is its IPv4 range.
        let hit = special_range("::ffff:127.0.0.1".parse().expect("ip")).expect("refused");
        assert_eq!(hit.name, "Loopback");
        let hit = special_range("::1".parse().expect("ip")).expect("refused");
        assert_eq!(hit.name, "Loopback Address");
    }
}
