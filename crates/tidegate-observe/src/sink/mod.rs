//! Where log lines go: a bounded buffer drained by one writer thread, so a request never
//! waits on I/O.
//!
//! ```
//! use tidegate_observe::sink::LogSink;
//!
//! // Tests and benches drain a channel themselves:
//! let (sink, mut lines) = LogSink::channel(16);
//! assert!(sink.emit(b"{}\n".to_vec()));
//! assert_eq!(lines.try_recv().unwrap(), b"{}\n");
//! ```
//!
//! A sink made by [`LogSink::start`] appends each line to one shared byte buffer (a mutex held
//! for the copy); the writer thread swaps that buffer for an empty one and writes the whole
//! batch with one call. A request therefore costs a memcpy, not a heap block and a channel
//! slot per line, and never wakes the writer unless the writer is idle: while lines keep
//! coming the writer drains every [`BATCH_PAUSE`], and it only sleeps on a condition variable
//! when it found nothing to do.
//!
//! When the buffer is full (the disk or stdout cannot keep up), a line is dropped and counted
//! ([`LogSink::dropped`] and the `tidegate_log_lines_dropped_total` metric) rather than
//! blocking the request that produced it: losing a log line is better than adding latency to
//! every call when a disk is slow.

mod file;

use std::{
    io::{self, Write},
    path::PathBuf,
    sync::{
        Arc, Condvar, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use tokio::sync::mpsc;

pub use file::{Clock, RotatingFile};

/// Lines buffered between requests and the writer before new lines are dropped (for a
/// [`LogSink::start`] sink, counted as [`LINE_BUDGET`] bytes each: 8 MiB).
pub const DEFAULT_CAPACITY: usize = 8192;

/// What one line of a sink's capacity stands for, in bytes: a [`LogSink::start`] sink bounds
/// its buffer in bytes (`capacity × LINE_BUDGET`), since lines vary from ~500 bytes to tens of
/// KiB with bodies. A line longer than the whole bound is still taken when the buffer is empty.
pub const LINE_BUDGET: usize = 1024;

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
    tx: Tx,
    dropped: Arc<AtomicU64>,
    flushed: Arc<Flushed>,
}

#[derive(Clone, Debug)]
enum Tx {
    /// [`LogSink::channel`]: one `Vec` per line, for callers that read lines themselves.
    Channel(mpsc::Sender<Vec<u8>>),
    /// [`LogSink::start`]: the shared buffer of a writer thread.
    Buffer(Arc<Sender>),
}

/// Flush acknowledgements from the writer.
#[derive(Debug, Default)]
struct Flushed {
    /// Channel sinks: flush requests sent (an empty line in the channel is one).
    requested: AtomicU64,
    /// The last flush ticket whose lines are written and flushed.
    done: AtomicU64,
    /// The writer thread ended (all senders gone, or it panicked): nothing more will flush.
    writer_gone: AtomicBool,
    notify: tokio::sync::Notify,
}

/// Lines on their way from requests to the writer thread of a [`LogSink::start`] sink.
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Signalled only when the writer waits on it (`State::writer_waiting`).
    wake: Condvar,
    /// The buffer's bound in bytes.
    max_bytes: usize,
    /// The writer's pause between batches ([`BATCH_PAUSE`]; tests stretch it).
    pause: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// Whole lines, appended under the lock (so never interleaved or torn).
    lines: Vec<u8>,
    /// Flush tickets issued; each covers every line appended before it.
    flush_requested: u64,
    /// The writer is asleep on `Shared::wake` and needs a signal to see new work.
    writer_waiting: bool,
    /// The writer is in its pause between two batches ([`BATCH_PAUSE`]); a flush, the last
    /// sender going away or a half-full buffer cut the pause short.
    writer_pausing: bool,
    /// Every [`LogSink`] clone is gone: write what is left and stop.
    senders_gone: bool,
    /// The writer thread ended; lines would never be written.
    writer_gone: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves whole lines behind (appends are one call).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes the writer if it sleeps (idle or pausing); releases the lock first.
    fn wake_writer(&self, mut state: MutexGuard<'_, State>) {
        if state.writer_waiting || state.writer_pausing {
            state.writer_waiting = false;
            state.writer_pausing = false;
            drop(state);
            self.wake.notify_one();
        }
    }
}

