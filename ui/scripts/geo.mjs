#!/usr/bin/env node
// Builds ui/src/gen/geo.json: the South-East region of Norway's 2018 counties, drawn as the union of the
// 2024 municipalities they consist of, projected to an SVG view box (see CountyMap in ui/src/map.js).
//
// Input: $VAKT_GEO_DIR (default: <repo>/../shared/data/geo-norway, i.e. ui/scripts/../../../shared/data/geo-norway)
//        /kommuner-2024-S.geojson — Kartverket's municipalities of 2024 (CC BY 4.0, "© Kartverket"),
//        simplified by robhop/fylker-og-kommuner.
// Output: ui/src/gen/geo.json, or {"missing": "<why>"} (with a warning, exit status 0) if the input is not there,
//         so that the UI still builds and says the shapes were not available.
//
// Node 20, no dependencies.

import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const UI_DIR = path.resolve(HERE, '..');
const GEO_DIR = process.env.VAKT_GEO_DIR
  ? path.resolve(process.env.VAKT_GEO_DIR)
  : path.resolve(UI_DIR, '../../shared/data/geo-norway');
const INPUT = path.join(GEO_DIR, 'kommuner-2024-S.geojson');
const OUT_DIR = path.join(UI_DIR, 'src', 'gen');
const OUTPUT = path.join(OUT_DIR, 'geo.json');

const CREDIT =
  'Map: © Kartverket (CC BY 4.0), municipalities of 2024 via robhop/fylker-og-kommuner; ' +
  '2018 counties drawn as the union of their municipalities';

// The 2018 counties of the South-East region, in the order of their 2018 county numbers (01–10).
const COUNTIES = [
  'Østfold', 'Akershus', 'Oslo', 'Hedmark', 'Oppland',
  'Buskerud', 'Vestfold', 'Telemark', 'Aust-Agder', 'Vest-Agder',
];

// How many 2024 municipalities each 2018 county gets under the rules below; a different count means the input is
// of a different vintage (renumbered or merged municipalities), and the map would be wrong.
const EXPECTED_COUNTS = {
  'Østfold': 12, 'Akershus': 19, 'Oslo': 1, 'Hedmark': 22, 'Oppland': 26,
  'Buskerud': 18, 'Vestfold': 6, 'Telemark': 17, 'Aust-Agder': 15, 'Vest-Agder': 10,
};

// Spot checks of the number → name → 2018 county rules against the names in the input.
const NAME_CHECKS = [
  ['0301', 'Oslo', 'Oslo'],
  ['3105', 'Sarpsborg', 'Østfold'],
  ['3201', 'Bærum', 'Akershus'],
  ['3226', 'Aurskog-Høland', 'Akershus'],
  ['3234', 'Lunner', 'Oppland'],
  ['3236', 'Jevnaker', 'Oppland'],
  ['3301', 'Drammen', 'Buskerud'],
  ['3401', 'Kongsvinger', 'Hedmark'],
  ['3403', 'Hamar', 'Hedmark'],
  ['3405', 'Lillehammer', 'Oppland'],
  ['3407', 'Gjøvik', 'Oppland'],
  ['3411', 'Ringsaker', 'Hedmark'],
  ['3430', 'Os', 'Hedmark'],
  ['3431', 'Dovre', 'Oppland'],
  ['3454', 'Vang', 'Oppland'],
  ['3909', 'Larvik', 'Vestfold'],
  ['4003', 'Skien', 'Telemark'],
  ['4201', 'Risør', 'Aust-Agder'],
  ['4203', 'Arendal', 'Aust-Agder'],
  ['4204', 'Kristiansand', 'Vest-Agder'],
  ['4207', 'Flekkefjord', 'Vest-Agder'],
  ['4211', 'Gjerstad', 'Aust-Agder'],
  ['4222', 'Bykle', 'Aust-Agder'],
  ['4223', 'Vennesla', 'Vest-Agder'],
  ['4228', 'Sirdal', 'Vest-Agder'],
];

