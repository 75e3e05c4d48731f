//! `sites:`: named lists of CIDRs over a participant's `ip_address` and
//! `internal_ip_addresses` (IPv4 and IPv6), and the one rule that names a
//! participant's site: the first site in config order one of whose CIDRs
//! holds one of its addresses. Pure: the service and `eval`/`test` ask
//! [`Sites::site_for`] once per participant as samples enter.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;

use super::is_unset;
use crate::qos::ParticipantInfo;
use crate::rules::load::Errs;
use crate::yaml::{Diagnostic, Diagnostics, MapReader, Node, Value};

/// The configured sites, in config order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sites {
    sites: Vec<Site>,
}

/// One named site.
#[derive(Clone, Debug, PartialEq)]
struct Site {
    /// Shared with every participant placed here (cheap clones, pointer
    /// comparisons in the lifecycle).
    name: Arc<str>,
    holds: Holds,
}

/// How a site holds a participant.
#[derive(Clone, Debug, PartialEq)]
enum Holds {
    /// `name: [CIDR, ...]`: any of its addresses in any CIDR.
    Any(Vec<IpNet>),
    /// `name: {public: [...], internal: [...]}`: `ip_address` in a public
    /// CIDR; when internal CIDRs are given, one of `internal_ip_addresses`
    /// must be in them too (a home LAN's 192.168.x.x alone is no office).
    Guarded {
        public: Vec<IpNet>,
        internal: Vec<IpNet>,
    },
}

impl Sites {
    /// Whether no site is configured.
    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }

    /// The site names, in config order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.sites.iter().map(|s| &*s.name)
    }

    /// The site of a participant with public address `ip_address` and the
    /// local addresses `internal`: the first site in config order that
    /// holds it. Addresses that do not parse are ignored.
    pub fn site_of(&self, ip_address: Option<&str>, internal: &[&str]) -> Option<&str> {
        self.find(ip_address, internal.iter().copied())
            .map(|s| &*s.name)
    }

    /// [`Sites::site_of`] for a participant as Zoom described it, as the
    /// shared name (`None` without sites, or when none holds it).
    pub fn site_for(&self, p: &ParticipantInfo) -> Option<Arc<str>> {
        if self.sites.is_empty() {
            return None;
        }
        let internal = p.internal_ip_addresses.iter().map(|a| &**a);
        self.find(p.attribute("ip_address"), internal)
            .map(|s| s.name.clone())
    }

    fn find<'i>(
        &self,
        ip_address: Option<&str>,
        internal: impl Iterator<Item = &'i str>,
    ) -> Option<&Site> {
        let public = ip_address.and_then(parse_addr);
        let internal: Vec<IpAddr> = internal.filter_map(parse_addr).collect();
        let holds = |nets: &[IpNet], addr: &IpAddr| nets.iter().any(|n| n.contains(addr));
        self.sites.iter().find(|site| match &site.holds {
            Holds::Any(nets) => public.iter().chain(&internal).any(|a| holds(nets, a)),
            Holds::Guarded {
                public: p,
                internal: i,
            } => {
                public.is_some_and(|a| holds(p, &a))
                    && (i.is_empty() || internal.iter().any(|a| holds(i, a)))
            }
        })
    }
}

impl Sites {
    /// Checks that each site a rule's `match.site` names as a literal is
    /// one of these: a misspelt site would never match.
    pub fn check_rules(&self, rules: &crate::rules::RuleSet) -> Result<(), Diagnostics> {
        let mut diags = Vec::new();
        for rule in &rules.rules {
            for (site, pos) in &rule.site_literals {
                if !self.names().any(|n| n == site) {
                    let what = format!("rule `{}` `match.site`", rule.name);
                    diags.push(Diagnostic::new(
                        &rule.source.path,
                        *pos,
                        unknown_site(site, self, &what),
                    ));
                }
            }
        }
        if diags.is_empty() {
            Ok(())
        } else {
            Err(Diagnostics(diags))
        }
    }
}

