//! Published ports (docs/networking.md, "Published ports"): reachable from the host at the
//! port `BoxInfo` reports, released when the box stops, kept by a detached box's shim when its
//! host process goes, and a port already taken fails the start with the reason. Traffic goes
//! only to 127.0.0.1; every read on the host side has a deadline.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use boxlite_core::{BoxMetrics, BoxOptions, BoxStatus, ErrorKind, LiteBox, NetworkMode, PortSpec};
use common::{fixture, TestHome};

const BOX_PORT: u16 = 8080;
const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn published(t: &TestHome, host_port: Option<u16>) -> BoxOptions {
    BoxOptions {
        network: NetworkMode::Enabled,
        ports: vec![PortSpec { host_port, guest_port: BOX_PORT, ..Default::default() }],
        ..t.options()
    }
}

/// Serves `body` on the box's port: busybox httpd returns once it listens (it daemonizes
/// after bind and listen), so the port is open when this does.
async fn serve(b: &LiteBox, body: &str) {
    let script = format!(
        "mkdir -p /www && echo {body} > /www/index.html && httpd -p {BOX_PORT} -h /www && echo up"
    );
    let (out, err, code) = common::run_script(b, &script, Duration::from_secs(30)).await;
    assert_eq!((out.as_str(), code), ("up\n", Some(0)), "{err}");
}

/// The body of `GET PATH` on the host's `port`, as it crossed the box's stack and the shim.
fn get_path(port: u16, path: &str) -> Vec<u8> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut conn = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    conn.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    conn.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes()).unwrap();
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).unwrap();
    let body = reply.windows(4).position(|w| w == b"\r\n\r\n").map_or(reply.len(), |at| at + 4);
    reply.split_off(body)
}

fn get(port: u16) -> String {
    String::from_utf8(get_path(port, "/")).unwrap()
}

fn bound_port(b: &LiteBox) -> u16 {
    let info = b.info().unwrap();
    assert_eq!(info.ports.len(), 1, "{:?}", info.ports);
    assert_eq!(info.ports[0].host_ip.as_deref(), Some("127.0.0.1"));
    info.ports[0].host_port.expect("a running box reports its bound port")
}

