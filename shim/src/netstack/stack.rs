//! The stack's event loop: packets from the box's TUN device into smoltcp, one host socket
//! per box connection, the box's DNS queries to the host's resolvers. One thread; every wait
//! is a poll(2) bounded by the next timer of the stack, a connect or a query.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant as HostInstant};

use boxlite_protocol::launch::{net, NetworkSpec};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium, RxToken, TxToken};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{
    HardwareAddress, IpAddress, IpCidr, IpListenEndpoint, IpProtocol, Ipv4Packet, TcpPacket,
};

use super::dns;
use super::policy::Policy;
use super::ports::Published;
use crate::error::StepError;

/// Connections of one box at a time: each holds two smoltcp buffers in the shim, which no
/// cgroup of the box bounds. Past this a new connection is refused (RST).
const MAX_FLOWS: usize = 256;
const TCP_BUFFER_BYTES: usize = 128 * 1024;
/// Packets taken from the box per round before the stack runs: a flooding box cannot keep
/// the loop from serving its connections.
const PACKETS_PER_ROUND: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Passes of the stack per flush ([`flush`]): up to this many segments per connection.
const EGRESS_PASSES_PER_ROUND: usize = 64;
/// Connections taken from one published port per round, for the same reason.
const ACCEPTS_PER_ROUND: usize = 16;
/// The gateway's ports for connections to published box ports: the dynamic range.
const FIRST_GATEWAY_PORT: u16 = 49152;
const DNS_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_DNS_QUERIES: usize = 64;
const DNS_PORT: u16 = 53;
/// Refused connections named in the box's log; a box retrying in a loop must not fill it.
const LOGGED_REFUSALS: usize = 20;

/// The box's end of the wire: packets read from the TUN descriptor wait in `queue` for the
/// stack; packets the stack sends are written straight back (dropped if the box's queue is
/// full: TCP retransmits).
struct Tun {
    fd: OwnedFd,
    queue: VecDeque<Vec<u8>>,
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a OwnedFd);

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = vec![0u8; len];
        let result = f(&mut packet);
        // SAFETY: writes a buffer we own to the TUN descriptor; a failed write is a dropped
        // packet, which the protocols above recover from.
        unsafe { libc::write(self.0.as_raw_fd(), packet.as_ptr().cast(), len) };
        result
    }
}

impl Device for Tun {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
        let packet = self.queue.pop_front()?;
        Some((Rx(packet), Tx(&self.fd)))
    }

    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx(&self.fd))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = usize::from(net::MTU);
        caps
    }
}

/// (box side, destination) of a TCP connection.
type FlowKey = (SocketAddrV4, SocketAddrV4);

enum Flow {
    /// The host's connection is being made; the box's SYN waits for its outcome.
    Connecting {
        host: OwnedFd,
        syn: Vec<u8>,
        since: HostInstant,
    },
    Open(Box<OpenFlow>),
}

struct OpenFlow {
    handle: SocketHandle,
    host: TcpStream,
    /// Read from the box, not yet written to the host.
    to_host: Vec<u8>,
    host_eof: bool,
    shut_host_write: bool,
}

impl OpenFlow {
    fn new(handle: SocketHandle, host: TcpStream) -> Box<Self> {
        let (to_host, host_eof, shut_host_write) = (Vec::new(), false, false);
        Box::new(OpenFlow { handle, host, to_host, host_eof, shut_host_write })
    }
}

struct DnsQuery {
    host: UdpSocket,
    client: smoltcp::wire::IpEndpoint,
    deadline: HostInstant,
}

