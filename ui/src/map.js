// The map of Norway's 2018 South-East counties on which an incident's patient exposure is shown.
//
// <CountyMap byCounty=${{ Akershus: { confirmed: 816, possible: 3195 }, unknown: { confirmed: 3, possible: 9 } }} />
//
// The shapes come from ./gen/geo.json, made by scripts/geo.mjs at build time. The page runs under a strict
// Content-Security-Policy (style-src 'self'): no <style> elements and no style attributes here; styling is by the
// classes in ./map.css, and colours of shapes by SVG presentation attributes.

import { html } from 'htm/preact';
import { useId } from 'preact/hooks';
import geo from './gen/geo.json';
import './map.css';

const numberFormat = new Intl.NumberFormat();
const fmt = (n) => numberFormat.format(n);

// Sequential scale for confirmed exposure (ColorBrewer OrRd, light → dark), and the other fills.
const PALETTE = ['#fdd49e', '#fdbb84', '#fc8d59', '#e34a33', '#b30000'];
const NONE_FILL = '#f7f7f4';
const HATCH_BACK = '#fff7ec';
const HATCH_STRIPE = '#f2a56b';
const CONTEXT_FILL = '#dcdcdc';
const EDGE_STROKE = '#3d3d3d';

const DISPLAY_NAMES = { unknown: 'Unknown' };

// The counties of the map, in the order of their 2018 numbers: the table's order even when the shapes are missing.
const REGION = [
  'Østfold', 'Akershus', 'Oslo', 'Hedmark', 'Oppland',
  'Buskerud', 'Vestfold', 'Telemark', 'Aust-Agder', 'Vest-Agder',
];

const nfc = (s) => String(s).normalize('NFC');

function counts(value) {
  const confirmed = Number(value && value.confirmed);
  const possible = Number(value && value.possible);
  return {
    confirmed: Number.isFinite(confirmed) && confirmed > 0 ? confirmed : 0,
    possible: Number.isFinite(possible) && possible > 0 ? possible : 0,
  };
}

/** The 1-2-5 number nearest to v on a log scale. */
function nice(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  let best = p;
  for (const m of [1, 2, 5, 10]) {
    if (Math.abs(Math.log(m * p) - Math.log(v)) < Math.abs(Math.log(best) - Math.log(v))) best = m * p;
  }
  return best;
}

/**
 * Classes of confirmed counts for a largest count `max`: lower bounds, starting at 1, spread evenly on a log
 * scale and rounded to 1-2-5 numbers; at most as many as there are colours.
 */
function classesFor(max) {
  const lows = [1];
  if (max > 1) {
    const steps = PALETTE.length;
    for (let k = 1; k < steps; k++) {
      const t = nice(max ** (k / steps));
      if (t > lows[lows.length - 1] && t <= max) lows.push(t);
    }
  }
  // Spread the colours over the classes so that the top class is always the darkest.
  return lows.map((low, i) => ({
    low,
    high: i + 1 < lows.length ? lows[i + 1] - 1 : Infinity,
    colour: PALETTE[lows.length === 1 ? PALETTE.length - 1 : Math.round((i * (PALETTE.length - 1)) / (lows.length - 1))],
  }));
}

function classLabel({ low, high }) {
  if (high === Infinity) return low === 1 ? '1 or more' : `${fmt(low)} or more`;
  return low === high ? fmt(low) : `${fmt(low)}–${fmt(high)}`;
}

function Swatch({ fill }) {
  return html`<svg class="vakt-map__swatch" width="16" height="16" viewBox="0 0 16 16" aria-hidden="true" focusable="false">
    <rect x="0.5" y="0.5" width="15" height="15" fill=${fill} stroke=${EDGE_STROKE} stroke-width="1" />
  </svg>`;
}

