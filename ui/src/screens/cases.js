// Cases: the list, and one case — its workflow, tasks, notes, observables,
// clocks, the notifications sent, containment (exports and requests), and
// its audit trail.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { api, patch, post, qs } from '../api.js';
import { num, until } from '../fmt.js';
import { say } from '../state.js';
import { Dialog, Failed, Form, Sev, Time, useApi, VTable, Wait } from '../ui.js';

const FLOW = ['new', 'triage', 'contained', 'eradicated', 'recovered', 'closed'];
const RESPOND = ['cert-analyst', 'trust-analyst'];
const EXPORTS = [['suricata-rules', 'Suricata rules'], ['suricata-ip', 'Suricata IP list'], ['suricata-dns', 'Suricata DNS list'], ['suricata-sha256', 'Suricata SHA-256 list'], ['zeek', 'Zeek intel'], ['edl', 'EDL (all)'], ['edl-ip', 'EDL (addresses)'], ['edl-domain', 'EDL (domains)']];

export function Cases({ who }) {
  const [status, setStatus] = useState('');
  const q = useApi('/cases' + qs({ status, limit: 1000 }), [status]);
  const [open, setOpen] = useState(false);
  return html`<h1>Cases</h1>
    <div class="toolbar">
      <label>Status <select value=${status} onChange=${(e) => setStatus(e.currentTarget.value)}><option value="">any</option>${FLOW.map((s) => html`<option>${s}</option>`)}</select></label>
      ${RESPOND.includes(who.role) ? html`<button class="primary" onClick=${() => setOpen(true)}>Open a case…</button>` : null}
    </div>
    <${Wait} q=${q} what="Loading cases">${(list) => html`
      <${VTable} label="Cases" rows=${list} height=${520} rowKey=${(c) => c.id} onRow=${(c) => (location.hash = '#/cases/' + encodeURIComponent(c.id))}
        columns=${[
          { label: 'Case', width: '10em', render: (c) => html`<a href=${'#/cases/' + encodeURIComponent(c.id)}>${c.id}</a>` },
          { label: 'Severity', width: '7em', render: (c) => html`<${Sev} s=${c.severity} />` },
          { label: 'Title', width: '3fr', render: (c) => c.title },
          { label: 'Tenant', width: '7em', render: (c) => c.tenant },
          { label: 'Status', width: '8em', render: (c) => html`<span class="pill">${c.status}</span>` },
          { label: 'Assignee', width: '8em', render: (c) => c.assignee || html`<span class="muted">–</span>` },
          { label: 'Next clock', width: '12em', render: (c) => { const k = (c.clocks || []).filter((x) => !x.met_at).sort((a, b) => (a.due < b.due ? -1 : 1))[0]; return k ? html`<span title=${k.name}>${until(k.due)}</span>` : '–'; } },
        ]} />`}<//>
    ${open ? html`<${Dialog} title="Open a case" onClose=${() => setOpen(false)}>
      <${Form} label="Open"
        fields=${[{ name: 'incident', label: 'From incident (id, optional)' }, { name: 'title', label: 'Title (optional with an incident)' },
          { name: 'tenant', label: 'Tenant', value: who.tenant || '' },
          { name: 'template', label: 'Template', type: 'select', options: [['', 'none'], ['health-data-breach', 'Health data breach']] }]}
        submit=${(v) => post('/cases', { incident: v.incident || undefined, title: v.title || undefined, tenant: v.tenant || undefined, template: v.template || undefined })}
        onDone=${(c) => { setOpen(false); location.hash = '#/cases/' + encodeURIComponent(c.id); }} /><//>` : null}`;
}

function StatusDialog({ c, onClose, onDone }) {
  const i = FLOW.indexOf(c.status);
  const next = FLOW[Math.min(FLOW.length - 1, i + 1)];
  const [to, setTo] = useState(next);
  const back = FLOW.indexOf(to) < i;
  const fields = [{ name: 'status', label: 'Status', type: 'select', options: FLOW, value: next }];
  return html`<${Dialog} title=${'Status of ' + c.id} onClose=${onClose}>
    <p>Now <strong>${c.status}</strong>. Forward freely; back only with a reason; closing needs a resolution and every task done or skipped.</p>
    <${Form} label="Change the status" busyLabel="Changing"
      fields=${[...fields.map((f) => ({ ...f, value: to })),
        { name: 'reason', label: back ? 'Reason (needed: going back)' : 'Reason', type: 'textarea', rows: 2, required: back },
        { name: 'resolution', label: 'Resolution (closing)', type: 'select', options: [['', '–'], ['true-positive', 'true positive'], ['false-positive', 'false positive'], ['benign', 'benign'], ['duplicate', 'duplicate']] }]}
      submit=${(v) => { setTo(v.status); return patch(`/cases/${encodeURIComponent(c.id)}`, { status: v.status, reason: v.reason || undefined, resolution: v.resolution || undefined }); }}
      onDone=${() => { say('Status changed'); onDone(); }} />
  <//>`;
}

