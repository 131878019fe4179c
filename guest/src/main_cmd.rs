//! The box's main command: started by the first AttachMain (the host's start pipeline makes that
//! call, so its stream sees every byte however fast the command exits), its output kept
//! (bounded) for later attaches and copied to the console; its exit stops the box.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use boxlite_protocol::launch::GuestConfig;
use boxlite_protocol::pb::{exec_event::Event, ExecEvent, Exited};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use crate::exec::{exited_event, ExecStream};
use crate::oom::OomCounter;
use crate::output::{pump, Kind, Sink};
use crate::plan::{plan_off_thread, spawn_status, Request};
use crate::reaper::{ExitStatus, Reaper};
use crate::shutdown::{StopRequest, StopTx};
use crate::spawn::spawn;

/// Output kept for replay; older chunks are dropped first.
const LOG_LIMIT: usize = 4 * 1024 * 1024;
/// Events buffered per attached client.
const ATTACH_BUFFER: usize = 8;
/// Chunks copied out of the log per lock.
const READ_BATCH: usize = 16;

/// The configured main command, not started until the first attach.
pub struct MainSlot {
    argv: Vec<String>,
    stop: StopTx,
    grace: Duration,
    started: tokio::sync::OnceCell<MainCommand>,
}

impl MainSlot {
    pub fn new(argv: Vec<String>, stop: StopTx, grace: Duration) -> Self {
        MainSlot { argv, stop, grace, started: tokio::sync::OnceCell::new() }
    }

    /// Starts the command on the first call; every call gets a stream from the beginning of
    /// the kept output. A command that cannot start is the caller's error (NOT_FOUND, …).
    pub async fn attach(
        &self,
        config: &Arc<GuestConfig>,
        reaper: &Reaper,
        oom_counter: &Arc<OomCounter>,
    ) -> Result<ExecStream, Status> {
        let main = self
            .started
            .get_or_try_init(|| {
                let stop = self.stop.clone();
                start(config, reaper, oom_counter, &self.argv, stop, self.grace)
            })
            .await?;
        Ok(main.attach())
    }

    /// The command, once started.
    pub fn started(&self) -> Option<&MainCommand> {
        self.started.get()
    }
}

/// The running (or finished) main command.
pub struct MainCommand {
    log: Arc<MainLog>,
    /// `Some` once the process exited.
    status: watch::Receiver<Option<Ended>>,
}

/// How the main command ended.
#[derive(Clone, Copy, Debug)]
struct Ended {
    /// `None` only if its status was lost.
    status: Option<ExitStatus>,
    oom_killed: bool,
}

/// Everything the main command printed (the last [`LOG_LIMIT`] bytes of it) and its end.
pub struct MainLog {
    inner: Mutex<LogInner>,
    /// Bumped on every append and at the end, to wake followers.
    changes: watch::Sender<u64>,
}

#[derive(Default)]
struct LogInner {
    chunks: VecDeque<(Kind, Vec<u8>)>,
    /// Sequence number of `chunks[0]`.
    first_seq: u64,
    bytes: usize,
    /// Set after the process exited and its output reached EOF.
    exited: Option<Exited>,
}

/// Starts the main command. `stop` is told when it exits.
pub async fn start(
    config: &Arc<GuestConfig>,
    reaper: &Reaper,
    oom_counter: &Arc<OomCounter>,
    argv: &[String],
    stop: StopTx,
    grace: Duration,
) -> Result<MainCommand, Status> {
    let request = Request {
        argv: argv.to_vec(),
        env: Vec::new(),
        working_dir: String::new(),
        user: String::new(),
        stdin: false,
        tty: None,
    };
    let plan = plan_off_thread(Arc::clone(config), request).await?;
    let argv0 = argv.first().map_or("", String::as_str);
    let oom_before = oom_counter.read();
    let process = spawn(reaper, &plan).await.map_err(|e| spawn_status(e, &plan, argv0))?;

    let log = Arc::new(MainLog { inner: Mutex::default(), changes: watch::channel(0).0 });
    let (status_tx, status) = watch::channel(None);
    let pumps: Vec<_> = process
        .outputs
        .into_iter()
        .map(|(source, kind)| tokio::spawn(pump(source, kind, Sink::Main(Arc::clone(&log)))))
        .collect();
    let task_log = Arc::clone(&log);
    let exit = process.exit;
    let oom_counter = Arc::clone(oom_counter);
    tokio::spawn(async move {
        let status = exit.await.ok();
        let oom_killed = crate::oom::killed(status, oom_before, oom_counter.read());
        let ended = Ended { status, oom_killed };
        status_tx.send_replace(Some(ended));
        let _ = stop.send(StopRequest { grace, why: "the main command exited" });
        // The stop sequence kills whatever else holds the pipes, so EOF follows.
        for pump in pumps {
            let _ = pump.await;
        }
        task_log.finish(exited_event(status, false, oom_killed));
    });
    Ok(MainCommand { log, status })
}