function Table({ rows }) {
  return html`<table class="vakt-map__table">
    <caption>Patients exposed, by 2018 county</caption>
    <thead>
      <tr>
        <th scope="col">County</th>
        <th scope="col" class="vakt-map__num">Confirmed</th>
        <th scope="col" class="vakt-map__num">Possible</th>
      </tr>
    </thead>
    <tbody>
      ${rows.length === 0
        ? html`<tr><td colspan="3" class="vakt-map__muted">No exposure by county reported.</td></tr>`
        : rows.map(
            (r) => html`<tr key=${r.key}>
              <th scope="row">
                ${r.name}${r.offMap ? html` <span class="vakt-map__muted">(not on the map)</span>` : null}
              </th>
              <td class="vakt-map__num">${fmt(r.confirmed)}</td>
              <td class="vakt-map__num">${fmt(r.possible)}</td>
            </tr>`,
          )}
    </tbody>
  </table>`;
}

/**
 * Exposure by 2018 county on a map of the South-East region, with a legend, notes, credit, and a table of every
 * county in `byCounty` (including ones not on the map, such as "unknown").
 *
 * @param {{ byCounty?: Record<string, { confirmed?: number, possible?: number }> | null }} props
 */
export function CountyMap({ byCounty }) {
  const hatchId = `vakt-map-hatch-${useId()}`;
  const data = byCounty && typeof byCounty === 'object' ? byCounty : {};
  const shapes = geo && !geo.missing && Array.isArray(geo.counties) ? geo.counties : null;
  const order = new Map((shapes ? shapes.map((c) => c.name) : REGION).map((name, i) => [nfc(name), i]));

  // Table rows: every key of byCounty; the region's counties first, in county-number order, then the rest.
  const rows = Object.keys(data)
    .map((key) => ({
      key,
      name: DISPLAY_NAMES[key] || key,
      inRegion: order.has(nfc(key)),
      ...counts(data[key]),
    }))
    .map((r) => ({ ...r, onMap: Boolean(shapes) && r.inRegion, offMap: Boolean(shapes) && !r.inRegion }))
    .sort((a, b) => {
      if (a.inRegion !== b.inRegion) return a.inRegion ? -1 : 1;
      if (a.inRegion) return order.get(nfc(a.key)) - order.get(nfc(b.key));
      if (a.key === 'unknown' || b.key === 'unknown') return a.key === 'unknown' ? 1 : -1;
      return a.name.localeCompare(b.name);
    });

  if (!shapes) {
    return html`<section class="vakt-map">
      <p class="vakt-map__missing">
        The county shapes were not available when this copy of vakt was built, so exposure by county is shown as a
        table only.
      </p>
      <${Table} rows=${rows} />
    </section>`;
  }

  const byName = new Map(rows.filter((r) => r.onMap).map((r) => [nfc(r.key), r]));
  const max = Math.max(0, ...rows.filter((r) => r.onMap).map((r) => r.confirmed));
  const classes = max > 0 ? classesFor(max) : [];
  const colourOf = (n) => {
    for (let i = classes.length - 1; i >= 0; i--) if (n >= classes[i].low) return classes[i].colour;
    return NONE_FILL;
  };

  const counties = shapes.map((c) => {
    const r = byName.get(nfc(c.name)) || { confirmed: 0, possible: 0, missing: true };
    const fill = r.confirmed > 0 ? colourOf(r.confirmed) : r.possible > 0 ? `url(#${hatchId})` : NONE_FILL;
    const title = r.missing || (r.confirmed === 0 && r.possible === 0)
      ? `${c.name}: no exposure recorded`
      : `${c.name}: ${fmt(r.confirmed)} confirmed, ${fmt(r.possible)} possible`;
    return { ...c, ...r, fillColour: fill, title };
  });

  const exposed = counties
    .filter((c) => c.confirmed > 0 || c.possible > 0)
    .sort((a, b) => b.confirmed - a.confirmed || b.possible - a.possible);
  const ariaLabel = exposed.length
    ? `Exposure by county: ${exposed.map((c) => `${c.name} ${fmt(c.confirmed)} confirmed, ${fmt(c.possible)} possible`).join('; ')}`
    : 'Exposure by county: none recorded in the counties on the map';

  const hasPossibleOnly = counties.some((c) => c.confirmed === 0 && c.possible > 0);
  const straddles = Array.isArray(geo.straddles) ? geo.straddles : [];

  return html`<section class="vakt-map">
    <figure class="vakt-map__figure">
      <svg class="vakt-map__svg" viewBox=${geo.viewBox} role="img" aria-label=${ariaLabel}>
        <defs>
          <pattern id=${hatchId} patternUnits="userSpaceOnUse" width="6" height="6" patternTransform="rotate(45)">
            <rect width="6" height="6" fill=${HATCH_BACK} />
            <rect width="2.4" height="6" fill=${HATCH_STRIPE} />
          </pattern>
        </defs>
        <path class="vakt-map__context" d=${geo.context} fill=${CONTEXT_FILL} />
        ${counties.map(
          (c) => html`<g class="vakt-map__county" key=${c.name}>
            <title>${c.title}</title>
            <path d=${c.fill} fill=${c.fillColour} />
            <path class="vakt-map__edge" d=${c.edge} fill="none" stroke=${EDGE_STROKE} stroke-width="0.8"
              stroke-linejoin="round" />
          </g>`,
        )}
        <g class="vakt-map__labels" aria-hidden="true">
          ${counties.map((c) => {
            const lines = [['vakt-map__label-name', c.name]];
            if (c.confirmed > 0) lines.push(['vakt-map__label-count', fmt(c.confirmed)]);
            if (c.possible > 0) lines.push(['vakt-map__label-possible', `${fmt(c.possible)} possible`]);
            const [x, y] = c.label;
            // Centre the lines on the label point.
            const first = `${(0.35 - (lines.length - 1) * 0.575).toFixed(3)}em`;
            return html`<text key=${c.name} class="vakt-map__label" x=${x} y=${y} text-anchor="middle">
              ${lines.map(
                ([cls, text], i) => html`<tspan class=${cls} x=${x} dy=${i === 0 ? first : '1.15em'}>${text}</tspan>`,
              )}
            </text>`;
          })}
        </g>
      </svg>
      <figcaption class="vakt-map__caption">
        <div class="vakt-map__legend" role="group" aria-label="Legend">
          ${classes.length
            ? html`<span class="vakt-map__legend-title">Patients with confirmed exposure (the number on the map):</span>`
            : null}
          <ul class="vakt-map__legend-list">
            ${classes.map(
              (k) => html`<li key=${k.low}><${Swatch} fill=${k.colour} /> ${classLabel(k)}</li>`,
            )}
            ${hasPossibleOnly
              ? html`<li><${Swatch} fill=${`url(#${hatchId})`} /> possible exposure only</li>`
              : null}
            <li><${Swatch} fill=${NONE_FILL} /> none recorded</li>
            <li><${Swatch} fill=${CONTEXT_FILL} /> outside the region</li>
          </ul>
        </div>
        ${straddles.length
          ? html`<ul class="vakt-map__notes">
              ${straddles.map(
                (s) => html`<li key=${s.number}>
                  ${s.name} (2024) straddles the 2018 border of ${joinAnd(s.counties)}: drawn with ${s.drawn_with}.
                  ${s.note ? ` ${s.note}` : null}
                </li>`,
              )}
            </ul>`
          : null}
        <p class="vakt-map__credit">${geo.credit}</p>
      </figcaption>
    </figure>
    <${Table} rows=${rows} />
  </section>`;
}

function joinAnd(list) {
  if (!Array.isArray(list) || list.length === 0) return '';
  if (list.length === 1) return list[0];
  return `${list.slice(0, -1).join(', ')} and ${list[list.length - 1]}`;
}
