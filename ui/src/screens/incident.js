// One incident: patient zero, ATT&CK stages in order, the entity graph,
// the exposure on the map of the 2018 counties and by trust and category,
// the clocks, the timeline with the evidence behind each alert (down to
// the event), and the report.
import { html } from 'htm/preact';
import { useMemo, useState } from 'preact/hooks';
import { api, post } from '../api.js';
import { num, until } from '../fmt.js';
import { CountyMap } from '../map.js';
import { Evidence } from './evidence.js';
import { me, say, useSignal } from '../state.js';
import { Dialog, Failed, Json, Loading, Num, Pseudonym, Sev, Time, useApi, VTable, Wait } from '../ui.js';

const KIND_ORDER = { account: 0, host: 1, ip: 2, domain: 3 };

/** Columns: accounts, compromised hosts, reached hosts, outside. */
function column(n) {
  if (n.kind === 'account') return 0;
  if (n.role === 'external' || n.kind === 'domain') return 3;
  if (n.role === 'compromised') return 1;
  return 2;
}

function Graph({ inc }) {
  const [focus, setFocus] = useState(null);
  const nodes = inc.nodes || [];
  const cols = [[], [], [], []];
  nodes.forEach((n) => cols[column(n)].push(n));
  cols.forEach((c) => c.sort((a, b) => (a.first_seen < b.first_seen ? -1 : 1)));
  const W = 960, colW = W / 4, rowH = 40, top = 40;
  const H = top + Math.max(1, ...cols.map((c) => c.length)) * rowH + 10;
  const pos = {};
  cols.forEach((c, i) => c.forEach((n, j) => (pos[n.key] = [i * colW + 24, top + j * rowH + 14])));
  const pz = inc.patient_zero && inc.patient_zero.entity;
  const heads = ['Accounts', 'Compromised hosts', 'Reached hosts', 'Outside'];
  const near = (k) => !focus || k === focus || (inc.edges || []).some((e) => (e.from === focus && e.to === k) || (e.to === focus && e.from === k));
  return html`<figure class="graph">
    <svg viewBox=${`0 0 ${W} ${H}`} role="group" aria-label=${`Entity graph: ${nodes.length} entities, ${(inc.edges || []).length} links; ${nodes.filter((n) => n.role === 'compromised').length} compromised`}>
      ${heads.map((h, i) => html`<text x=${i * colW + 10} y="18" class="colhead">${h} (${cols[i].length})</text>`)}
      ${(inc.edges || []).filter((e) => pos[e.from] && pos[e.to]).map((e) => {
        const [x1, y1] = pos[e.from], [x2, y2] = pos[e.to];
        const mx = (x1 + x2) / 2;
        const dim = focus && e.from !== focus && e.to !== focus;
        return html`<path d=${`M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`} class=${'edge' + (dim ? ' dim' : '')}><title>${e.from} → ${e.to}: ${e.what}</title></path>`;
      })}
      ${nodes.map((n) => {
        const [x, y] = pos[n.key];
        return html`<g class=${'node role-' + n.role + (near(n.key) ? '' : ' dim') + (n.key === pz ? ' pz' : '')} tabindex="0" role="button"
            aria-label=${`${n.name.length > 26 ? n.name.slice(0, 25) + '…' : n.name}${n.asset_kind ? ' ' + n.asset_kind : ''}: ${n.kind}, ${n.role}${n.key === pz ? ', patient zero' : ''}`}
            onClick=${() => setFocus(focus === n.key ? null : n.key)}
            onKeyDown=${(e) => (e.key === 'Enter' || e.key === ' ') && (e.preventDefault(), setFocus(focus === n.key ? null : n.key))}>
          <title>${n.key} — ${n.role}${n.asset_kind ? ', ' + n.asset_kind : ''}${n.trust ? ', ' + n.trust : ''}${n.holds_patients_of ? ', holds patients of ' + n.holds_patients_of : ''}; ${n.alerts} alerts</title>
          ${n.key === pz ? html`<circle cx=${x} cy=${y} r="13" class="pzring" />` : null}
          <circle cx=${x} cy=${y} r="8" />
          <text x=${x + 16} y=${y + 4}>${n.name.length > 26 ? n.name.slice(0, 25) + '…' : n.name}${n.asset_kind ? html`<tspan class="muted"> ${n.asset_kind}</tspan>` : null}</text>
        </g>`;
      })}
    </svg>
    <figcaption><span class="swatch role-compromised"></span> compromised (the attacker acted there or with it)
      <span class="swatch role-reached"></span> reached <span class="swatch role-external"></span> outside
      <span class="swatch pz"></span> patient zero. Select an entity to show its links.</figcaption>
  </figure>`;
}

