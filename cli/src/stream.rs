//! Copying an execution's streams to the terminal, and stdin into it.

use std::io::Read;

use boxlite_core::{ExecResult, Execution};
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

/// How a foreground command ended.
pub(crate) enum Ended {
    Finished(ExecResult),
    /// SIGINT or SIGTERM reached the CLI; the number is the signal.
    Interrupted(i32),
}

/// How a foreground command is tied to this process.
#[derive(Clone, Copy, Default)]
pub(crate) struct Attach {
    /// Copy our stdin into the command's, closing it at our EOF.
    pub(crate) stdin: bool,
    /// The command runs on a terminal in the box whose size follows this host terminal's
    /// (SIGWINCH).
    pub(crate) resize_from: Option<std::os::fd::RawFd>,
}

/// Streams stdout and stderr of `exec` until it ends, as `attach` says.
pub(crate) async fn follow(mut exec: Execution, attach: Attach) -> anyhow::Result<Ended> {
    let mut out = exec.stdout();
    let mut err = exec.stderr();
    let stdin_task = match (attach.stdin, exec.stdin()) {
        (true, Some(mut writer)) => {
            let mut input = read_stdin()?;
            Some(tokio::spawn(async move {
                while let Some(chunk) = input.recv().await {
                    if writer.write(&chunk).await.is_err() {
                        return;
                    }
                }
                let _ = writer.close().await;
            }))
        }
        _ => None,
    };
    let mut winch = match attach.resize_from {
        Some(fd) => Some((fd, signal(SignalKind::window_change())?)),
        None => None,
    };
    let resize = async {
        match &mut winch {
            Some((fd, winch)) => {
                while winch.recv().await.is_some() {
                    if let Some((rows, cols)) = crate::terminal::window_size(*fd) {
                        // Fails only once the command has ended, which the copy notices.
                        let _ = exec.resize_tty(rows, cols).await;
                    }
                }
                std::future::pending::<()>().await
            }
            None => std::future::pending().await,
        }
    };
    let copy = async {
        let mut stdout = tokio::io::stdout();
        let mut stderr = tokio::io::stderr();
        loop {
            tokio::select! {
                chunk = recv(&mut out), if out.is_some() => match chunk {
                    Some(data) => {
                        let written = match stdout.write_all(&data).await {
                            Ok(()) => stdout.flush().await,
                            Err(e) => Err(e),
                        };
                        match written {
                            Ok(()) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                                return Ok(Copied::ReaderGone);
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                    None => out = None,
                },
                chunk = recv(&mut err), if err.is_some() => match chunk {
                    Some(data) => { stderr.write_all(&data).await?; stderr.flush().await?; }
                    None => err = None,
                },
                else => break,
            }
        }
        anyhow::Ok(Copied::All)
    };
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let interrupted = tokio::select! {
        copied = copy => match copied? {
            Copied::All => None,
            Copied::ReaderGone => Some(libc::SIGPIPE),
        },
        () = resize => None,
        _ = sigint.recv() => Some(libc::SIGINT),
        _ = sigterm.recv() => Some(libc::SIGTERM),
    };
    if let Some(task) = stdin_task {
        task.abort();
    }
    if interrupted == Some(libc::SIGPIPE) {
        // Fails only if the command has ended already. Waited for (bounded: a command that
        // handles SIGPIPE may run on), so the command is gone when we are.
        let _ = exec.signal(libc::SIGPIPE).await;
        let _ = tokio::time::timeout(SIGPIPE_WAIT, exec.wait()).await;
        return Err(anyhow::Error::new(crate::out::StdoutClosed));
    }
    Ok(match interrupted {
        Some(signal) => Ended::Interrupted(signal),
        None => Ended::Finished(exec.wait().await?),
    })
}

/// How the copy of the command's output ended.
enum Copied {
    All,
    /// Our stdout's reader went away (`exec BOX yes | head -1`): the command gets the SIGPIPE
    /// a local writer would, rather than run on blocked on output nobody reads, and we end as
    /// a SIGPIPE'd tool does (141).
    ReaderGone,
}

/// How long a command that got SIGPIPE is waited for before the CLI exits anyway.
const SIGPIPE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Our stdin, chunk by chunk, until EOF. Read on a thread of its own, not tokio's stdin: a
/// read from a terminal cannot be cancelled, and tokio's runtime would wait for it at exit
/// (until a key is pressed); a plain thread ends with the process.
fn read_stdin() -> anyhow::Result<mpsc::Receiver<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(4);
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut input = std::io::stdin().lock();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match input.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.blocking_send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        })
        .map_err(|e| anyhow::anyhow!("starting the stdin reader: {e}"))?;
    Ok(rx)
}

async fn recv(rx: &mut Option<tokio::sync::mpsc::Receiver<Vec<u8>>>) -> Option<Vec<u8>> {
    match rx {
        Some(rx) => rx.recv().await,
        None => None,
    }
}
