//! A worker: takes partitions by lease (PostgreSQL), runs every detector
//! over each partition's events (JetStream), stores them (the shared
//! folder) and keeps its alerts (PostgreSQL), committing all of it in
//! one fenced step.
//!
//! **Leases.** Every `lease/3` a worker renews its leases and says it is
//! alive. It holds its fair share — partitions ÷ live workers, rounded up —
//! taking a free or expired partition when under it and giving one back
//! (after a last commit) when over it, so a worker that joins gets
//! partitions and a worker that leaves or dies loses them: a dead worker's
//! leases run out and the others take them over. A drained worker gives all
//! of its partitions back, one by one, then stops.
//!
//! **Commits.** Each partition runs on a thread of its own. Every
//! `checkpoint_ms` it flushes the store's segments (named by a commit
//! epoch), then in one PostgreSQL transaction — only if the lease is still
//! its own, with the same generation — upserts the alerts raised by their
//! idempotent key and records `{epoch, stream sequence, marks}`; only then
//! does it acknowledge the messages to JetStream. A worker killed anywhere
//! in between leaves uncommitted segments (removed by the next owner, which
//! opens the folder knowing the committed epoch) and unacknowledged
//! messages (delivered again): every acknowledged event is stored once, and
//! an alert raised twice is one row.
//!
//! **Detector state.** A new owner re-reads the partition's stream to
//! rebuild the detectors' state — by default all the stream retains, since
//! some state spans all history (EHR care communities, hosts administered
//! before), or `rebuild_hours` back: each commit records a mark (stream
//! sequence, stream time) and the new owner starts its consumer at the
//! last mark that far back. It runs the detectors over those events
//! without storing them again (they are stored up to the checkpoint) and
//! goes on live from there; what they raise again is the same alert, by
//! key. With snapshots (`snapshot_ms`, on by default) the new owner loads
//! the detectors' saved state instead and reads the stream only after it
//! ([`crate::snapshot`]); the re-read is what it falls back to.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use futures_util::StreamExt;
use vakt_core::{Alert, Timestamp};
use vakt_store::Store;

use crate::pg::{self, Claim, Committed, Db};
use crate::{Node, bus};

