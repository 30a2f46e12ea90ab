// The triage queue: fast and keyboard-driven. Filter, group, move with
// j/k, open the evidence, give a verdict with its reason, or make an
// exception with an expiry — each through the API, each audited.
import { html } from 'htm/preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, post, put, qs } from '../api.js';
import { isoUtc, num, SEVERITIES, sevRank } from '../fmt.js';
import { say } from '../state.js';
import { Dialog, Failed, Form, Keys, Loading, Sev, Time, VTable } from '../ui.js';
import { Evidence } from './evidence.js';

const STATUSES = ['new', 'acknowledged', 'in-progress', 'true-positive', 'false-positive', 'benign', 'closed', 'suppressed'];
const VERDICTS = [['true-positive', 'True positive'], ['false-positive', 'False positive'], ['benign', 'Benign (true, but allowed)'], ['closed', 'Closed']];

async function loadAll(params, max = 5000) {
  let out = [];
  let cursor;
  do {
    const page = await api('/alerts' + qs({ ...params, limit: 1000, cursor }));
    out = out.concat(page.items);
    cursor = page.next;
  } while (cursor && out.length < max);
  return out;
}

const entityOf = (a) => (a.actors && a.actors[0] ? `${a.actors[0].kind}:${a.actors[0].value}` : (a.targets && a.targets[0] ? `${a.targets[0].kind}:${a.targets[0].value}` : '–'));

function Verdict({ alerts, onClose, onDone, status }) {
  const one = alerts.length === 1;
  return html`<${Dialog} title=${one ? 'Verdict: ' + alerts[0].title : `Verdict on ${alerts.length} alerts`} onClose=${onClose}>
    <${Form} label="Record the verdict" busyLabel="Recording"
      fields=${[{ name: 'status', label: 'Verdict', type: 'select', options: VERDICTS, value: status || 'true-positive' },
        { name: 'note', label: 'Reason (kept with the verdict and in the audit trail)', type: 'textarea', rows: 3, required: true }]}
      submit=${async (v) => { for (const a of alerts) await put(`/alerts/${encodeURIComponent(a.key)}/status`, { status: v.status, note: v.note }); return v; }}
      onDone=${(v) => { say(`${alerts.length} alert${one ? '' : 's'}: ${v.status}`); onDone(v.status); }} />
  <//>`;
}