pub fn run(
    box_id: &str,
    spec: &NetworkSpec,
    tun: OwnedFd,
    published: Vec<Published>,
) -> Result<(), StepError> {
    let mut tun = Tun { fd: tun, queue: VecDeque::new() };
    let started = HostInstant::now();
    let now = |started: HostInstant| Instant::from_micros(started.elapsed().as_micros() as i64);
    let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut tun, now(started));
    let gateway = Ipv4Addr::from(net::GATEWAY);
    iface.update_ip_addrs(|addrs| {
        for addr in [net::GATEWAY, net::DNS] {
            let cidr = IpCidr::new(IpAddress::Ipv4(Ipv4Addr::from(addr)), net::PREFIX_LEN);
            let _ = addrs.push(cidr);
        }
    });
    // Every destination is the stack's to answer for: the box's connections to anywhere end
    // here, and the shim makes them from the host.
    iface.set_any_ip(true);
    let _ = iface.routes_mut().add_default_ipv4_route(gateway);

    let mut sockets = SocketSet::new(Vec::new());
    let upstreams: Vec<SocketAddr> =
        spec.dns_upstreams.iter().filter_map(|s| s.parse().ok()).collect();
    let dns = (!upstreams.is_empty()).then(|| {
        let rx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 32], vec![0; 64 * 1024]);
        let tx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 32], vec![0; 64 * 1024]);
        let mut socket = udp::Socket::new(rx, tx);
        let at = IpListenEndpoint {
            addr: Some(IpAddress::Ipv4(Ipv4Addr::from(net::DNS))),
            port: DNS_PORT,
        };
        socket.bind(at).map(|()| sockets.add(socket))
    });
    let dns =
        dns.transpose().map_err(|e| StepError::new("bind the box's resolver", e.to_string()))?;

    let mut policy = Policy::new(&spec.allow_net);
    let mut flows: HashMap<FlowKey, Flow> = HashMap::new();
    let mut queries: Vec<DnsQuery> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut refusals = 0usize;
    let mut next_port = FIRST_GATEWAY_PORT;
    loop {
        // The box's packets: new connections are held until the host's side is made.
        for _ in 0..PACKETS_PER_ROUND {
            // SAFETY: reads into a buffer we own from the TUN descriptor.
            let n = unsafe { libc::read(tun.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let err = io::Error::last_os_error();
                match err.kind() {
                    io::ErrorKind::WouldBlock => break,
                    io::ErrorKind::Interrupted => continue,
                    // The box's namespace is gone with its device.
                    _ => return Ok(()),
                }
            }
            let packet = buf[..n as usize].to_vec();
            match new_connection(&packet) {
                Some(key) if !flows.contains_key(&key) => {
                    let refused = policy.refuses(*key.1.ip());
                    match (refused, flows.len() >= MAX_FLOWS) {
                        (Some(why), _) => {
                            refusals += 1;
                            if refusals <= LOGGED_REFUSALS {
                                let more = match refusals == LOGGED_REFUSALS {
                                    true => " (further refusals are not logged)",
                                    false => "",
                                };
                                let line = format!("network: refused {}: {why}{more}", key.1);
                                crate::log::line(box_id, line);
                            }
                            tun.queue.push_back(packet); // no listener: the stack resets it
                        }
                        (None, true) => tun.queue.push_back(packet),
                        (None, false) => match connect_nonblocking(key.1) {
                            Ok(host) => {
                                let since = HostInstant::now();
                                flows.insert(key, Flow::Connecting { host, syn: packet, since });
                            }
                            Err(_) => tun.queue.push_back(packet),
                        },
                    }
                }
                // A retransmitted SYN of a connection still being made waits with the first.
                Some(key) if matches!(flows.get(&key), Some(Flow::Connecting { .. })) => {}
                _ => tun.queue.push_back(packet),
            }
        }
        // Connections to published ports: each becomes the stack's connection to the box.
        for port in &published {
            for _ in 0..ACCEPTS_PER_ROUND {
                let Ok((host, _)) = port.listener.accept() else { break };
                if flows.len() >= MAX_FLOWS || host.set_nonblocking(true).is_err() {
                    continue; // dropped: the client sees the connection closed
                }
                let remote = SocketAddrV4::new(Ipv4Addr::from(net::BOX_ADDR), port.guest_port);
                let Some(key) = free_gateway_key(&flows, remote, &mut next_port) else { continue };
                let mut socket = new_socket();
                // Ended if the box never answers; lifted once connected.
                socket.set_timeout(Some(CONNECT_TIMEOUT.into()));
                let local = (IpAddress::Ipv4(gateway), key.1.port());
                if socket.connect(iface.context(), remote, local).is_ok() {
                    let handle = sockets.add(socket);
                    flows.insert(key, Flow::Open(OpenFlow::new(handle, host)));
                }
            }
        }
        flush(&mut iface, &mut tun, &mut sockets, now(started));

        // Connections whose host side is decided: made, the box's SYN reaches a listener on
        // its destination; failed, it reaches none and the stack answers RST.
        // Each outcome is read once: reading SO_ERROR clears it, so a second look at a
        // refused connect would see success.
        let decided: Vec<(FlowKey, bool)> = flows
            .iter()
            .filter_map(|(key, flow)| match flow {
                Flow::Connecting { host, since, .. } => match connect_outcome(host) {
                    Some(outcome) => Some((*key, outcome.is_ok())),
                    None => (since.elapsed() > CONNECT_TIMEOUT).then_some((*key, false)),
                },
                Flow::Open(_) => None,
            })
            .collect();
        for (key, made) in decided {
            let Some(Flow::Connecting { host, syn, .. }) = flows.remove(&key) else { continue };
            if made {
                let mut socket = new_socket();
                let at = IpListenEndpoint {
                    addr: Some(IpAddress::Ipv4(*key.1.ip())),
                    port: key.1.port(),
                };
                if socket.listen(at).is_ok() {
                    let handle = sockets.add(socket);
                    // SAFETY: `host` is a connected TCP socket we own; it moves into the stream.
                    let host = unsafe {
                        TcpStream::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(host))
                    };
                    flows.insert(key, Flow::Open(OpenFlow::new(handle, host)));
                }
            }
            tun.queue.push_back(syn);
            // One SYN at a time: each listener takes exactly its own connection.
            flush(&mut iface, &mut tun, &mut sockets, now(started));
        }

        relay(&mut flows, &mut sockets, &mut buf);
        if let Some(handle) = dns {
            serve_dns(&mut sockets, handle, &upstreams, &mut queries, &mut policy, &mut buf);
        }
        flush(&mut iface, &mut tun, &mut sockets, now(started));

        // Wait for the box, a host socket, or the stack's next timer.
        let mut timeout = iface.poll_delay(now(started), &sockets).map(Duration::from);
        let mut fds = vec![PollFd::new(tun.fd.as_fd(), PollFlags::POLLIN)];
        if flows.len() < MAX_FLOWS {
            for port in &published {
                fds.push(PollFd::new(port.listener.as_fd(), PollFlags::POLLIN));
            }
        }
        for flow in flows.values() {
            match flow {
                Flow::Connecting { host, since, .. } => {
                    fds.push(PollFd::new(host.as_fd(), PollFlags::POLLOUT));
                    let left = CONNECT_TIMEOUT.saturating_sub(since.elapsed());
                    timeout = Some(timeout.map_or(left, |t| t.min(left)));
                }
                Flow::Open(open) => {
                    let socket = sockets.get::<tcp::Socket>(open.handle);
                    let mut events = PollFlags::empty();
                    if !open.host_eof
                        && socket.may_send()
                        && socket.send_queue() < socket.send_capacity()
                    {
                        events |= PollFlags::POLLIN;
                    }
                    if !open.to_host.is_empty() {
                        events |= PollFlags::POLLOUT;
                    }
                    // Not polled at all without interest: a socket shut both ways polls
                    // POLLHUP at once, and a box that never ACKs our FIN would spin the loop.
                    if !events.is_empty() {
                        fds.push(PollFd::new(open.host.as_fd(), events));
                    }
                }
            }
        }
        for query in &queries {
            fds.push(PollFd::new(query.host.as_fd(), PollFlags::POLLIN));
            let left = query.deadline.saturating_duration_since(HostInstant::now());
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        // Rounded up: a timer due in 0.3 ms must not wake the loop early, and one due now
        // must not wait a millisecond.
        let timeout = match timeout {
            None => PollTimeout::NONE,
            Some(t) => PollTimeout::try_from(t.as_micros().div_ceil(1000).min(60_000) as i32)
                .unwrap_or(PollTimeout::MAX),
        };
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(err) => return Err(StepError::new("wait for the box's network", err.desc())),
        }
    }
}

