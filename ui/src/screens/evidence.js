// The evidence behind an alert, down to the stored events.
import { html } from 'htm/preact';
import { num } from '../fmt.js';
import { Dialog, Json, Pseudonym, Sev, Time, useApi, Wait } from '../ui.js';

export function Evidence({ alertKey, onClose }) {
  const q = useApi('/alerts/' + encodeURIComponent(alertKey));
  return html`<${Dialog} title="Evidence" onClose=${onClose}>
    <${Wait} q=${q} what="Loading the alert">${(a) => html`
      <p><${Sev} s=${a.severity} /> <strong>${a.title}</strong></p>
      <dl class="facts">
        <dt>Detector</dt><dd>${a.detector}${a.rule_id ? ' · ' + a.rule_id : ''}</dd>
        <dt>Seen</dt><dd><${Time} t=${a.first} /> – <${Time} t=${a.last} /> (${num(a.count)}×)</dd>
        <dt>Status</dt><dd>${a.status}</dd>
        ${a.techniques && a.techniques.length ? html`<dt>ATT&CK</dt><dd>${a.techniques.join(', ')}</dd>` : null}
        <dt>Actors</dt><dd>${(a.actors || []).map((x) => `${x.kind}:${x.value}`).join(', ') || '–'}</dd>
        <dt>Targets</dt><dd>${(a.targets || []).map((x) => x.kind === 'patient' ? html`<${Pseudonym} p=${x.value} tenant=${a.tenant} /> ` : `${x.kind}:${x.value} `)}</dd>
        ${(a.evidence || []).length ? html`<dt>Evidence</dt><dd>${a.evidence.map(([k, v]) => html`<span class="pill">${k}: ${v}</span> `)}</dd>` : null}
      </dl>
      <h3>Events (${num((a.evidence_events || []).length)})</h3>
      ${(a.evidence_events || []).length === 0 ? html`<p class="muted">The events are not in the store (older than its retention, or from outside it).</p>` : null}
      ${(a.evidence_events || []).slice(0, 20).map((e) => html`<details class="event"><summary><${Time} t=${e.time} /> · ${e.source} · ${e.origin ? (e.origin.path || '') + (e.origin.line ? ':' + e.origin.line : e.origin.record ? ' #' + e.origin.record : '') : ''}</summary><${Json} v=${e} /></details>`)}
    `}<//>
    <div class="actions"><button onClick=${onClose}>Close</button></div>
  <//>`;
}