function Timeline({ inc }) {
  const [open, setOpen] = useState(null);
  const rows = inc.timeline || [];
  return html`
    <${VTable} label="Timeline of the incident's alerts" rows=${rows} height=${360} rowKey=${(r) => r.alert}
      onRow=${(r) => setOpen(r.alert)}
      columns=${[
        { label: 'Time', width: '13em', render: (r) => html`<${Time} t=${r.time} />` },
        { label: 'Stage', width: '11em', render: (r) => r.stage || html`<span class="muted">–</span>` },
        { label: 'Severity', width: '7em', render: (r) => html`<${Sev} s=${r.severity} />` },
        { label: 'Alert', render: (r) => html`<button class="link" onClick=${(e) => { e.stopPropagation(); setOpen(r.alert); }}>${r.title}</button>` },
      ]} />
    ${open ? html`<${Evidence} alertKey=${open} onClose=${() => setOpen(null)} />` : null}`;
}

function Clocks({ x }) {
  return html`<table class="list" aria-label="Notification clocks">
    <thead><tr><th scope="col">Clock</th><th scope="col" class="num">Hours</th><th scope="col">Due</th><th scope="col">From now</th></tr></thead>
    <tbody>${(x.clocks || []).map((c) => html`<tr><td>${c.name}</td><td class="num">${c.hours}</td><td><${Time} t=${c.due} /></td><td class=${new Date(c.due) < Date.now() ? 'overdue' : ''}>${c.due ? until(c.due) : '–'}</td></tr>`)}</tbody>
  </table>
  <p class="muted small">From awareness at <${Time} t=${x.awareness} />.</p>`;
}

function Exposure({ id, tenant, scoped }) {
  const who = useSignal(me);
  const [ran, setRan] = useState(0);
  const q = useApi(scoped || ran ? () => api(`/incidents/${encodeURIComponent(id)}/scope`) : null, [id, ran]);
  const [busy, setBusy] = useState(false);
  const run = async () => {
    setBusy(true);
    try { await post(`/incidents/${encodeURIComponent(id)}/scope`, {}); say('Scoped'); setRan((n) => n + 1); } catch (e) { say(e.message, 'bad'); }
    setBusy(false);
  };
  if (!scoped && !ran) {
    return html`<p>Not scoped yet. <button class="primary" disabled=${busy} onClick=${run}>${busy ? 'Scoping…' : 'Scope now'}</button></p>`;
  }
  if (q.error) return html`<${Failed} error=${q.error} />`;
  if (!q.data) return html`<${Loading} what="Loading the scope" />`;
  const x = q.data;
  const cats = Object.entries(x.by_category || {}).sort((a, b) => b[1] - a[1]);
  return html`
    <div class="figures">
      <div class="figure"><span class="big" data-k="confirmed">${num(x.confirmed)}</span><span>patients confirmed exposed</span></div>
      <div class="figure"><span class="big" data-k="possible">${num(x.possible)}</span><span>possibly exposed</span></div>
      <div class="figure"><span class="big">${num(x.accesses)}</span><span>record accesses in scope</span></div>
      <div class="figure"><span class="big">${num((x.accounts || []).length)} / ${num((x.hosts || []).length)}</span><span>accounts / hosts in scope</span></div>
    </div>
    <p class="muted small">${x.basis}. Window <${Time} t=${x.from} /> – ${x.until ? html`<${Time} t=${x.until} />` : 'the end of the stored history'}. ${who.role !== 'admin' ? html`<button class="small" onClick=${run} disabled=${busy}>${busy ? 'Scoping…' : 'Scope again'}</button>` : null}</p>
    <div class="cols">
      <div><h3>By county</h3><${CountyMap} byCounty=${x.by_county} /></div>
      <div>
        <h3>By trust</h3>
        <table class="list" aria-label="Exposure by trust"><thead><tr><th scope="col">Trust</th><th scope="col" class="num">Confirmed</th><th scope="col" class="num">Possible</th></tr></thead>
          <tbody>${Object.entries(x.by_trust || {}).map(([t, c]) => html`<tr><th scope="row">${t}</th><td class="num"><${Num} n=${c.confirmed} /></td><td class="num"><${Num} n=${c.possible} /></td></tr>`)}</tbody></table>
        <h3>By category</h3>
        <table class="list" aria-label="Exposure by category"><thead><tr><th scope="col">Category</th><th scope="col" class="num">Patients</th></tr></thead>
          <tbody>${cats.map(([k, n]) => html`<tr><th scope="row">${k}</th><td class="num"><${Num} n=${n} /></td></tr>`)}</tbody></table>
        <h3>Clocks</h3>
        <${Clocks} x=${x} />
        <h3>Why each is in scope</h3>
        <ul class="why">${[...(x.accounts || []), ...(x.hosts || [])].slice(0, 30).map((s) => html`<li><strong>${s.key}</strong>: ${s.why} (from <${Time} t=${s.from} short />; ${num(s.accesses)} accesses)</li>`)}</ul>
        <h3>To notify</h3>
        <p>${num((x.notification || []).length)} patients (pseudonyms). ${(x.notification || []).slice(0, 3).map((n) => html`<${Pseudonym} p=${n.patient} tenant=${tenant} /> `)}
          <a href=${`/api/v1/incidents/${encodeURIComponent(id)}/notification`} download>Download the list</a></p>
      </div>
    </div>`;
}