/// A socket of the stack for one connection.
fn new_socket() -> tcp::Socket<'static> {
    let mut socket = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER_BYTES]),
        tcp::SocketBuffer::new(vec![0; TCP_BUFFER_BYTES]),
    );
    // The box's kernel and the stack share one host: a delayed ACK only stalls the sender
    // for a window, and coalescing small writes is the host socket's business.
    socket.set_ack_delay(None);
    socket.set_nagle_enabled(false);
    socket
}

/// Runs the stack until it has nothing left to send now: one pass of smoltcp sends at most
/// one segment per socket, so a single pass per wait would pace a connection at a segment
/// per wakeup. Bounded, so one busy connection cannot keep the loop from the others.
fn flush(iface: &mut Interface, tun: &mut Tun, sockets: &mut SocketSet<'_>, at: Instant) {
    for _ in 0..EGRESS_PASSES_PER_ROUND {
        iface.poll(at, tun, sockets);
        if iface.poll_delay(at, sockets) != Some(smoltcp::time::Duration::ZERO) {
            break;
        }
    }
}

/// The flow of a new connection from the gateway to the box's `remote`: on the next port of
/// the range whose flow is not taken, or `None` when all are.
fn free_gateway_key(
    flows: &HashMap<FlowKey, Flow>,
    remote: SocketAddrV4,
    next: &mut u16,
) -> Option<FlowKey> {
    let gateway = Ipv4Addr::from(net::GATEWAY);
    for _ in FIRST_GATEWAY_PORT..=u16::MAX {
        let key = (remote, SocketAddrV4::new(gateway, *next));
        *next = if *next == u16::MAX { FIRST_GATEWAY_PORT } else { *next + 1 };
        if !flows.contains_key(&key) {
            return Some(key);
        }
    }
    None
}