// 2024 municipalities of the region made in the 2020 reform from municipalities of two 2018 counties. Each is drawn
// whole with the county that held most of it. (Merges within one county — Lillestrøm, Nordre Follo, Moss, Indre
// Østfold, Holmestrand, Tønsberg, Midt-Telemark, Kristiansand, Lindesnes, Lyngdal — do not matter here; Innlandet
// had none. Lunner and Jevnaker moved from Oppland whole, which the rules handle.)
const STRADDLES = [
  {
    number: '3203', name: 'Asker', counties: ['Akershus', 'Buskerud'], drawn_with: 'Akershus',
    note: 'Asker was in Akershus; Røyken and Hurum, merged into it in 2020, were in Buskerud.',
  },
  {
    number: '3226', name: 'Aurskog-Høland', counties: ['Akershus', 'Østfold'], drawn_with: 'Akershus',
    note: 'Aurskog-Høland was in Akershus; Rømskog, merged into it in 2020, was in Østfold.',
  },
  {
    number: '3301', name: 'Drammen', counties: ['Buskerud', 'Vestfold'], drawn_with: 'Buskerud',
    note: 'Drammen and Nedre Eiker were in Buskerud; Svelvik, merged into it in 2020, was in Vestfold.',
  },
];

// Counties of 2024 drawn in grey around the region (Nordland and north are left out).
const CONTEXT_PREFIXES = new Set(['11', '15', '46', '50']); // Rogaland, Møre og Romsdal, Vestland, Trøndelag

const VIEW_WIDTH = 600;
const MARGIN = 10;
const CONTEXT_PAD = 6; // how far the grey context may reach beyond the view box
const COS_LAT = Math.cos((60 * Math.PI) / 180);

/** The 2018 county of a 2024 municipality number, or null outside the South-East region. */
function county2018(number) {
  const n = Number(number);
  if (number === '0301') return 'Oslo';
  switch (number.slice(0, 2)) {
    case '31': return 'Østfold';
    case '32': return n === 3234 || n === 3236 ? 'Oppland' : 'Akershus';
    case '33': return 'Buskerud';
    case '39': return 'Vestfold';
    case '40': return 'Telemark';
    case '34': return n === 3401 || n === 3403 || (n >= 3411 && n <= 3430) ? 'Hedmark' : 'Oppland';
    case '42': return n <= 4203 || (n >= 4211 && n <= 4222) ? 'Aust-Agder' : 'Vest-Agder';
    default: return null;
  }
}

class Missing extends Error {}

