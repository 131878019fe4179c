//! A test's own "internet": a network namespace the test makes (`ip netns add`, a veth pair
//! to the host), holding an HTTP server and a DNS server that answers for `*.test` names.
//! Both servers are threads of the test process that entered the namespace, so they listen
//! before `TestHost::new` returns (no waiting for a daemon to come up). Dropping it stops
//! both and removes the namespace, and with it the veth pair.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

pub const HTTP_PORT: u16 = 8080;

pub struct TestHost {
    pub name: String,
    /// The test host's address, on its side of the veth pair.
    pub addr: Ipv4Addr,
    /// The host's address on the veth pair.
    pub host_side: Ipv4Addr,
    /// What `GET /` answers: unique to this host.
    pub marker: String,
    stop: Option<OwnedFd>,
    threads: Vec<JoinHandle<()>>,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip (iproute2)");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl TestHost {
    /// A host answering for `names` (each resolves to its address).
    pub fn new(names: &[&str]) -> Self {
        let records: Vec<(&str, Option<Ipv4Addr>)> = names.iter().map(|n| (*n, None)).collect();
        Self::with_records(&records)
    }

    /// A host whose DNS server answers each name with the address given, or its own.
    pub fn with_records(records: &[(&str, Option<Ipv4Addr>)]) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let name = format!("blt{pid}-{n}");
        // A /24 of 10.251/16 per host; interface names stay under IFNAMSIZ.
        let third = ((pid.wrapping_mul(7) + n) % 250) as u8 + 1;
        let (addr, host_side) =
            (Ipv4Addr::new(10, 251, third, 2), Ipv4Addr::new(10, 251, third, 1));
        let (outer, inner) = (format!("blo{}", pid % 100_000 * 10 + n % 10), "eth0".to_string());
        ip(&["netns", "add", &name]);
        ip(&["link", "add", &outer, "type", "veth", "peer", "name", &inner, "netns", &name]);
        ip(&["addr", "add", &format!("{host_side}/24"), "dev", &outer]);
        ip(&["link", "set", &outer, "up"]);
        ip(&["-n", &name, "addr", "add", &format!("{addr}/24"), "dev", &inner]);
        ip(&["-n", &name, "link", "set", &inner, "up"]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);

        let marker = format!("test host {name} at {addr}");
        let (stop_read, stop_write) = nix::unistd::pipe().unwrap();
        let netns = std::fs::File::open(format!("/run/netns/{name}")).unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let mut threads = Vec::new();
        for role in ["http", "dns"] {
            let (netns, stop) = (netns.try_clone().unwrap(), stop_read.try_clone().unwrap());
            let (ready, marker) = (ready_tx.clone(), marker.clone());
            let names: Vec<(String, Ipv4Addr)> =
                records.iter().map(|(n, a)| (n.to_string(), a.unwrap_or(addr))).collect();
            threads.push(std::thread::spawn(move || {
                nix::sched::setns(netns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
                match role {
                    "http" => {
                        // Every address of the namespace: also those a test routes to it.
                        let listener =
                            TcpListener::bind((Ipv4Addr::UNSPECIFIED, HTTP_PORT)).unwrap();
                        ready.send(()).unwrap();
                        serve_http(listener, &marker, stop);
                    }
                    _ => {
                        let socket = UdpSocket::bind((addr, 53)).unwrap();
                        ready.send(()).unwrap();
                        serve_dns(socket, &names, stop);
                    }
                }
            }));
        }
        for _ in 0..2 {
            ready_rx.recv_timeout(std::time::Duration::from_secs(10)).expect("test host servers");
        }
        TestHost { name, addr, host_side, marker, stop: Some(stop_write), threads }
    }
}

impl Drop for TestHost {
    fn drop(&mut self) {
        drop(self.stop.take()); // EOF on the stop pipe ends both servers
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        // The namespace goes once its last thread and socket are gone, and the veth pair
        // with it.
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// Waits for `fd` or the stop pipe; false once stopped.
fn wait(fd: &impl AsFd, stop: &OwnedFd) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds =
        [PollFd::new(fd.as_fd(), PollFlags::POLLIN), PollFd::new(stop.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::NONE).unwrap();
    fds[1].revents().is_none_or(|r| r.is_empty())
}

fn serve_http(listener: TcpListener, marker: &str, stop: OwnedFd) {
    while wait(&listener, &stop) {
        let Ok((mut conn, _)) = listener.accept() else { continue };
        conn.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
        let mut request = [0u8; 4096];
        let _ = conn.read(&mut request);
        let body = format!("{marker}\n");
        let reply = format!(
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = conn.write_all(reply.as_bytes());
    }
}

/// Answers A queries for `names` with their addresses, NXDOMAIN for other names, and
/// nothing else (an empty answer) for other types.
fn serve_dns(socket: UdpSocket, names: &[(String, Ipv4Addr)], stop: OwnedFd) {
    let mut buf = [0u8; 512];
    while wait(&socket, &stop) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
        if let Some(reply) = dns_reply(&buf[..n], names) {
            let _ = socket.send_to(&reply, from);
        }
    }
}

fn dns_reply(query: &[u8], names: &[(String, Ipv4Addr)]) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    // The question: labels, then type and class.
    let (mut at, mut labels) = (12, Vec::new());
    loop {
        let len = *query.get(at)? as usize;
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*query.get(at)?, *query.get(at + 1)?]);
    let question_end = at + 4;
    let name = labels.join(".");
    let record = names.iter().find(|(n, _)| *n == name).map(|(_, addr)| *addr);
    let known = record.is_some();
    let mut reply = query.get(..question_end)?.to_vec();
    reply[2] = 0x81; // a response, recursion desired
    reply[3] = if known { 0x80 } else { 0x83 }; // recursion available; NXDOMAIN
    let answers: u16 = (known && qtype == 1).into();
    reply[6..8].copy_from_slice(&answers.to_be_bytes());
    reply[8..12].fill(0);
    if let (1, Some(addr)) = (answers, record) {
        reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        reply.extend_from_slice(&addr.octets());
    }
    Some(reply)
}