/// An address as Zoom may write it: `10.20.1.5`, `2001:db8::5`,
/// `fe80::1%en0` (zone dropped), `[2001:db8::5]:8801` or `10.20.1.5:8801`
/// (port dropped); an IPv4-mapped IPv6 address counts as its IPv4 address.
fn parse_addr(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let addr = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| text.split_once('%').and_then(|(a, _)| a.parse().ok()))?;
    Some(addr.to_canonical())
}

/// Reads one CIDR: `10.20.0.0/16`, `2001:db8:20::/48`, or a bare address
/// (`198.51.100.7` = `/32`, `2001:db8::7` = `/128`).
fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(addr));
    }
    let net: IpNet = text.parse().map_err(|_| {
        format!("`{text}` is not a CIDR: write an address and prefix length such as 10.20.0.0/16 or 2001:db8::/32, or a single address")
    })?;
    if net.trunc() != net {
        return Err(format!(
            "`{text}` has bits set past its /{} prefix (did you mean `{}`?)",
            net.prefix_len(),
            net.trunc()
        ));
    }
    Ok(net)
}

/// Reads `sites:`.
pub(super) fn parse_sites(node: &Node, errs: &mut Errs<'_>) -> Sites {
    let mut out = Sites::default();
    if node.value == Value::Null {
        return out;
    }
    let Some(mut m) = errs.map(node, "`sites`") else {
        return out;
    };
    for (k, v) in m.entries() {
        let Some(name) = k.as_scalar_text().filter(|n| !n.trim().is_empty()) else {
            errs.at(k.pos, "site names must be non-empty strings");
            continue;
        };
        let section = format!("sites.{name}");
        let holds = match &v.value {
            Value::Map(_) => {
                let mut g = MapReader::new(v, "").expect("a mapping");
                let public = g.get("public").map(|n| cidrs(n, &section, errs));
                let internal = g.get("internal").map(|n| cidrs(n, &section, errs));
                errs.unknown_keys(&g, &format!("`{section}`"), &["public", "internal"]);
                let Some(public) = public else {
                    errs.at(
                        v.pos,
                        format!("`{section}` without `public`: internal CIDRs count only for participants whose ip_address is in the site's public CIDRs; list them, or write the site as a plain list of CIDRs"),
                    );
                    continue;
                };
                Holds::Guarded {
                    public,
                    internal: internal.unwrap_or_default(),
                }
            }
            _ => Holds::Any(cidrs(v, &section, errs)),
        };
        out.sites.push(Site {
            name: Arc::from(name),
            holds,
        });
    }
    out
}