/// A partition at work on this node.
struct Running {
    generation: i64,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

/// The worker's control loop: leases, fair share, drain.
pub async fn control(n: Arc<Node>) {
    let mut db = Db::new(&n.cfg.postgres);
    let lease_ms = n.cfg.lease().as_millis() as i64;
    let mut running: BTreeMap<(String, i32), Running> = BTreeMap::new();
    let tick = n.cfg.lease() / 3;
    let mut first = true;
    loop {
        let stopping = n.stopping.load(Relaxed);
        // Partitions that ended on their own (a fault, or a lease found lost
        // at commit) are given back, so that a worker — this one or
        // another — takes them up again from their last commit.
        let ended: Vec<(String, i32)> = running
            .iter()
            .filter(|(_, r)| r.thread.is_finished())
            .map(|(k, _)| k.clone())
            .collect();
        for k in ended {
            if let Some(r) = running.remove(&k) {
                let _ = r.thread.join();
                if let Err(e) = pg::release(&mut db, &n.cfg.node, &k.0, k.1, r.generation).await {
                    tracing::warn!(target: "vakt::cluster", "release of {}/{}: {e} (its lease runs out instead)", k.0, k.1);
                }
            }
        }
        n.metrics.partitions.store(running.len() as u64, Relaxed);
        let draining = match pg::heartbeat(
            &mut db,
            &n.cfg.node,
            &n.roles(),
            &n.listen_text(),
            &n.metrics.json(),
        )
        .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(target: "vakt::cluster", "heartbeat: {e}");
                tokio::time::sleep(tick).await;
                continue;
            }
        };
        if draining {
            n.draining.store(true, Relaxed);
        }
        match pg::renew(&mut db, &n.cfg.node, lease_ms).await {
            Ok(held) => {
                // A partition whose lease is gone (taken while this node
                // could not renew) stops at once, without committing.
                running.retain(|(t, s), r| {
                    let kept = held.iter().any(|(ht, hs, hg)| ht == t && hs == s && *hg == r.generation);
                    if !kept {
                        tracing::warn!(target: "vakt::cluster", "lease on {t}/{s} lost; the partition stops here");
                        n.metrics.leases_lost.fetch_add(1, Relaxed);
                        r.stop.store(true, Relaxed);
                    }
                    kept
                });
            }
            Err(e) => {
                tracing::warn!(target: "vakt::cluster", "lease renewal: {e}");
                tokio::time::sleep(tick).await;
                continue;
            }
        }
        if stopping || n.draining.load(Relaxed) {
            // Give partitions back one by one (each after its last commit).
            if let Some(k) = running.keys().next().cloned()
                && let Some(r) = running.remove(&k)
            {
                give_back(&n, &mut db, &k, r).await;
                continue;
            }
            if stopping || n.draining.load(Relaxed) {
                let _ = pg::gone(&mut db, &n.cfg.node).await;
                n.worker_done.store(true, Relaxed);
                return;
            }
        }
        // The first round only says this worker is alive: workers that
        // start together see each other before taking their shares.
        if first {
            first = false;
            tokio::time::sleep(tick).await;
            continue;
        }
        let share = match pg::shares(&mut db, lease_ms).await {
            Ok((workers, parts)) => {
                let w = workers.max(1);
                (parts + w - 1) / w
            }
            Err(e) => {
                tracing::warn!(target: "vakt::cluster", "{e}");
                tokio::time::sleep(tick).await;
                continue;
            }
        };
        let held = running.len() as i64;
        if held < share {
            match pg::claim(&mut db, &n.cfg.node, lease_ms).await {
                Ok(Some(c)) => {
                    if let Some(from) = &c.from {
                        tracing::info!(target: "vakt::cluster", "took {}/{} over from {from} ({:.1} s after its lease ran out)", c.tenant, c.shard, c.unowned_secs);
                        n.metrics.takeovers.fetch_add(1, Relaxed);
                    } else {
                        tracing::info!(target: "vakt::cluster", "took {}/{}", c.tenant, c.shard);
                    }
                    let key = (c.tenant.clone(), c.shard);
                    let stop = Arc::new(AtomicBool::new(false));
                    let generation = c.generation;
                    let (n2, s2) = (n.clone(), stop.clone());
                    match std::thread::Builder::new()
                        .name(format!("vakt-p-{}-{}", c.tenant, c.shard))
                        .spawn(move || partition(n2, c, s2))
                    {
                        Ok(thread) => {
                            running.insert(
                                key,
                                Running {
                                    generation,
                                    stop,
                                    thread,
                                },
                            );
                        }
                        Err(e) => tracing::error!(target: "vakt::cluster", "thread: {e}"),
                    }
                    // Take the next one at once if under the share still.
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(target: "vakt::cluster", "claim: {e}"),
            }
        } else if held > share
            && let Some(k) = running.keys().last().cloned()
            && let Some(r) = running.remove(&k)
        {
            give_back(&n, &mut db, &k, r).await;
        }
        tokio::time::sleep(tick).await;
    }
}

async fn give_back(n: &Arc<Node>, db: &mut Db, k: &(String, i32), r: Running) {
    r.stop.store(true, Relaxed);
    let generation = r.generation;
    let _ = tokio::task::spawn_blocking(move || r.thread.join()).await;
    match pg::release(db, &n.cfg.node, &k.0, k.1, generation).await {
        Ok(()) => tracing::info!(target: "vakt::cluster", "gave {}/{} back", k.0, k.1),
        Err(e) => {
            tracing::warn!(target: "vakt::cluster", "release of {}/{}: {e} (its lease runs out instead)", k.0, k.1)
        }
    }
}

/// Where a partition's events are stored.
pub fn partition_dir(n: &Node, tenant: &str, shard: i32) -> std::path::PathBuf {
    n.cfg
        .shared_dir
        .join("store")
        .join(format!("{tenant}-{shard}"))
}

/// One partition, until its stop flag or a lost lease.
fn partition(n: Arc<Node>, c: Claim, stop: Arc<AtomicBool>) {
    let what = format!("{}/{}", c.tenant, c.shard);
    if let Err(e) = partition_run(&n, &c, &stop) {
        tracing::error!(target: "vakt::cluster", "partition {what}: {e}");
        n.metrics.partition_faults.fetch_add(1, Relaxed);
    }
}

