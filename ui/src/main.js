// vakt's web UI: the CERT's and the trusts' screen. Hash routes, one
// module per screen; everything through /api/v1 with the user's session.
import { render } from 'preact';
import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { api, post } from './api.js';
import { setUtc, utc, zone } from './fmt.js';
import { me, toast, useSignal } from './state.js';
import { Failed } from './ui.js';
import { Overview } from './screens/overview.js';
import { Incident } from './screens/incident.js';
import { Alerts } from './screens/alerts.js';
import { Cases, CaseView } from './screens/cases.js';
import { Hunt } from './screens/hunt.js';
import { Intel } from './screens/intel.js';
import { Rules } from './screens/rules.js';
import { Admin } from './screens/admin.js';
import { Privacy } from './screens/privacy.js';
import './style.css';

const READ = ['cert-analyst', 'trust-analyst', 'privacy-officer'];
const NAV = [
  ['overview', 'Overview', (r) => r !== 'partner'],
  ['alerts', 'Alerts', (r) => r === 'cert-analyst' || r === 'trust-analyst'],
  ['cases', 'Cases', (r) => READ.includes(r)],
  ['hunt', 'Hunt', (r) => READ.includes(r)],
  ['intel', 'Intel', (r) => READ.includes(r) || r === 'admin'],
  ['rules', 'Rules', (r) => r !== 'partner'],
  ['privacy', 'Privacy', (r) => r === 'privacy-officer'],
  ['admin', 'Users & tokens', (r) => r === 'admin'],
];

function parseHash() {
  const h = decodeURIComponent(location.hash.replace(/^#\/?/, ''));
  const [path, query = ''] = h.split('?');
  return { parts: path.split('/').filter(Boolean), query: new URLSearchParams(query) };
}

function useRoute() {
  const [r, set] = useState(parseHash);
  useEffect(() => {
    const f = () => set(parseHash());
    window.addEventListener('hashchange', f);
    return () => window.removeEventListener('hashchange', f);
  }, []);
  return r;
}

function SignIn() {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const go = async (e) => {
    e.preventDefault();
    setBusy(true);
    setErr(null);
    try {
      await post('/auth/login', { user, password });
      const m = await api('/auth/session');
      me.value = m.signed_in ? m : null;
    } catch (x) {
      setErr(x);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="signin" id="main">
    <h1><span class="logo" aria-hidden="true">◉</span> vakt</h1>
    <p class="muted">The health CERT's watch: sign in with your vakt account.</p>
    <form onSubmit=${go} class="form">
      <div class="field"><label for="user">User name</label>
        <input id="user" autocomplete="username" value=${user} onInput=${(e) => setUser(e.currentTarget.value)} required /></div>
      <div class="field"><label for="password">Password</label>
        <input id="password" type="password" autocomplete="current-password" value=${password} onInput=${(e) => setPassword(e.currentTarget.value)} required /></div>
      ${err ? html`<${Failed} error=${err.status === 401 ? { message: 'Wrong user name or password' } : err} />` : null}
      <div class="actions"><button class="primary" type="submit" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button></div>
    </form>
  </main>`;
}

function Toast() {
  const t = useSignal(toast);
  useEffect(() => {
    if (!t) return undefined;
    const h = setTimeout(() => { if (toast.value === t) toast.value = null; }, 5000);
    return () => clearTimeout(h);
  }, [t]);
  return html`<div class="toast-area" role="status" aria-live="polite">${t ? html`<div class=${'toast ' + t.kind}>${t.text}</div>` : null}</div>`;
}

function Screen({ route, who }) {
  const [a, b] = route.parts;
  if (who.role === 'partner') {
    return html`<h1>Partner CERT</h1><p>A partner CERT reads vakt's shared indicators and sightings over TAXII 2.1 (<code>/taxii2/</code>) with its token; there are no screens for this role.</p>`;
  }
  const allowed = (key) => NAV.find((n) => n[0] === key)?.[2](who.role);
  switch (a || 'overview') {
    case 'overview': return html`<${Overview} who=${who} />`;
    case 'incidents': return html`<${Incident} id=${b} who=${who} />`;
    case 'alerts': return allowed('alerts') ? html`<${Alerts} who=${who} query=${route.query} />` : html`<${NotAllowed} />`;
    case 'cases': return b ? html`<${CaseView} id=${b} who=${who} />` : html`<${Cases} who=${who} />`;
    case 'hunt': return html`<${Hunt} who=${who} />`;
    case 'intel': return html`<${Intel} who=${who} />`;
    case 'rules': return html`<${Rules} who=${who} />`;
    case 'privacy': return allowed('privacy') ? html`<${Privacy} who=${who} />` : html`<${NotAllowed} />`;
    case 'admin': return allowed('admin') ? html`<${Admin} who=${who} />` : html`<${NotAllowed} />`;
    default: return html`<p>No such screen. <a href="#/overview">To the overview</a></p>`;
  }
}

function NotAllowed() {
  return html`<p class="error" role="alert">Your role does not have this screen.</p>`;
}

function App() {
  const who = useSignal(me);
  useSignal(utc);
  const route = useRoute();
  useEffect(() => {
    api('/auth/session').then((m) => (me.value = m.signed_in ? m : null)).catch(() => (me.value = null));
    const out = () => (me.value = null);
    window.addEventListener('vakt-signed-out', out);
    return () => window.removeEventListener('vakt-signed-out', out);
  }, []);
  useEffect(() => {
    // Focus moves to the new screen's heading (keyboard and screen readers).
    const h = document.querySelector('main h1');
    if (h) { h.setAttribute('tabindex', '-1'); h.focus({ preventScroll: true }); }
    window.scrollTo(0, 0);
  }, [location.hash]);
  if (who === undefined) return html`<p class="muted pad" role="status">Loading…</p>`;
  if (!who) return html`<${SignIn} /><${Toast} />`;
  const current = route.parts[0] || 'overview';
  const signOut = async () => {
    try { await post('/auth/logout'); } catch (_) { /* gone already */ }
    me.value = null;
  };
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById('main')?.focus(); }}>Skip to content</a>
    <header class="top">
      <a class="brand" href="#/overview"><span class="logo" aria-hidden="true">◉</span> vakt</a>
      <nav aria-label="Screens"><ul>
        ${NAV.filter((n) => n[2](who.role)).map(([k, label]) => html`<li><a href=${'#/' + k} aria-current=${current === k || (k === 'overview' && current === 'incidents') ? 'page' : undefined}>${label}</a></li>`)}
      </ul></nav>
      <div class="who">
        <label class="utc"><input type="checkbox" checked=${utc.value} onChange=${(e) => setUtc(e.currentTarget.checked)} /> UTC <span class="muted">(else ${zone})</span></label>
        <span class="user" data-role=${who.role}>${who.who} · ${who.role}${who.tenant ? ' · ' + who.tenant : ''}</span>
        <button class="small" onClick=${signOut}>Sign out</button>
      </div>
    </header>
    <main id="main" tabindex="-1"><${Screen} route=${route} who=${who} /></main>
    <${Toast} />`;
}

render(html`<${App} />`, document.getElementById('app'));