/// The one sender of a buffer sink, shared by every [`LogSink`] clone; dropping it (with the
/// last clone) tells the writer to finish.
#[derive(Debug)]
struct Sender {
    shared: Arc<Shared>,
}

impl Drop for Sender {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.senders_gone = true;
        self.shared.wake_writer(state);
    }
}

/// The writer thread; [`SinkWorker::join`] waits until every [`LogSink`] clone is dropped and
/// all lines are written.
#[derive(Debug)]
pub struct SinkWorker {
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl LogSink {
    /// Starts a writer thread for `target` with room for about `capacity` lines (see
    /// [`LINE_BUDGET`]).
    ///
    /// A file target is opened (and rotated/retained) before this returns, so a bad path is
    /// an error at startup, not a silent loss later.
    pub fn start(target: SinkTarget, capacity: usize) -> io::Result<(LogSink, SinkWorker)> {
        Self::start_pausing(target, capacity, BATCH_PAUSE)
    }

    fn start_pausing(
        target: SinkTarget,
        capacity: usize,
        pause: Duration,
    ) -> io::Result<(LogSink, SinkWorker)> {
        let writer: Box<dyn LineWriter> = match target {
            SinkTarget::Stdout => Box::new(StdoutLines(io::stdout())),
            SinkTarget::File { path, retention } => Box::new(RotatingFile::open(
                path,
                retention,
                time::OffsetDateTime::now_utc,
            )?),
            SinkTarget::Writer(w) => Box::new(w),
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            max_bytes: capacity.max(1).saturating_mul(LINE_BUDGET),
            pause,
        });
        let flushed = Arc::new(Flushed::default());
        let sink = LogSink {
            tx: Tx::Buffer(Arc::new(Sender {
                shared: shared.clone(),
            })),
            dropped: Arc::new(AtomicU64::new(0)),
            flushed: flushed.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("tidegate-log-writer".into())
            .spawn(move || {
                let _gone = WriterGone {
                    shared: &shared,
                    flushed: &flushed,
                };
                write_lines(&shared, writer, &flushed)
            })?;
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
                tx: Tx::Channel(tx),
                dropped: Arc::new(AtomicU64::new(0)),
                flushed: Arc::new(Flushed::default()),
            },
            rx,
        )
    }

    /// Queues one line (ending in `\n`) without waiting; `false` when it was dropped.
    pub fn emit(&self, line: Vec<u8>) -> bool {
        let queued = match &self.tx {
            Tx::Channel(tx) => tx.try_send(line).is_ok(),
            Tx::Buffer(sender) => append(&sender.shared, &line),
        };
        if !queued {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            crate::metrics::log_line_dropped();
        }
        queued
    }

    /// Waits until every line queued before this call is written and flushed (for a clean
    /// shutdown; bound it with a timeout). Only for sinks made by [`LogSink::start`].
    pub async fn flush(&self) {
        let ticket = match &self.tx {
            Tx::Channel(tx) => {
                let ticket = self.flushed.requested.fetch_add(1, Ordering::SeqCst) + 1;
                if tx.send(Vec::new()).await.is_err() {
                    return; // the writer is gone: nothing left to flush
                }
                ticket
            }
            Tx::Buffer(sender) => {
                let mut state = sender.shared.lock();
                if state.writer_gone {
                    return;
                }
                state.flush_requested += 1;
                let ticket = state.flush_requested;
                sender.shared.wake_writer(state);
                ticket
            }
        };
        loop {
            let notified = self.flushed.notify.notified();
            if self.flushed.done.load(Ordering::SeqCst) >= ticket
                || self.flushed.writer_gone.load(Ordering::SeqCst)
            {
                return;
            }
            notified.await;
        }
    }

    /// Lines dropped so far because the buffer was full or the writer stopped.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Appends a whole line under the lock; `false` (dropped) when the buffer is full or the