/// A list of CIDRs (one alone may be written without brackets).
fn cidrs(node: &Node, section: &str, errs: &mut Errs<'_>) -> Vec<IpNet> {
    let Some(items) = node.one_or_list() else {
        errs.at(
            node.pos,
            format!(
                "`{section}` must be a list of CIDRs (or `public:` and `internal:` lists), not {}",
                node.kind()
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let Some(text) = item.as_scalar_text() else {
            errs.at(
                item.pos,
                format!("in `{section}`: CIDRs are strings, not {}", item.kind()),
            );
            continue;
        };
        if is_unset(&text) {
            continue;
        }
        match parse_cidr(&text) {
            Ok(net) => out.push(net),
            Err(msg) => errs.at(item.pos, format!("in `{section}`: {msg}")),
        }
    }
    out
}

/// The message for a matcher literal naming no configured site.
pub(super) fn unknown_site(name: &str, sites: &Sites, what: &str) -> String {
    let known: Vec<&str> = sites.names().collect();
    if known.is_empty() {
        return format!("{what} names site `{name}`, but the config defines no `sites`");
    }
    let hint = crate::matcher::did_you_mean(name, &known);
    format!(
        "{what} names unknown site `{name}`{hint}; the config's sites: {}",
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, EnvMode};
    use std::path::Path;

    fn sites(yaml: &str) -> Result<Sites, Vec<String>> {
        Config::from_str(
            Path::new("q.yaml"),
            &format!("replay: x\nsites:\n{yaml}"),
            EnvMode::Strict,
            &|_| None,
        )
        .map(|c| c.sites)
        .map_err(|d| d.0.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn first_site_in_config_order_wins() {
        let s = sites(
            "  berlin-office: [10.20.0.0/16, 198.51.100.7]\n  everything-ten: [10.0.0.0/8]\n  aaa-first-alphabetically: [10.20.1.0/24]\n",
        )
        .unwrap();
        assert_eq!(
            s.names().collect::<Vec<_>>(),
            [
                "berlin-office",
                "everything-ten",
                "aaa-first-alphabetically"
            ]
        );
        assert_eq!(s.site_of(None, &["10.20.1.5"]), Some("berlin-office"));
        assert_eq!(s.site_of(None, &["10.99.0.1"]), Some("everything-ten"));
        // The public address counts as well as the internal ones; a bare
        // address is a /32.
        assert_eq!(s.site_of(Some("198.51.100.7"), &[]), Some("berlin-office"));
        assert_eq!(s.site_of(Some("198.51.100.8"), &[]), None);
        // Any of the addresses: the one that is held decides.
        assert_eq!(
            s.site_of(Some("203.0.113.9"), &["172.16.0.4", "10.99.0.1"]),
            Some("everything-ten")
        );
        assert_eq!(s.site_of(None, &[]), None);
    }

    #[test]
    fn ipv6_sites() {
        let s = sites("  lab:\n    - 2001:db8:20::/48\n    - fd00:20::7\n  v4: [10.0.0.0/8]\n")
            .unwrap();
        assert_eq!(s.site_of(Some("2001:db8:20:1::5"), &[]), Some("lab"));
        assert_eq!(s.site_of(Some("2001:db8:21::5"), &[]), None);
        assert_eq!(s.site_of(None, &["fd00:20::7"]), Some("lab"));
        assert_eq!(
            s.site_of(None, &["fd00:20::8"]),
            None,
            "a bare address is a /128"
        );
        // Zones and ports dropped; IPv4-mapped addresses are IPv4.
        assert_eq!(s.site_of(None, &["2001:db8:20::1%en0"]), Some("lab"));
        assert_eq!(s.site_of(None, &["[2001:db8:20::1]:8801"]), Some("lab"));
        assert_eq!(s.site_of(None, &["::ffff:10.1.2.3"]), Some("v4"));
        assert_eq!(s.site_of(None, &["10.1.2.3:8801"]), Some("v4"));
    }

    #[test]
    fn internal_cidrs_count_only_behind_the_public_ones() {
        let s = sites(
            "  hq:\n    public: [203.0.113.0/28]\n    internal: [192.168.0.0/16]\n  egress-only:\n    public: [198.51.100.0/24]\n  home-lans: [192.168.0.0/16]\n",
        )
        .unwrap();
        // At the office: the public egress and a 192.168 address.
        assert_eq!(s.site_of(Some("203.0.113.5"), &["192.168.1.5"]), Some("hq"));
        // At home: the same 192.168 address behind another public one.
        assert_eq!(
            s.site_of(Some("81.2.69.142"), &["192.168.1.5"]),
            Some("home-lans")
        );
        // The egress alone, without an internal address in hq's: not hq.
        assert_eq!(s.site_of(Some("203.0.113.5"), &["172.16.0.9"]), None);
        assert_eq!(s.site_of(Some("203.0.113.5"), &[]), None);
        // The internal address never counts as the public one.
        assert_eq!(
            s.site_of(Some("192.168.1.5"), &["192.168.1.5"]),
            Some("home-lans")
        );
        // Public CIDRs only: the public address decides.
        assert_eq!(s.site_of(Some("198.51.100.9"), &[]), Some("egress-only"));
        assert_eq!(s.site_of(None, &["198.51.100.9"]), None);
    }

    #[test]
    fn garbage_addresses_are_ignored() {
        let s = sites("  berlin: [10.20.0.0/16]\n").unwrap();
        for junk in [
            "",
            "-",
            "unknown",
            "10.20.1",
            "10.20.1.500",
            "::g",
            "10.20.0.0/16",
        ] {
            assert_eq!(s.site_of(Some(junk), &[junk]), None, "{junk:?}");
        }
        assert_eq!(
            s.site_of(Some("garbage"), &["nonsense", " 10.20.3.4 "]),
            Some("berlin")
        );
        let p = {
            let mut p = ParticipantInfo::default();
            p.set_attribute("ip_address", Some(Arc::from("10.20.9.9")));
            p
        };
        let site = s.site_for(&p).unwrap();
        assert_eq!(&*site, "berlin");
        assert!(
            Arc::ptr_eq(&site, &s.site_for(&p).unwrap()),
            "shared, not copied"
        );
        assert_eq!(Sites::default().site_for(&p), None);
    }

    #[test]
    fn bad_sites_are_errors_with_positions() {
        let errs = sites(
            "  a: [10.20.0.0/33, not-an-ip, 10.20.1.0/16, 5]\n  b:\n    public: [203.0.113.0/28]\n    internl: [192.168.0.0/16]\n  c:\n    internal: [192.168.0.0/16]\n  d: 7\n",
        )
        .unwrap_err();
        assert_eq!(errs.len(), 7, "{errs:#?}");
        assert!(
            errs[0].starts_with("q.yaml:3:7: error: in `sites.a`: `10.20.0.0/33` is not a CIDR"),
            "{errs:#?}"
        );
        assert!(
            errs[1].starts_with("q.yaml:3:21: error: in `sites.a`: `not-an-ip` is not a CIDR"),
            "{errs:#?}"
        );
        assert!(
            errs[2].contains(":3:32: error: in `sites.a`: `10.20.1.0/16` has bits set past its /16 prefix (did you mean `10.20.0.0/16`?)"),
            "{errs:#?}"
        );
        assert!(
            errs[3].contains(":3:46: error: in `sites.a`: `5` is not a CIDR"),
            "{errs:#?}"
        );
        assert!(
            errs[4].contains(
                ":6:5: error: unknown key `internl` in `sites.b` (did you mean `internal`?)"
            ),
            "{errs:#?}"
        );
        assert!(
            errs[5].contains(":8:5: error: `sites.c` without `public`"),
            "{errs:#?}"
        );
        assert!(
            errs[6].contains(":9:6: error: `sites.d` must be a list of CIDRs"),
            "{errs:#?}"
        );
    }

    #[test]
    fn match_literals_must_name_configured_sites() {
        let load = |text: &str| {
            Config::from_str(Path::new("q.yaml"), text, EnvMode::Strict, &|_| None)
                .map_err(|d| d.to_string())
        };
        let e = load(
            "replay: x\nsites:\n  berlin-office: [10.20.0.0/16]\nnotifiers:\n  a: { type: console }\nroutes:\n  - match: { site: [berlin-ofice, '~^b'] }\n    notify: [a]\n  - match: { site: '!berlin-office' }\n    notify: [a]\n",
        )
        .unwrap_err();
        assert_eq!(
            e,
            "q.yaml:7:21: error: route `match.site` names unknown site `berlin-ofice` (did you mean `berlin-office`?); the config's sites: berlin-office"
        );
        let c = load("replay: x\nsites:\n  berlin-office: [10.20.0.0/16]\n  hq: [10.0.0.0/8]\n")
            .unwrap();
        let rules = crate::rules::load_str(
            Path::new("r.yaml"),
            "rules:\n  - name: r\n    when: audio_input.latency > 1ms\n    match: { site: [hq, berlin_office] }\n  - name: s\n    when: audio_input.latency > 1ms\n    match: { site: '~^berlin' }\n",
        )
        .unwrap();
        let e = c.check_labels(&rules).unwrap_err().to_string();
        assert_eq!(
            e,
            "r.yaml:4:25: error: rule `r` `match.site` names unknown site `berlin_office` (did you mean `berlin-office`?); the config's sites: berlin-office, hq"
        );
        // Without sites, a site literal is an error once a config is known.
        let bare = load("replay: x\n").unwrap();
        let e = bare.check_labels(&rules).unwrap_err().to_string();
        assert!(
            e.contains("names site `hq`, but the config defines no `sites`"),
            "{e}"
        );
    }
}