function main() {
  let text;
  if (!existsSync(INPUT)) throw new Missing(`${INPUT} was not found (set VAKT_GEO_DIR to the geo-norway folder)`);
  try {
    text = readFileSync(INPUT, 'utf8');
  } catch (e) {
    throw new Missing(`${INPUT} could not be read: ${e.message}`);
  }
  let input;
  try {
    input = JSON.parse(text);
  } catch (e) {
    throw new Missing(`${INPUT} is not JSON: ${e.message}`);
  }
  if (!input || !Array.isArray(input.features)) throw new Missing(`${INPUT} is not a GeoJSON FeatureCollection`);

  const municipalities = input.features.map((f) => {
    const props = f.properties || {};
    const number = String(props.kommunenummer ?? '').padStart(4, '0');
    const g = f.geometry || {};
    const polygons = g.type === 'Polygon' ? [g.coordinates] : g.type === 'MultiPolygon' ? g.coordinates : [];
    return { number, name: props.kommunenavn ?? props.name ?? number, polygons };
  });
  const byNumber = new Map(municipalities.map((m) => [m.number, m]));

  // Check the rules against the names in the file.
  const problems = [];
  for (const [number, name, county] of NAME_CHECKS) {
    const m = byNumber.get(number);
    if (!m) problems.push(`municipality ${number} (${name}) is not in the input`);
    else if (m.name !== name) problems.push(`municipality ${number} is ${m.name}, expected ${name}`);
    else if (county2018(number) !== county) problems.push(`rule puts ${number} ${name} in ${county2018(number)}, not ${county}`);
  }
  for (const s of STRADDLES) {
    const m = byNumber.get(s.number);
    if (!m || m.name !== s.name) problems.push(`straddling municipality ${s.number} ${s.name} is not in the input`);
    else if (county2018(s.number) !== s.drawn_with) problems.push(`${s.name} is not drawn with ${s.drawn_with}`);
  }
  const members = new Map(COUNTIES.map((c) => [c, []]));
  for (const m of municipalities) {
    const c = county2018(m.number);
    if (c) members.get(c).push(m);
  }
  for (const c of COUNTIES) {
    if (members.get(c).length !== EXPECTED_COUNTS[c]) {
      problems.push(`${c} has ${members.get(c).length} municipalities, expected ${EXPECTED_COUNTS[c]}`);
    }
  }
  if (problems.length) {
    throw new Missing(`${INPUT} does not match the 2024 municipalities the 2018 county rules expect: ${problems.join('; ')}`);
  }

  // Projection: equirectangular, x scaled by cos(60°), y flipped; fitted to the region.
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const c of COUNTIES) {
    for (const m of members.get(c)) {
      for (const poly of m.polygons) for (const ring of poly) for (const [lon, lat] of ring) {
        const x = lon * COS_LAT, y = -lat;
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
      }
    }
  }
  const scale = (VIEW_WIDTH - 2 * MARGIN) / (maxX - minX);
  const viewHeight = Math.ceil((maxY - minY) * scale + 2 * MARGIN);
  // Points are integers in tenths of a view-box unit.
  const project = ([lon, lat]) => [
    Math.round(((lon * COS_LAT - minX) * scale + MARGIN) * 10),
    Math.round(((-lat - minY) * scale + MARGIN) * 10),
  ];

  /** Rings of a municipality, quantised, without consecutive duplicates or closing point; outer rings have
   *  positive signed area (in view-box coordinates), holes negative, so that nonzero filling unites them. */
  function ringsOf(m) {
    const rings = [];
    for (const poly of m.polygons) {
      poly.forEach((raw, i) => {
        const ring = [];
        for (const p of raw) {
          const q = project(p);
          const last = ring[ring.length - 1];
          if (!last || last[0] !== q[0] || last[1] !== q[1]) ring.push(q);
        }
        while (ring.length > 1 && same(ring[0], ring[ring.length - 1])) ring.pop();
        if (ring.length < 3) return;
        const a = signedArea(ring);
        if (a === 0) return;
        if ((i === 0) !== (a > 0)) ring.reverse();
        rings.push(ring);
      });
    }
    return rings;
  }

  const counties = COUNTIES.map((name) => {
    const ms = members.get(name).slice().sort((a, b) => a.number.localeCompare(b.number));
    const rings = ms.flatMap(ringsOf);
    const edges = outline(rings);
    const fill = unionRings(rings, edges);
    return {
      name,
      fill: ringsPath(fill),
      edge: linesPath(edges.lines),
      label: null,
      municipalities: ms.length,
      rings,
      segments: edges.segments,
      area: Math.abs(fill.reduce((a, r) => a + signedArea(r), 0)),
    };
  });
  // Labels, smallest county first, each kept clear of the labels placed before it (Oslo's and Akershus's).
  const placed = [];
  for (const c of counties.slice().sort((a, b) => a.area - b.area)) {
    const p = labelPoint(c.rings, c.segments, placed);
    placed.push(p);
    c.label = p.map((v) => Math.round(v) / 10);
  }
  for (const c of counties) {
    delete c.rings;
    delete c.segments;
    delete c.area;
  }

  // Grey context: the union outline of the neighbouring counties, clipped to (a little beyond) the view box.
  const contextRings = municipalities
    .filter((m) => CONTEXT_PREFIXES.has(m.number.slice(0, 2)))
    .sort((a, b) => a.number.localeCompare(b.number))
    .flatMap(ringsOf);
  const loops = unionRings(contextRings, outline(contextRings));
  const box = [-CONTEXT_PAD * 10, -CONTEXT_PAD * 10, (VIEW_WIDTH + CONTEXT_PAD) * 10, (viewHeight + CONTEXT_PAD) * 10];
  const context = ringsPath(loops.map((r) => clipRing(r, box)).filter((r) => r.length >= 3 && signedArea(r) !== 0));

  return {
    viewBox: `0 0 ${VIEW_WIDTH} ${viewHeight}`,
    counties,
    context,
    straddles: STRADDLES,
    credit: CREDIT,
  };
}