/// writer is gone. Signals the writer only when it is idle, or when it pauses and the buffer
/// is half full (a burst of large lines must not fill it while the writer waits).
fn append(shared: &Shared, line: &[u8]) -> bool {
    let mut state = shared.lock();
    if state.writer_gone
        || (!state.lines.is_empty() && state.lines.len() + line.len() > shared.max_bytes)
    {
        return false;
    }
    state.lines.extend_from_slice(line);
    if state.writer_waiting || (state.writer_pausing && state.lines.len() > shared.max_bytes / 2) {
        shared.wake_writer(state);
    }
    true
}

/// Marks the writer as ended when its thread returns or unwinds, so that `emit` drops and
/// counts instead of buffering forever and `flush` stops waiting.
struct WriterGone<'a> {
    shared: &'a Shared,
    flushed: &'a Flushed,
}

impl Drop for WriterGone<'_> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.writer_gone = true;
        state.lines = Vec::new();
        drop(state);
        self.flushed.writer_gone.store(true, Ordering::SeqCst);
        self.flushed.notify.notify_waiters();
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
    /// Writes whole lines (a batch: one or more, each ending in `\n`).
    fn write_lines(&mut self, lines: &[u8]) -> io::Result<()>;
    fn flush_lines(&mut self) -> io::Result<()>;
}

/// Standard output, a batch at a time. Rust's `Stdout` is line-buffered, but a write that
/// ends in a newline goes straight to write(2) as one call, so a batch of whole lines is one
/// write(2) with no copy on the way (a `BufWriter` in front only copied each batch).
struct StdoutLines(io::Stdout);

impl LineWriter for StdoutLines {
    fn write_lines(&mut self, lines: &[u8]) -> io::Result<()> {
        self.0.lock().write_all(lines)
    }
    fn flush_lines(&mut self) -> io::Result<()> {
        self.0.lock().flush()
    }
}

impl LineWriter for Box<dyn Write + Send> {
    fn write_lines(&mut self, lines: &[u8]) -> io::Result<()> {
        self.write_all(lines)
    }
    fn flush_lines(&mut self) -> io::Result<()> {
        self.flush()
    }
}

impl LineWriter for RotatingFile {
    fn write_lines(&mut self, lines: &[u8]) -> io::Result<()> {
        self.write_batch(lines)
    }
    fn flush_lines(&mut self) -> io::Result<()> {
        self.flush()
    }
}

/// How long the writer pauses after writing a batch before draining again. While lines keep
/// coming, the writer is never asleep on the condition variable, so a request's `emit` is a
/// copy under a mutex with no thread wake-up (a futex per line would cost more than the whole
/// line). The pause is long enough that the writer wakes ~50 times a second under load (each
/// wake-up of a third thread on a loaded 2-core machine preempts a request thread), and short
/// enough that the buffer absorbs it: 20 ms of 30k lines/s is ~400 KiB of an 8 MiB bound, and
/// a half-full buffer, a flush or shutdown end the pause at once.
const BATCH_PAUSE: Duration = Duration::from_millis(20);

