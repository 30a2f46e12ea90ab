// The privacy officer's views: reveal a pseudonym with a reason, "who read
// this patient's record" and "what did this employee read" — from the
// stored EHR audit events (GET /api/v1/ehr/accesses).
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api, qs } from '../api.js';
import { num } from '../fmt.js';
import { Failed, Loading, Pseudonym, Time, VTable } from '../ui.js';

const c = (e, k) => (e.common || {})[k];
const plural = (n, one, many = one + 's') => `${num(n)} ${n === 1 ? one : many}`;
const text = (v) => (v === undefined || v === null ? '–' : Array.isArray(v) ? v.join(', ') : String(v));

function Report({ id, title, param, placeholder, columns }) {
  const [v, setV] = useState('');
  const [tenant, setTenant] = useState('');
  const [res, setRes] = useState(null);
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const run = async (e) => {
    e.preventDefault();
    setBusy(true); setErr(null); setRes(null);
    try { setRes(await api('/ehr/accesses' + qs({ [param]: v.trim(), tenant, limit: 5000 }))); } catch (x) { setErr(x); }
    setBusy(false);
  };
  return html`<section aria-labelledby=${'h-' + id}><h2 id=${'h-' + id}>${title}</h2>
    <form class="form row" onSubmit=${run}>
      <div class="field"><label for=${'i-' + id}>${placeholder}</label><input id=${'i-' + id} value=${v} onInput=${(e) => setV(e.currentTarget.value)} required /></div>
      <div class="field"><label for=${'t-' + id}>Tenant</label><input id=${'t-' + id} value=${tenant} onInput=${(e) => setTenant(e.currentTarget.value)} placeholder="all" /></div>
      <div class="actions"><button class="primary" type="submit" disabled=${busy}>Report</button></div>
    </form>
    ${busy ? html`<${Loading} what="Reading the EHR audit events" />` : null}
    ${err ? html`<${Failed} error=${err} />` : null}
    ${res ? html`<p class="summary">${plural(res.accesses, 'access', 'accesses')} to ${plural(res.patients, 'patient')} by ${plural(res.accounts.length, 'employee')}${res.accounts.length && res.accounts.length <= 12 ? ` (${res.accounts.join(', ')})` : ''}${res.truncated ? `; the first ${num(res.items.length)} listed` : ''}.</p>
      <${VTable} label=${title} rows=${res.items} height=${380} rowKey=${(r) => r.id}
        columns=${[{ label: 'When', width: '13em', render: (r) => html`<${Time} t=${r.time} />` }, { label: 'Tenant', width: '6em', render: (r) => r.tenant }, ...columns]} />` : null}
  </section>`;
}

const common = [
  { label: 'Action', width: '6em', render: (r) => text(c(r, 'activity_name')) },
  { label: 'System', width: '9em', render: (r) => text(c(r, 'device.hostname')) },
  { label: 'Purpose', width: '8em', render: (r) => text(c(r, 'purpose_of_use')) },
];

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
    <${Report} id="whoread" title="Who read this patient's record" param="patient" placeholder="The patient's pseudonym"
      columns=${[{ label: 'Employee', width: '2fr', render: (r) => text(r.account) }, ...common]} />
    <${Report} id="whatread" title="What did this employee read" param="account" placeholder="The employee's user name"
      columns=${[{ label: 'Patient', width: '2fr', render: (r) => html`<${Pseudonym} p=${c(r, 'patient.uid')} tenant=${r.tenant} />` }, ...common]} />`;
}
