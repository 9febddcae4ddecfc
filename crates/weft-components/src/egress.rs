//! The egress guard: which network addresses components may reach.
//!
//! Outbound requests from integrations are attacker-influenced (a customer types an endpoint URL
//! into the wizard), so Weft refuses destinations inside the host's own network — loopback,
//! private ranges, link-local, cloud metadata services and other special-purpose ranges — unless
//! the operator allow-lists them (`--egress-allow 127.0.0.1/32`).
//!
//! The check must happen on the address actually connected to, not on the host name in the URL,
//! or DNS could point a harmless-looking name at `127.0.0.1`. So [`GuardedResolver`] filters what
//! DNS returns, `http.request` checks IP-literal URLs itself (reqwest does not consult the
//! resolver for them), and redirects are followed by hand so every hop goes through both checks.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use weft_model::{ErrorKind, StepError};

/// Decides whether an address may be connected to.
#[derive(Clone, Debug, Default)]
pub struct EgressGuard {
    /// Ranges the operator explicitly allowed although they would be refused.
    allow: Arc<Vec<IpNet>>,
}

/// Why an address is refused: its class and the special-purpose range it falls in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// Reads after "is a": `loopback address`, `private address`, ...
    pub class: &'static str,
    /// The range, as written in the IANA special-purpose registry.
    pub range: &'static str,
}

/// Refused IPv4 ranges, most specific first (metadata addresses sit inside wider ranges).
const V4_TABLE: &[(&str, &str)] = &[
    ("169.254.169.254/32", "cloud metadata address"),
    ("100.100.100.200/32", "cloud metadata address"),
    ("255.255.255.255/32", "broadcast address"),
    ("0.0.0.0/8", "unspecified (\"this network\") address"),
    ("10.0.0.0/8", "private address"),
    ("100.64.0.0/10", "carrier-grade NAT (shared) address"),
    ("127.0.0.0/8", "loopback address"),
    ("169.254.0.0/16", "link-local address"),
    ("172.16.0.0/12", "private address"),
    ("192.0.0.0/24", "IETF protocol assignment address"),
    ("192.0.2.0/24", "documentation address"),
    ("192.88.99.0/24", "6to4 relay anycast address"),
    ("192.168.0.0/16", "private address"),
    ("198.18.0.0/15", "benchmarking address"),
    ("198.51.100.0/24", "documentation address"),
    ("203.0.113.0/24", "documentation address"),
    ("224.0.0.0/4", "multicast address"),
    ("240.0.0.0/4", "reserved address"),
];

/// Refused IPv6 ranges, most specific first. IPv4-mapped (`::ffff:0:0/96`) and NAT64
/// (`64:ff9b::/96`) addresses are judged by the IPv4 address they embed instead.
const V6_TABLE: &[(&str, &str)] = &[
    ("::/128", "unspecified address"),
    ("::1/128", "loopback address"),
    ("fd00:ec2::254/128", "cloud metadata address"),
    ("::/96", "deprecated IPv4-compatible address"),
    ("100::/64", "discard-only address"),
    ("2001:db8::/32", "documentation address"),
    ("3fff::/20", "documentation address"),
    ("fc00::/7", "private (unique local) address"),
    ("fe80::/10", "link-local address"),
    ("fec0::/10", "site-local address"),
    ("ff00::/8", "multicast address"),
];

