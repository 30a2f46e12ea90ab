// Intelligence: the indicators loaded, adding one (retro-hunted over the
// stored history), the retro-hunts and the sightings.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { post } from '../api.js';
import { num } from '../fmt.js';
import { say } from '../state.js';
import { Form, Json, Time, useApi, VTable, Wait } from '../ui.js';

export function Intel({ who }) {
  const [n, setN] = useState(0);
  const list = useApi('/intel', [n]);
  const hunts = useApi(who.role === 'admin' ? null : '/intel/hunts', [n]);
  const sightings = useApi(who.role === 'admin' ? null : '/intel/sightings?limit=500', [n]);
  const can = who.role === 'cert-analyst' || who.role === 'admin';
  const rows = (d) => (Array.isArray(d) ? d : d.items || d.indicators || []);
  return html`<h1>Intel</h1>
    <section aria-labelledby="h-ind"><h2 id="h-ind">Indicators</h2>
      <${Wait} q=${list} what="Loading indicators">${(d) => html`
        <p class="muted small">${num(rows(d).length)} indicators${d.sources ? ` from ${num(d.sources.length)} sources` : ''}.</p>
        <${VTable} label="Indicators" rows=${rows(d)} height=${360}
          columns=${[
            { label: 'Kind', width: '7em', render: (r) => r.kind || r.type },
            { label: 'Value', width: '3fr', render: (r) => html`<code>${r.value || r.pattern}</code>` },
            { label: 'Source', width: '2fr', render: (r) => r.source || r.name || '' },
            { label: 'TLP', width: '6em', render: (r) => r.tlp || '' },
            { label: 'Valid from', width: '11em', render: (r) => html`<${Time} t=${r.valid_from} short />` },
          ]} />`}<//>
      ${can ? html`<details><summary>Add indicators (retro-hunted over the stored history)</summary>
        <${Form} label="Add" fields=${[{ name: 'text', label: 'One per line (address, domain, URL, hash), or a STIX 2.1 bundle or MISP event (JSON)', type: 'textarea', rows: 5, required: true, code: true },
          { name: 'name', label: 'Name of the source', value: 'ui' }]}
          submit=${(v) => { const t = v.text.trim(); let body; try { body = JSON.parse(t); } catch (_) { body = { name: v.name, indicators: t.split(/\n+/).map((s) => s.trim()).filter(Boolean) }; } return post('/intel', body); }}
          onDone=${(r) => { say(`Added; retro-hunt ${r && r.hunt ? r.hunt : ''} started`); setN((x) => x + 1); }} /></details>` : null}
    </section>
    ${hunts.data !== undefined || hunts.error ? html`<section aria-labelledby="h-hunts"><h2 id="h-hunts">Retro-hunts</h2>
      <${Wait} q=${hunts}>${(d) => html`<${VTable} label="Retro-hunts" rows=${rows(d)} height=${240}
        columns=${[{ label: 'Hunt', width: '2fr', render: (r) => r.id }, { label: 'State', width: '8em', render: (r) => r.state || r.status }, { label: 'Sightings', width: '7em', render: (r) => num(r.sightings ?? r.alerts ?? 0) }, { label: 'Detail', width: '3fr', render: (r) => html`<span class="small">${r.source || r.name || ''}</span>` }]} />`}<//></section>` : null}
    ${sightings.data !== undefined || sightings.error ? html`<section aria-labelledby="h-sight"><h2 id="h-sight">Sightings</h2>
      <${Wait} q=${sightings}>${(d) => html`<${VTable} label="Sightings" rows=${rows(d)} height=${300}
        columns=${[{ label: 'First seen', width: '11em', render: (r) => html`<${Time} t=${r.first} short />` }, { label: 'Tenant', width: '6em', render: (r) => r.tenant }, { label: 'Sighting', width: '4fr', render: (r) => r.title }, { label: 'Count', width: '6em', render: (r) => num(r.count) }]} />`}<//></section>` : null}`;
}