/// The flow a packet opens: a TCP SYN (without ACK) from the box.
fn new_connection(packet: &[u8]) -> Option<FlowKey> {
    let ip = Ipv4Packet::new_checked(packet).ok()?;
    if ip.next_header() != IpProtocol::Tcp {
        return None;
    }
    let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
    if !tcp.syn() || tcp.ack() {
        return None;
    }
    let src = SocketAddrV4::new(ip.src_addr(), tcp.src_port());
    let dst = SocketAddrV4::new(ip.dst_addr(), tcp.dst_port());
    Some((src, dst))
}

fn connect_nonblocking(dst: SocketAddrV4) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe {
        libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0)
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor we just opened and own exclusively.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: dst.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(dst.ip().octets()) },
        sin_zero: [0; 8],
    };
    // SAFETY: `addr` is a valid `sockaddr_in` of the given length.
    let rc = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(err);
        }
    }
    Ok(fd)
}

/// `None` while a non-blocking connect is in progress.
fn connect_outcome(host: &OwnedFd) -> Option<io::Result<()>> {
    let mut fds = [PollFd::new(host.as_fd(), PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(0) => return None,
        Ok(_) => {}
        Err(err) => return Some(Err(io::Error::from(err))),
    }
    let mut error: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: SO_ERROR writes one int into `error`, whose size `len` gives.
    let rc = unsafe {
        libc::getsockopt(
            host.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut error as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    Some(match (rc, error) {
        (0, 0) => Ok(()),
        (0, code) => Err(io::Error::from_raw_os_error(code)),
        _ => Err(io::Error::last_os_error()),
    })
}

/// Moves bytes both ways for every open connection, and ends those that are done.
fn relay(flows: &mut HashMap<FlowKey, Flow>, sockets: &mut SocketSet<'_>, buf: &mut [u8]) {
    let mut done = Vec::new();
    for (key, flow) in flows.iter_mut() {
        let Flow::Open(open) = flow else { continue };
        let socket = sockets.get_mut::<tcp::Socket>(open.handle);
        if socket.timeout().is_some() && socket.state() == tcp::State::Established {
            socket.set_timeout(None);
        }
        // Box → host, at most a socket buffer at a time: both parts of a wrapped ring, so
        // the box sees its whole window open again.
        while open.to_host.len() < TCP_BUFFER_BYTES && socket.can_recv() {
            let room = TCP_BUFFER_BYTES - open.to_host.len();
            let took = socket.recv(|data| {
                let n = data.len().min(room);
                open.to_host.extend_from_slice(&data[..n]);
                (n, n)
            });
            if !matches!(took, Ok(n) if n > 0) {
                break;
            }
        }
        if !open.to_host.is_empty() {
            match open.host.write(&open.to_host) {
                Ok(n) => {
                    open.to_host.drain(..n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => socket.abort(),
            }
        }
        let box_finished = matches!(
            socket.state(),
            tcp::State::CloseWait
                | tcp::State::LastAck
                | tcp::State::Closing
                | tcp::State::TimeWait
        );
        // Only once everything the box sent before its FIN has reached the host.
        let drained = open.to_host.is_empty() && socket.recv_queue() == 0;
        if box_finished && drained && !open.shut_host_write {
            let _ = open.host.shutdown(Shutdown::Write);
            open.shut_host_write = true;
        }
        // Host → box, as much as the socket's send buffer takes.
        if !open.host_eof && socket.may_send() {
            let room = socket.send_capacity() - socket.send_queue();
            if room > 0 {
                let want = room.min(buf.len());
                match open.host.read(&mut buf[..want]) {
                    Ok(0) => {
                        open.host_eof = true;
                        socket.close();
                    }
                    Ok(n) => {
                        let _ = socket.send_slice(&buf[..n]);
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => socket.abort(),
                }
            }
        }
        let over = match socket.state() {
            tcp::State::Closed => true,
            tcp::State::TimeWait => drained,
            _ => false,
        };
        if over {
            done.push(*key);
        }
    }
    for key in done {
        if let Some(Flow::Open(open)) = flows.remove(&key) {
            sockets.remove(open.handle);
        }
    }
}

/// Forwards the box's queries to the first upstream, one host socket per query (bounded),
/// and the answers back. Names outside an allow-list get NXDOMAIN from the shim itself; the
/// addresses in answers to allowed ones become reachable ([`Policy::learn`]).
fn serve_dns(
    sockets: &mut SocketSet<'_>,
    handle: SocketHandle,
    upstreams: &[SocketAddr],
    queries: &mut Vec<DnsQuery>,
    policy: &mut Policy,
    buf: &mut [u8],
) {
    let socket = sockets.get_mut::<udp::Socket>(handle);
    let mut refusals = Vec::new();
    while let Ok((data, meta)) = socket.recv() {
        let name = dns::question_name(data);
        if !name.as_deref().is_some_and(|name| policy.allows_name(name)) {
            if let Some(reply) = dns::nxdomain(data) {
                refusals.push((reply, meta.endpoint));
            }
            continue;
        }
        if queries.len() >= MAX_DNS_QUERIES {
            continue; // the box's resolver retries
        }
        let Some(upstream) = upstreams.first() else { break };
        let bind: SocketAddr = match upstream {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let Ok(host) = UdpSocket::bind(bind) else { continue };
        if host.set_nonblocking(true).is_err() || host.connect(upstream).is_err() {
            continue;
        }
        if host.send(data).is_ok() {
            queries.push(DnsQuery {
                host,
                client: meta.endpoint,
                deadline: HostInstant::now() + DNS_TIMEOUT,
            });
        }
    }
    for (reply, client) in refusals {
        let _ = socket.send_slice(&reply, client);
    }
    queries.retain(|query| match query.host.recv(buf) {
        Ok(n) => {
            policy.learn(dns::a_records(&buf[..n]));
            let _ = socket.send_slice(&buf[..n], query.client);
            false
        }
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => HostInstant::now() < query.deadline,
        Err(_) => false,
    });
}
