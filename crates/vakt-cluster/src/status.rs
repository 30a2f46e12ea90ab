//! `vakt cluster status`: nodes, partitions and their owners, lag per
//! consumer, redeliveries, the stream.

use std::time::Duration;

use serde::Serialize;

use crate::config::ClusterConfig;
use crate::{bus, pg};

/// A node as the database knows it.
#[derive(Debug, Serialize)]
pub struct NodeRow {
    /// Name.
    pub node: String,
    /// Roles.
    pub roles: String,
    /// Its HTTP address.
    pub listen: String,
    /// Seconds since it last said it was alive.
    pub seen_secs_ago: f64,
    /// Alive: seen within one lease, not stopped.
    pub alive: bool,
    /// Asked to drain.
    pub draining: bool,
    /// Its counters.
    pub stats: serde_json::Value,
}

/// A partition.
#[derive(Debug, Serialize)]
pub struct PartitionRow {
    /// Tenant.
    pub tenant: String,
    /// Shard.
    pub shard: i32,
    /// Its owner, if any lease holds.
    pub owner: Option<String>,
    /// Seconds the lease has left (negative: ran out).
    pub lease_secs: Option<f64>,
    /// The last stream sequence committed.
    pub committed_seq: i64,
    /// Seconds since the last commit.
    pub committed_secs_ago: Option<f64>,
    /// Times another node took it over.
    pub handovers: i64,
    /// Messages not yet delivered to its consumer (lag).
    pub lag: Option<u64>,
    /// Delivered, not yet acknowledged.
    pub unacknowledged: Option<usize>,
    /// Delivered more than once.
    pub redelivered: Option<usize>,
}

/// The stream.
#[derive(Debug, Serialize)]
pub struct StreamRow {
    /// Messages held.
    pub messages: u64,
    /// Bytes held.
    pub bytes: u64,
    /// Copies configured.
    pub replicas: usize,
    /// The JetStream cluster's leader for it, if clustered.
    pub leader: Option<String>,
    /// Replicas and whether each is current.
    pub peers: Vec<(String, bool)>,
}

/// The whole picture.
#[derive(Debug, Serialize)]
pub struct Status {
    /// Nodes.
    pub nodes: Vec<NodeRow>,
    /// Partitions.
    pub partitions: Vec<PartitionRow>,
    /// The stream.
    pub stream: Option<StreamRow>,
    /// Alerts kept.
    pub alerts: i64,
    /// Incidents.
    pub incidents: i64,
}

/// Reads the status.
pub fn read(cfg: &ClusterConfig) -> Result<Status, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let mut db = pg::Db::open(&cfg.postgres, Duration::from_secs(10)).await?;
        let lease = cfg.lease().as_secs_f64();
        let nodes = db
            .query(
                "SELECT node, roles, listen, extract(epoch FROM now() - seen)::float8, draining, gone, stats::text
                 FROM nodes ORDER BY node",
                &[],
            )
            .await?
            .iter()
            .map(|r| {
                let ago: f64 = r.get(3);
                let gone: bool = r.get(5);
                NodeRow {
                    node: r.get(0),
                    roles: r.get(1),
                    listen: r.get(2),
                    seen_secs_ago: ago,
                    alive: !gone && ago <= lease,
                    draining: r.get(4),
                    stats: serde_json::from_str(r.get::<_, &str>(6)).unwrap_or_default(),
                }
            })
            .collect();
        let mut partitions: Vec<PartitionRow> = db
            .query(
                "SELECT tenant, shard, owner, extract(epoch FROM lease_until - now())::float8,
                        stored_seq, extract(epoch FROM now() - committed)::float8, handovers
                 FROM partitions ORDER BY tenant, shard",
                &[],
            )
            .await?
            .iter()
            .map(|r| PartitionRow {
                tenant: r.get(0),
                shard: r.get(1),
                owner: r.get(2),
                lease_secs: r.get(3),
                committed_seq: r.get(4),
                committed_secs_ago: r.get(5),
                handovers: r.get(6),
                lag: None,
                unacknowledged: None,
                redelivered: None,
            })
            .collect();
        let counts = db
            .query("SELECT (SELECT count(*) FROM alerts), (SELECT count(*) FROM incidents)", &[])
            .await?;
        let (alerts, incidents) = counts.first().map_or((0, 0), |r| (r.get(0), r.get(1)));
        // The bus: best effort (the database's view stands without it).
        let stream = match tokio::time::timeout(Duration::from_secs(10), bus::connect(cfg)).await {
            Ok(Ok(js)) => match js.get_stream(bus::STREAM).await {
                Ok(mut s) => {
                    for p in &mut partitions {
                        if let Ok(i) = s.consumer_info(bus::consumer(&p.tenant, p.shard)).await {
                            p.lag = Some(i.num_pending);
                            p.unacknowledged = Some(i.num_ack_pending);
                            p.redelivered = Some(i.num_redelivered);
                        }
                    }
                    match s.info().await {
                        Ok(i) => Some(StreamRow {
                            messages: i.state.messages,
                            bytes: i.state.bytes,
                            replicas: i.config.num_replicas,
                            leader: i.cluster.as_ref().and_then(|c| c.leader.clone()),
                            peers: i
                                .cluster
                                .as_ref()
                                .map(|c| c.replicas.iter().map(|r| (r.name.clone(), r.current)).collect())
                                .unwrap_or_default(),
                        }),
                        Err(_) => None,
                    }
                }
                Err(_) => None,
            },
            _ => None,
        };
        Ok(Status {
            nodes,
            partitions,
            stream,
            alerts,
            incidents,
        })
    })
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "nodes")?;
        for n in &self.nodes {
            let events = n
                .stats
                .get("worker_events")
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            let ingested = n
                .stats
                .get("ingest_events")
                .and_then(|v| v.as_u64())
                .unwrap_or(0);
            writeln!(
                f,
                "  {:<16} {:<14} {:<8} seen {:>5.1} s ago  {:<21} ingested {ingested:>10}  detected {events:>10}",
                n.node,
                n.roles,
                if !n.alive {
                    "down"
                } else if n.draining {
                    "draining"
                } else {
                    "up"
                },
                n.seen_secs_ago,
                n.listen,
            )?;
        }
        writeln!(f, "partitions")?;
        for p in &self.partitions {
            let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
            writeln!(
                f,
                "  {:<12} {:>3}  owner {:<16} lease {:>6}  committed seq {:>9} ({} ago)  lag {:>7}  unacked {:>6}  redelivered {:>5}  handovers {}",
                p.tenant,
                p.shard,
                p.owner.as_deref().unwrap_or("-"),
                p.lease_secs.map_or("-".to_owned(), |s| format!("{s:.1}s")),
                p.committed_seq,
                p.committed_secs_ago
                    .map_or("-".to_owned(), |s| format!("{s:.1} s")),
                opt(p.lag),
                opt(p.unacknowledged.map(|v| v as u64)),
                opt(p.redelivered.map(|v| v as u64)),
                p.handovers,
            )?;
        }
        match &self.stream {
            Some(s) => writeln!(
                f,
                "stream {}: {} messages, {} bytes, {} replica(s){}",
                bus::STREAM,
                s.messages,
                s.bytes,
                s.replicas,
                s.leader
                    .as_ref()
                    .map_or(String::new(), |l| format!(", leader {l}")),
            )?,
            None => writeln!(f, "stream {}: not reachable", bus::STREAM)?,
        }
        writeln!(f, "alerts {}, incidents {}", self.alerts, self.incidents)
    }
}