#[tokio::test]
async fn a_published_port_reaches_the_box_and_is_released_when_it_stops() {
    let t = TestHome::new();
    let b = t.rt.create(published(&t, None), None).unwrap();
    assert_eq!(b.info().unwrap().ports[0].host_port, None, "a free port, picked at start");
    b.start().await.unwrap();
    let port = bound_port(&b);
    serve(&b, "from-the-box").await;
    assert_eq!(get(port), "from-the-box\n");
    // A large answer crosses whole: the stack's buffers wrap many times over.
    let (_, err, code) = common::run_script(
        &b,
        "head -c 3000000 /dev/zero | tr '\\0' x > /www/big",
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(code, Some(0), "{err}");
    let before = b.metrics().await.unwrap();
    let body = get_path(port, "/big");
    assert_eq!(body.len(), 3_000_000);
    assert!(body.iter().all(|&c| c == b'x'));
    // The kernel's counters of the box's eth0 saw the answer leave and the request come in.
    let after = b.metrics().await.unwrap();
    let delta = |f: fn(&BoxMetrics) -> Option<u64>| f(&after).unwrap() - f(&before).unwrap();
    let sent = delta(|m| m.network_bytes_sent);
    assert!((3_000_000..3_200_000).contains(&sent), "sent {sent} bytes for a 3 MB answer");
    assert!(delta(|m| m.network_bytes_received) > 0);
    assert!(delta(|m| m.network_packets_sent) >= 3_000_000 / 65_520);
    assert!(delta(|m| m.network_packets_received) > 0);

    b.stop(Duration::from_secs(5)).await.unwrap();
    assert_eq!(b.info().unwrap().ports[0].host_port, None, "a stopped box binds nothing");
    let stopped = b.metrics().await.unwrap();
    let usage = [stopped.network_bytes_sent, stopped.network_bytes_received, stopped.cpu_time_usec];
    assert_eq!(usage, [None; 3], "nothing runs to count: {stopped:?}");
    // Released: the host can listen on it again (SO_REUSEADDR, as every server binds).
    TcpListener::bind(("127.0.0.1", port)).expect("the port is free once the box stopped");
}

/// Two boxes asking for the same host port: the second fails to start, stays `failed` with
/// the reason, and the first keeps serving.
#[tokio::test]
async fn a_host_port_already_taken_fails_the_start_with_the_reason() {
    let t = TestHome::new();
    let first = t.rt.create(published(&t, None), None).unwrap();
    first.start().await.unwrap();
    let port = bound_port(&first);
    serve(&first, "first").await;

    let second = t.rt.create(published(&t, Some(port)), Some("second")).unwrap();
    let err = second.start().await.unwrap_err();
    let says = format!("publish box port {BOX_PORT} on 127.0.0.1:{port}: Address already in use");
    assert!(err.to_string().contains(&says), "{err}");
    let info = second.info().unwrap();
    assert_eq!(info.status, BoxStatus::Failed);
    assert!(info.error_reason.as_deref().unwrap_or_default().contains(&says), "{info:?}");
    assert_eq!(get(port), "first\n", "the first box still holds its port");
    first.stop(Duration::from_secs(5)).await.unwrap();
}

/// The shim holds the port, not the host process: a detached box's port outlives the runtime
/// that started it, and another runtime sees it in `BoxInfo` and stops it.
#[tokio::test]
async fn a_detached_box_keeps_its_port_when_its_runtime_goes() {
    let dir = tempfile::Builder::new().prefix("bl-").tempdir().unwrap();
    let rt = common::open(dir.path(), &fixture().guest, None);
    let opts = BoxOptions {
        network: NetworkMode::Enabled,
        ports: vec![PortSpec { guest_port: BOX_PORT, ..Default::default() }],
        ..BoxOptions::new(fixture().image.clone())
    };
    let b = rt.create(opts, Some("kept")).unwrap();
    b.start_detached().await.unwrap();
    let port = bound_port(&b);
    serve(&b, "still-here").await;
    drop((b, rt));

    let other = common::open(dir.path(), &fixture().guest, None);
    let b = other.get("kept").unwrap().unwrap();
    assert_eq!(b.info().unwrap().status, BoxStatus::Running);
    assert_eq!(bound_port(&b), port);
    assert_eq!(get(port), "still-here\n");
    b.stop(Duration::from_secs(5)).await.unwrap();
    TcpListener::bind(("127.0.0.1", port)).expect("released at stop");
}

#[tokio::test]
async fn bad_ports_are_refused_at_create() {
    let t = TestHome::new();
    let port = |host_port, guest_port, host_ip: Option<&str>| PortSpec {
        host_port,
        guest_port,
        host_ip: host_ip.map(str::to_string),
        ..Default::default()
    };
    let enabled = |ports| BoxOptions { network: NetworkMode::Enabled, ports, ..t.options() };
    let cases = [
        (
            BoxOptions {
                network: NetworkMode::Disabled,
                ports: vec![port(None, 80, None)],
                ..t.options()
            },
            "has no network",
        ),
        (enabled(vec![port(None, 0, None)]), "the guest port must be"),
        (enabled(vec![port(Some(0), 80, None)]), "host port 0"),
        (enabled(vec![port(None, 80, Some("localhost"))]), "is not an IP address"),
        (enabled(vec![port(Some(9000), 80, None), port(Some(9000), 81, None)]), "twice"),
    ];
    for (opts, says) in cases {
        let err = t.rt.create(opts, None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.to_string().contains(says), "{err}");
    }
    assert!(t.rt.list_info().unwrap().is_empty(), "a refused create left a box");
}
