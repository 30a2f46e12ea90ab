// Rules: what runs (Sigma rules, detectors), what could not be loaded and
// why, and a reload.
import { html } from 'htm/preact';
import { useMemo, useState } from 'preact/hooks';
import { post } from '../api.js';
import { num } from '../fmt.js';
import { say } from '../state.js';
import { Json, Sev, useApi, VTable, Wait } from '../ui.js';

export function Rules({ who }) {
  const [n, setN] = useState(0);
  const rules = useApi('/rules', [n]);
  const check = useApi('/rules/check', [n]);
  const dets = useApi('/detectors');
  const [text, setText] = useState('');
  const list = useMemo(() => {
    const r = Array.isArray(rules.data) ? rules.data : (rules.data && rules.data.items) || [];
    const t = text.toLowerCase();
    return t ? r.filter((x) => JSON.stringify(x).toLowerCase().includes(t)) : r;
  }, [rules.data, text]);
  const reload = async () => {
    try { const r = await post('/rules/reload', {}); say(`Reloaded: ${num(r.rules ?? r.loaded ?? 0)} rules`); setN((x) => x + 1); } catch (e) { say(e.message, 'bad'); }
  };
  return html`<h1>Rules</h1>
    ${who.role === 'cert-analyst' || who.role === 'admin' ? html`<div class="actions"><button onClick=${reload}>Reload the rules</button></div>` : null}
    <section aria-labelledby="h-check"><h2 id="h-check">Check</h2>
      <${Wait} q=${check} what="Checking">${(c) => html`<dl class="facts inline">
        ${Object.entries(c).filter(([, v]) => typeof v !== 'object').map(([k, v]) => html`<dt>${k}</dt><dd>${typeof v === 'number' ? num(v) : String(v)}</dd>`)}</dl>
        ${c.unsupported && c.unsupported.length ? html`<details><summary>${num(c.unsupported.length)} rules not loaded, and why</summary><${Json} v=${c.unsupported.slice(0, 200)} /></details>` : null}`}<//>
    </section>
    <section aria-labelledby="h-rules"><h2 id="h-rules">Sigma rules</h2>
      <label>Find <input type="search" value=${text} onInput=${(e) => setText(e.currentTarget.value)} placeholder="title, id, tag" /></label>
      <${Wait} q=${rules} what="Loading rules">${() => html`<p class="muted small">${num(list.length)} rules.</p>
        <${VTable} label="Sigma rules" rows=${list} height=${480} rowKey=${(r) => r.id || r.title}
          columns=${[
            { label: 'Level', width: '8em', render: (r) => html`<${Sev} s=${r.level} />` },
            { label: 'Title', width: '3fr', render: (r) => r.title },
            { label: 'Status', width: '7em', render: (r) => r.status || '' },
            { label: 'Tags', width: '2fr', render: (r) => html`<span class="small">${(r.tags || []).join(' ')}</span>` },
          ]} />`}<//>
    </section>
    <section aria-labelledby="h-det"><h2 id="h-det">Detectors</h2><${Wait} q=${dets}>${(d) => html`<${Json} v=${d} />`}<//></section>`;
}
