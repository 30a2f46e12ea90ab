//! PostgreSQL: the cluster's shared state — ingest tokens, nodes, partition
//! leases and checkpoints, alerts by idempotent key, incidents, quarantined
//! records. The schema is versioned (`vakt_schema`); every node applies the
//! migrations it knows at start, one node at a time (an advisory lock).
//!
//! A [`Db`] is one connection, reconnected on the next call after it
//! broke: a database restart costs the calls made while it is down (they
//! fail and are retried by their callers: a commit waits, an ingest request
//! is answered 503), nothing else.

use tokio_postgres::{Client, NoTls, Row};

/// The migrations, in order: version, SQL.
const MIGRATIONS: &[(i32, &[&str])] = &[
    (
        1,
        &["CREATE TABLE ingest_tokens (
        hash text PRIMARY KEY,
        tenant text NOT NULL,
        label text NOT NULL DEFAULT '',
        created timestamptz NOT NULL DEFAULT now());
     CREATE TABLE nodes (
        node text PRIMARY KEY,
        roles text NOT NULL,
        listen text NOT NULL DEFAULT '',
        started timestamptz NOT NULL DEFAULT now(),
        seen timestamptz NOT NULL DEFAULT now(),
        draining boolean NOT NULL DEFAULT false,
        gone boolean NOT NULL DEFAULT false,
        stats jsonb NOT NULL DEFAULT '{}');
     CREATE TABLE partitions (
        tenant text NOT NULL,
        shard integer NOT NULL,
        owner text,
        lease_until timestamptz,
        generation bigint NOT NULL DEFAULT 0,
        epoch bigint NOT NULL DEFAULT 0,
        stored_seq bigint NOT NULL DEFAULT 0,
        marks jsonb NOT NULL DEFAULT '[]',
        handovers bigint NOT NULL DEFAULT 0,
        taken timestamptz,
        committed timestamptz,
        PRIMARY KEY (tenant, shard));
     CREATE SEQUENCE alert_rev;
     CREATE TABLE alerts (
        key text PRIMARY KEY,
        tenant text NOT NULL,
        detector text NOT NULL,
        severity text NOT NULL,
        first_ns bigint NOT NULL,
        rev bigint NOT NULL,
        raised bigint NOT NULL DEFAULT 1,
        body jsonb NOT NULL);
     CREATE INDEX alerts_tenant_rev ON alerts (tenant, rev);
     CREATE TABLE incidents (
        tenant text NOT NULL,
        id text NOT NULL,
        severity text NOT NULL,
        body jsonb NOT NULL,
        PRIMARY KEY (tenant, id));
     CREATE TABLE quarantine (
        id bigserial PRIMARY KEY,
        node text NOT NULL,
        tenant text NOT NULL,
        at text NOT NULL,
        source text NOT NULL,
        reason text NOT NULL,
        raw bytea NOT NULL,
        received timestamptz NOT NULL DEFAULT now());"],
    ),
    // Version 2: the API, cases and audit trail over PostgreSQL (api
    // nodes). Alerts and incidents take the shape the API reads (the one
    // SQLite has on the embedded default); the API's other tables follow.
    (
        2,
        &[
            "ALTER TABLE alerts RENAME COLUMN first_ns TO first;
     ALTER TABLE alerts RENAME COLUMN raised TO statements;
     ALTER TABLE alerts ADD COLUMN last bigint NOT NULL DEFAULT 0;
     ALTER TABLE alerts ADD COLUMN count bigint NOT NULL DEFAULT 1;
     ALTER TABLE alerts ADD COLUMN alert text;
     UPDATE alerts SET alert = body::text, last = first;
     ALTER TABLE alerts ALTER COLUMN alert SET NOT NULL;
     ALTER TABLE alerts DROP COLUMN body;
     CREATE INDEX alerts_by_tenant ON alerts (tenant, first);
     DROP TABLE incidents;
     CREATE TABLE incidents (
        id text PRIMARY KEY,
        tenant text NOT NULL,
        severity text NOT NULL,
        first bigint NOT NULL,
        last bigint NOT NULL,
        incident text NOT NULL);
     CREATE INDEX incidents_by_tenant ON incidents (tenant);",
            vakt_server::db::POSTGRES_TABLES,
            // Ingest tokens are the API's tokens of role ingest (one table,
            // one check for every endpoint).
            "INSERT INTO tokens (hash, tenant, role, label, created)
                 SELECT hash, tenant, 'ingest', label,
                        to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
                 FROM ingest_tokens;
             DROP TABLE ingest_tokens;",
        ],
    ),
    // Version 3: the region-wide prevalence of destinations outside the
    // trusts' networks (the second, aggregated stage): each partition's
    // highest count of internal hosts per destination; the sum over
    // tenants and partitions is the region's.
    (
        3,
        &["CREATE SEQUENCE prevalence_rev;
     CREATE TABLE prevalence (
        tenant text NOT NULL,
        shard integer NOT NULL,
        what text NOT NULL,
        sources bigint NOT NULL,
        rev bigint NOT NULL,
        PRIMARY KEY (tenant, shard, what));
     CREATE INDEX prevalence_by_what ON prevalence (what);
     CREATE INDEX prevalence_by_rev ON prevalence (rev);"],
    ),
];

/// A database error, as text (with the cause PostgreSQL gave).
pub fn err(e: tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => format!("PostgreSQL: {}: {}", d.code().code(), d.message()),
        None => format!("PostgreSQL: {e}"),
    }
}