function Exception({ alert, onClose, onDone }) {
  const in30 = new Date(Date.now() + 30 * 86400000);
  const local = new Date(in30.getTime() - in30.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const ent = alert.actors && alert.actors[0] ? `${alert.actors[0].kind}:${alert.actors[0].value}` : '';
  return html`<${Dialog} title="Exception" onClose=${onClose}>
    <p class="muted">Alerts like this one stop reaching the queue until the exception expires; those already raised are set to suppressed. Leave a field empty to match any.</p>
    <${Form} label="Make the exception" busyLabel="Making"
      fields=${[
        { name: 'detector', label: 'Detector', value: alert.detector },
        { name: 'rule', label: 'Rule id', value: alert.rule_id || '' },
        { name: 'entity', label: 'Entity (kind:value)', value: ent },
        { name: 'reason', label: 'Reason', type: 'textarea', rows: 2, required: true },
        { name: 'expires', label: 'Expires (your time)', type: 'datetime-local', value: local, required: true },
      ]}
      submit=${(v) => post('/exceptions', {
        tenant: alert.tenant, detector: v.detector || undefined, rule: v.rule || undefined,
        entity: v.entity || undefined, reason: v.reason, expires: isoUtc(new Date(v.expires)),
      })}
      onDone=${(x) => { say(`Exception ${x.id}: ${num(x.applied)} alerts suppressed`); onDone(); }} />
  <//>`;
}

export function Alerts({ who, query }) {
  const [status, setStatus] = useState(query.get('status') || 'new');
  const [severity, setSeverity] = useState(query.get('severity') || '');
  const [tenant, setTenant] = useState('');
  const [detector, setDetector] = useState('');
  const [text, setText] = useState('');
  const [group, setGroup] = useState('none');
  const [rows, setRows] = useState(null);
  const [err, setErr] = useState(null);
  const [sel, setSel] = useState(0);
  const [picked, setPicked] = useState(new Set());
  const [dialog, setDialog] = useState(null);
  const [reload, setReload] = useState(0);
  const textRef = useRef(null);

  useEffect(() => {
    setRows(null);
    setErr(null);
    loadAll({ status: status === 'all' ? undefined : status, severity, tenant })
      .then((r) => { setRows(r); setSel(0); setPicked(new Set()); })
      .catch(setErr);
  }, [status, severity, tenant, reload]);

  const detectors = useMemo(() => [...new Set((rows || []).map((a) => a.detector))].sort(), [rows]);
  const shown = useMemo(() => {
    let r = rows || [];
    if (detector) r = r.filter((a) => a.detector === detector);
    if (text) {
      const t = text.toLowerCase();
      r = r.filter((a) => a.title.toLowerCase().includes(t) || entityOf(a).toLowerCase().includes(t) || (a.rule_id || '').toLowerCase().includes(t));
    }
    r = [...r].sort((a, b) => sevRank(a.severity) - sevRank(b.severity) || (a.first < b.first ? 1 : -1));
    if (group === 'none') return r;
    const key = group === 'detector' ? (a) => a.detector : group === 'rule' ? (a) => a.title : group === 'tenant' ? (a) => a.tenant : entityOf;
    const groups = new Map();
    r.forEach((a) => { const k = key(a); if (!groups.has(k)) groups.set(k, []); groups.get(k).push(a); });
    return [...groups.entries()].sort((a, b) => b[1].length - a[1].length).flatMap(([k, v]) => [{ group: k, n: v.length }, ...v]);
  }, [rows, detector, text, group]);

  const current = shown[sel] && !shown[sel].group ? shown[sel] : null;
  const targets = () => (picked.size ? shown.filter((a) => !a.group && picked.has(a.key)) : current ? [current] : []);
  const done = useCallback(() => { setDialog(null); setReload((n) => n + 1); }, []);

  const quick = async (st) => {
    const t = targets();
    if (!t.length) return;
    try {
      for (const a of t) await put(`/alerts/${encodeURIComponent(a.key)}/status`, { status: st, note: '' });
      say(`${t.length} alert${t.length > 1 ? 's' : ''}: ${st}`);
      setReload((n) => n + 1);
    } catch (e) { say(e.message, 'bad'); }
  };

  useEffect(() => {
    const onKey = (e) => {
      if (dialog || e.target.closest('input, textarea, select, dialog') || e.ctrlKey || e.metaKey || e.altKey) {
        if (e.key === 'Escape' && e.target === textRef.current) textRef.current.blur();
        return;
      }
      const move = (d) => { e.preventDefault(); setSel((s) => Math.max(0, Math.min(shown.length - 1, s + d))); };
      switch (e.key) {
        case 'j': case 'ArrowDown': move(1); break;
        case 'k': case 'ArrowUp': move(-1); break;
        case 'PageDown': move(10); break;
        case 'PageUp': move(-10); break;
        case '/': e.preventDefault(); textRef.current && textRef.current.focus(); break;
        case 'Enter': case 'o': if (current) { e.preventDefault(); setDialog({ kind: 'evidence', a: current }); } break;
        case 'x': if (current) { e.preventDefault(); setPicked((p) => { const n = new Set(p); n.has(current.key) ? n.delete(current.key) : n.add(current.key); return n; }); } break;
        case 'a': e.preventDefault(); quick('acknowledged'); break;
        case 't': e.preventDefault(); targets().length && setDialog({ kind: 'verdict', status: 'true-positive' }); break;
        case 'f': e.preventDefault(); targets().length && setDialog({ kind: 'verdict', status: 'false-positive' }); break;
        case 'b': e.preventDefault(); targets().length && setDialog({ kind: 'verdict', status: 'benign' }); break;
        case 'e': if (current) { e.preventDefault(); setDialog({ kind: 'exception', a: current }); } break;
        case '?': e.preventDefault(); setDialog({ kind: 'help' }); break;
        default:
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [shown, sel, dialog, current, picked]);

  return html`<h1>Alerts</h1>
    <div class="toolbar" role="search" aria-label="Filter alerts">
      <label>Status <select value=${status} onChange=${(e) => setStatus(e.currentTarget.value)}>
        <option value="all">all</option>${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}</select></label>
      <label>At least <select value=${severity} onChange=${(e) => setSeverity(e.currentTarget.value)}>
        <option value="">any severity</option>${SEVERITIES.map((s) => html`<option value=${s}>${s}</option>`)}</select></label>
      ${who.role === 'cert-analyst' ? html`<label>Tenant <input value=${tenant} size="8" onChange=${(e) => setTenant(e.currentTarget.value.trim())} placeholder="all" /></label>` : null}
      <label>Detector <select value=${detector} onChange=${(e) => setDetector(e.currentTarget.value)}>
        <option value="">all</option>${detectors.map((d) => html`<option value=${d}>${d}</option>`)}</select></label>
      <label>Find <input ref=${textRef} type="search" value=${text} onInput=${(e) => setText(e.currentTarget.value)} placeholder="title, entity, rule  ( / )" /></label>
      <label>Group by <select value=${group} onChange=${(e) => setGroup(e.currentTarget.value)}>
        ${[['none', 'nothing'], ['detector', 'detector'], ['rule', 'rule'], ['entity', 'entity'], ['tenant', 'tenant']].map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select></label>
      <button class="small" onClick=${() => setDialog({ kind: 'help' })}>Keyboard shortcuts (?)</button>
    </div>
    ${err ? html`<${Failed} error=${err} />` : rows === null ? html`<${Loading} what="Loading alerts" />` : html`
      <p class="muted small" aria-live="polite">${num(shown.filter((a) => !a.group).length)} alerts${picked.size ? `, ${picked.size} selected` : ''}. <kbd>j</kbd>/<kbd>k</kbd> move · <kbd>Enter</kbd> evidence · <kbd>t</kbd>/<kbd>f</kbd>/<kbd>b</kbd> verdict · <kbd>e</kbd> exception · <kbd>a</kbd> acknowledge · <kbd>x</kbd> select</p>
      <${VTable} label="Alert queue" rows=${shown} selected=${sel} height=${560} rowKey=${(r) => r.group ? 'g:' + r.group : r.key}
        onRow=${(r, i) => { setSel(i); if (!r.group) setDialog({ kind: 'evidence', a: r }); }}
        columns=${[
          { label: '', width: '2.2em', render: (r) => r.group ? '' : html`<input type="checkbox" aria-label=${'Select ' + r.title} checked=${picked.has(r.key)} onClick=${(e) => e.stopPropagation()} onChange=${() => setPicked((p) => { const n = new Set(p); n.has(r.key) ? n.delete(r.key) : n.add(r.key); return n; })} />` },
          { label: 'Severity', width: '7em', render: (r) => r.group ? html`<strong class="grouphead">${r.group}</strong>` : html`<${Sev} s=${r.severity} />` },
          { label: 'Alert', width: '3fr', render: (r) => r.group ? html`<span class="muted">${num(r.n)} alerts</span>` : html`<span class="title">${r.title}</span>` },
          { label: 'Entity', width: '1.3fr', render: (r) => r.group ? '' : entityOf(r) },
          { label: 'Detector', width: '9em', render: (r) => r.group ? '' : r.detector },
          { label: 'Tenant', width: '6em', render: (r) => r.group ? '' : r.tenant },
          { label: 'First seen', width: '11em', render: (r) => r.group ? '' : html`<${Time} t=${r.first} short />` },
          { label: 'Status', width: '8em', render: (r) => r.group ? '' : html`<span class="pill">${r.status}</span>` },
        ]} />
      <div class="actions">
        <button onClick=${() => quick('acknowledged')} disabled=${!targets().length}>Acknowledge</button>
        <button onClick=${() => setDialog({ kind: 'verdict', status: 'true-positive' })} disabled=${!targets().length}>Verdict…</button>
        <button onClick=${() => current && setDialog({ kind: 'exception', a: current })} disabled=${!current}>Exception…</button>
      </div>`}
    ${dialog && dialog.kind === 'verdict' ? html`<${Verdict} alerts=${targets()} status=${dialog.status} onClose=${() => setDialog(null)} onDone=${done} />` : null}
    ${dialog && dialog.kind === 'exception' ? html`<${Exception} alert=${dialog.a} onClose=${() => setDialog(null)} onDone=${done} />` : null}
    ${dialog && dialog.kind === 'evidence' ? html`<${Evidence} alertKey=${dialog.a.key} onClose=${() => setDialog(null)} />` : null}
    ${dialog && dialog.kind === 'help' ? html`<${Dialog} title="Keyboard" onClose=${() => setDialog(null)}>
      <${Keys} keys=${[['j / ↓', 'next alert'], ['k / ↑', 'previous alert'], ['Enter / o', 'the evidence'], ['t', 'verdict: true positive'], ['f', 'verdict: false positive'], ['b', 'verdict: benign'], ['a', 'acknowledge'], ['e', 'exception'], ['x', 'select (verdicts apply to all selected)'], ['/', 'find'], ['?', 'this help']]} />
      <div class="actions"><button onClick=${() => setDialog(null)}>Close</button></div><//>` : null}`;
}
