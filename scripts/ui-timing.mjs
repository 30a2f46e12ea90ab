#!/usr/bin/env node
// How long the incident screen takes to open in a real browser (Debian's
// chromium, driven by playwright-core): from navigation to the stages,
// graph, exposure figures and county map drawn — over a served case, e.g.
//
//   vakt demo --patients 100000 --days 30 --dir /tmp/big --serve --listen 127.0.0.1:8090
//   VAKT_NODE_MODULES=target/peers/node/node_modules \
//     node scripts/ui-timing.mjs http://127.0.0.1:8090 /tmp/big/serve/demo-users.txt [runs]
//
// Prints each run and the median (cold: a new browser context each run,
// so nothing is cached).
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const [base, usersFile, runsArg] = process.argv.slice(2);
if (!base || !usersFile) {
  console.error('usage: node scripts/ui-timing.mjs URL USERS-FILE [runs]');
  process.exit(2);
}
const require = createRequire(path.resolve(process.env.VAKT_NODE_MODULES || 'target/peers/node/node_modules', 'x.js'));
const { chromium } = require('playwright-core');
const cert = fs.readFileSync(usersFile, 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[0] === 'cert');
const browser = await chromium.launch({
  executablePath: process.env.VAKT_CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const runs = Number(runsArg || 5);
const times = [];
let facts;
for (let i = 0; i < runs; i++) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(120000);
  await page.goto(base + '/ui/');
  await page.fill('#user', cert[0]);
  await page.fill('#password', cert[3]);
  await page.click('button[type=submit]');
  await page.waitForSelector('.user');
  const top = await page.evaluate(async () => (await (await fetch('/api/v1/incidents?limit=1')).json())[0]);
  const t0 = Date.now();
  await page.goto(base + '/ui/#/incidents/' + encodeURIComponent(top.id));
  await page.waitForSelector('ol.stages li');
  await page.waitForSelector('figure.graph g.node');
  await page.waitForSelector('[data-k=confirmed]');
  await page.waitForSelector('svg[aria-label^="Exposure by county"]');
  const ms = Date.now() - t0;
  times.push(ms);
  if (!facts) {
    facts = await page.evaluate(async (id) => {
      const a = await fetch('/api/v1/incidents/' + encodeURIComponent(id));
      const b = await fetch('/api/v1/incidents/' + encodeURIComponent(id) + '/scope');
      const inc = await a.clone().json();
      const sc = await b.clone().json();
      return { id, alerts: inc.alerts.length, nodes: inc.nodes.length, incident_bytes: (await a.text()).length, scope_bytes: (await b.text()).length, confirmed: sc.confirmed, possible: sc.possible };
    }, top.id);
  }
  console.log(`run ${i + 1}: ${ms} ms`);
  await ctx.close();
}
await browser.close();
times.sort((a, b) => a - b);
console.log(JSON.stringify({ ...facts, runs: times.length, median_ms: times[Math.floor(times.length / 2)], max_ms: times[times.length - 1] }));