impl MainCommand {
    /// A stream replaying the kept output, then following it live until Exited.
    pub fn attach(&self) -> ExecStream {
        let (tx, rx) = mpsc::channel(ATTACH_BUFFER);
        tokio::spawn(follow(Arc::clone(&self.log), tx));
        ReceiverStream::new(rx)
    }

    /// The exit status, waiting at most `limit` for the process to end.
    pub async fn wait_exit(&self, limit: Duration) -> Option<ExitStatus> {
        let mut status = self.status.clone();
        let waited = tokio::time::timeout(limit, status.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(value)) => value.and_then(|ended| ended.status),
            _ => None,
        }
    }

    /// Waits at most `limit` until the output reached EOF and Exited is in the log. Past the
    /// limit (a process that escaped the stop still holds the pipes) Exited is logged anyway,
    /// so every attached client gets its last event.
    pub async fn wait_finished(&self, limit: Duration) {
        let mut changes = self.log.changes.subscribe();
        let finished = changes.wait_for(|_| self.log.lock().exited.is_some());
        if tokio::time::timeout(limit, finished).await.is_err() {
            let ended = *self.status.borrow();
            let (status, oom_killed) = ended.map_or((None, false), |e| (e.status, e.oom_killed));
            self.log.finish(exited_event(status, false, oom_killed));
        }
    }
}

impl MainLog {
    /// Keeps `data`, dropping the oldest chunks beyond [`LOG_LIMIT`].
    pub fn append(&self, kind: Kind, data: Vec<u8>) {
        let mut inner = self.lock();
        inner.bytes += data.len();
        inner.chunks.push_back((kind, data));
        while inner.bytes > LOG_LIMIT && inner.chunks.len() > 1 {
            if let Some((_, old)) = inner.chunks.pop_front() {
                inner.bytes -= old.len();
                inner.first_seq += 1;
            }
        }
        drop(inner);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Logs the end, once.
    fn finish(&self, exited: Exited) {
        self.lock().exited.get_or_insert(exited);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Up to [`READ_BATCH`] events from `cursor` on (advancing it), and the end when reached.
    /// A cursor older than what is kept skips to the oldest kept chunk.
    fn read_from(&self, cursor: &mut u64) -> (Vec<ExecEvent>, Option<Exited>) {
        let inner = self.lock();
        *cursor = (*cursor).max(inner.first_seq);
        let start = usize::try_from(*cursor - inner.first_seq).unwrap_or(usize::MAX);
        let events: Vec<ExecEvent> = inner
            .chunks
            .iter()
            .skip(start)
            .take(READ_BATCH)
            .map(|(kind, data)| kind.event(data.clone()))
            .collect();
        *cursor += events.len() as u64;
        let end = if events.is_empty() { inner.exited } else { None };
        (events, end)
    }

    fn lock(&self) -> MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Feeds one attached client from the log.
async fn follow(log: Arc<MainLog>, tx: mpsc::Sender<Result<ExecEvent, Status>>) {
    let mut changes = log.changes.subscribe();
    let mut cursor = 0;
    loop {
        // Marked seen before reading, so an append racing the read still wakes us below.
        changes.borrow_and_update();
        let (events, end) = log.read_from(&mut cursor);
        if events.is_empty() {
            if let Some(exited) = end {
                let _ = tx.send(Ok(ExecEvent { event: Some(Event::Exited(exited)) })).await;
                return;
            }
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = tx.closed() => return,
            }
            continue;
        }
        for event in events {
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> MainLog {
        MainLog { inner: Mutex::default(), changes: watch::channel(0).0 }
    }

    fn data(event: &ExecEvent) -> &[u8] {
        match &event.event {
            Some(Event::Stdout(d) | Event::Stderr(d)) => d,
            _ => &[],
        }
    }

    #[test]
    fn replay_then_end() {
        let log = log();
        log.append(Kind::Stdout, b"a".to_vec());
        log.append(Kind::Stderr, b"b".to_vec());
        let mut cursor = 0;
        let (events, end) = log.read_from(&mut cursor);
        assert_eq!(events.iter().map(data).collect::<Vec<_>>(), vec![b"a", b"b"]);
        assert!(end.is_none());
        log.finish(Exited {
            exit_code: Some(3),
            signal: None,
            timed_out: false,
            oom_killed: false,
        });
        let (events, end) = log.read_from(&mut cursor);
        assert!(events.is_empty());
        assert_eq!(end.and_then(|e| e.exit_code), Some(3));
    }

    #[test]
    fn keeps_only_the_last_bytes() {
        let log = log();
        for _ in 0..5 {
            log.append(Kind::Stdout, vec![0; LOG_LIMIT / 2]);
        }
        assert!(log.lock().bytes <= LOG_LIMIT);
        let mut cursor = 0;
        let (events, _) = log.read_from(&mut cursor);
        assert_eq!(events.len(), 2);
        assert_eq!(cursor, 5);
    }
}
