// Shared pieces: data loading, times, badges, a virtualised table, charts,
// a dialog, and pseudonyms (revealable by privacy officers only).
import { html } from 'htm/preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, post } from './api.js';
import { isoUtc, num, time, utc } from './fmt.js';
import { me, say, useSignal } from './state.js';

/** Loads `path` (or runs `fn`) and re-loads on `deps`: {data, error, loading, reload}. */
export function useApi(path, deps = []) {
  const [st, set] = useState({ data: undefined, error: null, loading: true });
  const seq = useRef(0);
  const load = useCallback(() => {
    if (!path) { set({ data: undefined, error: null, loading: false }); return; }
    const n = ++seq.current;
    set((s) => ({ ...s, loading: true }));
    const p = typeof path === 'function' ? path() : api(path);
    p.then((data) => n === seq.current && set({ data, error: null, loading: false }))
      .catch((error) => n === seq.current && set({ data: undefined, error, loading: false }));
  }, [typeof path === 'function' ? null : path, ...deps]);
  useEffect(load, [load]);
  return { ...st, reload: load };
}

export function Loading({ what = 'Loading' }) {
  return html`<p class="muted" role="status">${what}…</p>`;
}

export function Failed({ error }) {
  if (!error) return null;
  const text = error.status === 404 ? `Not found, or not yours to see: ${error.message}`
    : error.status === 403 ? `Not allowed: ${error.message}` : error.message;
  return html`<p class="error" role="alert">${text}</p>`;
}

/** Renders `data` when loaded, else the loading or error line. */
export function Wait({ q, children, what }) {
  if (q.error) return html`<${Failed} error=${q.error} />`;
  if (q.data === undefined) return html`<${Loading} what=${what} />`;
  return children(q.data);
}

export function Time({ t, short }) {
  useSignal(utc);
  if (!t) return html`<span class="muted">–</span>`;
  return html`<time datetime=${isoUtc(t)} title=${isoUtc(t)}>${time(t, short)}</time>`;
}

export function Sev({ s }) {
  return html`<span class=${'sev sev-' + (s || 'none')}>${s || '–'}</span>`;
}

export function Pill({ children, kind = '' }) {
  return html`<span class=${'pill ' + kind}>${children}</span>`;
}

export function Num({ n }) {
  return html`<span class="num">${num(n)}</span>`;
}

/**
 * A virtualised table: only the rows in view are in the page, so a list of
 * a hundred thousand scrolls as fast as one of ten.
 * columns: [{key, label, width, render(row)}]
 */
export function VTable({ rows, columns, rowHeight = 34, height = 480, onRow, selected, label, rowKey }) {
  const box = useRef(null);
  const [top, setTop] = useState(0);
  const onScroll = useCallback((e) => setTop(e.currentTarget.scrollTop), []);
  const first = Math.max(0, Math.floor(top / rowHeight) - 8);
  const count = Math.ceil(height / rowHeight) + 16;
  const shown = rows.slice(first, first + count);
  useEffect(() => {
    // Keep the selected row in view (keyboard navigation).
    if (selected === undefined || selected < 0 || !box.current) return;
    const el = box.current;
    const y = selected * rowHeight;
    if (y < el.scrollTop) el.scrollTop = y;
    else if (y + rowHeight > el.scrollTop + height - rowHeight) el.scrollTop = y - height + 2 * rowHeight;
  }, [selected]);
  const tpl = columns.map((c) => c.width || '1fr').join(' ');
  return html`<div class="vwrap">
    <div class="vtable" role="table" aria-label=${label} aria-rowcount=${rows.length + 1}>
      <div role="rowgroup">
        <div class="vrow vhead" role="row" ref=${(el) => el && (el.style.gridTemplateColumns = tpl)}>
          ${columns.map((c) => html`<div role="columnheader" class="vcell">${c.label || html`<span class="sr">Select</span>`}</div>`)}
        </div>
      </div>
      <div class="vbody" role="rowgroup" ref=${(el) => { box.current = el; if (el) el.style.height = Math.min(height, Math.max(rows.length, 1) * rowHeight + 2) + 'px'; }}
           onScroll=${onScroll} tabindex="0" aria-label=${label + ' (scrolls)'}>
        <div class="vspacer" role="presentation" ref=${(el) => el && (el.style.height = rows.length * rowHeight + 'px')}>
          ${shown.map((r, i) => {
            const idx = first + i;
            return html`<div role="row" aria-rowindex=${idx + 2} key=${rowKey ? rowKey(r) : idx}
                class=${'vrow' + (idx === selected ? ' selected' : '') + (onRow ? ' clickable' : '')}
                aria-selected=${selected !== undefined ? String(idx === selected) : undefined}
                ref=${(el) => { if (el) { el.style.top = idx * rowHeight + 'px'; el.style.height = rowHeight + 'px'; el.style.gridTemplateColumns = tpl; } }}
                onClick=${onRow ? () => onRow(r, idx) : undefined}>
              ${columns.map((c) => html`<div role="cell" class="vcell">${c.render ? c.render(r, idx) : r[c.key]}</div>`)}
            </div>`;
          })}
        </div>
      </div>
    </div>
    ${rows.length === 0 ? html`<p class="muted pad">Nothing to show.</p>` : null}
  </div>`;
}

