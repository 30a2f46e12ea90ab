// The privacy officer's views: reveal a pseudonym with a reason, "who read
// this patient's record" and "what did this employee read" — from the
// stored EHR audit events.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api, qs } from '../api.js';
import { num } from '../fmt.js';
import { Failed, Loading, Pseudonym, Time, VTable } from '../ui.js';

async function ehrEvents(filter, tenant) {
  let out = [];
  let cursor;
  do {
    const p = await api('/events' + qs({ source: 'fhir:*', filter, tenant, limit: 1000, cursor }));
    out = out.concat(p.items);
    cursor = p.next;
  } while (cursor && out.length < 20000);
  return out;
}

const c = (e, k) => (e.common || {})[k] ?? (e.fields || {})[k];

function Report({ title, field, placeholder, cols }) {
  const [v, setV] = useState('');
  const [tenant, setTenant] = useState('');
  const [rows, setRows] = useState(null);
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const run = async (e) => {
    e.preventDefault();
    setBusy(true); setErr(null); setRows(null);
    try { setRows(await ehrEvents(`${field}=${v.trim()}`, tenant || undefined)); } catch (x) { setErr(x); }
    setBusy(false);
  };
  const id = field.replace(/\W/g, '');
  return html`<section aria-labelledby=${'h-' + id}><h2 id=${'h-' + id}>${title}</h2>
    <form class="form row" onSubmit=${run}>
      <div class="field"><label for=${'i-' + id}>${placeholder}</label><input id=${'i-' + id} value=${v} onInput=${(e) => setV(e.currentTarget.value)} required /></div>
      <div class="field"><label for=${'t-' + id}>Tenant</label><input id=${'t-' + id} value=${tenant} onInput=${(e) => setTenant(e.currentTarget.value)} placeholder="all" /></div>
      <div class="actions"><button class="primary" type="submit" disabled=${busy}>Report</button></div>
    </form>
    ${busy ? html`<${Loading} what="Reading the EHR audit events" />` : null}
    ${err ? html`<${Failed} error=${err} />` : null}
    ${rows ? html`<p>${num(rows.length)} accesses${rows.length ? `, ${num(new Set(rows.map((r) => c(r, cols.count))).size)} distinct` : ''}.</p>
      <${VTable} label=${title} rows=${rows} height=${380} rowKey=${(r) => r.id}
        columns=${[{ label: 'When', width: '13em', render: (r) => html`<${Time} t=${r.time} />` }, { label: 'Tenant', width: '6em', render: (r) => r.tenant },
          ...cols.show.map(([k, l]) => ({ label: l, width: '2fr', render: (r) => k === 'patient.uid' ? html`<${Pseudonym} p=${c(r, k)} tenant=${r.tenant} />` : String(c(r, k) ?? '–') }))]} />` : null}
  </section>`;
}

export function Privacy() {
  const [p, setP] = useState('');
  const [tenant, setTenant] = useState('');
  return html`<h1>Privacy</h1>
    <p class="muted">Patients appear as pseudonyms everywhere; only a privacy officer may reveal one, stating why — each reveal, granted or refused, is in the audit trail.</p>
    <section aria-labelledby="h-rev"><h2 id="h-rev">Reveal a pseudonym</h2>
      <div class="row"><div class="field"><label for="rv-p">Pseudonym</label><input id="rv-p" value=${p} onInput=${(e) => setP(e.currentTarget.value.trim())} placeholder="pt-…" /></div>
      <div class="field"><label for="rv-t">Tenant</label><input id="rv-t" value=${tenant} onInput=${(e) => setTenant(e.currentTarget.value.trim())} /></div></div>
      ${p ? html`<${Pseudonym} p=${p} tenant=${tenant} />` : null}
    </section>
    <${Report} title="Who read this patient's record" field="patient.uid" placeholder="The patient's pseudonym"
      cols=${{ count: 'actor.user.uid', show: [['actor.user.uid', 'Employee'], ['activity_name', 'Action'], ['device.hostname', 'System'], ['purpose_of_use', 'Purpose']] }} />
    <${Report} title="What did this employee read" field="actor.user.uid" placeholder="The employee's account"
      cols=${{ count: 'patient.uid', show: [['patient.uid', 'Patient'], ['activity_name', 'Action'], ['device.hostname', 'System'], ['purpose_of_use', 'Purpose']] }} />`;
}
