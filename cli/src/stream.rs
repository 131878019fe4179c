//! Copying an execution's streams to the terminal, and stdin into it.

use boxlite_core::{ExecResult, Execution};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How a foreground command ended.
pub(crate) enum Ended {
    Finished(ExecResult),
    /// SIGINT or SIGTERM reached the CLI; the number is the signal.
    Interrupted(i32),
}

/// Streams stdout and stderr of `exec` until it ends, feeding our stdin when `forward_stdin`.
pub(crate) async fn follow(mut exec: Execution, forward_stdin: bool) -> anyhow::Result<Ended> {
    let mut out = exec.stdout();
    let mut err = exec.stderr();
    let stdin_task = match (forward_stdin, exec.stdin()) {
        (true, Some(mut writer)) => Some(tokio::spawn(async move {
            let mut input = tokio::io::stdin();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match input.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if writer.write(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
            let _ = writer.close().await;
        })),
        _ => None,
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
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let ended = tokio::select! {
        copied = copy => { copied?; Ended::Finished(exec.wait().await?) }
        _ = sigint.recv() => Ended::Interrupted(libc::SIGINT),
        _ = sigterm.recv() => Ended::Interrupted(libc::SIGTERM),
    };
    if let Some(task) = stdin_task {
        task.abort();
    }
    Ok(ended)
}

async fn recv(rx: &mut Option<tokio::sync::mpsc::Receiver<Vec<u8>>>) -> Option<Vec<u8>> {
    match rx {
        Some(rx) => rx.recv().await,
        None => None,
    }
}
