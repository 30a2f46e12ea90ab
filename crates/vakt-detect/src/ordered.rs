//! Parallel work over numbered items whose results are consumed in item order,
//! as they are produced, with bounded memory.
//!
//! Workers take items in ascending order, so the lowest unfinished item is
//! always being worked on; each item's messages go through a small bounded
//! channel, so a worker that runs ahead waits instead of buffering.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// How many messages of one item may wait to be consumed.
const CHANNEL_DEPTH: usize = 4;

/// Runs `work(i, emit)` for every `i` in `0..n` on `threads` workers and hands
/// every message to `sink(i, message)` in order of `i`, then of emission.
/// Stops early, returning the error, when `sink` fails.
pub fn run_ordered<M, W, S, E>(n: usize, threads: usize, work: W, mut sink: S) -> Result<(), E>
where
    M: Send,
    W: Fn(usize, &mut dyn FnMut(M)) + Sync,
    S: FnMut(usize, M) -> Result<(), E>,
{
    // Each item's sender is taken by the worker that reads the item.
    type Slot<M> = Mutex<Option<SyncSender<M>>>;
    let (senders, receivers): (Vec<Slot<M>>, Vec<Receiver<M>>) = (0..n)
        .map(|_| {
            let (tx, rx) = sync_channel(CHANNEL_DEPTH);
            (Mutex::new(Some(tx)), rx)
        })
        .unzip();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let threads = threads.clamp(1, n.max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let tx = senders[i].lock().ok().and_then(|mut s| s.take());
                    let Some(tx) = tx else { continue };
                    work(i, &mut |m| {
                        // A send fails only when the consumer has stopped.
                        let _ = tx.send(m);
                    });
                }
            });
        }
        let mut result = Ok(());
        'items: for (i, rx) in receivers.iter().enumerate() {
            while let Ok(m) = rx.recv() {
                if let Err(e) = sink(i, m) {
                    result = Err(e);
                    break 'items;
                }
            }
        }
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        // Unblocks any worker still sending, so that the scope can end.
        drop(receivers);
        result
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_arrive_in_item_order() {
        let mut seen = Vec::new();
        let r: Result<(), ()> = run_ordered(
            50,
            3,
            |i, emit| {
                // Later items finish first.
                std::thread::sleep(std::time::Duration::from_micros(((50 - i) * 30) as u64));
                for k in 0..10 {
                    emit((i, k));
                }
            },
            |i, m| {
                seen.push((i, m));
                Ok(())
            },
        );
        assert!(r.is_ok());
        let want: Vec<_> = (0..50)
            .flat_map(|i| (0..10).map(move |k| (i, (i, k))))
            .collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn a_failing_sink_stops_the_run() {
        let mut count = 0;
        let r = run_ordered(
            1000,
            2,
            |i, emit| {
                for k in 0..100 {
                    emit((i, k));
                }
            },
            |_, _| {
                count += 1;
                if count == 150 { Err("full") } else { Ok(()) }
            },
        );
        assert_eq!(r, Err("full"));
        assert_eq!(count, 150);
    }
}