/**
 * The rings to fill a union with: its outline's closed loops, which fill as one shape without the faint seams
 * that anti-aliasing leaves where many rings meet inside a path. Falls back to all the rings (which fill the same
 * area under the nonzero rule) when the outline does not close into loops of the same total area, i.e. when the
 * municipalities' shared borders do not match point for point.
 */
function unionRings(rings, edges) {
  const total = (rs) => rs.reduce((a, r) => a + signedArea(r), 0);
  const ok = edges.open === 0 && edges.loops.length > 0 && Math.abs(total(edges.loops) - total(rings)) < 1;
  return ok ? edges.loops : rings;
}

function same(a, b) {
  return a[0] === b[0] && a[1] === b[1];
}

function signedArea(ring) {
  let a = 0;
  for (let i = 0, n = ring.length; i < n; i++) {
    const p = ring[i], q = ring[(i + 1) % n];
    a += p[0] * q[1] - q[0] * p[1];
  }
  return a / 2;
}

const pointKey = (p) => `${p[0]},${p[1]}`;
const segmentKey = (p, q) => {
  const a = pointKey(p), b = pointKey(q);
  return a < b ? `${a};${b}` : `${b};${a}`;
};

/**
 * The outline of the union of rings: the segments (undirected, counted over all rings) that only one ring has.
 * Returns `segments` (kept, directed as in their ring), `lines` (kept segments chained into polylines, closed ones
 * ending where they start), `loops` (the closed polylines, without the repeated point) and `open` (how many
 * polylines did not close).
 */
function outline(rings) {
  const count = new Map();
  for (const r of rings) {
    for (let i = 0, n = r.length; i < n; i++) {
      const k = segmentKey(r[i], r[(i + 1) % n]);
      count.set(k, (count.get(k) || 0) + 1);
    }
  }
  const segments = [];
  const runs = [];
  for (const r of rings) {
    const n = r.length;
    const kept = [];
    for (let i = 0; i < n; i++) kept.push(count.get(segmentKey(r[i], r[(i + 1) % n])) === 1);
    const start = kept.indexOf(false);
    if (start < 0) {
      // The whole ring is outline.
      for (let i = 0; i < n; i++) segments.push([r[i], r[(i + 1) % n]]);
      runs.push([...r, r[0]]);
      continue;
    }
    let run = null;
    for (let j = 1; j <= n; j++) {
      const i = (start + j) % n;
      if (kept[i]) {
        segments.push([r[i], r[(i + 1) % n]]);
        if (!run) run = [r[i]];
        run.push(r[(i + 1) % n]);
      } else if (run) {
        runs.push(run);
        run = null;
      }
    }
    if (run) runs.push(run);
  }
  const lines = chain(runs);
  const loops = [];
  let open = 0;
  for (const l of lines) {
    if (l.length > 3 && same(l[0], l[l.length - 1])) loops.push(l.slice(0, -1));
    else open++;
  }
  return { segments, lines, loops, open };
}

/** Joins polylines that continue one another (end of one = start of the next, in their direction). */
function chain(runs) {
  const byStart = new Map();
  runs.forEach((r, i) => {
    if (same(r[0], r[r.length - 1])) return;
    const k = pointKey(r[0]);
    if (!byStart.has(k)) byStart.set(k, []);
    byStart.get(k).push(i);
  });
  const used = new Array(runs.length).fill(false);
  const take = (k) => {
    const list = byStart.get(k);
    while (list && list.length) {
      const i = list.pop();
      if (!used[i]) return i;
    }
    return -1;
  };
  // Walk back from each run to the start of its chain first, so that chains are not cut in the middle.
  const hasPredecessor = new Set(runs.filter((r) => !same(r[0], r[r.length - 1])).map((r) => pointKey(r[r.length - 1])));
  const order = runs.map((_, i) => i).sort((a, b) => {
    const pa = hasPredecessor.has(pointKey(runs[a][0])) ? 1 : 0;
    const pb = hasPredecessor.has(pointKey(runs[b][0])) ? 1 : 0;
    return pa - pb || a - b;
  });
  const lines = [];
  for (const i of order) {
    if (used[i]) continue;
    used[i] = true;
    const line = runs[i].slice();
    if (!same(line[0], line[line.length - 1])) {
      for (;;) {
        const end = line[line.length - 1];
        if (same(end, line[0])) break;
        const j = take(pointKey(end));
        if (j < 0) break;
        used[j] = true;
        for (let t = 1; t < runs[j].length; t++) line.push(runs[j][t]);
      }
    }
    lines.push(line);
  }
  return lines;
}