export function Incident({ id }) {
  const q = useApi('/incidents/' + encodeURIComponent(id || ''), [id]);
  const stats = useMemo(() => q.data && {
    compromised: (q.data.nodes || []).filter((n) => n.role === 'compromised').length,
  }, [q.data]);
  if (q.error) return html`<h1>Incident ${id}</h1><${Failed} error=${q.error} />`;
  return html`<${Wait} q=${q} what="Loading the incident">${(inc) => html`
    <nav class="crumbs" aria-label="Breadcrumb"><a href="#/overview">Overview</a> › ${inc.id}</nav>
    <h1><${Sev} s=${inc.severity} /> ${inc.title}</h1>
    <dl class="facts inline">
      <dt>Incident</dt><dd data-k="id">${inc.id}</dd>
      <dt>Tenant</dt><dd>${inc.tenant}</dd>
      <dt>First</dt><dd><${Time} t=${inc.first} /></dd>
      <dt>Last</dt><dd><${Time} t=${inc.last} /></dd>
      <dt>Alerts</dt><dd data-k="alerts">${num((inc.alerts || []).length)}</dd>
      <dt>Compromised</dt><dd data-k="compromised">${num(stats.compromised)}</dd>
    </dl>
    ${inc.patient_zero ? html`<p class="pz-line"><strong>Patient zero:</strong> <span data-k="patient-zero">${inc.patient_zero.entity}</span> at <${Time} t=${inc.patient_zero.time} /> — ${inc.patient_zero.alert}${inc.patient_zero.origin ? html` <span class="muted">(${inc.patient_zero.origin})</span>` : null}</p>` : null}
    ${(inc.severity_reasons || []).length ? html`<p class="muted small">Severity: ${inc.severity_reasons.join('; ')}</p>` : null}
    <section aria-labelledby="h-stages"><h2 id="h-stages">ATT&CK stages, in the order seen</h2>
      <ol class="stages" data-k="stages">${(inc.stages || []).map((s) => html`<li><strong>${s.stage}</strong><span><${Time} t=${s.first} short /></span><span class="muted">${num(s.alerts)} alerts</span></li>`)}</ol>
    </section>
    <section aria-labelledby="h-graph"><h2 id="h-graph">Entities</h2><${Graph} inc=${inc} /></section>
    <section aria-labelledby="h-exp"><h2 id="h-exp">Exposure</h2><${Exposure} id=${inc.id} tenant=${inc.tenant} scoped=${!!inc.scoped_at} /></section>
    <section aria-labelledby="h-tl"><h2 id="h-tl">Timeline</h2><${Timeline} inc=${inc} /></section>
    <section aria-labelledby="h-rep"><h2 id="h-rep">Report</h2>
      <p><a href=${`/api/v1/incidents/${encodeURIComponent(inc.id)}/report?format=html`} target="_blank" rel="noopener">Open the incident report</a> (the scope, the clocks, the evidence; for the authorities and the trust's management).</p>
    </section>`}<//>`;
}
