//! Threads that unpack layer blobs into their staging dirs, fed one job at a time:
//! all of an image's layers at once (load, import, commit), or each as its blob
//! arrives while the others still download (pull). Layers are independent
//! directories, and creating their files is the kernel's work, which spreads over
//! cores (a pull is mostly that).

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

use super::layer::{self, Limits};
use super::manifest::Compression;
use super::reference::Digest;
use crate::store::layers::UnpackedLayer;

/// One layer to unpack: its blob and the staging dir it goes into. `id` names the
/// job in what the threads report.
#[derive(Debug, Clone)]
pub struct UnpackJob {
    pub id: usize,
    pub diff_id: String,
    pub blob: Digest,
    pub path: PathBuf,
    pub compression: Compression,
    pub dir: PathBuf,
}

/// What the threads report of a job.
#[derive(Debug)]
pub enum Unpacking {
    Started(usize),
    Done(usize, anyhow::Result<UnpackedLayer>),
}

/// The threads and the queue that feeds them. Dropped, it waits for the jobs being
/// unpacked and skips those still queued: the staging dirs may then be abandoned.
pub struct Unpacker {
    queue: Option<mpsc::Sender<UnpackJob>>,
    cancelled: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// Threads for `jobs` layers: twice the CPUs, as layers are of any size and creating
/// files waits on the file system's journal as well as using a CPU, so with one
/// thread per CPU the last layers leave a CPU idle.
pub fn workers_for(jobs: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get() * 2)
        .min(jobs)
}

impl Unpacker {
    /// Starts `workers` threads, which call `report` as they start and end each job.
    pub fn start(
        workers: usize,
        report: impl Fn(Unpacking) + Send + Sync + 'static,
    ) -> std::io::Result<Unpacker> {
        let (queue, jobs) = mpsc::channel::<UnpackJob>();
        let jobs = Arc::new(Mutex::new(jobs));
        let report = Arc::new(report);
        let cancelled = Arc::new(AtomicBool::new(false));
        let mut unpacker = Unpacker {
            queue: Some(queue),
            cancelled: cancelled.clone(),
            threads: Vec::with_capacity(workers),
        };
        for n in 0..workers {
            let (jobs, report, cancelled) = (jobs.clone(), report.clone(), cancelled.clone());
            let thread = std::thread::Builder::new()
                .name(format!("unpack-{n}"))
                .spawn(move || loop {
                    // The lock is held only to take a job; a poisoned one still
                    // guards a plain receiver.
                    let next = jobs.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    let Ok(job) = next else { break };
                    if cancelled.load(Ordering::Relaxed) {
                        continue;
                    }
                    report(Unpacking::Started(job.id));
                    report(Unpacking::Done(job.id, unpack_one(&job)));
                });
            match thread {
                Ok(thread) => unpacker.threads.push(thread),
                // Fewer threads only make the unpack slower.
                Err(_) if n > 0 => break,
                // Dropping `unpacker` closes the queue: nothing to wait for.
                Err(e) => return Err(e),
            }
        }
        Ok(unpacker)
    }

    /// Queues `job` for the next free thread.
    pub fn feed(&self, job: UnpackJob) {
        if let Some(queue) = &self.queue {
            // The threads hold the receiver until the queue is closed.
            let _ = queue.send(job);
        }
    }

    /// No more jobs: the threads end once the queued ones are done.
    pub fn close(&mut self) {
        self.queue = None;
    }

    /// Waits for every queued job to be done.
    pub fn wait(mut self) {
        self.close();
        self.join();
    }

    fn join(&mut self) {
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Unpacker {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::Relaxed);
        self.close();
        self.join();
    }
}

fn unpack_one(job: &UnpackJob) -> anyhow::Result<UnpackedLayer> {
    let file = File::open(&job.path).map_err(|e| anyhow::anyhow!("{}: {e}", job.path.display()))?;
    let unpacked = layer::unpack(
        BufReader::with_capacity(256 * 1024, file),
        job.compression,
        &job.dir,
        &Limits::default(),
    )?;
    Ok(UnpackedLayer {
        diff_id: unpacked.diff_id,
        size: unpacked.size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: usize, dir: &std::path::Path) -> UnpackJob {
        UnpackJob {
            id,
            diff_id: format!("sha256:{id:064x}"),
            blob: Digest::parse(&format!("sha256:{id:064x}")).unwrap(),
            path: dir.join(format!("missing-{id}")),
            compression: Compression::None,
            dir: dir.join(format!("layer-{id}")),
        }
    }

    #[test]
    fn every_job_fed_is_reported_started_then_done() {
        let dir = tempfile::tempdir().unwrap();
        let (sender, received) = mpsc::channel();
        let unpacker = Unpacker::start(2, move |event| {
            let _ = sender.send(event);
        })
        .unwrap();
        for id in 0..5 {
            unpacker.feed(job(id, dir.path()));
        }
        unpacker.wait();
        let events: Vec<Unpacking> = received.iter().collect();
        for id in 0..5 {
            let started = events
                .iter()
                .position(|e| matches!(e, Unpacking::Started(i) if *i == id));
            let done = events
                .iter()
                .position(|e| matches!(e, Unpacking::Done(i, Err(_)) if *i == id));
            assert!(started.unwrap() < done.unwrap(), "{events:?}");
        }
    }

    #[test]
    fn dropped_it_finishes_the_job_under_way_and_skips_the_queued_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (sender, received) = mpsc::channel();
        let unpacker = Unpacker::start(1, move |event| {
            let _ = sender.send(event);
        })
        .unwrap();
        // Job 0 reads a fifo: it stays under way until a writer comes and goes.
        let mut first = job(0, dir.path());
        first.path = dir.path().join("fifo");
        nix::unistd::mkfifo(&first.path, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let fifo = first.path.clone();
        unpacker.feed(first);
        unpacker.feed(job(1, dir.path()));
        assert!(matches!(received.recv().unwrap(), Unpacking::Started(0)));
        let cancelled = unpacker.cancelled.clone();
        let writer = std::thread::spawn(move || {
            while !cancelled.load(Ordering::Relaxed) {
                std::thread::yield_now();
            }
            drop(File::create(fifo).unwrap());
        });
        drop(unpacker);
        writer.join().unwrap();
        let rest: Vec<Unpacking> = received.iter().collect();
        assert_eq!(rest.len(), 1, "{rest:?}");
        assert!(matches!(rest[0], Unpacking::Done(0, _)), "{rest:?}");
    }
}
