//! The egress guard through its public API: the classification table, the allow-list and the
//! guarded resolver on real name resolution.

use std::net::IpAddr;

use weft_components::EgressGuard;
use weft_components::egress::{ResolveError, classify};
use weft_model::ErrorKind;

#[test]
fn refused_and_permitted_addresses() {
    let refused = [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.0.1",
        "100.64.1.1",
        "169.254.0.1",
        "169.254.169.254",
        "100.100.100.200",
        "0.0.0.0",
        "224.0.0.251",
        "255.255.255.255",
        "192.0.2.1",
        "198.51.100.1",
        "203.0.113.1",
        "::1",
        "::",
        "fc00::1",
        "fd00:ec2::254",
        "fe80::1",
        "ff02::1",
        "2001:db8::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:192.168.1.1",
    ];
    let permitted = ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"];
    let guard = EgressGuard::new(vec![]);
    for ip in refused {
        let ip: IpAddr = ip.parse().unwrap();
        assert!(classify(ip).is_some(), "{ip}");
        let e = guard.check_ip(ip).unwrap_err();
        assert_eq!(e.kind, ErrorKind::EgressDenied);
        assert!(e.message.starts_with(&format!("{ip} is a")), "{}", e.message);
    }
    for ip in permitted {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(classify(ip), None, "{ip}");
        assert!(guard.check_ip(ip).is_ok(), "{ip}");
    }
    let metadata = guard.check_ip("169.254.169.254".parse().unwrap()).unwrap_err();
    assert_eq!(
        metadata.message,
        "169.254.169.254 is a cloud metadata address (in 169.254.169.254/32); outbound connections to it are refused; allow it with --egress-allow 169.254.169.254/32"
    );
}

#[tokio::test]
async fn resolver_filters_refused_addresses() {
    let closed = EgressGuard::new(vec![]).resolver();
    match closed.resolve_host("localhost", 80).await {
        Err(ResolveError::Refused(r)) => {
            assert_eq!(r.0.kind, ErrorKind::EgressDenied);
            // The first refused address named may be 127.0.0.1 or ::1, depending on the resolver order.
            assert!(r.0.message.starts_with("localhost resolves to "), "{}", r.0.message);
            assert!(r.0.message.contains(", which is a loopback address"), "{}", r.0.message);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let open = EgressGuard::new(vec!["127.0.0.0/8".parse().unwrap()]).resolver();
    let addrs = open.resolve_host("localhost", 80).await.unwrap();
    // Only the allowed IPv4 loopback survives; ::1 (if localhost has it) is still refused.
    assert!(!addrs.is_empty());
    assert!(addrs.iter().all(|a| a.ip().is_ipv4() && a.ip().is_loopback() && a.port() == 80), "{addrs:?}");
}