/// One connection, made again after it broke.
pub struct Db {
    conf: String,
    client: Option<Client>,
}

impl Db {
    /// A connection to `conf` (made on first use).
    pub fn new(conf: &str) -> Db {
        Db {
            conf: conf.to_owned(),
            client: None,
        }
    }

    /// The client, connected.
    pub async fn client(&mut self) -> Result<&mut Client, String> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let (client, conn) = tokio_postgres::connect(&self.conf, NoTls)
                .await
                .map_err(err)?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::warn!(target: "vakt::cluster", "PostgreSQL connection closed: {e}");
                }
            });
            self.client = Some(client);
        }
        self.client
            .as_mut()
            .ok_or_else(|| "no connection".to_owned())
    }

    /// Runs a statement; a broken connection is dropped for the next call.
    pub async fn execute(
        &mut self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, String> {
        let r = self.client().await?.execute(sql, params).await;
        self.settle(r)
    }

    /// Runs a query.
    pub async fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, String> {
        let r = self.client().await?.query(sql, params).await;
        self.settle(r)
    }

    fn settle<T>(&mut self, r: Result<T, tokio_postgres::Error>) -> Result<T, String> {
        r.map_err(|e| {
            if e.as_db_error().is_none() {
                self.client = None;
            }
            err(e)
        })
    }

    /// Applies the migrations this version knows and the database lacks.
    pub async fn migrate(&mut self) -> Result<i32, String> {
        let c = self.client().await?;
        let tx = c.transaction().await.map_err(err)?;
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(7273);
             CREATE TABLE IF NOT EXISTS vakt_schema (
                version integer PRIMARY KEY,
                applied timestamptz NOT NULL DEFAULT now());",
        )
        .await
        .map_err(err)?;
        let have: i32 = tx
            .query_one("SELECT coalesce(max(version), 0) FROM vakt_schema", &[])
            .await
            .map_err(err)?
            .get(0);
        let mut now = have;
        for (v, steps) in MIGRATIONS {
            if *v > have {
                for sql in *steps {
                    tx.batch_execute(sql)
                        .await
                        .map_err(|e| format!("migration {v}: {}", err(e)))?;
                }
                tx.execute("INSERT INTO vakt_schema (version) VALUES ($1)", &[v])
                    .await
                    .map_err(err)?;
                now = *v;
            }
        }
        tx.commit().await.map_err(err)?;
        if now > MIGRATIONS.last().map_or(0, |m| m.0) {
            return Err(format!(
                "the database's schema is version {now}, newer than this vakt knows"
            ));
        }
        Ok(now)
    }

    /// Connects and migrates, trying again for `patience`.
    pub async fn open(conf: &str, patience: std::time::Duration) -> Result<Db, String> {
        let start = std::time::Instant::now();
        loop {
            let mut db = Db::new(conf);
            match db.migrate().await {
                Ok(_) => return Ok(db),
                Err(e) if start.elapsed() >= patience => return Err(e),
                Err(e) => {
                    tracing::warn!(target: "vakt::cluster", "waiting for PostgreSQL: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                }
            }
        }
    }
}

/// A partition's row as a worker takes it.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The tenant.
    pub tenant: String,
    /// The shard.
    pub shard: i32,
    /// The lease's generation (commits are fenced by it).
    pub generation: i64,
    /// The last committed store epoch.
    pub epoch: i64,
    /// The last stream sequence stored and detected.
    pub stored_seq: i64,
    /// (stream sequence, stream time) marks of past commits.
    pub marks: Vec<(u64, i64)>,
    /// The owner before, if the lease was taken over.
    pub from: Option<String>,
    /// How long it went unowned (seconds; a dead owner's lease ran out).
    pub unowned_secs: f64,
}

