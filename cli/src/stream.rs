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
                    Some(data) => { stdout.write_all(&data).await?; stdout.flush().await?; }
                    None => out = None,
                },
                chunk = recv(&mut err), if err.is_some() => match chunk {
                    Some(data) => { stderr.write_all(&data).await?; stderr.flush().await?; }
                    None => err = None,
                },
                else => break,
            }
        }
        anyhow::Ok(())
    };
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let interrupted = tokio::select! {
        copied = copy => { copied?; None }
        () = resize => None,
        _ = sigint.recv() => Some(libc::SIGINT),
        _ = sigterm.recv() => Some(libc::SIGTERM),
    };
    if let Some(task) = stdin_task {
        task.abort();
    }
    Ok(match interrupted {
        Some(signal) => Ended::Interrupted(signal),
        None => Ended::Finished(exec.wait().await?),
    })
}

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