/// Classifies an address: `Some` when it lies in a range Weft refuses by default.
pub fn classify(ip: IpAddr) -> Option<Refusal> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify_v4(v4),
            None => V6_TABLE.iter().find_map(|(range, class)| {
                let net: Ipv6Net = range.parse().expect("static IPv6 range");
                net.contains(&v6).then_some(Refusal { class, range })
            }),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Refusal> {
    V4_TABLE.iter().find_map(|(range, class)| {
        let net: Ipv4Net = range.parse().expect("static IPv4 range");
        net.contains(&ip).then_some(Refusal { class, range })
    })
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`)
/// address: connecting to those reaches the IPv4 host, so that is what must be judged.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = ip.segments();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return Some(Ipv4Addr::new(a, b, c, d));
    }
    None
}

impl EgressGuard {
    /// A guard refusing the special-purpose ranges except those inside `allow`.
    pub fn new(allow: Vec<IpNet>) -> EgressGuard {
        EgressGuard { allow: Arc::new(allow) }
    }

    /// The allow-list this guard was built with.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allow
    }

    fn is_allowed(&self, ip: IpAddr) -> bool {
        let alt = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(v4) => Some(IpAddr::V6(v4.to_ipv6_mapped())),
        };
        self.allow.iter().any(|net| net.contains(&ip) || alt.is_some_and(|a| net.contains(&a)))
    }

    /// Whether `ip` may be connected to; a refusal is a `StepError` of kind `egress_denied`
    /// naming the address, its range and the flag that would allow it.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), StepError> {
        let Some(refusal) = classify(ip) else {
            return Ok(());
        };
        if self.is_allowed(ip) {
            return Ok(());
        }
        let host_net = match ip {
            IpAddr::V4(_) => format!("{ip}/32"),
            IpAddr::V6(_) => format!("{ip}/128"),
        };
        Err(StepError::new(
            ErrorKind::EgressDenied,
            format!(
                "{ip} is a {} (in {}); outbound connections to it are refused; allow it with --egress-allow {host_net}",
                refusal.class, refusal.range
            ),
        ))
    }

    /// Checks a URL whose host is an IP literal (reqwest connects to those without asking
    /// [`EgressGuard::resolver`]); host names pass here and are checked when resolved.
    pub fn check_url_host(&self, url: &reqwest::Url) -> Result<(), StepError> {
        let host = url.host_str().unwrap_or("");
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        match bare.parse::<IpAddr>() {
            Ok(ip) => self.check_ip(ip),
            Err(_) => Ok(()),
        }
    }

    /// A DNS resolver for reqwest that resolves with the system resolver and drops refused
    /// addresses.
    pub fn resolver(&self) -> GuardedResolver {
        GuardedResolver { guard: self.clone() }
    }

    /// An HTTP client whose every connection goes through this guard: names resolve through
    /// [`EgressGuard::resolver`], redirects are not followed (a caller that follows one sends a
    /// new request, checked again), and no proxy is used (it would resolve names out of the
    /// guard's sight). IP-literal URLs do not resolve: callers check them with
    /// [`EgressGuard::check_ip`]. Building fails only on a broken TLS setup.
    pub fn http_client(&self, user_agent: &str) -> Result<reqwest::Client, String> {
        crate::install_crypto_provider();
        reqwest::Client::builder()
            .dns_resolver(self.resolver())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(user_agent)
            .build()
            .map_err(|e| format!("could not build the HTTP client: {}", crate::http::error_chain(&e)))
    }
}

/// The refusal carried through reqwest's error chain, so `http.request` can tell an egress
/// refusal from an ordinary connection failure.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.message)]
pub struct EgressRefused(pub StepError);

/// Resolves host names and keeps only the addresses the guard allows. When every address is
/// refused, resolution fails with [`EgressRefused`] for the first of them.
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    guard: EgressGuard,
}

impl GuardedResolver {
    /// Resolves `host` and filters the result (also usable outside reqwest).
    pub async fn resolve_host(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, ResolveError> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| ResolveError::Lookup(host.to_string(), e))?
            .collect();
        let mut first_refusal = None;
        let allowed: Vec<SocketAddr> = addrs
            .into_iter()
            .filter(|a| match self.guard.check_ip(a.ip()) {
                Ok(()) => true,
                Err(e) => {
                    first_refusal.get_or_insert(e);
                    false
                }
            })
            .collect();
        match (allowed.is_empty(), first_refusal) {
            (true, Some(mut e)) => {
                // "localhost resolves to 127.0.0.1, which is a loopback address (…)"
                e.message = format!("{host} resolves to {}", e.message.replacen(" is a ", ", which is a ", 1));
                Err(ResolveError::Refused(EgressRefused(e)))
            }
            (true, None) => Err(ResolveError::NoAddress(host.to_string())),
            (false, _) => Ok(allowed),
        }
    }
}

/// Why [`GuardedResolver::resolve_host`] gave no address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("could not resolve {0}: {1}")]
    Lookup(String, #[source] std::io::Error),
    #[error("{0} has no addresses")]
    NoAddress(String),
    #[error(transparent)]
    Refused(EgressRefused),
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            // Port 0: reqwest substitutes the URL's port.
            match this.resolve_host(&host, 0).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                // Box the refusal itself (not the enum) so the error chain can be searched for it.
                Err(ResolveError::Refused(r)) => Err(Box::new(r) as Box<dyn std::error::Error + Send + Sync>),
                Err(other) => Err(Box::new(other) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

/// Finds an [`EgressRefused`] anywhere in an error's source chain.
pub(crate) fn find_refusal<'e>(err: &'e (dyn std::error::Error + 'static)) -> Option<&'e EgressRefused> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<EgressRefused>() {
            return Some(r);
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(ip: &str) -> Option<&'static str> {
        classify(ip.parse().unwrap()).map(|r| r.class)
    }

    #[test]
    fn classification_table() {
        let table: &[(&str, Option<&str>)] = &[
            ("127.0.0.1", Some("loopback address")),
            ("127.255.255.254", Some("loopback address")),
            ("10.1.2.3", Some("private address")),
            ("172.16.0.1", Some("private address")),
            ("172.31.255.255", Some("private address")),
            ("172.32.0.1", None),
            ("192.168.1.1", Some("private address")),
            ("100.64.0.1", Some("carrier-grade NAT (shared) address")),
            ("100.127.255.255", Some("carrier-grade NAT (shared) address")),
            ("100.128.0.1", None),
            ("169.254.1.1", Some("link-local address")),
            ("169.254.169.254", Some("cloud metadata address")),
            ("100.100.100.200", Some("cloud metadata address")),
            ("0.0.0.0", Some("unspecified (\"this network\") address")),
            ("224.0.0.1", Some("multicast address")),
            ("239.255.255.250", Some("multicast address")),
            ("255.255.255.255", Some("broadcast address")),
            ("240.0.0.1", Some("reserved address")),
            ("192.0.2.10", Some("documentation address")),
            ("198.51.100.7", Some("documentation address")),
            ("203.0.113.99", Some("documentation address")),
            ("198.18.0.1", Some("benchmarking address")),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("93.184.216.34", None),
            ("::1", Some("loopback address")),
            ("::", Some("unspecified address")),
            ("fc00::1", Some("private (unique local) address")),
            ("fd12:3456::1", Some("private (unique local) address")),
            ("fd00:ec2::254", Some("cloud metadata address")),
            ("fe80::1", Some("link-local address")),
            ("ff02::1", Some("multicast address")),
            ("2001:db8::1", Some("documentation address")),
            ("::ffff:127.0.0.1", Some("loopback address")),
            ("::ffff:169.254.169.254", Some("cloud metadata address")),
            ("::ffff:10.0.0.1", Some("private address")),
            ("::ffff:8.8.8.8", None),
            ("64:ff9b::7f00:1", Some("loopback address")),
            ("::127.0.0.1", Some("deprecated IPv4-compatible address")),
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4001:80b::200e", None),
        ];
        for (ip, want) in table {
            assert_eq!(class(ip), *want, "{ip}");
        }
    }

    #[test]
    fn refusal_message_names_address_range_and_flag() {
        let e = EgressGuard::default().check_ip("127.0.0.1".parse().unwrap()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::EgressDenied);
        assert_eq!(
            e.message,
            "127.0.0.1 is a loopback address (in 127.0.0.0/8); outbound connections to it are refused; allow it with --egress-allow 127.0.0.1/32"
        );
        let e = EgressGuard::default().check_ip("::1".parse().unwrap()).unwrap_err();
        assert!(e.message.contains("allow it with --egress-allow ::1/128"), "{}", e.message);
    }

    #[test]
    fn allow_list_admits_exactly_its_ranges() {
        let g = EgressGuard::new(vec!["127.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()]);
        assert!(g.check_ip("127.0.0.1".parse().unwrap()).is_ok());
        assert!(g.check_ip("127.9.9.9".parse().unwrap()).is_ok());
        // An IPv4-mapped form of an allowed IPv4 address is the same host.
        assert!(g.check_ip("::ffff:127.0.0.1".parse().unwrap()).is_ok());
        assert!(g.check_ip("fd00::5".parse().unwrap()).is_ok());
        assert!(g.check_ip("10.0.0.1".parse().unwrap()).is_err());
        assert!(g.check_ip("169.254.169.254".parse().unwrap()).is_err());
        assert!(g.check_ip("::1".parse().unwrap()).is_err());
        // Public addresses need no allow entry.
        assert!(g.check_ip("8.8.8.8".parse().unwrap()).is_ok());
    }
}