/// Takes one partition that has no owner or whose lease ran out.
pub async fn claim(db: &mut Db, node: &str, lease_ms: i64) -> Result<Option<Claim>, String> {
    let rows = db
        .query(
            "WITH c AS (
                SELECT tenant, shard, owner AS old_owner, lease_until AS old_lease
                FROM partitions
                WHERE owner IS NULL OR lease_until < now()
                ORDER BY tenant, shard LIMIT 1 FOR UPDATE SKIP LOCKED)
             UPDATE partitions p SET owner = $1,
                lease_until = now() + $2 * interval '1 millisecond',
                generation = p.generation + 1,
                handovers = p.handovers + (CASE WHEN c.old_owner IS NULL THEN 0 ELSE 1 END),
                taken = now()
             FROM c WHERE p.tenant = c.tenant AND p.shard = c.shard
             RETURNING p.tenant, p.shard, p.generation, p.epoch, p.stored_seq, p.marks::text,
                c.old_owner, coalesce(extract(epoch FROM now() - c.old_lease)::float8, 0)",
            &[&node, &(lease_ms as f64)],
        )
        .await?;
    let Some(r) = rows.first() else {
        return Ok(None);
    };
    let marks: Vec<(u64, i64)> = serde_json::from_str(r.get::<_, &str>(5)).unwrap_or_default();
    Ok(Some(Claim {
        tenant: r.get(0),
        shard: r.get(1),
        generation: r.get(2),
        epoch: r.get(3),
        stored_seq: r.get(4),
        marks,
        from: r.get(6),
        unowned_secs: r.get::<_, f64>(7).max(0.0),
    }))
}