/** Bars over time: buckets [{t, n}] (or stacked series). */
export function Histogram({ times, series, label, height = 140, onBar }) {
  const w = 720, h = height, padL = 44, padB = 22;
  const n = times.length;
  if (!n) return html`<p class="muted">No data.</p>`;
  const totals = times.map((_, i) => series.reduce((s, x) => s + (x.counts[i] || 0), 0));
  const max = Math.max(1, ...totals);
  const bw = (w - padL) / n;
  const ticks = [0, Math.round(max / 2), max];
  const every = Math.max(1, Math.ceil(n / 6));
  return html`
    <svg class="chart" viewBox=${`0 0 ${w} ${h}`} role="img" aria-label=${label}>
      <title>${label}</title>
      ${ticks.map((t) => {
        const y = h - padB - (t / max) * (h - padB - 8);
        return html`<g><line x1=${padL} x2=${w} y1=${y} y2=${y} class="grid" />
          <text x=${padL - 6} y=${y + 4} class="axis" text-anchor="end">${num(t)}</text></g>`;
      })}
      ${times.map((t, i) => {
        let y0 = h - padB;
        return html`<g class=${onBar ? 'clickable' : ''} onClick=${onBar ? () => onBar(i) : undefined}>
          <title>${time(t)}: ${series.map((s) => `${s.name} ${num(s.counts[i] || 0)}`).join(', ')}</title>
          ${series.map((s, k) => {
            const v = s.counts[i] || 0;
            const bh = (v / max) * (h - padB - 8);
            y0 -= bh;
            return v ? html`<rect x=${padL + i * bw + 1} y=${y0} width=${Math.max(1, bw - 2)} height=${bh} class=${'c' + (k % 12)} />` : null;
          })}
          ${i % every === 0 ? html`<text x=${padL + i * bw} y=${h - 6} class="axis">${time(t, true)}</text>` : null}
        </g>`;
      })}
    </svg>
    ${series.length > 1 ? html`<ul class="legend">${series.map((s, k) => html`<li><span class=${'swatch c' + (k % 12)}></span>${s.name} (${num(s.counts.reduce((a, b) => a + b, 0))})</li>`)}</ul>` : null}`;
}

