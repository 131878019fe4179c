//! Copying a process's output (its stdout and stderr pipes, or its terminal) to where it goes,
//! chunk by chunk.

use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::sync::{Arc, OnceLock};

use boxlite_protocol::pb::{exec_event::Event, ExecEvent};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};
use tonic::Status;

use crate::main_cmd::MainLog;
use crate::pty::Master;

/// Largest output chunk sent in one event.
pub const CHUNK: usize = 64 * 1024;
/// Chunks waiting for the console writer (one per output pipe of the main command is enough).
const CONSOLE_QUEUE: usize = 4;

/// A chunk for the console, and who waits for it to be written.
type ConsoleChunk = (Vec<u8>, oneshot::Sender<()>);

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
                if let Some(console) = console() {
                    // Waits (asynchronously) until the chunk is written, so the command waits
                    // in its own write when the console is slower than it (back-pressure),
                    // and the output is on the console once the pumps are done (the agent
                    // exits after that).
                    let (written, done) = oneshot::channel();
                    if console.send((data.clone(), written)).await.is_ok() {
                        let _ = done.await;
                    }
                }
                log.append(kind, data);
            }
        }
    }
}

/// The console (fd 2) is a pipe the shim copies into the box's log on the host. When the box
/// prints faster than the host's disk takes it, the pipe fills and a write blocks: so the copy
/// runs on a thread of its own (started with the first output), and the runtime serving the
/// host's calls only ever waits for it asynchronously. `None` when the thread could not start:
/// the output then stays in the main command's log only.
fn console() -> Option<&'static mpsc::Sender<ConsoleChunk>> {
    static CONSOLE: OnceLock<Option<mpsc::Sender<ConsoleChunk>>> = OnceLock::new();
    CONSOLE
        .get_or_init(|| {
            let (tx, mut rx) = mpsc::channel::<ConsoleChunk>(CONSOLE_QUEUE);
            let writer = move || {
                while let Some((data, written)) = rx.blocking_recv() {
                    // Under std's stderr lock, so the agent's own messages are never cut into
                    // by a chunk (they would wait for a full pipe anyway). The console is the
                    // host's; a failed copy must not stop the command.
                    let _ = io::stderr().lock().write_all(&data);
                    let _ = written.send(());
                }
            };
            let thread = std::thread::Builder::new().name("console".into()).stack_size(64 * 1024);
            thread.spawn(writer).ok().map(|_| tx)
        })
        .as_ref()
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
