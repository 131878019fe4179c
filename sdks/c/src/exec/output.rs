//! The thread that hands an execution's output to its C callbacks. Callbacks run outside the
//! tokio runtime (the thread only enters it to receive the next chunk), so a callback may call
//! other boxlite functions, which block on that runtime themselves.

use std::ffi::c_void;
use std::thread::{JoinHandle, ThreadId};

use boxlite_core::{Error, ErrorKind};
use tokio::sync::{mpsc, watch};

use super::command::{BoxliteOutputFn, Output};

type Chunks = mpsc::Receiver<Vec<u8>>;

/// One stream with its callback.
struct Sink {
    callback: unsafe extern "C" fn(*const u8, usize, *mut c_void),
    chunks: Chunks,
}

/// What the thread owns.
struct Streams {
    stdout: Option<Sink>,
    stderr: Option<Sink>,
    user_data: *mut c_void,
}

// SAFETY: the header tells C that callbacks and user_data are used from the library's thread;
// nothing else in Streams is thread-bound.
unsafe impl Send for Streams {}

/// The delivery of one execution's output: ends when both streams end, or when stopped.
#[derive(Debug)]
pub(crate) struct Delivery {
    thread: Option<JoinHandle<()>>,
    thread_id: Option<ThreadId>,
    stop: watch::Sender<bool>,
    delivered: watch::Receiver<bool>,
}

fn sink(callback: BoxliteOutputFn, chunks: Option<Chunks>) -> Option<Sink> {
    // A stream without a callback is dropped here, so its data is discarded instead of filling
    // its channel and stalling the other stream behind it.
    Some(Sink { callback: callback?, chunks: chunks? })
}

impl Delivery {
    /// Starts delivering `stdout` and `stderr` to the callbacks of `output`.
    pub(crate) fn start(
        runtime: tokio::runtime::Handle,
        output: Output,
        stdout: Option<Chunks>,
        stderr: Option<Chunks>,
    ) -> Result<Self, Error> {
        let (stop, mut stopped) = watch::channel(false);
        let (done, delivered) = watch::channel(false);
        let mut streams = Streams {
            stdout: sink(output.on_stdout, stdout),
            stderr: sink(output.on_stderr, stderr),
            user_data: output.user_data,
        };
        if streams.stdout.is_none() && streams.stderr.is_none() {
            done.send_replace(true);
            return Ok(Delivery { thread: None, thread_id: None, stop, delivered });
        }
        let thread = std::thread::Builder::new()
            .name("boxlite-output".into())
            .spawn(move || {
                crate::blocking::block_sigpipe();
                let streams = &mut streams;
                loop {
                    let next = runtime.block_on(async {
                        tokio::select! {
                            biased;
                            _ = stopped.wait_for(|stop| *stop) => None,
                            next = next_chunk(streams) => next,
                        }
                    });
                    let Some((callback, data)) = next else { break };
                    // SAFETY: the callback and user_data are valid until the execution is
                    // waited for or freed (header contract), and both wait for this thread.
                    unsafe { callback(data.as_ptr(), data.len(), streams.user_data) };
                }
                done.send_replace(true);
            })
            .map_err(|e| Error::new(ErrorKind::Io, format!("start the exec output thread: {e}")))?;
        let thread_id = Some(thread.thread().id());
        Ok(Delivery { thread: Some(thread), thread_id, stop, delivered })
    }

    /// Whether the calling thread is this delivery's own, that is, we are inside a callback.
    pub(crate) fn is_current_thread(&self) -> bool {
        self.thread_id == Some(std::thread::current().id())
    }

    /// A future that resolves once every chunk was handed to its callback and the last
    /// callback returned. It does not borrow the delivery, so no lock is held while it waits.
    pub(crate) fn delivered_signal(&self) -> impl std::future::Future<Output = ()> + use<> {
        let mut delivered = self.delivered.clone();
        async move {
            // An error means the thread is gone, which also means nothing more is delivered.
            let _ = delivered.wait_for(|done| *done).await;
        }
    }

    /// Joins the finished thread (after [`Delivery::delivered`]) so no thread outlives it.
    pub(crate) fn join(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Delivery {
    /// Stops delivery: after this no callback starts, and unless we are inside a callback (the
    /// thread then stops on its own once it returns) the one running has returned.
    fn drop(&mut self) {
        self.stop.send_replace(true);
        if !self.is_current_thread() {
            self.join();
        }
    }
}

/// The next chunk of either stream with its callback; `None` once both ended.
async fn next_chunk(
    streams: &mut Streams,
) -> Option<(unsafe extern "C" fn(*const u8, usize, *mut c_void), Vec<u8>)> {
    loop {
        let (out, err) = (&mut streams.stdout, &mut streams.stderr);
        let (from_stdout, chunk) = tokio::select! {
            chunk = recv(out), if out.is_some() => (true, chunk),
            chunk = recv(err), if err.is_some() => (false, chunk),
            else => return None,
        };
        let slot = if from_stdout { &mut streams.stdout } else { &mut streams.stderr };
        match chunk {
            Some(data) => return slot.as_ref().map(|s| (s.callback, data)),
            None => *slot = None,
        }
    }
}

async fn recv(sink: &mut Option<Sink>) -> Option<Vec<u8>> {
    match sink {
        Some(s) => s.chunks.recv().await,
        None => None,
    }
}
