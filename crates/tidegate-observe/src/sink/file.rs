//! The file sink: `boundary.log`, rotated daily to `boundary-YYYY-MM-DD.log`, with retention.
//!
//! Rotation is by UTC calendar day and retention by the date in the rotated file's name (not
//! its mtime, which copies and restores change), checked at startup and at each rotation. The
//! clock is a parameter so that rotation and retention are tested without waiting for a day.

use std::{
    fs::{self, File, OpenOptions},
    io::{self, BufWriter, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use time::{Date, OffsetDateTime};

/// A source of "now" (UTC); the real one is [`OffsetDateTime::now_utc`].
pub type Clock = fn() -> OffsetDateTime;

/// An append-only log file that rotates at UTC midnight and deletes old rotated files.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    retention: Option<Duration>,
    clock: Clock,
    /// Buffered: the writer flushes after each burst, so a burst is one write(2), not one per line.
    file: BufWriter<File>,
    /// The UTC day the current file's lines belong to.
    day: Date,
}

impl RotatingFile {
    /// Opens (creating directories as needed) `path` for appending. A file left from an
    /// earlier day is rotated first, and retention is applied.
    pub fn open(
        path: impl Into<PathBuf>,
        retention: Option<Duration>,
        clock: Clock,
    ) -> io::Result<Self> {
        let path = path.into();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let today = clock().date();
        if let Ok(meta) = fs::metadata(&path)
            && meta.len() > 0
        {
            let written: OffsetDateTime = meta.modified()?.into();
            if written.date() < today {
                rotate_to(&path, written.date())?;
            }
        }
        let file = BufWriter::with_capacity(64 * 1024, open_append(&path)?);
        let this = RotatingFile {
            path,
            retention,
            clock,
            file,
            day: today,
        };
        this.apply_retention()?;
        Ok(this)
    }

    /// Appends `bytes` (whole lines), rotating first when the UTC day changed.
    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.rotate_on_a_new_day()?;
        self.file.write_all(bytes)
    }

    /// Appends a batch of whole lines with one write(2) (after whatever
    /// [`write_all`](Self::write_all) left buffered): the log sink's writer gathers its
    /// batches itself, and copying each into the buffer first would only cost a copy.
    pub fn write_batch(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.rotate_on_a_new_day()?;
        self.file.flush()?;
        self.file.get_mut().write_all(bytes)
    }

    /// Rotates (and applies retention) when the UTC day changed since the last write.
    fn rotate_on_a_new_day(&mut self) -> io::Result<()> {
        let today = (self.clock)().date();
        if today != self.day {
            self.file.flush()?;
            rotate_to(&self.path, self.day)?;
            self.file = BufWriter::with_capacity(64 * 1024, open_append(&self.path)?);
            self.day = today;
            self.apply_retention()?;
        }
        Ok(())
    }

    /// Flushes to the OS.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    /// Deletes rotated files whose day is older than the retention period (none when the
    /// retention is `None`, i.e. `retention = "forever"`).
    pub fn apply_retention(&self) -> io::Result<()> {
        let Some(retention) = self.retention else {
            return Ok(());
        };
        let today = (self.clock)().date();
        let keep_days = i64::try_from(retention.as_secs() / 86_400).unwrap_or(i64::MAX);
        let Some(oldest_kept) = today.checked_sub(time::Duration::days(keep_days)) else {
            return Ok(());
        };
        let (dir, stem, ext) = split_path(&self.path);
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(day) = rotated_day(name, &stem, &ext)
                && day < oldest_kept
            {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// `dir/boundary.log` → (`dir`, `boundary`, `.log`).
fn split_path(path: &Path) -> (PathBuf, String, String) {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("boundary")
        .to_owned();
    let ext = path
        .extension()
        .and_then(|s| s.to_str())
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    (dir, stem, ext)
}

/// The rotated name for `day`: `boundary-2026-10-14.log`, or `boundary-2026-10-14.2.log` when
/// that exists already (a restart on a day that was rotated before).
fn rotated_path(path: &Path, day: Date) -> PathBuf {
    let (dir, stem, ext) = split_path(path);
    let base = format!("{stem}-{}", format_day(day));
    let mut candidate = dir.join(format!("{base}{ext}"));
    let mut n = 2;
    while candidate.exists() {
        candidate = dir.join(format!("{base}.{n}{ext}"));
        n += 1;
    }
    candidate
}

fn rotate_to(path: &Path, day: Date) -> io::Result<()> {
    fs::rename(path, rotated_path(path, day))
}

fn format_day(day: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// The day in a rotated file's name, if `name` is one of ours.
fn rotated_day(name: &str, stem: &str, ext: &str) -> Option<Date> {
    let rest = name.strip_prefix(stem)?.strip_prefix('-')?;
    if !name.ends_with(ext) || rest.len() < 10 {
        return None;
    }
    let date = rest.get(..10)?;
    let mut parts = date.split('-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    /// A test clock: a fixed start plus a shared offset in days.
    static DAYS: AtomicI64 = AtomicI64::new(0);
    fn test_clock() -> OffsetDateTime {
        time::macros::datetime!(2026-10-14 23:59:00 UTC)
            + time::Duration::days(DAYS.load(Ordering::SeqCst))
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn rotates_daily_and_applies_retention() {
        let dir = tempfile::tempdir().unwrap();
        // Old rotated files from earlier runs, one inside and one outside a 3-day retention.
        fs::write(dir.path().join("boundary-2026-10-01.log"), "old\n").unwrap();
        fs::write(dir.path().join("boundary-2026-10-12.log"), "kept\n").unwrap();
        fs::write(dir.path().join("unrelated-2020-01-01.log"), "x\n").unwrap();
        let path = dir.path().join("boundary.log");
        let mut f =
            RotatingFile::open(&path, Some(Duration::from_secs(3 * 86_400)), test_clock).unwrap();
        assert_eq!(
            names(dir.path()),
            [
                "boundary-2026-10-12.log",
                "boundary.log",
                "unrelated-2020-01-01.log"
            ]
        );
        f.write_all(b"day0\n").unwrap();
        DAYS.store(1, Ordering::SeqCst);
        f.write_all(b"day1\n").unwrap();
        f.flush().unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("boundary-2026-10-14.log")).unwrap(),
            "day0\n"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "day1\n");
        // On 10-18 the window keeps 10-15..: the 10-12 and 10-14 files go.
        DAYS.store(4, Ordering::SeqCst);
        f.write_all(b"day4\n").unwrap();
        assert_eq!(
            names(dir.path()),
            [
                "boundary-2026-10-15.log",
                "boundary.log",
                "unrelated-2020-01-01.log"
            ]
        );
        // A batch goes after what was buffered, and rotates like a line.
        f.write_batch(b"b1\nb2\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "day4\nb1\nb2\n");
        DAYS.store(5, Ordering::SeqCst);
        f.write_batch(b"day5\n").unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("boundary-2026-10-18.log")).unwrap(),
            "day4\nb1\nb2\n"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), "day5\n");
    }

    #[test]
    fn rotated_names_parse_and_do_not_collide() {
        let day = time::macros::date!(2026 - 10 - 14);
        assert_eq!(
            rotated_day("boundary-2026-10-14.log", "boundary", ".log"),
            Some(day)
        );
        assert_eq!(
            rotated_day("boundary-2026-10-14.2.log", "boundary", ".log"),
            Some(day)
        );
        assert_eq!(rotated_day("boundary.log", "boundary", ".log"), None);
        assert_eq!(
            rotated_day("boundary-notadate.log", "boundary", ".log"),
            None
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("boundary.log");
        fs::write(dir.path().join("boundary-2026-10-14.log"), "").unwrap();
        assert_eq!(
            rotated_path(&path, day),
            dir.path().join("boundary-2026-10-14.2.log")
        );
    }
}
