// Hunt: search the stored events, or run a Sigma rule or an indicator over
// the whole stored history; the results as a table and a histogram.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { isoUtc, num, seconds } from '../fmt.js';
import { Dialog, Failed, Histogram, Json, Loading, Time, VTable } from '../ui.js';

const SAMPLE = `title: PowerShell with an encoded command
logsource:
  product: windows
  category: process_creation
detection:
  selection:
    Image|endswith: '\\\\powershell.exe'
    CommandLine|contains: ' -enc'
  condition: selection
level: high`;

function summary(e) {
  const parts = Object.entries(e.common || {}).filter(([k]) => !k.startsWith('metadata.')).slice(0, 8).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`);
  if (parts.length) return parts.join('  ');
  return Object.entries(e.fields || {}).slice(0, 6).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`).join('  ');
}

export function Hunt({ who }) {
  const [mode, setMode] = useState('search');
  const [filter, setFilter] = useState('');
  const [sigma, setSigma] = useState(SAMPLE);
  const [indicator, setIndicator] = useState('');
  const [source, setSource] = useState('');
  const [tenant, setTenant] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [res, setRes] = useState(null);
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState(null);
  const run = async (e) => {
    e.preventDefault();
    setBusy(true); setErr(null); setRes(null);
    const body = { source: source || undefined, tenant: tenant || undefined, limit: 1000,
      from: from ? isoUtc(new Date(from)) : undefined, to: to ? isoUtc(new Date(to)) : undefined };
    if (mode === 'search') body.filter = filter.split(/\n|\s+(?=[\w.]+=)/).map((s) => s.trim()).filter(Boolean);
    if (mode === 'sigma') body.sigma = sigma;
    if (mode === 'indicator') body.indicator = indicator.trim();
    try { setRes(await post('/hunt', body)); } catch (x) { setErr(x); }
    setBusy(false);
  };
  const tab = (m, label) => html`<button role="tab" aria-selected=${mode === m} class=${mode === m ? 'tab on' : 'tab'} onClick=${() => setMode(m)}>${label}</button>`;
  return html`<h1>Hunt</h1>
    <div role="tablist" aria-label="What to hunt with">${tab('search', 'Search events')}${tab('sigma', 'Sigma rule')}${tab('indicator', 'Indicator')}</div>
    <form class="form hunt" onSubmit=${run}>
      ${mode === 'search' ? html`<div class="field"><label for="h-filter">Fields (<code>field=value</code>, all must hold; e.g. <code>EventID=4624 host=ahus-dc01</code>)</label>
        <input id="h-filter" value=${filter} onInput=${(e) => setFilter(e.currentTarget.value)} required /></div>` : null}
      ${mode === 'sigma' ? html`<div class="field"><label for="h-sigma">Sigma rule (YAML)</label>
        <textarea id="h-sigma" class="code" rows="12" spellcheck="false" value=${sigma} onInput=${(e) => setSigma(e.currentTarget.value)} required></textarea></div>` : null}
      ${mode === 'indicator' ? html`<div class="field"><label for="h-ind">Indicator (address, domain — subdomains too —, URL, hash, account)</label>
        <input id="h-ind" value=${indicator} onInput=${(e) => setIndicator(e.currentTarget.value)} required /></div>` : null}
      <div class="row">
        <div class="field"><label for="h-src">Source (<code>zeek:conn</code>, <code>evtx:*</code>)</label><input id="h-src" value=${source} onInput=${(e) => setSource(e.currentTarget.value)} /></div>
        ${who.tenant ? null : html`<div class="field"><label for="h-ten">Tenant</label><input id="h-ten" value=${tenant} onInput=${(e) => setTenant(e.currentTarget.value)} placeholder="all" /></div>`}
        <div class="field"><label for="h-from">From</label><input id="h-from" type="datetime-local" step="1" value=${from} onInput=${(e) => setFrom(e.currentTarget.value)} /></div>
        <div class="field"><label for="h-to">To</label><input id="h-to" type="datetime-local" step="1" value=${to} onInput=${(e) => setTo(e.currentTarget.value)} /></div>
      </div>
      <div class="actions"><button class="primary" type="submit" disabled=${busy}>${busy ? 'Hunting…' : 'Hunt the stored history'}</button></div>
    </form>
    ${busy ? html`<${Loading} what="Reading the store" />` : null}
    ${err ? html`<${Failed} error=${err} />` : null}
    ${res ? html`<section aria-labelledby="h-res">
      <h2 id="h-res">${num(res.matched)} events matched</h2>
      <p class="muted small" data-k="hunt-stats">${num(res.scanned)} events read in ${res.seconds.toFixed(2)} s${res.truncated ? `; the first ${num(res.items.length)} shown` : ''}.</p>
      ${res.rules && res.rules.length ? html`<ul>${res.rules.map((r) => html`<li>${r.title}: ${num(r.events)}</li>`)}</ul>` : null}
      <${Histogram} times=${res.histogram.buckets.map((b) => b.t)} series=${[{ name: 'matches', counts: res.histogram.buckets.map((b) => b.n) }]}
        label=${`Matches over time, in buckets of ${seconds(res.histogram.bucket_seconds)}`} />
      <${VTable} label="Matching events" rows=${res.items} height=${480} onRow=${(r) => setOpen(r)} rowKey=${(r) => r.id}
        columns=${[
          { label: 'Time', width: '13em', render: (r) => html`<${Time} t=${r.time} />` },
          { label: 'Tenant', width: '6em', render: (r) => r.tenant },
          { label: 'Source', width: '11em', render: (r) => r.source },
          { label: 'Event', width: '4fr', render: (r) => html`<span class="mono small">${summary(r)}</span>` },
        ]} />
    </section>` : null}
    ${open ? html`<${Dialog} title="Event" onClose=${() => setOpen(null)}><${Json} v=${open} /><div class="actions"><button onClick=${() => setOpen(null)}>Close</button></div><//>` : null}`;
}
