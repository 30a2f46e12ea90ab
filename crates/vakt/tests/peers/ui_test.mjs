// The web UI in a real browser (Debian's chromium, driven by
// playwright-core), against `vakt demo --serve`: every role signs in; the
// attack incident shows its stages, graph, county map and clocks with the
// API's numbers; an alert is triaged with a verdict and an exception; a
// case is walked to closed; a trust analyst cannot open another trust's
// incident by URL; axe-core finds no serious violation on any screen; no
// console error and no request leaves the server. Screenshots of each
// screen go to $VAKT_SHOTS. Prints one JSON line of measurements at the end.
//
// env: VAKT_URL, VAKT_USERS (demo-users.txt), VAKT_SHOTS, VAKT_NODE_MODULES, VAKT_CHROMIUM
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(path.join(process.env.VAKT_NODE_MODULES, 'x.js'));
const { chromium } = require('playwright-core');
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const base = process.env.VAKT_URL.replace(/\/$/, '');
const origin = new URL(base).origin;
const shots = process.env.VAKT_SHOTS;
fs.mkdirSync(shots, { recursive: true });
const users = Object.fromEntries(fs.readFileSync(process.env.VAKT_USERS, 'utf8').split('\n')
  .filter((l) => l && !l.startsWith('#')).map((l) => { const [name, role, tenant, password] = l.split(' '); return [name, { name, role, tenant: tenant === '-' ? '' : tenant, password }]; }));

const failures = [];
const consoleErrors = [];
const outside = [];
const axeFindings = [];
const measured = {};
function check(ok, what) {
  if (!ok) { failures.push(what); console.error('FAIL: ' + what); } else console.log('ok: ' + what);
}
const digits = (s) => Number(String(s).replace(/[^\d]/g, ''));

const browser = await chromium.launch({
  executablePath: process.env.VAKT_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});

async function session(name, { viewport = { width: 1280, height: 800 }, allow = [] } = {}) {
  const ctx = await browser.newContext({ viewport, timezoneId: 'Europe/Oslo', locale: 'nb-NO' });
  const page = await ctx.newPage();
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    if (allow.some((a) => text.includes(a) || (m.location().url || '').includes(a))) return;
    consoleErrors.push(`${name}: ${text} (${m.location().url || ''})`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`${name}: page error ${e.message}`));
  page.on('request', (r) => {
    const u = r.url();
    if (u.startsWith('data:') || u.startsWith('blob:')) return;
    if (new URL(u).origin !== origin) outside.push(`${name}: ${u}`);
  });
  // Generous: the test binary is a debug build.
  page.setDefaultTimeout(90000);
  return { ctx, page };
}

async function signIn(name) {
  const u = users[name];
  const s = await session(name);
  await s.page.goto(base + '/ui/');
  await s.page.fill('#user', u.name);
  await s.page.fill('#password', u.password);
  await s.page.click('button[type=submit]');
  await s.page.waitForSelector(`.user[data-role="${u.role}"]`);
  return s;
}

async function apiGet(page, p) {
  return page.evaluate(async (p) => {
    const r = await fetch('/api/v1' + p, { credentials: 'same-origin' });
    return { status: r.status, body: r.headers.get('content-type')?.includes('json') ? await r.json() : await r.text() };
  }, p);
}

async function axe(page, screen) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const serious = r.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  serious.forEach((v) => axeFindings.push({ screen, ...v }));
  check(serious.length === 0, `axe: no serious violation on ${screen}${serious.length ? ': ' + JSON.stringify(serious) : ''}`);
  return r;
}

async function shot(page, name, full = true) {
  await page.screenshot({ path: path.join(shots, name + '.png'), fullPage: full });
}

async function screen(page, hash, ready) {
  await page.goto(base + '/ui/#/' + hash);
  await page.waitForSelector(ready);
  await page.waitForFunction(() => !document.querySelector('[role=status]')?.textContent?.includes('Loading'));
}

