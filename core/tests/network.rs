//! The box's network, against test hosts the tests make themselves (common/testnet.rs):
//! disabled reaches nothing, enabled reaches a test host by address and by name through the
//! shim's stack, and even enabled never reaches the host itself or link-local addresses.
//! Traffic goes only to loopback and to those namespaces; each connection attempt in a box
//! is bounded by `nc -w` or `timeout` (busybox's own `wget -T` crashes, on the host too).

mod common;
#[path = "common/testnet.rs"]
mod testnet;

use std::net::TcpListener;
use std::time::Duration;

use boxlite_core::{BoxOptions, ErrorKind, LiteBox, NetworkMode};
use common::TestHome;
use testnet::{TestHost, HTTP_PORT};

async fn run(b: &LiteBox, script: &str) -> (String, String, Option<i32>) {
    common::run_script(b, script, Duration::from_secs(60)).await
}

fn disabled(t: &TestHome) -> BoxOptions {
    BoxOptions { network: NetworkMode::Disabled, ..t.options() }
}

fn enabled(t: &TestHome, dns: &TestHost) -> BoxOptions {
    BoxOptions { network: NetworkMode::Enabled, dns: vec![dns.addr.to_string()], ..t.options() }
}

#[tokio::test]
async fn a_box_without_network_has_loopback_only_and_reaches_nothing() {
    let host = TestHost::new(&["allowed.test"]);
    let t = TestHome::new();
    let b = t.rt.create(disabled(&t), None).unwrap();
    b.start().await.unwrap();
    let script =
        format!("ls /sys/class/net; nc -w 3 {} {HTTP_PORT} </dev/null; echo nc=$?", host.addr);
    let (out, err, _) = run(&b, &script).await;
    assert_eq!(out, "lo\nnc=1\n", "{err}");
    assert!(err.contains("unreachable"), "{err}");
    let metrics = b.metrics().await.unwrap();
    assert_eq!(metrics.network_bytes_sent, None, "no eth0 to count: {metrics:?}");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn an_enabled_box_reaches_a_test_host_by_address_and_by_name() {
    let host = TestHost::new(&["allowed.test"]);
    let t = TestHome::new();
    let b = t.rt.create(enabled(&t, &host), None).unwrap();
    b.start().await.unwrap();
    // What the test host's server answered, as the box received it.
    let script = format!(
        "cat /etc/resolv.conf; timeout 10 wget -q -O - http://{}:{HTTP_PORT}/; \
         timeout 10 wget -q -O - http://allowed.test:{HTTP_PORT}/; \
         nslookup nowhere.test >/dev/null 2>&1; echo nxdomain=$?",
        host.addr
    );
    let (out, err, code) = run(&b, &script).await;
    let marker = &host.marker;
    assert_eq!(out, format!("nameserver 10.0.2.3\n{marker}\n{marker}\nnxdomain=1\n"), "{err}");
    assert_eq!(code, Some(0));
    b.stop(Duration::from_secs(5)).await.unwrap();
}

/// A destination that refuses the host's connection refuses the box's: the box's SYN gets the
/// stack's RST, not a connection that the host side then drops. (Two-sided: with the connect's
/// outcome read twice, SO_ERROR was cleared by the first read and nc "connected".)
#[tokio::test]
async fn a_refused_connection_is_refused_in_the_box() {
    let host = TestHost::new(&[]);
    let t = TestHome::new();
    let b = t.rt.create(enabled(&t, &host), None).unwrap();
    b.start().await.unwrap();
    let script = format!("nc -w 3 {} 9 </dev/null; echo nc=$?", host.addr);
    let (out, err, _) = run(&b, &script).await;
    assert_eq!(out, "nc=1\n", "{err}");
    assert!(err.contains("Connection refused"), "{err}");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

/// The host's own services, on its loopback and on its address facing the test host, and a
/// link-local "metadata" address that the host itself reaches (routed to the test host): the
/// box reaches none of them, and the listeners never see a connection. Two-sided: the host
/// connects to each first.
#[tokio::test]
async fn an_enabled_box_reaches_neither_the_host_nor_link_local_addresses() {
    let host = TestHost::new(&["allowed.test"]);
    let on_loopback = TcpListener::bind("127.0.0.1:0").unwrap();
    let on_veth = TcpListener::bind((host.host_side, 0)).unwrap();
    let metadata = "169.254.169.254";
    let _route = LinkLocalRoute::to(&host, metadata);
    let targets = [
        ("10.0.2.2".to_string(), on_loopback.local_addr().unwrap().port()), // the gateway
        (host.host_side.to_string(), on_veth.local_addr().unwrap().port()),
        (metadata.to_string(), HTTP_PORT),
    ];
    // The host reaches them (the test host answers for the link-local address).
    assert!(std::net::TcpStream::connect(on_loopback.local_addr().unwrap()).is_ok());
    assert!(std::net::TcpStream::connect(on_veth.local_addr().unwrap()).is_ok());
    let timeout = Duration::from_secs(5);
    let addr = format!("{metadata}:{HTTP_PORT}").parse().unwrap();
    assert!(std::net::TcpStream::connect_timeout(&addr, timeout).is_ok(), "host to metadata");
    for listener in [&on_loopback, &on_veth] {
        listener.accept().unwrap();
        listener.set_nonblocking(true).unwrap();
    }

    let t = TestHome::new();
    let b = t.rt.create(enabled(&t, &host), None).unwrap();
    b.start().await.unwrap();
    let script: String = targets
        .iter()
        .map(|(ip, port)| format!("nc -w 3 {ip} {port} </dev/null; echo {ip}=$?; "))
        .collect();
    let (out, err, _) = run(&b, &script).await;
    let expected: String = targets.iter().map(|(ip, _)| format!("{ip}=1\n")).collect();
    assert_eq!(out, expected, "{err}");
    for listener in [&on_loopback, &on_veth] {
        let accepted = listener.accept();
        assert!(accepted.is_err(), "the box reached the host: {accepted:?}");
    }
    let log = std::fs::read_to_string(t.path().join("boxes").join(b.id()).join("logs/box.log"));
    assert!(log.unwrap().contains("refused 169.254.169.254:8080: link-local"));
    b.stop(Duration::from_secs(5)).await.unwrap();
}

/// An allow-list: its names resolve and are reached (a wildcard too), other names get
/// NXDOMAIN, and an address outside it is refused when dialled directly, also one another
/// name resolves to; a CIDR entry lets a box reach that address. Two test hosts: `blocked.test`
/// resolves to the second, which the first box must not reach by name or by address.
#[tokio::test]
async fn an_allow_list_lets_its_names_and_nets_through_and_nothing_else() {
    let other = TestHost::new(&[]);
    let host = TestHost::with_records(&[
        ("allowed.test", None),
        ("a.wild.test", None),
        ("blocked.test", Some(other.addr)),
    ]);
    let t = TestHome::new();
    let listed = BoxOptions {
        allow_net: vec!["allowed.test".into(), "*.wild.test".into()],
        ..enabled(&t, &host)
    };
    let b = t.rt.create(listed, None).unwrap();
    b.start().await.unwrap();
    let script = format!(
        "timeout 10 wget -q -O - http://allowed.test:{HTTP_PORT}/; \
         timeout 10 wget -q -O - http://a.wild.test:{HTTP_PORT}/; \
         nslookup blocked.test >/dev/null 2>&1; echo blocked-name=$?; \
         nslookup wild.test >/dev/null 2>&1; echo wild-apex=$?; \
         nc -w 3 {} {HTTP_PORT} </dev/null; echo blocked-ip=$?",
        other.addr
    );
    let (out, err, _) = run(&b, &script).await;
    let marker = &host.marker;
    let want = format!("{marker}\n{marker}\nblocked-name=1\nwild-apex=1\nblocked-ip=1\n");
    assert_eq!(out, want, "{err}");
    b.stop(Duration::from_secs(5)).await.unwrap();

    // The other host by a CIDR entry: reached by address, with no name at all.
    let by_net = BoxOptions { allow_net: vec![format!("{}/24", other.addr)], ..enabled(&t, &host) };
    let b = t.rt.create(by_net, None).unwrap();
    b.start().await.unwrap();
    let script = format!(
        "timeout 10 wget -q -O - http://{}:{HTTP_PORT}/; \
         nslookup allowed.test >/dev/null 2>&1; echo allowed-name=$?",
        other.addr
    );
    let (out, err, _) = run(&b, &script).await;
    assert_eq!(out, format!("{}\nallowed-name=1\n", other.marker), "{err}");
    b.stop(Duration::from_secs(5)).await.unwrap();
}

/// `ip route add ADDR/32 via TEST-HOST` on the host, and the address on the test host.
struct LinkLocalRoute(String);

impl LinkLocalRoute {
    fn to(host: &TestHost, addr: &str) -> Self {
        let ip = |args: &[&str]| {
            let status = std::process::Command::new("ip").args(args).status().unwrap();
            assert!(status.success(), "ip {args:?}");
        };
        ip(&["-n", &host.name, "addr", "add", &format!("{addr}/32"), "dev", "lo"]);
        ip(&["route", "add", &format!("{addr}/32"), "via", &host.addr.to_string()]);
        LinkLocalRoute(addr.to_string())
    }
}

impl Drop for LinkLocalRoute {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["route", "del", &format!("{}/32", self.0)])
            .status();
    }
}

#[tokio::test]
async fn dns_and_allow_net_are_refused_without_a_network_or_when_malformed() {
    let t = TestHome::new();
    let cases = [
        (BoxOptions { dns: vec!["10.0.0.1".into()], ..disabled(&t) }, "has no network"),
        (
            BoxOptions {
                network: NetworkMode::Enabled,
                dns: vec!["resolver".into()],
                ..t.options()
            },
            "invalid dns \"resolver\"",
        ),
        (BoxOptions { allow_net: vec!["allowed.test".into()], ..disabled(&t) }, "has no network"),
        (
            BoxOptions {
                network: NetworkMode::Enabled,
                allow_net: vec!["x.*.test".into()],
                ..t.options()
            },
            "invalid allow_net entry \"x.*.test\"",
        ),
    ];
    for (opts, says) in cases {
        let err = t.rt.create(opts, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.to_string().contains(says), "{err}");
    }
    assert!(t.rt.list_info().unwrap().is_empty(), "a refused create left a box");
}