function Tasks({ c, can, reload }) {
  const [dlg, setDlg] = useState(null);
  const set = async (t, status, note) => {
    try {
      await patch(`/cases/${encodeURIComponent(c.id)}/tasks/${t.id}`, { status, note: note || undefined });
      say(`Task ${status}`);
      reload();
    } catch (e) { say(e.message, 'bad'); }
  };
  return html`<table class="list" aria-label="Tasks">
      <thead><tr><th scope="col">#</th><th scope="col">Task</th><th scope="col">Owner</th><th scope="col">Due</th><th scope="col">Status</th>${can ? html`<th scope="col">Do</th>` : null}</tr></thead>
      <tbody>${c.tasks.map((t) => html`<tr class=${'task-' + t.status}>
        <td>${t.id}</td><td><strong>${t.title}</strong>${t.description ? html`<br /><span class="muted small">${t.description}</span>` : null}${t.note ? html`<br /><em class="small">${t.note}</em>` : null}</td>
        <td>${t.owner || '–'}</td><td>${t.due ? html`<${Time} t=${t.due} short />` : '–'}</td>
        <td><span class="pill">${t.status}</span>${t.done_at ? html` <${Time} t=${t.done_at} short />` : null}</td>
        ${can ? html`<td class="nowrap">${t.status === 'open' ? html`
          <button class="small" onClick=${() => setDlg({ t, status: 'done' })} aria-label=${'Done: ' + t.title}>Done</button>
          <button class="small" onClick=${() => setDlg({ t, status: 'skipped' })} aria-label=${'Skip: ' + t.title}>Skip</button>` : html`<button class="small" onClick=${() => set(t, 'open')} aria-label=${'Reopen: ' + t.title}>Reopen</button>`}</td>` : null}
      </tr>`)}</tbody></table>
    ${can ? html`<details><summary>Add a task</summary><${Form} label="Add"
      fields=${[{ name: 'title', label: 'Task', required: true }, { name: 'owner', label: 'Owner' }, { name: 'description', label: 'How', type: 'textarea', rows: 2 }]}
      submit=${(v) => post(`/cases/${encodeURIComponent(c.id)}/tasks`, { title: v.title, description: v.description, owner: v.owner || undefined })}
      onDone=${() => { say('Task added'); reload(); }} /></details>` : null}
    ${dlg ? html`<${Dialog} title=${(dlg.status === 'done' ? 'Done: ' : 'Skip: ') + dlg.t.title} onClose=${() => setDlg(null)}>
      <${Form} label=${dlg.status === 'done' ? 'Mark done' : 'Skip'}
        fields=${[{ name: 'note', label: dlg.status === 'done' ? 'Result' : 'Why it is skipped', type: 'textarea', rows: 2, required: dlg.status === 'skipped' }]}
        submit=${(v) => patch(`/cases/${encodeURIComponent(c.id)}/tasks/${dlg.t.id}`, { status: dlg.status, note: v.note || undefined })}
        onDone=${() => { setDlg(null); say(`Task ${dlg.status}`); reload(); }} /><//>` : null}`;
}

function Deliveries({ c }) {
  const q = useApi('/deliveries?limit=1000');
  return html`<${Wait} q=${q} what="Loading notifications">${(list) => {
    const keys = [c.id, ...(c.incidents || [])];
    const mine = list.filter((d) => keys.some((k) => (d.subject || '').includes(k)));
    return mine.length ? html`<table class="list" aria-label="Notifications sent">
      <thead><tr><th scope="col">When</th><th scope="col">Kind</th><th scope="col">Channel</th><th scope="col">Subject</th><th scope="col">Status</th></tr></thead>
      <tbody>${mine.map((d) => html`<tr><td><${Time} t=${d.delivered_at || d.created} short /></td><td>${d.kind}</td><td>${d.channel}</td><td>${d.subject}</td>
        <td><span class=${'pill ' + (d.status === 'delivered' ? 'good' : d.status === 'failed' ? 'bad' : 'warn')}>${d.status}</span>${d.last_error ? html` <span class="muted small">${d.last_error}</span>` : null}</td></tr>`)}</tbody></table>`
      : html`<p class="muted">No notification about this case has been queued (configure channels under <code>respond:</code>).</p>`;
  }}<//>`;
}

