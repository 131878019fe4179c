//! The box's network beyond loopback (docs/networking.md): a TCP/IP stack of the shim's own
//! (smoltcp) on the far end of the box's `eth0`, a TUN device. Every connection the box opens
//! ends in this stack, and the shim opens the matching connection from the host itself, after
//! checking the destination ([`policy`]); the box's DNS queries go to the shim's resolver
//! address and are forwarded to the host's resolvers. Nothing is configured on the host: no
//! bridge, no NAT, no forwarding sysctl, and the same code serves root and rootless shims.
//!
//! `eth0` is made by the shim, not the box: the child hands the shim its network namespace
//! over a socket pair ([`Handoff`]) and waits; a short-lived thread of the shim enters that
//! namespace, creates and configures `eth0` there ([`iface`]) and leaves (the box's device
//! cgroup never lets the child open `/dev/net/tun`, and the stack's own thread must stay in
//! the host's namespace, where its connections are made); the child goes on once the shim
//! answers. The stack ([`stack`]) then runs on the TUN descriptor until the shim exits.

mod dns;
pub mod iface;
mod policy;
pub mod ports;
mod stack;

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use boxlite_protocol::launch::NetworkSpec;
use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};

use crate::error::{Step, StepError};

/// The socket pair the TUN descriptor crosses from the child to the shim.
pub struct Handoff {
    pub shim: OwnedFd,
    pub child: OwnedFd,
}

pub fn handoff() -> Result<Handoff, StepError> {
    let (shim, child) =
        socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
            .step(|| "create the network handoff socket".to_string())?;
    Ok(Handoff { shim, child })
}

/// In the child, inside the box's network namespace: hands it to the shim and waits until
/// the shim has made `eth0` in it (or says why it could not).
pub fn hand_over_netns(child_end: RawFd) -> Result<(), StepError> {
    let step = || "hand the box's network namespace to the shim".to_string();
    let netns = std::fs::File::open("/proc/self/ns/net").step(step)?;
    let fds = [netns.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [std::io::IoSlice::new(b"n")];
    sendmsg::<()>(child_end, &iov, &cmsg, MsgFlags::empty(), None).step(step)?;
    drop(netns);
    // The shim's answer: empty when `eth0` is there, else why not. EOF: the shim is gone.
    let mut answer = [0u8; 512];
    let mut iov = [IoSliceMut::new(&mut answer)];
    let msg = recvmsg::<()>(child_end, &mut iov, None, MsgFlags::empty()).step(step)?;
    let (len, ended) = (msg.bytes, msg.bytes == 0);
    match (ended, &answer[..len]) {
        (true, _) => Err(StepError::new(step(), "the shim closed the handoff")),
        (false, [b'k']) => Ok(()),
        (false, why) => Err(StepError::new(step(), String::from_utf8_lossy(why).into_owned())),
    }
}

/// In the shim: a thread that takes the child's network namespace, makes `eth0` in it, and
/// runs the stack until the shim exits. EOF instead of a namespace means the child ended
/// first. `published` are the box's published ports ([`ports::bind`]).
pub fn start(
    box_id: &str,
    spec: &NetworkSpec,
    shim_end: OwnedFd,
    published: Vec<ports::Published>,
) {
    let (id, spec) = (box_id.to_owned(), spec.clone());
    let spawned = std::thread::Builder::new().name("netstack".into()).spawn(move || {
        let netns = match receive_fd(&shim_end) {
            Ok(Some(netns)) => netns,
            Ok(None) => return,
            Err(err) => return crate::log::line(&id, format!("network: {err}")),
        };
        let made = make_eth0(netns);
        let answer = match &made {
            Ok(_) => "k".to_string(),
            Err(err) => err.to_string(),
        };
        let iov = [std::io::IoSlice::new(answer.as_bytes())];
        if sendmsg::<()>(shim_end.as_raw_fd(), &iov, &[], MsgFlags::empty(), None).is_err() {
            return; // the child is gone
        }
        drop(shim_end);
        if let Ok(tun) = made {
            if let Err(err) = stack::run(&id, &spec, tun, published) {
                crate::log::line(&id, format!("network stopped: {err}"));
            }
        }
    });
    if let Err(err) = spawned {
        crate::log::line(box_id, format!("network: start its thread: {err}"));
    }
}

/// Creates `eth0` in `netns` from a thread of its own, which enters the namespace and ends
/// there: no thread of the shim that stays makes a connection from the box's namespace.
fn make_eth0(netns: OwnedFd) -> Result<OwnedFd, StepError> {
    let helper = std::thread::Builder::new().name("netns".into()).spawn(move || {
        nix::sched::setns(&netns, nix::sched::CloneFlags::CLONE_NEWNET)
            .step(|| "enter the box's network namespace".to_string())?;
        iface::create()
    });
    match helper {
        Ok(handle) => handle.join().unwrap_or_else(|_| {
            Err(StepError::new("create the box's eth0", "the thread panicked"))
        }),
        Err(err) => Err(StepError::new("create the box's eth0", err.to_string())),
    }
}

fn receive_fd(shim_end: &OwnedFd) -> Result<Option<OwnedFd>, StepError> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg =
        recvmsg::<()>(shim_end.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
            .step(|| "receive the box's network namespace".to_string())?;
    for cmsg in msg.cmsgs().step(|| "read the network handoff".to_string())? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            let mut fds = fds.into_iter();
            // SAFETY: SCM_RIGHTS installed these descriptors in this process; each is owned
            // once, here.
            let first = fds.next().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
            for extra in fds {
                // SAFETY: as above; one descriptor was sent, any other is closed.
                drop(unsafe { OwnedFd::from_raw_fd(extra) });
            }
            return Ok(first);
        }
    }
    Ok(None)
}
