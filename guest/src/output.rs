//! Copying a process's output (its stdout and stderr pipes, or its terminal) to where it goes,
//! chunk by chunk.

use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::sync::Arc;

use boxlite_protocol::pb::{exec_event::Event, ExecEvent};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tonic::Status;

use crate::main_cmd::MainLog;
use crate::pty::Master;

/// Largest output chunk sent in one event.
pub const CHUNK: usize = 64 * 1024;

/// The events of one exec stream, as tonic consumes them.
pub type EventTx = mpsc::Sender<Result<ExecEvent, Status>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Stdout,
    Stderr,
}

impl Kind {
    pub fn event(self, data: Vec<u8>) -> ExecEvent {
        let event = match self {
            Self::Stdout => Event::Stdout(data),
            Self::Stderr => Event::Stderr(data),
        };
        ExecEvent { event: Some(event) }
    }
}

/// Where output goes.
pub enum Sink {
    /// An exec's event stream. The bounded channel is the backpressure: a slow client leaves
    /// the pipe full and the process blocks in write. Once the client is gone the output is
    /// still drained, so the process runs to completion instead of hanging on a full pipe.
    Stream { tx: EventTx, open: bool },
    /// The main command: kept in the box's log and copied to the agent's stderr (the console).
    Main(Arc<MainLog>),
}

impl Sink {
    pub fn stream(tx: EventTx) -> Self {
        Self::Stream { tx, open: true }
    }

    async fn deliver(&mut self, kind: Kind, data: Vec<u8>) {
        match self {
            Self::Stream { tx, open } => {
                if *open && tx.send(Ok(kind.event(data))).await.is_err() {
                    *open = false;
                }
            }
            Self::Main(log) => {
                // The console is a file on the host; a failed copy must not stop the command.
                let _ = io::stderr().write_all(&data);
                log.append(kind, data);
            }
        }
    }
}

/// Where a process's output is read from.
pub enum Source {
    Pipe(OwnedFd),
    /// The master side of its terminal, shared with the input and resize calls.
    Terminal(Arc<Master>),
}

/// Reads `source` to EOF into `sink`. Buffers are allocated only once data is ready, so an idle
/// process (a quiet main command) holds no read buffer.
pub async fn pump(source: Source, kind: Kind, mut sink: Sink) {
    let reader = match source {
        Source::Pipe(fd) => match pipe::Receiver::from_owned_fd(fd) {
            Ok(receiver) => Reader::Pipe(receiver),
            Err(err) => {
                eprintln!("boxlite-guest: output pipe: {err}");
                return;
            }
        },
        Source::Terminal(master) => Reader::Terminal(master),
    };
    loop {
        match reader.read().await {
            Ok(Some(data)) => sink.deliver(kind, data).await,
            Ok(None) => return,
            Err(err) => {
                eprintln!("boxlite-guest: reading output: {err}");
                return;
            }
        }
    }
}

enum Reader {
    Pipe(pipe::Receiver),
    Terminal(Arc<Master>),
}

impl Reader {
    /// The next chunk, or `None` at EOF.
    async fn read(&self) -> io::Result<Option<Vec<u8>>> {
        let receiver = match self {
            Reader::Pipe(receiver) => receiver,
            Reader::Terminal(master) => return master.read().await,
        };
        loop {
            receiver.readable().await?;
            let mut buf = vec![0u8; CHUNK];
            match receiver.try_read(&mut buf) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    buf.truncate(n);
                    buf.shrink_to_fit();
                    return Ok(Some(buf));
                }
                Err(err)
                    if matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(err) => return Err(err),
            }
        }
    }
}