try {
  // ---- Every role signs in and sees its own screens.
  const expectNav = {
    cert: ['Overview', 'Alerts', 'Cases', 'Hunt', 'Intel', 'Rules'],
    admin: ['Overview', 'Intel', 'Rules', 'Users & tokens'],
    privacy: ['Overview', 'Cases', 'Hunt', 'Privacy'],
  };
  const trustUsers = Object.values(users).filter((u) => u.role === 'trust-analyst');
  check(trustUsers.length >= 2, 'the demo has trust analysts of several trusts');

  const cert = await signIn('cert');
  const P = cert.page;
  const nav = await P.$$eval('header nav a', (a) => a.map((x) => x.textContent.trim()));
  for (const n of expectNav.cert) check(nav.includes(n), `cert-analyst sees ${n}`);
  check(!nav.includes('Privacy') && !nav.includes('Users & tokens'), 'cert-analyst has no Privacy or admin screen');

  // ---- Overview.
  await screen(P, 'overview', '#h-inc');
  await P.waitForSelector('table[aria-label="Incidents, most severe first"] tbody tr');
  await P.waitForSelector('#h-ingest ~ table, #h-ingest ~ p');
  await P.waitForSelector('svg.chart');
  await shot(P, '01-overview');
  await axe(P, 'overview');

  // ---- The attack incident, with the API's numbers.
  const incidents = (await apiGet(P, '/incidents?limit=1')).body;
  const top = incidents[0];
  check(top && top.severity === 'critical', `the most severe incident is critical (${top && top.id})`);
  const inc = (await apiGet(P, '/incidents/' + encodeURIComponent(top.id))).body;
  const scope = (await apiGet(P, `/incidents/${encodeURIComponent(top.id)}/scope`)).body;
  const t0 = Date.now();
  await P.goto(base + '/ui/#/incidents/' + encodeURIComponent(top.id));
  await P.waitForSelector('[data-k=confirmed]');
  await P.waitForSelector('figure.map svg g, .countymap svg g, svg[aria-label^="Exposure by county"]');
  measured.incident_open_ms = Date.now() - t0;
  const stages = await P.$$eval('ol.stages li strong', (l) => l.map((x) => x.textContent.trim()));
  check(JSON.stringify(stages) === JSON.stringify(inc.stages.map((s) => s.stage)), `the stages in the API's order: ${stages.join(' → ')}`);
  const nodes = await P.$$eval('figure.graph g.node', (l) => l.length);
  check(nodes === inc.nodes.length, `the graph has the API's ${inc.nodes.length} entities (${nodes})`);
  const pz = await P.textContent('[data-k=patient-zero]');
  check(inc.patient_zero && pz === inc.patient_zero.entity, `patient zero ${pz}`);
  check(digits(await P.textContent('[data-k=confirmed]')) === scope.confirmed, `confirmed ${scope.confirmed} as the API`);
  check(digits(await P.textContent('[data-k=possible]')) === scope.possible, `possible ${scope.possible} as the API`);
  const mapSays = await P.getAttribute('svg[aria-label^="Exposure by county"]', 'aria-label');
  for (const [county, c] of Object.entries(scope.by_county)) {
    if (county === 'unknown') continue;
    const n = new Intl.NumberFormat('nb-NO').format(c.confirmed);
    check(mapSays.includes(county) && mapSays.includes(n), `the map shows ${county}: ${n} confirmed`);
  }
  const clockRows = await P.$$eval('table[aria-label="Notification clocks"] tbody tr', (l) => l.map((r) => r.cells[0].textContent.trim()));
  check(JSON.stringify(clockRows) === JSON.stringify(scope.clocks.map((c) => c.name)), `the clocks as the API: ${clockRows.length}`);
  check((await P.textContent('body')).includes('Kartverket'), 'the map credits Kartverket');
  check((await P.$$('button:has-text("Reveal")')).length === 0, 'a cert analyst has no reveal button');
  await shot(P, '02-incident');
  await axe(P, 'incident');
  // The evidence behind an alert, down to the event.
  await P.click('.vtable[aria-label="Timeline of the incident\'s alerts"] .vrow.clickable');
  await P.waitForSelector('dialog h3:has-text("Events")');
  await P.waitForSelector('dialog details.event, dialog p.muted');
  await shot(P, '03-evidence', false);
  await axe(P, 'evidence');
  await P.keyboard.press('Escape');

  // ---- Triage: a verdict with its reason, and an exception with an expiry.
  await screen(P, 'alerts', '.vtable[aria-label="Alert queue"]');
  await P.waitForSelector('.vtable[aria-label="Alert queue"] .vrow.clickable');
  await shot(P, '04-alerts');
  await axe(P, 'alerts');
  const queue = (await apiGet(P, '/alerts?status=new&limit=1000')).body.items;
  await P.locator('body').press('j');
  await P.locator('body').press('k');
  const firstTitle = await P.textContent('.vtable[aria-label="Alert queue"] .vrow.selected .title');
  await P.locator('body').press('t');
  await P.waitForSelector('dialog textarea');
  await P.fill('dialog textarea', 'Confirmed with the trust: the attacker ran this.');
  await P.click('dialog button[type=submit]');
  await P.waitForSelector('dialog', { state: 'detached' });
  const judged = queue.find((a) => a.title === firstTitle.trim());
  const after = (await apiGet(P, '/alerts/' + judged.key)).body;
  check(after.status === 'true-positive' && after.triage && after.triage.note.startsWith('Confirmed'), `the verdict is recorded with its reason (${after.status})`);
  await P.waitForSelector('.vtable[aria-label="Alert queue"] .vrow.selected .title');
  const exTitle = (await P.textContent('.vtable[aria-label="Alert queue"] .vrow.selected .title')).trim();
  await P.locator('body').press('e');
  await P.waitForSelector('dialog #f-reason');
  await P.fill('dialog #f-reason', 'A known scanner of the trust; reviewed monthly.');
  await shot(P, '05-exception', false);
  await P.click('dialog button[type=submit]');
  await P.waitForSelector('dialog', { state: 'detached' });
  const ex = (await apiGet(P, '/exceptions')).body;
  const exList = Array.isArray(ex) ? ex : ex.items;
  check(exList.some((x) => x.reason.startsWith('A known scanner') && x.expires), 'the exception is made, with its expiry');
  const exAlert = queue.find((a) => a.title === exTitle);
  check(exAlert && (await apiGet(P, '/alerts/' + exAlert.key)).body.status === 'suppressed', 'the exception suppresses the alert');

  // ---- A case walked to closed.
  const cases = (await apiGet(P, '/cases')).body;
  const cs = cases.find((c) => (c.incidents || []).includes(top.id)) || cases[0];
  check(!!cs, 'the demo opened a case');
  await screen(P, 'cases/' + encodeURIComponent(cs.id), '#h-tasks');
  await shot(P, '06-case');
  await axe(P, 'case');
  await P.fill('#f-text', 'Datatilsynet notified by phone; written notice follows.');
  await P.click('section[aria-labelledby=h-notes] button[type=submit]');
  await P.waitForSelector('ol.notes li:has-text("Datatilsynet notified")');
  const clockBtn = await P.$('table[aria-label="Clocks of the case"] button');
  if (clockBtn) { await clockBtn.click(); await P.waitForSelector('.toast'); }
  for (const next of ['triage', 'contained', 'eradicated', 'recovered']) {
    await P.click('button:has-text("Change status")');
    await P.selectOption('dialog #f-status', next);
    await P.click('dialog button[type=submit]');
    await P.waitForSelector(`[data-k=case-status]:has-text("${next}")`);
  }
  // Every open task done or skipped (with a reason) before closing.
  for (;;) {
    const b = await P.$('table[aria-label="Tasks"] button:has-text("Skip")');
    if (!b) break;
    await b.click();
    await P.fill('dialog textarea', 'Handled outside this case for the demo.');
    await P.click('dialog button[type=submit]');
    await P.waitForSelector('dialog', { state: 'detached' });
    await P.waitForTimeout(100);
  }
  await P.click('button:has-text("Change status")');
  await P.selectOption('dialog #f-status', 'closed');
  await P.selectOption('dialog #f-resolution', 'true-positive');
  await P.fill('dialog #f-reason', 'Contained, eradicated, notified.');
  await P.click('dialog button[type=submit]');
  await P.waitForSelector('[data-k=case-status]:has-text("closed")');
  const closed = (await apiGet(P, '/cases/' + encodeURIComponent(cs.id))).body;
  check(closed.status === 'closed' && closed.resolution === 'true-positive', `the case is closed (${closed.status}, ${closed.resolution})`);
  await P.waitForSelector('.vtable[aria-label="Audit trail of the case"] .vrow');
  await shot(P, '07-case-closed');

  // ---- Hunt: an indicator over the stored history.
  const ext = inc.nodes.find((n) => n.kind === 'ip' && n.role === 'external') || inc.nodes.find((n) => n.kind === 'domain');
  await screen(P, 'hunt', 'form.hunt');
  await P.click('button[role=tab]:has-text("Indicator")');
  await P.fill('#h-ind', ext.name);
  await P.click('form.hunt button[type=submit]');
  await P.waitForSelector('#h-res');
  const matched = digits(await P.textContent('#h-res'));
  check(matched > 0, `hunting ${ext.name} finds ${matched} events`);
  await P.waitForSelector('#h-res ~ svg.chart, section svg.chart');
  await shot(P, '08-hunt');
  await axe(P, 'hunt');
  await P.click('button[role=tab]:has-text("Sigma rule")');
  await P.click('form.hunt button[type=submit]');
  await P.waitForSelector('form.hunt button[type=submit]:has-text("Hunting")', { state: 'detached' });
  check(await P.$('#h-res') !== null && (await P.textContent('#h-res')).includes('matched'), `a Sigma rule runs over the stored history: ${await P.textContent('#h-res, p.error')}`);
  for (const [h, sel, name] of [['intel', '#h-ind', '09-intel'], ['rules', '#h-rules', '10-rules']]) {
    await screen(P, h, sel);
    await P.waitForTimeout(300);
    await shot(P, name);
    await axe(P, h);
  }
  // A wall screen.
  await P.setViewportSize({ width: 2560, height: 1440 });
  await screen(P, 'overview', '#h-inc');
  await P.waitForSelector('svg.chart');
  await shot(P, '11-overview-wall', false);
  await cert.ctx.close();

  // ---- Admin.
  const admin = await signIn('admin');
  const an = await admin.page.$$eval('header nav a', (a) => a.map((x) => x.textContent.trim()));
  for (const n of expectNav.admin) check(an.includes(n), `admin sees ${n}`);
  check(!an.includes('Alerts'), 'admin has no triage queue');
  await screen(admin.page, 'admin', '#h-users');
  await admin.page.waitForSelector('table[aria-label="Users"] tbody tr');
  await shot(admin.page, '12-admin');
  await axe(admin.page, 'admin');
  await admin.ctx.close();

  // ---- Privacy officer: the reveal button is theirs alone; the reports.
  const priv = await signIn('privacy');
  const pn = await priv.page.$$eval('header nav a', (a) => a.map((x) => x.textContent.trim()));
  for (const n of expectNav.privacy) check(pn.includes(n), `privacy-officer sees ${n}`);
  await priv.page.goto(base + '/ui/#/incidents/' + encodeURIComponent(top.id));
  await priv.page.waitForSelector('[data-k=confirmed]');
  check((await priv.page.$$('button:has-text("Reveal")')).length > 0, 'a privacy officer has reveal buttons');
  await screen(priv.page, 'privacy', '#h-rev');
  // The account in scope with the most record accesses.
  const inScope = [...scope.accounts].sort((a, b) => b.accesses - a.accesses)[0];
  const acct = { name: inScope.key.replace(/^account:/, '') };
  check(inScope.accesses > 0, `an account in scope read records (${acct.name}: ${inScope.accesses})`);
  await priv.page.fill('#i-whatread', acct.name);
  await priv.page.click('section[aria-labelledby=h-whatread] button[type=submit]');
  await priv.page.waitForSelector('section[aria-labelledby=h-whatread] .vtable');
  const reads = digits((await priv.page.textContent('section[aria-labelledby=h-whatread] p.summary')).split(' access')[0]);
  check(reads === inScope.accesses || reads > 0, `what ${acct.name} read: ${reads} accesses (the scope counted ${inScope.accesses} in its window)`);
  const firstPatient = await priv.page.textContent('section[aria-labelledby=h-whatread] .vrow .pseudo code');
  await priv.page.fill('#i-whoread', firstPatient.trim());
  await priv.page.click('section[aria-labelledby=h-whoread] button[type=submit]');
  await priv.page.waitForSelector('section[aria-labelledby=h-whoread] .vtable .vrow');
  check((await priv.page.textContent('section[aria-labelledby=h-whoread]')).includes(acct.name), `who read ${firstPatient.trim()}: ${acct.name} among them`);
  await priv.page.click('section[aria-labelledby=h-whatread] .vrow button:has-text("Reveal")');
  await priv.page.fill('dialog #f-reason', 'Case ' + cs.id + ': the patient is to be notified.');
  await priv.page.fill('dialog #f-tenant', inc.tenant);
  await priv.page.click('dialog button[type=submit]');
  await priv.page.waitForSelector('.revealed');
  const shown = (await priv.page.textContent('.revealed')).trim();
  check(/^\d{11}$/.test(shown), `the reveal shows the identity number (${shown.length} characters)`);
  await shot(priv.page, '13-privacy');
  await axe(priv.page, 'privacy');
  await priv.ctx.close();

  // ---- Trust analysts: their own trust only, even by URL.
  const own = trustUsers.find((u) => u.tenant === inc.tenant);
  const other = trustUsers.find((u) => u.tenant !== inc.tenant);
  const mine = await signIn(own.name);
  await mine.page.goto(base + '/ui/#/incidents/' + encodeURIComponent(top.id));
  await mine.page.waitForSelector('[data-k=confirmed]');
  check(true, `${own.name} opens its own trust's incident`);
  await screen(mine.page, 'overview', '#h-inc');
  await shot(mine.page, '14-trust-overview');
  await mine.ctx.close();
  const theirs = await (async () => {
    const s = await session(other.name, { allow: ['/api/v1/incidents/', 'status of 404'] });
    await s.page.goto(base + '/ui/');
    await s.page.fill('#user', other.name);
    await s.page.fill('#password', other.password);
    await s.page.click('button[type=submit]');
    await s.page.waitForSelector('.user[data-role="trust-analyst"]');
    return s;
  })();
  await theirs.page.goto(base + '/ui/#/incidents/' + encodeURIComponent(top.id));
  await theirs.page.waitForSelector('p.error');
  const said = await theirs.page.textContent('main');
  check(said.includes('Not found') && !said.includes(inc.title), `${other.name} cannot open ${inc.tenant}'s incident by URL`);
  check((await apiGet(theirs.page, '/incidents/' + encodeURIComponent(top.id))).status === 404, `the API answers ${other.name} 404 too`);
  const theirList = (await apiGet(theirs.page, '/incidents?limit=1000')).body;
  check(theirList.every((i) => (i.tenants || []).every((t) => t === other.tenant)), `${other.name} lists only ${other.tenant}'s incidents`);
  await shot(theirs.page, '15-trust-refused', false);
  await theirs.ctx.close();
} catch (e) {
  failures.push('the run stopped: ' + (e.stack || e));
  console.error(e);
} finally {
  await browser.close();
}
check(consoleErrors.length === 0, `no console error${consoleErrors.length ? ': ' + consoleErrors.join(' | ') : ''}`);
check(outside.length === 0, `no request outside the server${outside.length ? ': ' + outside.join(' | ') : ''}`);
console.log('MEASURED ' + JSON.stringify(measured));
process.exit(failures.length ? 1 : 0);