fn partition_run(n: &Arc<Node>, c: &Claim, stop: &AtomicBool) -> Result<(), String> {
    let rt = n.rt.clone();
    let dir = partition_dir(n, &c.tenant, c.shard);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (store, partial) = Store::open(&dir).map_err(|e| e.to_string())?;
    let gone = store
        .discard_uncommitted(c.epoch as u64)
        .map_err(|e| e.to_string())?;
    if partial + gone > 0 {
        tracing::info!(target: "vakt::cluster", "{}/{}: removed {} segments the last owner had not committed", c.tenant, c.shard, partial + gone);
    }
    let mut writer = store.writer(n.parts.pseudo.clone());
    let mut epoch = c.epoch + 1;
    writer.set_epoch(epoch as u64);
    let (mut detectors, mut allow) = (n.parts.factory)();
    let mut marks = c.marks.clone();
    let stored_through = c.stored_seq as u64;
    // The detectors' state: the newest snapshot at or below the checkpoint,
    // then the stream after it.
    let snap_dir = crate::snapshot::dir(&n.cfg.shared_dir, &c.tenant, c.shard);
    let seal = n
        .parts
        .pseudo
        .derive_key(&c.tenant, "detector snapshots")
        .map(|k| crate::snapshot::Seal::new(k, &c.tenant, c.shard));
    let t_load = Instant::now();
    let (resumed, problems) = match &seal {
        Some(seal) => crate::snapshot::load(&snap_dir, seal, stored_through, &mut detectors),
        None => (None, Vec::new()),
    };
    for p in &problems {
        tracing::warn!(target: "vakt::cluster", "{}/{}: snapshot set aside: {p}", c.tenant, c.shard);
    }
    if resumed.is_none() && !problems.is_empty() {
        // A snapshot that failed half-way may have left part of a state.
        (detectors, allow) = (n.parts.factory)();
    }
    if let Some(p) = &resumed {
        n.metrics.snapshot_loads.fetch_add(1, Relaxed);
        tracing::info!(target: "vakt::cluster", "{}/{}: detector state loaded from the snapshot at message {} in {} ms (the stream is read from there)", c.tenant, c.shard, p.seq, t_load.elapsed().as_millis());
    }
    // Without one: re-read before the checkpoint, to rebuild the detectors'
    // state: all the stream holds, or `rebuild_hours` back.
    let latest = marks.last().map(|m| m.1);
    let from = match (&resumed, latest, n.cfg.rebuild_ns()) {
        (Some(p), _, _) => p.seq + 1,
        (None, Some(t), Some(back)) => marks
            .iter()
            .rev()
            .find(|m| m.1 <= t.saturating_sub(back))
            .map_or(1, |m| m.0 + 1),
        _ => 1,
    };
    let tenant: Arc<str> = Arc::from(c.tenant.as_str());
    let name = bus::consumer(&c.tenant, c.shard);
    // The consumer is made anew at the point this owner starts from (and
    // again at the message after the last one read, if a delivery was lost:
    // see below).
    // (A loaded JetStream may time out a request, and a consumer whose
    // deletion timed out cannot be made at another start: tried again.)
    let make_consumer = |from: u64| {
        rt.block_on(async {
            let mut tries = 0u64;
            loop {
                tries += 1;
                match make_consumer_once(n, c, &name, from).await {
                    Ok(consumer) => return Ok(consumer),
                    Err(e) if tries >= 5 => return Err(e),
                    Err(e) => {
                        tracing::warn!(target: "vakt::cluster", "{}/{}: {e} (trying again)", c.tenant, c.shard);
                        tokio::time::sleep(Duration::from_millis(300 * tries)).await;
                    }
                }
            }
        })
    };
    let mut consumer = make_consumer(from)?;
    // The consumer sequence the next delivery should carry: deliveries are
    // numbered one by one, so a jump means one was lost on the way (a
    // client disconnected while a batch was in flight). Reading on past it
    // would let the next acknowledgement (AckPolicy::All) take the lost
    // message with it, unread and unstored; the consumer is made again at
    // the message after the last one read instead.
    let mut expect_delivery: u64 = 1;
    let mut restart_at: Option<u64> = None;
    let step = n.cfg.step_ns();
    let mut raised: Vec<Alert> = Vec::new();
    let mut pending: Vec<Alert> = Vec::new();
    // Stream time starts with the first event read (re-read ones included):
    // starting it at the last owner's latest mark would advance the fresh
    // detectors past windows they have not been shown yet, and a finding
    // made then on part of its window would restate the last owner's.
    let mut now: Option<Timestamp> = resumed.as_ref().and_then(|p| p.now).map(Timestamp);
    let mut advanced: Option<Timestamp> = resumed.as_ref().and_then(|p| p.advanced).map(Timestamp);
    let mut seen: u64 = resumed.as_ref().map_or(0, |p| p.seq);
    // The highest message delivered: acknowledged (with every one before
    // it) once committed — also when it was only re-read or delivered again.
    let mut last_msg: Option<(u64, async_nats::jetstream::Message)> = None;
    let mut committed_seq = stored_through;
    let mut last_commit = Instant::now();
    let mut correlated_rev = (-1i64, -1i64, -1i64);
    // The region-wide prevalence this partition has reported (the highest
    // count of internal hosts per outside destination): only growth is sent.
    let mut reported: rustc_hash::FxHashMap<String, u64> = resumed
        .as_ref()
        .map(|p| p.reported.iter().cloned().collect())
        .unwrap_or_default();
    let mut last_snapshot = Instant::now();
    let mut snapshot_seq = resumed.as_ref().map_or(0, |p| p.seq);
    let mut looked = Instant::now() - Duration::from_secs(60);
    loop {
        let stopping = stop.load(Relaxed);
        if !stopping {
            let batch = rt.block_on(async {
                let mut got = Vec::new();
                let mut b = consumer
                    .batch()
                    // A few messages at a time (each up to 900 KiB): eight
                    // partitions pulling 256 each overran the client's
                    // buffer and NATS dropped the connection.
                    .max_messages(16)
                    .expires(Duration::from_millis(200))
                    .messages()
                    .await
                    .map_err(|e| format!("fetch: {e}"))?;
                while let Some(m) = b.next().await {
                    match m {
                        Ok(m) => got.push(m),
                        Err(e) => return Err(format!("fetch: {e}")),
                    }
                }
                Ok::<_, String>(got)
            });
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    // What was in flight may be lost: read again after the
                    // last message read.
                    tracing::warn!(target: "vakt::cluster", "{}/{}: {e}", c.tenant, c.shard);
                    std::thread::sleep(Duration::from_millis(200));
                    restart_at = Some(seen + 1);
                    Vec::new()
                }
            };
            for m in batch {
                let Ok(info) = m.info() else { continue };
                let seq = info.stream_sequence;
                if info.delivered > 1 {
                    n.metrics.redelivered.fetch_add(1, Relaxed);
                }
                let delivery = info.consumer_sequence;
                if seq <= seen {
                    // Read before (delivered again): skipped, acknowledged
                    // once committed.
                    expect_delivery = expect_delivery.max(delivery + 1);
                    if last_msg.as_ref().is_none_or(|(s, _)| seq > *s) {
                        last_msg = Some((seq, m));
                    }
                    continue;
                }
                if delivery != expect_delivery {
                    tracing::warn!(target: "vakt::cluster", "{}/{}: delivery {delivery} where {expect_delivery} was due (one was lost on the way): reading again from message {}", c.tenant, c.shard, seen + 1);
                    n.metrics.lost_deliveries.fetch_add(1, Relaxed);
                    restart_at = Some(seen + 1);
                    break;
                }
                expect_delivery = delivery + 1;
                seen = seq;
                let events = match crate::codec::events(&m.payload, &tenant) {
                    Ok(e) => e,
                    Err(e) => {
                        // Not ours to read (a damaged or foreign message):
                        // counted and passed, never a stopped partition.
                        tracing::error!(target: "vakt::cluster", "{}/{}: message {seq}: {e}", c.tenant, c.shard);
                        n.metrics.bad_messages.fetch_add(1, Relaxed);
                        last_msg = Some((seq, m));
                        continue;
                    }
                };
                let store_it = seq > stored_through;
                for e in &events {
                    if store_it {
                        writer.append(e).map_err(|e| format!("store: {e}"))?;
                    }
                    for d in &mut detectors {
                        d.observe(e, &mut raised);
                    }
                    now = Some(now.map_or(e.time, |t| t.max(e.time)));
                }
                n.metrics
                    .worker_events
                    .fetch_add(events.len() as u64, Relaxed);
                if let Some(t) = now
                    && advanced.is_none_or(|a| t.0.saturating_sub(a.0) >= step)
                {
                    for d in &mut detectors {
                        d.advance(t, &(), &mut raised);
                    }
                    advanced = Some(t);
                }
                if !raised.is_empty() {
                    pending.extend(raised.drain(..).filter(|a| allow.keeps(a)));
                }
                last_msg = Some((seq, m));
            }
        }
        if let Some(at) = restart_at.take() {
            match make_consumer(at) {
                Ok(again) => {
                    consumer = again;
                    expect_delivery = 1;
                }
                Err(e) => {
                    tracing::warn!(target: "vakt::cluster", "{}/{}: {e} (tried again)", c.tenant, c.shard);
                    restart_at = Some(at);
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        let due = last_commit.elapsed() >= n.cfg.checkpoint_every();
        if (due || stopping) && (seen > committed_seq || !pending.is_empty()) {
            writer.flush().map_err(|e| format!("store: {e}"))?;
            let mut counts = Vec::new();
            for d in &detectors {
                d.prevalence(&mut counts);
            }
            counts.retain(|(what, n)| reported.get(what).is_none_or(|had| n > had));
            let through = seen.max(committed_seq);
            if let Some(t) = now
                && marks.last().is_none_or(|m| m.0 < through)
            {
                marks.push((through, t.0));
                thin(&mut marks, n.cfg.rebuild_ns().unwrap_or(n.cfg.window_ns()));
            }
            let outcome = rt.block_on(async {
                let mut db = n.part_db.lock().await;
                pg::commit(
                    &mut db,
                    &n.cfg.node,
                    c,
                    epoch,
                    through as i64,
                    &marks,
                    &pending,
                    &counts,
                    n.cfg.lease().as_millis() as i64,
                )
                .await
            });
            match outcome {
                Ok(Committed::Yes) => {
                    n.metrics.commits.fetch_add(1, Relaxed);
                    n.metrics.alerts.fetch_add(pending.len() as u64, Relaxed);
                    pending.clear();
                    reported.extend(counts);
                    committed_seq = through;
                    epoch += 1;
                    writer.set_epoch(epoch as u64);
                }
                Ok(Committed::Lost) => {
                    n.metrics.leases_lost.fetch_add(1, Relaxed);
                    return Err(
                        "the lease is another worker's now: nothing of this commit was kept".into(),
                    );
                }
                Err(e) => {
                    // Kept in memory and in the stream; tried again next time.
                    tracing::warn!(target: "vakt::cluster", "{}/{}: commit: {e}", c.tenant, c.shard);
                    n.metrics.commit_failures.fetch_add(1, Relaxed);
                    if stopping {
                        return Err(format!("stopped without its last commit: {e}"));
                    }
                }
            }
            last_commit = Instant::now();
        }
        // The detectors' state as of the committed message: saved when due
        // (also when idle, so that a partition at rest has its final state
        // saved), and always when the partition is given back (the next
        // owner resumes from it). Only when the state is exactly that of
        // the messages through the checkpoint — not while re-reading, and
        // with no alert raised and not yet kept.
        if let Some(every) = n.cfg.snapshot_every()
            && let Some(seal) = &seal
            && (stopping || last_snapshot.elapsed() >= every)
            && seen == committed_seq
            && snapshot_seq < committed_seq
            && pending.is_empty()
        {
            let pos = crate::snapshot::Position {
                seq: committed_seq,
                now: now.map(|t| t.0),
                advanced: advanced.map(|t| t.0),
                reported: reported.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            };
            let t_save = Instant::now();
            match crate::snapshot::save(&snap_dir, seal, &detectors, &pos) {
                Ok(bytes) => {
                    n.metrics.snapshots.fetch_add(1, Relaxed);
                    n.metrics.snapshot_bytes.store(bytes, Relaxed);
                    snapshot_seq = committed_seq;
                    tracing::debug!(target: "vakt::cluster", "{}/{}: snapshot at message {committed_seq}: {bytes} bytes in {} ms", c.tenant, c.shard, t_save.elapsed().as_millis());
                }
                Err(e) => {
                    tracing::warn!(target: "vakt::cluster", "{}/{}: snapshot: {e} (a new owner re-reads the stream instead)", c.tenant, c.shard)
                }
            }
            last_snapshot = Instant::now();
        }
        // Acknowledge what is committed (AckPolicy::All: with every message
        // before it), re-read and redelivered messages included.
        if (due || stopping)
            && let Some((_, m)) = last_msg.take_if(|(s, _)| *s <= committed_seq)
        {
            let acked = rt.block_on(async { m.ack().await });
            if let Err(e) = acked {
                tracing::warn!(target: "vakt::cluster", "{}/{}: ack: {e} (the messages come again and are skipped)", c.tenant, c.shard);
            }
        }
        // Incidents: the owner of the tenant's shard 0 correlates the
        // alerts of every shard, when they changed.
        if c.shard == 0 && (looked.elapsed() >= n.cfg.checkpoint_every() || stopping) {
            looked = Instant::now();
            let settled = rt.block_on(async {
                let mut db = n.part_db.lock().await;
                crate::incidents::settle(
                    &mut db,
                    &n.sql,
                    &n.parts.assets,
                    &c.tenant,
                    correlated_rev,
                )
                .await
            });
            match settled {
                Ok(rev) => correlated_rev = rev,
                Err(e) => tracing::warn!(target: "vakt::cluster", "{}: incidents: {e}", c.tenant),
            }
        }
        if stopping {
            return Ok(());
        }
    }
}

/// Makes a partition's consumer anew, starting at stream message `from`.
async fn make_consumer_once(
    n: &Node,
    c: &Claim,
    name: &str,
    from: u64,
) -> Result<async_nats::jetstream::consumer::Consumer<pull::Config>, String> {
    let stream = bus::stream(&n.js, &n.cfg).await?;
    let _ = stream.delete_consumer(name).await;
    stream
        .create_consumer(pull::Config {
            durable_name: Some(name.to_owned()),
            filter_subject: bus::subject(&c.tenant, c.shard),
            deliver_policy: if from <= 1 {
                DeliverPolicy::All
            } else {
                DeliverPolicy::ByStartSequence {
                    start_sequence: from,
                }
            },
            ack_policy: AckPolicy::All,
            ack_wait: Duration::from_secs(60),
            max_ack_pending: 1_000_000,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("consumer {name}: {e}"))
}

/// Keeps the marks a new owner can need: the newest, and the first of
/// each sixteenth of a window back to two windows before it (so there is
/// always one at least a window old, and never more than about 33).
fn thin(marks: &mut Vec<(u64, i64)>, window: i64) {
    let Some(&(_, newest)) = marks.last() else {
        return;
    };
    let bucket = (window / 16).max(1);
    let n = marks.len();
    let mut kept: Vec<(u64, i64)> = Vec::with_capacity(40);
    for (i, &(s, t)) in marks.iter().enumerate() {
        let last = i + 1 == n;
        if !last && t < newest.saturating_sub(window.saturating_mul(2)) {
            continue;
        }
        if !last
            && kept
                .last()
                .is_some_and(|&(_, k)| k.div_euclid(bucket) == t.div_euclid(bucket))
        {
            continue;
        }
        kept.push((s, t));
    }
    *marks = kept;
}

#[cfg(test)]
mod tests {
    #[test]
    fn marks_stay_few_and_reach_one_window_back() {
        let w = 1_000;
        let mut marks = Vec::new();
        for i in 0..10_000u64 {
            marks.push((i, i as i64));
            super::thin(&mut marks, w);
        }
        assert!(marks.len() <= 34, "{}", marks.len());
        let newest = marks.last().unwrap().1;
        assert!(marks.iter().any(|m| m.1 <= newest - w), "{marks:?}");
    }
}