export function Sparkline({ values, label }) {
  const w = 120, h = 24;
  const max = Math.max(1, ...values);
  const pts = values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * w},${h - (v / max) * (h - 2) - 1}`).join(' ');
  return html`<svg class="spark" viewBox=${`0 0 ${w} ${h}`} role="img" aria-label=${label}><polyline points=${pts} /></svg>`;
}

/** A modal dialog (the native <dialog>: focus kept inside, Escape closes). */
export function Dialog({ title, onClose, children }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    const first = d && d.querySelector('input, textarea, select, button');
    if (first) first.focus();
  }, []);
  return html`<dialog ref=${ref} aria-label=${title} onClose=${onClose} onCancel=${(e) => { e.preventDefault(); onClose(); }}>
    <h2>${title}</h2>${children}</dialog>`;
}

/** A small form with one submit: fields [{name, label, type, options, required, value}]. */
export function Form({ fields, submit, label = 'Save', onDone, busyLabel = 'Saving' }) {
  const initial = () => Object.fromEntries(fields.map((f) => [f.name, f.value ?? (f.type === 'checkbox' ? false : '')]));
  const [vals, setVals] = useState(initial);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState(null);
  const go = async (e) => {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    try {
      const r = await submit(vals);
      setVals(initial());
      onDone && onDone(r);
    } catch (x) {
      setErr(x);
    } finally {
      setBusy(false);
    }
  };
  return html`<form class="form" onSubmit=${go}>
    ${fields.map((f) => {
      const id = 'f-' + f.name;
      const set = (v) => setVals((s) => ({ ...s, [f.name]: v }));
      let input;
      if (f.type === 'select') input = html`<select id=${id} value=${vals[f.name]} onChange=${(e) => set(e.currentTarget.value)} required=${f.required}>
          ${f.options.map((o) => html`<option value=${Array.isArray(o) ? o[0] : o}>${Array.isArray(o) ? o[1] : o}</option>`)}</select>`;
      else if (f.type === 'textarea') input = html`<textarea id=${id} rows=${f.rows || 4} value=${vals[f.name]} onInput=${(e) => set(e.currentTarget.value)} required=${f.required} spellcheck=${f.code ? 'false' : undefined} class=${f.code ? 'code' : ''}></textarea>`;
      else if (f.type === 'checkbox') input = html`<input id=${id} type="checkbox" checked=${vals[f.name]} onChange=${(e) => set(e.currentTarget.checked)} />`;
      else input = html`<input id=${id} type=${f.type || 'text'} value=${vals[f.name]} onInput=${(e) => set(e.currentTarget.value)} required=${f.required} placeholder=${f.placeholder || ''} autocomplete=${f.autocomplete || 'off'} />`;
      return html`<div class=${'field' + (f.type === 'checkbox' ? ' check' : '')}><label for=${id}>${f.label}</label>${input}${f.help ? html`<small class="muted">${f.help}</small>` : null}</div>`;
    })}
    ${err ? html`<${Failed} error=${err} />` : null}
    <div class="actions"><button type="submit" class="primary" disabled=${busy}>${busy ? busyLabel + '…' : label}</button></div>
  </form>`;
}

/** A patient pseudonym; privacy officers (only) get a reveal button. */
export function Pseudonym({ p, tenant }) {
  const who = useSignal(me);
  const [open, setOpen] = useState(false);
  const [shown, setShown] = useState(null);
  if (!p) return html`<span class="muted">–</span>`;
  const can = who && who.role === 'privacy-officer';
  return html`<span class="pseudo"><code>${p}</code>
    ${shown ? html` → <strong class="revealed">${shown}</strong>` : null}
    ${can && !shown ? html` <button class="small" onClick=${() => setOpen(true)} aria-label=${'Reveal ' + p}>Reveal</button>` : null}
    ${open ? html`<${Dialog} title=${'Reveal ' + p} onClose=${() => setOpen(false)}>
      <p>The identity number behind this pseudonym is shown once, and your reason is kept in the audit trail.</p>
      <${Form} label="Reveal" busyLabel="Revealing"
        fields=${[{ name: 'reason', label: 'Reason (what it is for, which case)', type: 'textarea', required: true, rows: 2 },
          { name: 'tenant', label: 'Tenant of the pseudonym', value: tenant || '' }]}
        submit=${(v) => post(`/patients/${encodeURIComponent(p)}/reveal`, { reason: v.reason, tenant: v.tenant || undefined })}
        onDone=${(r) => { setShown(r.identity_number || r.record_id || 'no identifier on record'); setOpen(false); say('Revealed, and recorded in the audit trail'); }} />
    <//>` : null}
  </span>`;
}

export function Json({ v }) {
  const text = useMemo(() => JSON.stringify(v, null, 2), [v]);
  return html`<pre class="json" tabindex="0">${text}</pre>`;
}

/** Copies keyboard shortcuts' help. */
export function Keys({ keys }) {
  return html`<dl class="keys">${keys.map(([k, what]) => html`<div><dt><kbd>${k}</kbd></dt><dd>${what}</dd></div>`)}</dl>`;
}