/// The writer loop: take everything buffered (swapping buffers, so the lock is held for
/// pointer swaps only), write it in one call, flush, acknowledge flush tickets, pause briefly
/// while busy, sleep only when idle, stop when every sender is gone. A failing write is
/// reported (once per burst) and the loop goes on.
fn write_lines(shared: &Shared, mut out: Box<dyn LineWriter>, flushed: &Flushed) -> io::Result<()> {
    let mut last_error: Option<io::ErrorKind> = None;
    let mut batch: Vec<u8> = Vec::new();
    let mut acknowledged = 0u64;
    loop {
        let (tickets, closed) = {
            let mut state = shared.lock();
            while state.lines.is_empty()
                && state.flush_requested == acknowledged
                && !state.senders_gone
            {
                // Idle: one wake-up per idle period, not per line.
                state.writer_waiting = true;
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            state.writer_waiting = false;
            std::mem::swap(&mut state.lines, &mut batch);
            (state.flush_requested, state.senders_gone)
        };
        let wrote = !batch.is_empty();
        if wrote {
            note_error(out.write_lines(&batch), &mut last_error);
            batch.clear();
        }
        if wrote || tickets > acknowledged {
            note_error(out.flush_lines(), &mut last_error);
        }
        if tickets > acknowledged {
            acknowledged = tickets;
            flushed.done.store(tickets, Ordering::SeqCst);
            flushed.notify.notify_waiters();
        }
        if closed {
            // Taken under the same lock as the last batch: nothing can follow.
            return out.flush_lines();
        }
        if wrote {
            pause(shared, acknowledged);
        }
    }
}

/// Waits [`BATCH_PAUSE`] unless a flush, the end or a half-full buffer calls the writer sooner.
fn pause(shared: &Shared, acknowledged: u64) {
    let mut state = shared.lock();
    if state.flush_requested != acknowledged
        || state.senders_gone
        || state.lines.len() > shared.max_bytes / 2
    {
        return;
    }
    state.writer_pausing = true;
    let (mut state, _) = shared
        .wake
        .wait_timeout_while(state, shared.pause, |s| s.writer_pausing)
        .unwrap_or_else(PoisonError::into_inner);
    state.writer_pausing = false;
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

    /// A writer that holds its first write until the test releases it (a stalled disk).
    struct Stalled {
        out: Shared,
        release: std::sync::mpsc::Receiver<()>,
        started: std::sync::mpsc::Sender<()>,
        first: bool,
    }
    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if std::mem::take(&mut self.first) {
                let _ = self.started.send(());
                let _ = self.release.recv();
            }
            self.out.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn full_buffer_drops_and_counts_instead_of_blocking() {
        let out = Shared::default();
        let (release, release_rx) = std::sync::mpsc::channel();
        let (started_tx, started) = std::sync::mpsc::channel();
        let stalled = Stalled {
            out: out.clone(),
            release: release_rx,
            started: started_tx,
            first: true,
        };
        // Room for 2 × LINE_BUDGET bytes.
        let (sink, worker) = LogSink::start(SinkTarget::Writer(Box::new(stalled)), 2).unwrap();
        let line = |c: u8| {
            let mut l = vec![c; LINE_BUDGET - 1];
            l.push(b'\n');
            l
        };
        assert!(sink.emit(line(b'a')));
        started.recv().unwrap(); // the writer took line a and is stuck writing it
        assert!(sink.emit(line(b'b')));
        assert!(sink.emit(line(b'c')));
        assert!(!sink.emit(line(b'd')), "the buffer holds two lines");
        assert_eq!(sink.dropped(), 1);
        release.send(()).unwrap();
        drop(sink);
        worker.join().unwrap();
        let written = out.0.lock().unwrap().clone();
        assert_eq!(written, [line(b'a'), line(b'b'), line(b'c')].concat());
    }

    #[test]
    fn a_line_longer_than_the_bound_still_passes_an_empty_buffer() {
        let out = Shared::default();
        let (sink, worker) = LogSink::start(SinkTarget::Writer(Box::new(out.clone())), 1).unwrap();
        let mut long = vec![b'x'; 3 * LINE_BUDGET];
        long.push(b'\n');
        assert!(sink.emit(long.clone()));
        drop(sink);
        worker.join().unwrap();
        assert_eq!(*out.0.lock().unwrap(), long);
    }

    #[test]
    fn concurrent_lines_are_never_interleaved() {
        let out = Shared::default();
        let (sink, worker) =
            LogSink::start(SinkTarget::Writer(Box::new(out.clone())), 1 << 16).unwrap();
        std::thread::scope(|scope| {
            for t in 0..4u8 {
                let sink = sink.clone();
                scope.spawn(move || {
                    for i in 0..2000 {
                        let mut line = vec![b'a' + t; 50 + i % 200];
                        line.push(b'\n');
                        assert!(sink.emit(line));
                    }
                });
            }
        });
        drop(sink);
        worker.join().unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let mut per_thread = [0usize; 4];
        for line in text.lines() {
            let first = line.as_bytes()[0];
            assert!(line.bytes().all(|b| b == first), "torn line {line:?}");
            let t = usize::from(first - b'a');
            assert_eq!(
                line.len(),
                50 + per_thread[t] % 200,
                "lines of one thread keep their order"
            );
            per_thread[t] += 1;
        }
        assert_eq!(per_thread, [2000; 4]);
    }

    /// A writer that reports each batch it is given.
    struct Reporting(std::sync::mpsc::Sender<Vec<u8>>);
    impl Write for Reporting {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _ = self.0.send(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// The pause between batches is cut short by a half-full buffer, a flush and shutdown:
    /// with a pause of an hour, each of them must still get lines written. (`recv_timeout`
    /// only turns a hang into a failure; nothing here measures time.)
    #[tokio::test]
    async fn the_pause_between_batches_ends_early_when_it_must() {
        const HANG: Duration = Duration::from_secs(30);
        let (tx, batches) = std::sync::mpsc::channel();
        let (sink, worker) = LogSink::start_pausing(
            SinkTarget::Writer(Box::new(io::BufWriter::with_capacity(0, Reporting(tx)))),
            4,
            Duration::from_secs(3600),
        )
        .unwrap();
        let line = |c: u8, len: usize| {
            let mut l = vec![c; len - 1];
            l.push(b'\n');
            l
        };
        assert!(sink.emit(line(b'a', 10)));
        assert_eq!(batches.recv_timeout(HANG).unwrap(), line(b'a', 10));
        // The writer now pauses for an hour; more than half of the 4 KiB bound calls it back.
        let big = line(b'b', LINE_BUDGET * 2 + 1);
        assert!(sink.emit(big.clone()));
        assert_eq!(batches.recv_timeout(HANG).unwrap(), big);
        // Pausing again: a flush ends the pause.
        assert!(sink.emit(line(b'c', 10)));
        tokio::time::timeout(HANG, sink.flush()).await.unwrap();
        assert_eq!(batches.recv_timeout(HANG).unwrap(), line(b'c', 10));
        // And again: the last sender going away ends it too, and nothing is lost.
        assert!(sink.emit(line(b'd', 10)));
        drop(sink);
        worker.join().unwrap();
        assert_eq!(batches.recv_timeout(HANG).unwrap(), line(b'd', 10));
    }

    #[tokio::test]
    async fn flush_with_nothing_queued_returns() {
        let (sink, worker) =
            LogSink::start(SinkTarget::Writer(Box::new(Shared::default())), 4).unwrap();
        sink.flush().await;
        sink.flush().await;
        drop(sink);
        worker.join().unwrap();
    }

    /// A writer that fails hard (a panicking writer implementation).
    struct Panics;
    impl Write for Panics {
        fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
            panic!("writer broke");
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_dead_writer_neither_hangs_flush_nor_buffers_forever() {
        let (sink, worker) = LogSink::start(SinkTarget::Writer(Box::new(Panics)), 4).unwrap();
        assert!(sink.emit(b"1\n".to_vec()));
        sink.flush().await;
        assert!(worker.join().is_err());
        assert!(!sink.emit(b"2\n".to_vec()));
        assert_eq!(sink.dropped(), 1);
        sink.flush().await;
    }
}
