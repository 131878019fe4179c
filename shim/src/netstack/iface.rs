//! In a thread of the shim that entered the box's network namespace (the shim has
//! CAP_NET_ADMIN over it): the box's `eth0`, a TUN device (L3: no ARP, every packet the box routes out of it
//! reaches the shim), with the box's address and a default route through it.

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use boxlite_protocol::launch::net;

use crate::error::{io_cause, Step, StepError};

/// `struct rtentry` of `<net/route.h>` (not in the libc crate).
#[repr(C)]
struct RtEntry {
    rt_pad1: libc::c_ulong,
    rt_dst: libc::sockaddr,
    rt_gateway: libc::sockaddr,
    rt_genmask: libc::sockaddr,
    rt_flags: libc::c_ushort,
    rt_pad2: libc::c_short,
    rt_pad3: libc::c_ulong,
    rt_pad4: *mut libc::c_void,
    rt_metric: libc::c_short,
    rt_dev: *mut libc::c_char,
    rt_mtu: libc::c_ulong,
    rt_window: libc::c_ulong,
    rt_irtt: libc::c_ushort,
}

/// Creates and configures `eth0`; returns the TUN descriptor (non-blocking, close-on-exec)
/// for the shim's stack.
pub fn create() -> Result<OwnedFd, StepError> {
    let step = || format!("create the box's {}", net::IFNAME);
    let tun = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/net/tun")
        .step(|| "open /dev/net/tun (needed for the box's network)".to_string())?;
    let mut req = ifreq();
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads the name and flags from `req`, a valid `ifreq`.
    if unsafe { libc::ioctl(tun.as_raw_fd(), libc::TUNSETIFF, &req) } < 0 {
        return Err(last_error(step()));
    }
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(last_error(step()));
    }
    // SAFETY: `raw` is a descriptor we just opened and own exclusively.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    set(&sock, libc::SIOCSIFADDR, |r| r.ifr_ifru.ifru_addr = sockaddr(net::BOX_ADDR))?;
    let mask = u32::MAX << (32 - u32::from(net::PREFIX_LEN));
    set(&sock, libc::SIOCSIFNETMASK, |r| r.ifr_ifru.ifru_netmask = sockaddr(mask.to_be_bytes()))?;
    set(&sock, libc::SIOCSIFMTU, |r| r.ifr_ifru.ifru_mtu = libc::c_int::from(net::MTU))?;
    set(&sock, libc::SIOCSIFFLAGS, |r| {
        r.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short
    })?;
    default_route(&sock)?;
    Ok(tun.into())
}

fn ifreq() -> libc::ifreq {
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(net::IFNAME.as_bytes()) {
        *dst = *src as libc::c_char;
    }
    req
}

fn set(
    sock: &OwnedFd,
    request: libc::c_ulong,
    fill: impl FnOnce(&mut libc::ifreq),
) -> Result<(), StepError> {
    let mut req = ifreq();
    fill(&mut req);
    // SAFETY: the SIOCSIF* requests read a valid `ifreq` that outlives the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), request, &req) } < 0 {
        return Err(last_error(format!("configure the box's {} ({request:#x})", net::IFNAME)));
    }
    Ok(())
}

/// `default via GATEWAY dev eth0`.
fn default_route(sock: &OwnedFd) -> Result<(), StepError> {
    let mut dev: Vec<u8> = net::IFNAME.bytes().chain([0]).collect();
    let mut route = RtEntry {
        rt_pad1: 0,
        rt_dst: sockaddr([0; 4]),
        rt_gateway: sockaddr(net::GATEWAY),
        rt_genmask: sockaddr([0; 4]),
        rt_flags: (libc::RTF_UP | libc::RTF_GATEWAY) as libc::c_ushort,
        rt_pad2: 0,
        rt_pad3: 0,
        rt_pad4: std::ptr::null_mut(),
        rt_metric: 0,
        rt_dev: dev.as_mut_ptr().cast(),
        rt_mtu: 0,
        rt_window: 0,
        rt_irtt: 0,
    };
    // SAFETY: SIOCADDRT reads a valid `rtentry` whose `rt_dev` points at a NUL-terminated
    // name; both outlive the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCADDRT, &mut route) } < 0 {
        return Err(last_error("add the box's default route".to_string()));
    }
    Ok(())
}

fn sockaddr(addr: [u8; 4]) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(addr) },
        sin_zero: [0; 8],
    };
    // SAFETY: `sockaddr_in` and `sockaddr` have the same size; the kernel reads the family.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

fn last_error(step: String) -> StepError {
    StepError::new(step, io_cause(&std::io::Error::last_os_error()))
}

/// In the child, after `pivot_root`: the box's `/etc/resolv.conf` names the shim's resolver. An image's
/// own file or symlink (to a systemd stub, say) is replaced: its resolver is not reachable
/// from the box. Written inside the box's tree, so a hostile image's symlinks lead nowhere
/// outside it.
pub fn write_resolv_conf() -> Result<(), StepError> {
    let path = "/etc/resolv.conf";
    let [a, b, c, d] = net::DNS;
    let text = format!("nameserver {a}.{b}.{c}.{d}\n");
    let step = || format!("write {path}");
    std::fs::create_dir_all("/etc").step(|| "create /etc".to_string())?;
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_file() => std::fs::remove_file(path).step(step)?,
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .step(step)?;
    std::io::Write::write_all(&mut file, text.as_bytes()).step(step)
}