function Audit({ c }) {
  const q = useApi(`/cases/${encodeURIComponent(c.id)}/audit`, [c.updated]);
  return html`<${Wait} q=${q} what="Loading the audit trail">${(list) => html`<${VTable} label="Audit trail of the case" rows=${list} height=${300}
    columns=${[
      { label: 'When', width: '12em', render: (r) => html`<${Time} t=${r.at} short />` },
      { label: 'Who', width: '10em', render: (r) => (r.act || r).who },
      { label: 'Action', width: '8em', render: (r) => (r.act || r).action },
      { label: 'What', width: '3fr', render: (r) => html`<span title=${(r.act || r).object}>${(r.act || r).detail || (r.act || r).object}</span>` },
      { label: 'Outcome', width: '6em', render: (r) => (r.act || r).outcome },
    ]} />`}<//>`;
}

export function CaseView({ id, who }) {
  const [n, setN] = useState(0);
  const q = useApi(() => api('/cases/' + encodeURIComponent(id)), [id, n]);
  const reload = () => setN((x) => x + 1);
  const [dlg, setDlg] = useState(null);
  const can = RESPOND.includes(who.role);
  if (q.error) return html`<h1>Case ${id}</h1><${Failed} error=${q.error} />`;
  if (!q.data) return html`<h1>Case ${id}</h1><p class="muted">Loading…</p>`;
  const c = q.data;
  const base = `/cases/${encodeURIComponent(c.id)}`;
  return html`
    <nav class="crumbs" aria-label="Breadcrumb"><a href="#/cases">Cases</a> › ${c.id}</nav>
    <h1><${Sev} s=${c.severity} /> ${c.title}</h1>
    <ol class="flow" aria-label="Workflow">${FLOW.map((s) => html`<li class=${s === c.status ? 'now' : FLOW.indexOf(s) < FLOW.indexOf(c.status) ? 'past' : ''} aria-current=${s === c.status ? 'step' : undefined}>${s}</li>`)}</ol>
    <dl class="facts inline">
      <dt>Case</dt><dd>${c.id}</dd><dt>Tenant</dt><dd>${c.tenant}</dd><dt>Status</dt><dd data-k="case-status">${c.status}</dd>
      <dt>TLP</dt><dd>${c.tlp}</dd><dt>PAP</dt><dd>${c.pap}</dd><dt>Assignee</dt><dd>${c.assignee || '–'}</dd>
      <dt>Aware since</dt><dd><${Time} t=${c.awareness} /></dd>
      ${c.contained_at ? html`<dt>Contained</dt><dd><${Time} t=${c.contained_at} /></dd>` : null}
      ${c.resolution ? html`<dt>Resolution</dt><dd>${c.resolution}</dd>` : null}
      <dt>Incidents</dt><dd>${(c.incidents || []).map((i) => html`<a href=${'#/incidents/' + encodeURIComponent(i)}>${i}</a> `)}</dd>
    </dl>
    ${can ? html`<div class="actions">
      <button class="primary" onClick=${() => setDlg('status')} disabled=${c.status === 'closed' && false}>Change status…</button>
      <button onClick=${() => setDlg('assign')}>Assign…</button></div>` : null}
    <div class="cols">
      <section aria-labelledby="h-tasks"><h2 id="h-tasks">Tasks</h2><${Tasks} c=${c} can=${can} reload=${reload} /></section>
      <section aria-labelledby="h-clocks"><h2 id="h-clocks">Clocks</h2>
        <table class="list" aria-label="Clocks of the case"><thead><tr><th scope="col">Clock</th><th scope="col">Due</th><th scope="col">State</th>${can ? html`<th scope="col"></th>` : null}</tr></thead>
          <tbody>${c.clocks.map((k) => html`<tr class=${'clock ' + k.state}><td>${k.name}</td><td><${Time} t=${k.due} short /> <span class="muted small">${until(k.due)}</span></td>
            <td><span class=${'pill ' + (k.state.startsWith('met') ? 'good' : k.state === 'missed' ? 'bad' : k.state === 'due-soon' ? 'warn' : '')}>${k.state}</span>${k.met_at ? html` <${Time} t=${k.met_at} short />` : null}</td>
            ${can ? html`<td>${k.met_at ? null : html`<button class="small" aria-label=${'Met: ' + k.name} onClick=${async () => { try { await post(`${base}/clocks/${encodeURIComponent(k.id)}/met`, {}); say('Clock met'); reload(); } catch (e) { say(e.message, 'bad'); } }}>Met</button>`}</td>` : null}</tr>`)}</tbody></table>
      </section>
    </div>
    <section aria-labelledby="h-notes"><h2 id="h-notes">Notes</h2>
      <ol class="notes">${c.notes.map((x) => html`<li><p>${x.text}</p><span class="muted small">${x.by}, <${Time} t=${x.at} short /></span></li>`)}</ol>
      ${can ? html`<${Form} label="Add the note" fields=${[{ name: 'text', label: 'Note', type: 'textarea', rows: 2, required: true }]}
        submit=${(v) => post(`${base}/notes`, { text: v.text })} onDone=${() => { say('Note added'); reload(); }} />` : null}
    </section>
    <section aria-labelledby="h-obs"><h2 id="h-obs">Observables (${num(c.observables.length)})</h2>
      <table class="list" aria-label="Observables"><thead><tr><th scope="col">Kind</th><th scope="col">Value</th><th scope="col">TLP</th><th scope="col">IOC</th><th scope="col">Note</th></tr></thead>
        <tbody>${c.observables.map((o) => html`<tr><td>${o.kind}</td><td><code>${o.value}</code></td><td>${o.tlp}</td><td>${o.ioc ? 'yes' : ''}</td><td class="small">${o.note}</td></tr>`)}</tbody></table>
      ${can ? html`<details><summary>Add an observable</summary><${Form} label="Add"
        fields=${[{ name: 'kind', label: 'Kind', type: 'select', options: ['host', 'account', 'ip', 'domain', 'url', 'md5', 'sha1', 'sha256', 'email'] }, { name: 'value', label: 'Value', required: true },
          { name: 'ioc', label: 'Indicator of compromise', type: 'checkbox' }, { name: 'note', label: 'Why' }]}
        submit=${(v) => post(`${base}/observables`, { kind: v.kind || 'host', value: v.value, ioc: !!v.ioc, note: v.note })} onDone=${() => { say('Observable added'); reload(); }} /></details>` : null}
    </section>
    <section aria-labelledby="h-cont"><h2 id="h-cont">Containment</h2>
      <p>Exports of the case's indicators (never TLP:RED) for the trust's defences:
        ${EXPORTS.map(([f, l]) => html`<a class="button small" href=${`/api/v1${base}/containment?format=${f}`} download>${l}</a> `)}</p>
      ${(c.containment || []).length ? html`<table class="list" aria-label="Containment requests"><thead><tr><th scope="col">When</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">By</th><th scope="col">Note</th></tr></thead>
        <tbody>${c.containment.map((x) => html`<tr><td><${Time} t=${x.at} short /></td><td>${x.action}</td><td><code>${x.target}</code></td><td>${x.by}</td><td>${x.note}</td></tr>`)}</tbody></table>` : null}
      ${can ? html`<details><summary>Ask the IT provider to contain</summary><${Form} label="Send the request"
        fields=${[{ name: 'action', label: 'Action', type: 'select', options: ['disable-account', 'isolate-host', 'block'] },
          { name: 'target', label: 'Target (one of the observables)', type: 'select', options: c.observables.map((o) => o.value) }, { name: 'note', label: 'Why', required: true }]}
        submit=${(v) => post(`${base}/containment`, { action: v.action || 'disable-account', target: v.target || (c.observables[0] || {}).value, note: v.note })}
        onDone=${() => { say('Containment requested'); reload(); }} /></details>` : null}
    </section>
    <section aria-labelledby="h-sent"><h2 id="h-sent">Notifications sent</h2><${Deliveries} c=${c} /></section>
    <section aria-labelledby="h-audit"><h2 id="h-audit">Audit trail</h2><${Audit} c=${c} /></section>
    ${dlg === 'status' ? html`<${StatusDialog} c=${c} onClose=${() => setDlg(null)} onDone=${() => { setDlg(null); reload(); }} />` : null}
    ${dlg === 'assign' ? html`<${Dialog} title="Assign" onClose=${() => setDlg(null)}><${Form} label="Assign" fields=${[{ name: 'assignee', label: 'Assignee', value: c.assignee || who.who }]}
      submit=${(v) => patch(base, { assignee: v.assignee })} onDone=${() => { setDlg(null); say('Assigned'); reload(); }} /><//>` : null}`;
}