/// Renews this node's leases; returns the partitions it still holds.
pub async fn renew(
    db: &mut Db,
    node: &str,
    lease_ms: i64,
) -> Result<Vec<(String, i32, i64)>, String> {
    let rows = db
        .query(
            "UPDATE partitions SET lease_until = now() + $2 * interval '1 millisecond'
             WHERE owner = $1 RETURNING tenant, shard, generation",
            &[&node, &(lease_ms as f64)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Gives a partition back (after its last commit).
pub async fn release(
    db: &mut Db,
    node: &str,
    tenant: &str,
    shard: i32,
    generation: i64,
) -> Result<(), String> {
    db.execute(
        "UPDATE partitions SET owner = NULL, lease_until = NULL
         WHERE tenant = $1 AND shard = $2 AND owner = $3 AND generation = $4",
        &[&tenant, &shard, &node, &generation],
    )
    .await
    .map(|_| ())
}

/// Records a node as alive (with its counters); answers whether it is to drain.
pub async fn heartbeat(
    db: &mut Db,
    node: &str,
    roles: &str,
    listen: &str,
    stats: &str,
) -> Result<bool, String> {
    let rows = db
        .query(
            "INSERT INTO nodes (node, roles, listen, stats) VALUES ($1, $2, $3, $4::text::jsonb)
             ON CONFLICT (node) DO UPDATE SET seen = now(), roles = $2, listen = $3,
                stats = $4::text::jsonb, gone = false
             RETURNING draining",
            &[&node, &roles, &listen, &stats],
        )
        .await?;
    Ok(rows.first().is_some_and(|r| r.get(0)))
}

/// Workers alive and not draining, and partitions known.
pub async fn shares(db: &mut Db, lease_ms: i64) -> Result<(i64, i64), String> {
    let rows = db
        .query(
            "SELECT (SELECT count(*) FROM nodes WHERE roles LIKE '%worker%' AND NOT draining
                        AND NOT gone AND seen > now() - $1 * interval '1 millisecond'),
                    (SELECT count(*) FROM partitions)",
            &[&(lease_ms as f64)],
        )
        .await?;
    let r = rows.first().ok_or("no answer")?;
    Ok((r.get(0), r.get(1)))
}

/// The node is gone (a clean stop).
pub async fn gone(db: &mut Db, node: &str) -> Result<(), String> {
    db.execute(
        "UPDATE nodes SET gone = true, draining = false WHERE node = $1",
        &[&node],
    )
    .await
    .map(|_| ())
}

/// Records a partition (an ingest node's first batch for it).
pub async fn register(db: &mut Db, tenant: &str, shard: i32) -> Result<(), String> {
    db.execute(
        "INSERT INTO partitions (tenant, shard) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&tenant, &shard],
    )
    .await
    .map(|_| ())
}

/// Keeps rejected records: where, why, and their bytes (to fix and send again).
pub async fn quarantine(
    db: &mut Db,
    node: &str,
    tenant: &str,
    rejected: &[vakt_ingest::RecordError],
) -> Result<(), String> {
    let c = db.client().await?;
    let tx = c.transaction().await.map_err(err)?;
    for r in rejected {
        tx.execute(
            "INSERT INTO quarantine (node, tenant, at, source, reason, raw) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&node, &tenant, &format!("{}: {}", r.path, r.locator), &&*r.source, &r.reason, &r.raw],
        )
        .await
        .map_err(err)?;
    }
    tx.commit().await.map_err(err)
}

/// Where a tenant's alerts stand: the highest revision, and how many are
/// suppressed (by an exception).
pub async fn tenant_rev(db: &mut Db, tenant: &str) -> Result<(i64, i64), String> {
    let rows = db
        .query(
            "SELECT coalesce(max(rev), 0),
                    (SELECT count(*) FROM alert_status s JOIN alerts b ON b.key = s.key
                     WHERE b.tenant = $1 AND s.status = 'suppressed')
             FROM alerts WHERE tenant = $1",
            &[&tenant],
        )
        .await?;
    Ok(rows.first().map_or((0, 0), |r| (r.get(0), r.get(1))))
}

/// Replaces a tenant's incidents.
pub async fn put_incidents(
    db: &mut Db,
    tenant: &str,
    incidents: &[&vakt_incident::Incident],
) -> Result<(), String> {
    let c = db.client().await?;
    let tx = c.transaction().await.map_err(err)?;
    tx.execute("DELETE FROM incidents WHERE tenant = $1", &[&tenant])
        .await
        .map_err(err)?;
    for i in incidents {
        let body = serde_json::to_string(i).map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT INTO incidents (tenant, id, severity, first, last, incident)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &tenant,
                &i.id,
                &i.severity.name(),
                &i.first.0,
                &i.last.0,
                &body,
            ],
        )
        .await
        .map_err(err)?;
    }
    tx.commit().await.map_err(err)
}

/// Every incident (for `vakt cluster incidents` and the tests).
pub async fn incidents(db: &mut Db) -> Result<Vec<(String, vakt_incident::Incident)>, String> {
    let rows = db
        .query(
            "SELECT tenant, incident FROM incidents ORDER BY tenant, id",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| {
            let body: &str = r.get(1);
            serde_json::from_str(body)
                .map(|i| (r.get(0), i))
                .map_err(|e| format!("an incident in the database: {e}"))
        })
        .collect()
}

/// Every alert.
pub async fn alerts(db: &mut Db) -> Result<Vec<(vakt_core::Alert, i64)>, String> {
    let rows = db
        .query(
            "SELECT alert, statements FROM alerts ORDER BY tenant, first, key",
            &[],
        )
        .await?;
    rows.iter()
        .map(|r| {
            serde_json::from_str(r.get::<_, &str>(0))
                .map(|a| (a, r.get(1)))
                .map_err(|e| format!("an alert in the database: {e}"))
        })
        .collect()
}