/** Sutherland–Hodgman clipping of a ring to a box [x0, y0, x1, y1]; points rounded to integers (tenths). */
function clipRing(ring, [x0, y0, x1, y1]) {
  const edges = [
    (p) => p[0] >= x0, (p) => p[0] <= x1, (p) => p[1] >= y0, (p) => p[1] <= y1,
  ];
  const cut = [
    (p, q) => at(p, q, (x0 - p[0]) / (q[0] - p[0])),
    (p, q) => at(p, q, (x1 - p[0]) / (q[0] - p[0])),
    (p, q) => at(p, q, (y0 - p[1]) / (q[1] - p[1])),
    (p, q) => at(p, q, (y1 - p[1]) / (q[1] - p[1])),
  ];
  function at(p, q, t) {
    return [Math.round(p[0] + (q[0] - p[0]) * t), Math.round(p[1] + (q[1] - p[1]) * t)];
  }
  let out = ring;
  for (let e = 0; e < 4 && out.length; e++) {
    const input = out;
    out = [];
    for (let i = 0, n = input.length; i < n; i++) {
      const p = input[i], q = input[(i + 1) % n];
      const pin = edges[e](p), qin = edges[e](q);
      if (pin) out.push(p);
      if (pin !== qin) out.push(cut[e](p, q));
    }
  }
  // Drop consecutive duplicates and points on a straight run along the box (clipping leaves many).
  const res = [];
  for (const p of out) {
    if (res.length && same(res[res.length - 1], p)) continue;
    res.push(p);
  }
  while (res.length > 1 && same(res[0], res[res.length - 1])) res.pop();
  const simplified = [];
  for (let i = 0, n = res.length; i < n; i++) {
    const a = res[(i - 1 + n) % n], p = res[i], b = res[(i + 1) % n];
    const onBox = (v, w) => (v[0] === w[0] && (v[0] === x0 || v[0] === x1)) || (v[1] === w[1] && (v[1] === y0 || v[1] === y1));
    if (n > 3 && onBox(a, p) && onBox(p, b) && (a[0] === b[0] || a[1] === b[1])) continue;
    simplified.push(p);
  }
  return simplified;
}

// Labels are about this far (in tenths) from one another at least, where the shapes allow it.
const LABEL_CLEARANCE = 600;

/**
 * Where to put a county's label: the inside point farthest from its outline (pole of inaccessibility), found by
 * a grid search refined around the best point, and kept LABEL_CLEARANCE from the labels `placed` before where the
 * shape allows. Points are in tenths.
 */
