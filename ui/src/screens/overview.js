// Overview: open incidents by severity and tenant, the clocks due soonest,
// each trust's ingest (a trust that went quiet is itself a finding), and
// alerts per detector over time.
import { html } from 'htm/preact';
import { useEffect } from 'preact/hooks';
import { num, SEVERITIES, seconds, until } from '../fmt.js';
import { Histogram, Num, Sev, Sparkline, Time, useApi, Wait } from '../ui.js';

const READ = ['cert-analyst', 'trust-analyst', 'privacy-officer'];

function Incidents() {
  const q = useApi('/incidents?limit=500');
  return html`<section aria-labelledby="h-inc" class="card wide">
    <h2 id="h-inc">Open incidents</h2>
    <${Wait} q=${q} what="Loading incidents">${(list) => {
      const tenants = [...new Set(list.flatMap((i) => i.tenants || []))].sort();
      const count = (s, t) => list.filter((i) => i.severity === s && (i.tenants || []).includes(t)).length;
      return html`
        <table class="matrix" aria-label="Incidents by severity and tenant">
          <thead><tr><th scope="col">Severity</th>${tenants.map((t) => html`<th scope="col">${t}</th>`)}<th scope="col">All</th></tr></thead>
          <tbody>${SEVERITIES.filter((s) => list.some((i) => i.severity === s)).map((s) => html`<tr>
            <th scope="row"><${Sev} s=${s} /></th>
            ${tenants.map((t) => html`<td class="num">${count(s, t) || html`<span class="muted">0</span>`}</td>`)}
            <td class="num"><strong>${num(list.filter((i) => i.severity === s).length)}</strong></td></tr>`)}
          </tbody>
        </table>
        <table class="list" aria-label="Incidents, most severe first">
          <thead><tr><th scope="col">Incident</th><th scope="col">Severity</th><th scope="col">Tenant</th><th scope="col">Title</th><th scope="col" class="num">Alerts</th><th scope="col">Last</th></tr></thead>
          <tbody>${list.slice(0, 50).map((i) => html`<tr>
            <td><a href=${'#/incidents/' + encodeURIComponent(i.id)}>${i.id}</a></td>
            <td><${Sev} s=${i.severity} /></td><td>${(i.tenants || []).join(', ')}</td>
            <td class="title">${i.title}</td><td class="num">${num(i.alerts)}</td><td><${Time} t=${i.last} short /></td></tr>`)}
          </tbody>
        </table>
        ${list.length > 50 ? html`<p class="muted">${num(list.length - 50)} more, less severe.</p>` : null}
        ${list.length === 0 ? html`<p class="muted">No incidents.</p>` : null}`;
    }}<//>
  </section>`;
}

function Clocks() {
  const q = useApi('/cases?limit=500');
  return html`<section aria-labelledby="h-clocks" class="card">
    <h2 id="h-clocks">Clocks due soonest</h2>
    <${Wait} q=${q} what="Loading clocks">${(cases) => {
      const open = cases.flatMap((c) => (c.clocks || [])
        .filter((k) => !k.met_at)
        .map((k) => ({ ...k, case: c })))
        .sort((a, b) => (a.due < b.due ? -1 : 1));
      if (!open.length) return html`<p class="muted">No clock is running.</p>`;
      return html`<ol class="clocks">${open.slice(0, 12).map((k) => html`<li class=${'clock ' + k.state}>
        <span class="due"><${Time} t=${k.due} short /> <span class="muted">(${until(k.due)})</span></span>
        <span>${k.name}</span>
        <a href=${'#/cases/' + encodeURIComponent(k.case.id)}>${k.case.id} · ${k.case.tenant}</a>
        <span class="pill">${k.state}</span></li>`)}</ol>`;
    }}<//>
  </section>`;
}

function Ingest() {
  const q = useApi('/stats/ingest');
  useEffect(() => {
    const h = setInterval(q.reload, 30000);
    return () => clearInterval(h);
  }, [q.reload]);
  return html`<section aria-labelledby="h-ingest" class="card">
    <h2 id="h-ingest">Ingest per trust</h2>
    <${Wait} q=${q} what="Loading ingest health">${(rows) => rows.length === 0 ? html`<p class="muted">No trust sends events yet.</p>` : html`
      <table class="list" aria-label="Ingest per trust">
        <thead><tr><th scope="col">Trust</th><th scope="col">State</th><th scope="col" class="num">Events/min</th><th scope="col">Last hour</th><th scope="col">Last events</th><th scope="col" class="num">Accepted</th></tr></thead>
        <tbody>${rows.map((r) => {
          const last5 = r.per_minute.slice(-5).reduce((a, b) => a + b, 0) / 5;
          return html`<tr class=${'state-' + r.state}>
            <th scope="row">${r.tenant}</th>
            <td><span class=${'pill ' + (r.state === 'silent' || r.state === 'never' ? 'bad' : r.state === 'quiet' ? 'warn' : 'good')}>${r.state}${r.state === 'silent' ? ' for ' + seconds(r.silent_seconds) : ''}</span></td>
            <td class="num">${num(Math.round(last5))}</td>
            <td><${Sparkline} values=${r.per_minute} label=${`${r.tenant}: events per minute over the last hour`} /></td>
            <td><${Time} t=${r.last} short /></td>
            <td class="num"><${Num} n=${r.accepted} /></td></tr>`;
        })}</tbody>
      </table>
      <p class="muted small">Since the service started. A trust that was sending and went silent is a finding in itself.</p>`}<//>
  </section>`;
}

function AlertsOverTime() {
  const q = useApi('/stats/alerts');
  return html`<section aria-labelledby="h-apd" class="card wide">
    <h2 id="h-apd">Alerts per detector over time</h2>
    <${Wait} q=${q} what="Loading alert counts">${(h) => h.times && h.times.length ? html`
      <${Histogram} times=${h.times} series=${h.detectors.map((d) => ({ name: d.detector, counts: d.counts }))}
        label=${`Alerts per detector, in buckets of ${seconds(h.bucket_seconds)}`} />` : html`<p class="muted">No alerts.</p>`}<//>
  </section>`;
}

export function Overview({ who }) {
  const reads = READ.includes(who.role);
  return html`<h1>Overview</h1>
    <div class="grid">
      ${reads ? html`<${Incidents} />` : null}
      ${reads ? html`<${Clocks} />` : null}
      <${Ingest} />
      ${reads ? html`<${AlertsOverTime} />` : null}
    </div>`;
}
