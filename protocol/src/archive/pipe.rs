//! The bridge between a copy stream's gRPC messages (async) and the packer and unpacker
//! (blocking `Read` / `Write`, run on a blocking thread): bounded channels of chunks, so a copy
//! holds a few chunks in memory whatever its size.

use std::io::{self, Read, Write};

use tokio::sync::mpsc;

/// Bytes of one message of a copy stream.
pub const CHUNK_BYTES: usize = 256 << 10;

/// Reads the chunks a channel delivers, in order; the channel closed is the end of the stream.
pub struct ChunkReader {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl ChunkReader {
    pub fn new(rx: mpsc::Receiver<Vec<u8>>) -> Self {
        ChunkReader { rx, chunk: Vec::new(), at: 0 }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => (self.chunk, self.at) = (chunk, 0),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Writes into chunks of [`CHUNK_BYTES`], each sent as a message made by `wrap`; a receiver
/// gone is a broken pipe.
pub struct ChunkWriter<T> {
    tx: mpsc::Sender<T>,
    wrap: fn(Vec<u8>) -> T,
    chunk: Vec<u8>,
    gone: bool,
}

impl<T> ChunkWriter<T> {
    pub fn new(tx: mpsc::Sender<T>, wrap: fn(Vec<u8>) -> T) -> Self {
        ChunkWriter { tx, wrap, chunk: Vec::with_capacity(CHUNK_BYTES), gone: false }
    }

    /// Whether a write failed because the receiver went away: the copy's other end stopped,
    /// and its reason, not this end's broken pipe, is the copy's error.
    pub fn receiver_gone(&self) -> bool {
        self.gone
    }

    fn send(&mut self) -> io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK_BYTES));
        self.tx.blocking_send((self.wrap)(chunk)).map_err(|_| {
            self.gone = true;
            io::Error::new(io::ErrorKind::BrokenPipe, "the other end of the copy is gone")
        })
    }
}

impl<T> Write for ChunkWriter<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(CHUNK_BYTES - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..n]);
        if self.chunk.len() == CHUNK_BYTES {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}
