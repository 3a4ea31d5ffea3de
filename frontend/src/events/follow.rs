//! Reading the event log: the events a query asks for from the past, then those
//! written after, across the log's rotation, as `docker events` streams them.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use super::{Event, EventFilters, EventLog};
use crate::watch::DirWaiter;

/// How long a reader waits for news at most before it looks again (and its caller
/// can see whether anyone still listens).
const INTERVAL: Duration = Duration::from_millis(250);

/// Which events: from `since` (Unix nanoseconds; without it, only those to come) to
/// `until` (without it, for as long as the reader reads), and the filters.
#[derive(Debug, Default, Clone)]
pub struct EventQuery {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub filters: EventFilters,
}

pub struct EventReader {
    log: EventLog,
    query: EventQuery,
    /// The file being read and its identity (device, inode); `None` until the log
    /// exists.
    file: Option<(File, (u64, u64))>,
    /// The start of a line whose end is not written yet.
    partial: Vec<u8>,
    waiter: DirWaiter,
    /// What the opening found from before it (`since`), handed out first.
    backlog: Vec<Event>,
}

impl EventReader {
    pub fn open(log: &EventLog, query: EventQuery) -> io::Result<EventReader> {
        std::fs::create_dir_all(&log.dir)?;
        let mut reader = EventReader {
            waiter: DirWaiter::new(&log.path(), INTERVAL),
            log: log.clone(),
            query,
            file: None,
            partial: Vec::new(),
            backlog: Vec::new(),
        };
        if reader.query.since.is_some() {
            if let Ok(mut older) = File::open(log.older()) {
                let mut bytes = Vec::new();
                older.read_to_end(&mut bytes)?;
                reader.backlog = reader.wanted(&bytes);
            }
            reader.file = open_at(&log.path(), false)?;
            let mut current = reader.read_available()?;
            reader.backlog.append(&mut current);
        } else {
            reader.file = open_at(&log.path(), true)?;
        }
        Ok(reader)
    }

    /// Whether the query's `until` has passed: nothing more will come.
    pub fn finished(&self) -> bool {
        self.query
            .until
            .is_some_and(|until| crate::container::logs::now_nanos() > until)
    }

    /// The events written since the last call; when there are none, it waits a
    /// little first (an empty answer then means: none yet, ask again).
    pub fn next_events(&mut self) -> io::Result<Vec<Event>> {
        if !self.backlog.is_empty() {
            return Ok(std::mem::take(&mut self.backlog));
        }
        let events = self.read_available()?;
        if !events.is_empty() || self.finished() {
            return Ok(events);
        }
        self.waiter.wait();
        self.read_available()
    }

    /// Everything written so far that the query wants, following a rotation.
    fn read_available(&mut self) -> io::Result<Vec<Event>> {
        let mut events = Vec::new();
        loop {
            let Some((file, identity)) = self.file.as_mut() else {
                self.file = open_at(&self.log.path(), false)?;
                if self.file.is_none() {
                    return Ok(events);
                }
                continue;
            };
            let mut bytes = std::mem::take(&mut self.partial);
            file.read_to_end(&mut bytes)?;
            let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            self.partial = bytes.split_off(complete);
            let identity = *identity;
            events.extend(self.wanted(&bytes));
            // Rotated: what was read is the older file's end; go on with the new one.
            match identity_of(&self.log.path()) {
                Some(now) if now != identity => {
                    self.partial.clear();
                    self.file = open_at(&self.log.path(), false)?;
                }
                _ => return Ok(events),
            }
        }
    }

    /// The events of whole lines in `bytes` that the query wants.
    fn wanted(&self, bytes: &[u8]) -> Vec<Event> {
        bytes
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            // A line that does not parse (a torn write after a crash) is skipped.
            .filter_map(|line| serde_json::from_slice::<Event>(line).ok())
            .filter(|e| self.query.since.is_none_or(|since| e.time_nano >= since))
            .filter(|e| self.query.until.is_none_or(|until| e.time_nano <= until))
            .filter(|e| self.query.filters.matches(e))
            .collect()
    }
}

fn identity_of(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Opens the log, at its end or its start; `None` when there is none yet.
fn open_at(path: &Path, at_end: bool) -> io::Result<Option<(File, (u64, u64))>> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let metadata = file.metadata()?;
    if at_end {
        file.seek(SeekFrom::End(0))?;
    }
    Ok(Some((file, (metadata.dev(), metadata.ino()))))
}
