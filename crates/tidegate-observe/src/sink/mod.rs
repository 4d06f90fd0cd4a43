//! Where log lines go: a bounded channel to one writer thread, so a request never waits on I/O.
//!
//! ```
//! use tidegate_observe::sink::LogSink;
//!
//! // Tests and benches drain the channel themselves:
//! let (sink, mut lines) = LogSink::channel(16);
//! assert!(sink.emit(b"{}\n".to_vec()));
//! assert_eq!(lines.try_recv().unwrap(), b"{}\n");
//! ```
//!
//! When the channel is full (the disk or stdout cannot keep up), a line is dropped and counted
//! ([`LogSink::dropped`] and the `tidegate_log_lines_dropped_total` metric) rather than
//! blocking the request that produced it: losing a log line is better than adding latency to
//! every call when a disk is slow.

mod file;

use std::{
    io::{self, Write},
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use tokio::sync::mpsc;

pub use file::{Clock, RotatingFile};

/// Lines buffered between requests and the writer before new lines are dropped.
pub const DEFAULT_CAPACITY: usize = 8192;

/// Where a sink writes.
pub enum SinkTarget {
    /// Standard output (the default when `logging.file` is absent).
    Stdout,
    /// A daily-rotated file with retention (`logging.file`, `logging.retention`).
    File {
        /// The live file, e.g. `./tidegate-data/boundary.log`.
        path: PathBuf,
        /// Rotated files older than this are deleted; `None` keeps them all.
        retention: Option<Duration>,
    },
    /// Any writer (used by tests to capture output).
    Writer(Box<dyn Write + Send>),
}

impl std::fmt::Debug for SinkTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkTarget::Stdout => f.write_str("Stdout"),
            SinkTarget::File { path, retention } => f
                .debug_struct("File")
                .field("path", path)
                .field("retention", retention)
                .finish(),
            SinkTarget::Writer(_) => f.write_str("Writer(..)"),
        }
    }
}

impl SinkTarget {
    /// The target for `logging.file` / `logging.retention`: stdout when no file is set.
    pub fn from_logging(file: Option<PathBuf>, retention: Option<Duration>) -> SinkTarget {
        match file {
            Some(path) => SinkTarget::File { path, retention },
            None => SinkTarget::Stdout,
        }
    }
}

/// The sending side: cheap to clone, shared by every boundary-log layer.
#[derive(Clone, Debug)]
pub struct LogSink {
    tx: mpsc::Sender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
    flushed: Arc<Flushed>,
}

/// Flush acknowledgements from the writer (an empty line in the channel is a flush request).
#[derive(Debug, Default)]
struct Flushed {
    requested: AtomicU64,
    done: AtomicU64,
    notify: tokio::sync::Notify,
}

/// The writer thread; [`SinkWorker::join`] waits until every [`LogSink`] clone is dropped and
/// all lines are written.
#[derive(Debug)]
pub struct SinkWorker {
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl LogSink {
    /// Starts a writer thread for `target` with a channel of `capacity` lines.
    ///
    /// A file target is opened (and rotated/retained) before this returns, so a bad path is
    /// an error at startup, not a silent loss later.
    pub fn start(target: SinkTarget, capacity: usize) -> io::Result<(LogSink, SinkWorker)> {
        let (sink, rx) = LogSink::channel(capacity);
        let flushed = sink.flushed.clone();
        let writer: Box<dyn LineWriter> = match target {
            // Rust's stdout is line-buffered (one write(2) per line); batch instead.
            SinkTarget::Stdout => Box::new(io::BufWriter::with_capacity(64 * 1024, io::stdout())),
            SinkTarget::File { path, retention } => Box::new(RotatingFile::open(
                path,
                retention,
                time::OffsetDateTime::now_utc,
            )?),
            SinkTarget::Writer(w) => Box::new(w),
        };
        let thread = std::thread::Builder::new()
            .name("tidegate-log-writer".into())
            .spawn(move || write_lines(rx, writer, &flushed))?;
        Ok((
            sink,
            SinkWorker {
                thread: Some(thread),
            },
        ))
    }

    /// A sink whose lines the caller drains from the returned receiver.
    pub fn channel(capacity: usize) -> (LogSink, mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            LogSink {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
                flushed: Arc::new(Flushed::default()),
            },
            rx,
        )
    }

    /// Queues one line (ending in `\n`) without waiting; `false` when it was dropped.
    pub fn emit(&self, line: Vec<u8>) -> bool {
        match self.tx.try_send(line) {
            Ok(()) => true,
            Err(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                crate::metrics::log_line_dropped();
                false
            }
        }
    }

    /// Waits until every line queued before this call is written and flushed (for a clean
    /// shutdown; bound it with a timeout). Only for sinks made by [`LogSink::start`].
    pub async fn flush(&self) {
        let ticket = self.flushed.requested.fetch_add(1, Ordering::SeqCst) + 1;
        if self.tx.send(Vec::new()).await.is_err() {
            return; // the writer is gone: nothing left to flush
        }
        loop {
            let notified = self.flushed.notify.notified();
            if self.flushed.done.load(Ordering::SeqCst) >= ticket {
                return;
            }
            notified.await;
        }
    }

