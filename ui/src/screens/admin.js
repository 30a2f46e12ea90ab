// Users and tokens (admin), and the audit trail.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { del, post, qs } from '../api.js';
import { say } from '../state.js';
import { Dialog, Form, Time, useApi, VTable, Wait } from '../ui.js';

const ROLES = ['cert-analyst', 'trust-analyst', 'privacy-officer', 'admin'];

export function Admin() {
  const [n, setN] = useState(0);
  const users = useApi('/users', [n]);
  const tokens = useApi('/tokens', [n]);
  const [who, setWho] = useState('');
  const audit = useApi('/audit' + qs({ limit: 1000, who }), [who]);
  const [secret, setSecret] = useState(null);
  const again = () => setN((x) => x + 1);
  return html`<h1>Users and tokens</h1>
    <section aria-labelledby="h-users"><h2 id="h-users">Users</h2>
      <${Wait} q=${users}>${(list) => html`<table class="list" aria-label="Users"><thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Tenant</th><th scope="col">Since</th><th scope="col">State</th><th scope="col"></th></tr></thead>
        <tbody>${list.map((u) => html`<tr><td>${u.name}</td><td>${u.role}</td><td>${u.tenant || '–'}</td><td><${Time} t=${u.created} short /></td><td>${u.disabled ? 'disabled' : 'active'}</td>
          <td>${u.disabled ? null : html`<button class="small" aria-label=${'Disable ' + u.name} onClick=${async () => { try { await del('/users/' + encodeURIComponent(u.name)); say(u.name + ' disabled'); again(); } catch (e) { say(e.message, 'bad'); } }}>Disable</button>`}</td></tr>`)}</tbody></table>`}<//>
      <details><summary>Add a user</summary><${Form} label="Add"
        fields=${[{ name: 'name', label: 'User name', required: true }, { name: 'password', label: 'Password (12 characters or more)', type: 'password', required: true, autocomplete: 'new-password' },
          { name: 'role', label: 'Role', type: 'select', options: ROLES }, { name: 'tenant', label: 'Tenant (trust analysts)' }]}
        submit=${(v) => post('/users', { name: v.name, password: v.password, role: v.role || 'cert-analyst', tenant: v.tenant || undefined })}
        onDone=${() => { say('User added'); again(); }} /></details>
    </section>
    <section aria-labelledby="h-tokens"><h2 id="h-tokens">API tokens</h2>
      <${Wait} q=${tokens}>${(list) => html`<table class="list" aria-label="Tokens"><thead><tr><th scope="col">Id</th><th scope="col">Role</th><th scope="col">Tenant</th><th scope="col">Holder</th><th scope="col">Expires</th><th scope="col"></th></tr></thead>
        <tbody>${list.map((t) => html`<tr><td><code>${t.id}</code></td><td>${t.role}</td><td>${t.tenant || '–'}</td><td>${t.label}</td><td>${t.expires ? html`<${Time} t=${t.expires} short />` : 'never'}</td>
          <td>${t.revoked ? 'revoked' : html`<button class="small" aria-label=${'Revoke ' + t.id} onClick=${async () => { try { await del('/tokens/' + encodeURIComponent(t.id)); say(t.id + ' revoked'); again(); } catch (e) { say(e.message, 'bad'); } }}>Revoke</button>`}</td></tr>`)}</tbody></table>`}<//>
      <details><summary>Create a token</summary><${Form} label="Create"
        fields=${[{ name: 'role', label: 'Role', type: 'select', options: ['ingest', ...ROLES, 'partner'] }, { name: 'tenant', label: 'Tenant (ingest, trust analysts)' }, { name: 'label', label: 'Who holds it', required: true }, { name: 'expires_days', label: 'Days until it stops working', type: 'number' }]}
        submit=${(v) => post('/tokens', { role: v.role || 'ingest', tenant: v.tenant || undefined, label: v.label, expires_days: v.expires_days ? Number(v.expires_days) : undefined })}
        onDone=${(t) => { setSecret(t.token || t.secret); again(); }} /></details>
      ${secret ? html`<${Dialog} title="The new token" onClose=${() => setSecret(null)}><p>Shown once: give it to its holder now.</p><pre class="json">${secret}</pre><div class="actions"><button onClick=${() => setSecret(null)}>Done</button></div><//>` : null}
    </section>
    <section aria-labelledby="h-audit"><h2 id="h-audit">Audit trail</h2>
      <label>Who <input value=${who} onChange=${(e) => setWho(e.currentTarget.value.trim())} placeholder="anyone" /></label>
      <${Wait} q=${audit}>${(list) => html`<${VTable} label="Audit trail" rows=${Array.isArray(list) ? list : list.items || []} height=${420}
        columns=${[{ label: '#', width: '5em', render: (r) => r.seq }, { label: 'When', width: '11em', render: (r) => html`<${Time} t=${r.at} short />` },
          { label: 'Who', width: '9em', render: (r) => (r.act || r).who }, { label: 'Role', width: '8em', render: (r) => (r.act || r).role },
          { label: 'Action', width: '7em', render: (r) => (r.act || r).action }, { label: 'Object', width: '3fr', render: (r) => html`<span class="small mono">${(r.act || r).object}</span>` },
          { label: 'Outcome', width: '6em', render: (r) => (r.act || r).outcome }]} />`}<//>
    </section>`;
}