/// A commit's outcome.
#[derive(Debug, PartialEq, Eq)]
pub enum Committed {
    /// Kept.
    Yes,
    /// The lease is another node's now (nothing was kept).
    Lost,
}

/// One partition's commit, in one transaction fenced by the lease: the
/// alerts by key (a redelivered or re-read event restates an alert, never
/// duplicates it), then the checkpoint.
#[allow(clippy::too_many_arguments)]
pub async fn commit(
    db: &mut Db,
    node: &str,
    claim: &Claim,
    epoch: i64,
    stored_seq: i64,
    marks: &[(u64, i64)],
    alerts: &[vakt_core::Alert],
    prevalence: &[(String, u64)],
    lease_ms: i64,
) -> Result<Committed, String> {
    let marks = serde_json::to_string(marks).map_err(|e| e.to_string())?;
    let c = db.client().await?;
    let tx = c.transaction().await.map_err(err)?;
    let n = tx
        .execute(
            "UPDATE partitions SET epoch = $3, stored_seq = $4, marks = $5::text::jsonb,
                lease_until = now() + $8 * interval '1 millisecond', committed = now()
             WHERE tenant = $1 AND shard = $2 AND owner = $6 AND generation = $7",
            &[
                &claim.tenant,
                &claim.shard,
                &epoch,
                &stored_seq,
                &marks,
                &node,
                &claim.generation,
                &(lease_ms as f64),
            ],
        )
        .await
        .map_err(err)?;
    if n == 0 {
        tx.rollback().await.map_err(err)?;
        return Ok(Committed::Lost);
    }
    if !alerts.is_empty() {
        let st = tx
            .prepare(
                "INSERT INTO alerts (key, tenant, detector, severity, first, last, count, rev, alert)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, nextval('alert_rev'), $8)
                 ON CONFLICT (key) DO UPDATE SET statements = alerts.statements + 1,
                    alert = EXCLUDED.alert, severity = EXCLUDED.severity, first = EXCLUDED.first,
                    last = EXCLUDED.last, count = EXCLUDED.count,
                    rev = CASE WHEN alerts.alert = EXCLUDED.alert THEN alerts.rev
                               ELSE nextval('alert_rev') END",
            )
            .await
            .map_err(err)?;
        for a in alerts {
            let body = serde_json::to_string(a).map_err(|e| e.to_string())?;
            tx.execute(
                &st,
                &[
                    &a.key.to_string(),
                    &claim.tenant,
                    &a.detector,
                    &a.severity.name(),
                    &a.first.0,
                    &a.last.0,
                    &(a.count as i64),
                    &body,
                ],
            )
            .await
            .map_err(err)?;
        }
    }
    if !prevalence.is_empty() {
        let st = tx
            .prepare(
                "INSERT INTO prevalence (tenant, shard, what, sources, rev)
                 VALUES ($1, $2, $3, $4, nextval('prevalence_rev'))
                 ON CONFLICT (tenant, shard, what) DO UPDATE
                    SET sources = EXCLUDED.sources, rev = EXCLUDED.rev
                    WHERE prevalence.sources < EXCLUDED.sources",
            )
            .await
            .map_err(err)?;
        for (what, n) in prevalence {
            let n = i64::try_from(*n).unwrap_or(i64::MAX);
            tx.execute(&st, &[&claim.tenant, &claim.shard, what, &n])
                .await
                .map_err(err)?;
        }
    }
    tx.commit().await.map_err(err)?;
    Ok(Committed::Yes)
}

/// The region-wide prevalence's revision: it moves whenever a partition's
/// count of a destination grows.
pub async fn prevalence_rev(db: &mut Db) -> Result<i64, String> {
    let rows = db
        .query("SELECT coalesce(max(rev), 0) FROM prevalence", &[])
        .await?;
    Ok(rows.first().map_or(0, |r| r.get(0)))
}

/// How many internal hosts across the region (every tenant and partition)
/// used each of these destinations.
pub async fn region_prevalence(
    db: &mut Db,
    what: &[String],
) -> Result<std::collections::HashMap<String, i64>, String> {
    if what.is_empty() {
        return Ok(Default::default());
    }
    let rows = db
        .query(
            "SELECT what, sum(sources)::bigint FROM prevalence WHERE what = ANY($1) GROUP BY what",
            &[&what],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}
