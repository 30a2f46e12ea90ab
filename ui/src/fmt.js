// Numbers with the reader's thousands separators; times in the reader's
// zone, with UTC a hover (and a switch) away.
import { signal } from './state.js';

const nf = new Intl.NumberFormat();
export const num = (n) => (n === null || n === undefined || Number.isNaN(n) ? '–' : nf.format(n));

export const utc = signal(localStorage.getItem('vakt-utc') === '1');
export function setUtc(v) {
  utc.value = v;
  localStorage.setItem('vakt-utc', v ? '1' : '0');
}

const local = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
});
const localShort = new Intl.DateTimeFormat(undefined, { month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit' });
export const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';

export function isoUtc(t) {
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime())) return '';
  return d.toISOString().replace('.000Z', 'Z');
}

/** A time as the reader wants it (their zone, or UTC). */
export function time(t, short = false) {
  if (!t) return '–';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  if (utc.value) return isoUtc(d).replace('T', ' ').slice(0, short ? 16 : 19) + ' UTC';
  return (short ? localShort : local).format(d);
}

/** How long until (or since) a time, in words. */
export function until(t, now = Date.now()) {
  const d = new Date(t).getTime() - now;
  const a = Math.abs(d);
  const h = Math.floor(a / 3600000);
  const m = Math.floor((a % 3600000) / 60000);
  const s = h >= 48 ? `${Math.floor(h / 24)} d ${h % 24} h` : h > 0 ? `${h} h ${m} min` : `${m} min`;
  return d >= 0 ? `in ${s}` : `${s} ago`;
}

export function seconds(s) {
  if (s === null || s === undefined) return '–';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'informational'];
export const sevRank = (s) => { const i = SEVERITIES.indexOf(s); return i < 0 ? 9 : i; };