    /// Lines dropped so far because the channel was full or the writer stopped.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl SinkWorker {
    /// Waits for the writer to finish (after every [`LogSink`] clone is dropped).
    pub fn join(mut self) -> io::Result<()> {
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(io::Error::other("log writer thread panicked")),
            None => Ok(()),
        }
    }
}

/// What the writer thread writes to.
trait LineWriter: Send {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()>;
    fn flush_lines(&mut self) -> io::Result<()>;
}

impl LineWriter for io::BufWriter<io::Stdout> {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.write_all(line)
    }
    fn flush_lines(&mut self) -> io::Result<()> {
        self.flush()
    }
}

impl LineWriter for Box<dyn Write + Send> {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.write_all(line)
    }
    fn flush_lines(&mut self) -> io::Result<()> {
        self.flush()
    }
}

impl LineWriter for RotatingFile {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.write_all(line)
    }
    fn flush_lines(&mut self) -> io::Result<()> {
        self.flush()
    }
}

/// How long the writer sleeps after a busy burst before draining again. While lines keep
/// coming, the writer is never parked on the channel, so a request's `emit` is an atomic push
/// with no thread wake-up (a futex per line would cost more than the whole record); lines wait
/// at most this long, and the channel (8192 lines) absorbs millions of lines per second.
const BATCH_PAUSE: Duration = Duration::from_millis(1);

/// The writer loop: write everything queued, flush, pause briefly while busy, park only when
/// idle, stop when every sender is gone. A failing write is reported (once per burst) and the
/// loop goes on. An empty "line" is a flush request, acknowledged after the flush.
fn write_lines(
    mut rx: mpsc::Receiver<Vec<u8>>,
    mut out: Box<dyn LineWriter>,
    flushed: &Flushed,
) -> io::Result<()> {
    use mpsc::error::TryRecvError;
    let mut last_error: Option<io::ErrorKind> = None;
    let mut next: Option<Vec<u8>> = None;
    loop {
        let mut written = 0u64;
        let mut flush_requests = 0u64;
        let mut closed = false;
        loop {
            let line = match next.take() {
                Some(line) => line,
                None => match rx.try_recv() {
                    Ok(line) => line,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                },
            };
            if line.is_empty() {
                flush_requests += 1;
            } else {
                note_error(out.write_line(&line), &mut last_error);
                written += 1;
            }
        }
        if written > 0 || flush_requests > 0 {
            note_error(out.flush_lines(), &mut last_error);
        }
        if flush_requests > 0 {
            flushed.done.fetch_add(flush_requests, Ordering::SeqCst);
            flushed.notify.notify_waiters();
        }
        if closed {
            return out.flush_lines();
        }
        if written > 0 {
            std::thread::sleep(BATCH_PAUSE);
        } else {
            // Idle: park until the next line (one wake-up per idle period, not per line).
            match rx.blocking_recv() {
                Some(line) => next = Some(line),
                None => return out.flush_lines(),
            }
        }
    }
}

fn note_error(result: io::Result<()>, last: &mut Option<io::ErrorKind>) {
    match result {
        Ok(()) => *last = None,
        Err(e) => {
            crate::metrics::log_write_failed();
            if *last != Some(e.kind()) {
                tracing::warn!(error = %e, "boundary log write failed");
            }
            *last = Some(e.kind());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A writer tests can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn full_channel_drops_and_counts_instead_of_blocking() {
        let (sink, mut rx) = LogSink::channel(2);
        assert!(sink.emit(b"1\n".to_vec()));
        assert!(sink.emit(b"2\n".to_vec()));
        assert!(!sink.emit(b"3\n".to_vec()));
        assert_eq!(sink.dropped(), 1);
        assert_eq!(rx.try_recv().unwrap(), b"1\n");
    }

    #[test]
    fn writer_thread_writes_every_line_then_stops() {
        let out = Shared::default();
        let (sink, worker) = LogSink::start(SinkTarget::Writer(Box::new(out.clone())), 64).unwrap();
        for i in 0..50 {
            assert!(sink.emit(format!("{i}\n").into_bytes()));
        }
        drop(sink);
        worker.join().unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let expected: String = (0..50).map(|i| format!("{i}\n")).collect();
        assert_eq!(text, expected);
    }

    #[tokio::test]
    async fn flush_waits_for_queued_lines() {
        let out = Shared::default();
        let (sink, _worker) =
            LogSink::start(SinkTarget::Writer(Box::new(out.clone())), 64).unwrap();
        for i in 0..20 {
            assert!(sink.emit(format!("{i}\n").into_bytes()));
        }
        sink.flush().await;
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 20);
    }

    #[test]
    fn file_target_writes_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/boundary.log");
        let (sink, worker) = LogSink::start(
            SinkTarget::File {
                path: path.clone(),
                retention: Some(Duration::from_secs(86_400)),
            },
            8,
        )
        .unwrap();
        sink.emit(b"{\"a\":1}\n".to_vec());
        drop(sink);
        worker.join().unwrap();
        assert_eq!(std::fs::read_to_string(path).unwrap(), "{\"a\":1}\n");
    }
}
