//! A fixed pool of worker threads for `--thread-pool-size` > 0.

use std::thread;

use crossbeam_channel::{unbounded, Sender};
use log::error;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Worker threads fed through one channel; they live as long as the process.
pub struct Pool {
    tx: Sender<Job>,
}

impl Pool {
    pub fn new(size: usize) -> Self {
        let (tx, rx) = unbounded::<Job>();
        for i in 0..size {
            let rx = rx.clone();
            let spawned = thread::Builder::new()
                .name(format!("ferryd-worker-{i}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        job();
                    }
                });
            if let Err(e) = spawned {
                error!("cannot start worker thread {i}: {e}");
            }
        }
        Pool { tx }
    }

    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        if let Err(e) = self.tx.send(Box::new(job)) {
            // Every worker is gone: run the job here rather than lose a request.
            (e.into_inner())();
        }
    }
}