function labelPoint(rings, segments, placed = []) {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const r of rings) for (const [x, y] of r) {
    if (x < minX) minX = x;
    if (x > maxX) maxX = x;
    if (y < minY) minY = y;
    if (y > maxY) maxY = y;
  }
  const inside = (x, y) => {
    let winding = 0;
    for (const r of rings) {
      for (let i = 0, n = r.length; i < n; i++) {
        const p = r[i], q = r[(i + 1) % n];
        if (p[1] <= y) {
          if (q[1] > y && cross(p, q, x, y) > 0) winding++;
        } else if (q[1] <= y && cross(p, q, x, y) < 0) winding--;
      }
    }
    return winding !== 0;
  };
  const cross = (p, q, x, y) => (q[0] - p[0]) * (y - p[1]) - (x - p[0]) * (q[1] - p[1]);
  const distance = (x, y) => {
    let best = Infinity;
    for (const [p, q] of segments) {
      const dx = q[0] - p[0], dy = q[1] - p[1];
      const len = dx * dx + dy * dy;
      let t = len ? ((x - p[0]) * dx + (y - p[1]) * dy) / len : 0;
      t = Math.max(0, Math.min(1, t));
      const ex = p[0] + t * dx - x, ey = p[1] + t * dy - y;
      const d = ex * ex + ey * ey;
      if (d < best) best = d;
    }
    return Math.sqrt(best);
  };
  let best = null;
  const search = (x0, y0, x1, y1, steps) => {
    const sx = (x1 - x0) / steps, sy = (y1 - y0) / steps;
    for (let i = 0; i <= steps; i++) {
      for (let j = 0; j <= steps; j++) {
        const x = x0 + i * sx, y = y0 + j * sy;
        if (!inside(x, y)) continue;
        let d = distance(x, y);
        for (const [px, py] of placed) d = Math.min(d, Math.hypot(x - px, y - py) - LABEL_CLEARANCE);
        if (!best || d > best.d) best = { x, y, d };
      }
    }
    return [sx, sy];
  };
  let [sx, sy] = search(minX, minY, maxX, maxY, 40);
  for (let k = 0; k < 3 && best; k++) {
    const { x, y } = best;
    [sx, sy] = search(x - sx, y - sy, x + sx, y + sy, 10);
  }
  if (!best) {
    // Degenerate shape: fall back to the middle of its bounding box.
    return [(minX + maxX) / 2, (minY + maxY) / 2];
  }
  return [best.x, best.y];
}

/** A number in tenths as the shortest SVG path number: 12 → "1.2", 5 → ".5", -5 → "-.5", 30 → "3". */
function num(t) {
  const neg = t < 0;
  const a = Math.abs(t);
  const whole = Math.floor(a / 10), frac = a % 10;
  let s = frac ? `${whole || ''}.${frac}` : `${whole}`;
  return neg ? `-${s}` : s;
}

/** Appends numbers to a path string with the fewest separators the SVG path grammar allows. */
function appendNumbers(out, nums) {
  for (const s of nums) {
    const prev = out[out.length - 1];
    const prevChar = prev ? prev[prev.length - 1] : '';
    const needsSep =
      prev !== undefined && /[0-9.]/.test(prevChar) && !(s[0] === '-' || (s[0] === '.' && prev.includes('.')));
    out.push(needsSep ? ` ${s}` : s);
  }
}

/** A polyline as "M x y l dx dy …" (absolute start, relative steps). */
function polylinePath(points, closed) {
  const out = [];
  const pieces = [`M`];
  appendNumbers(out, [num(points[0][0]), num(points[0][1])]);
  pieces.push(out.join(''));
  if (points.length > 1) {
    const rel = [];
    for (let i = 1; i < points.length; i++) {
      rel.push(num(points[i][0] - points[i - 1][0]), num(points[i][1] - points[i - 1][1]));
    }
    const o = [];
    appendNumbers(o, rel);
    pieces.push('l', o.join(''));
  }
  if (closed) pieces.push('z');
  return pieces.join('');
}

function ringsPath(rings) {
  return rings.map((r) => polylinePath(r, true)).join('');
}

function linesPath(lines) {
  return lines
    .map((l) => (l.length > 3 && same(l[0], l[l.length - 1]) ? polylinePath(l.slice(0, -1), true) : polylinePath(l, false)))
    .join('');
}

function write(data) {
  mkdirSync(OUT_DIR, { recursive: true });
  const json = JSON.stringify(data);
  // Unchanged: not written, so that the file's time does not make cargo
  // run the build script again.
  const old = existsSync(OUTPUT) ? readFileSync(OUTPUT, 'utf8') : null;
  if (old !== json + '\n') writeFileSync(OUTPUT, json + '\n');
  return json.length;
}

try {
  const data = main();
  const size = write(data);
  const summary = data.counties.map((c) => `${c.name} ${c.municipalities}`).join(', ');
  console.log(`geo: wrote ${path.relative(process.cwd(), OUTPUT) || OUTPUT} (${(size / 1024).toFixed(1)} KiB): ${summary}`);
} catch (e) {
  const why = e instanceof Missing ? e.message : `the map could not be built: ${e && e.stack ? e.stack : e}`;
  console.warn(`warning: geo: ${why}\nwarning: geo: the UI will be built without county shapes.`);
  write({ missing: why });
}
