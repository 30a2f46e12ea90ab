// Every call goes to this server's /api/v1 with the session cookie: the
// UI sees and does exactly what the API lets the signed-in user.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, { method = 'GET', body, text = false } = {}) {
  const headers = { Accept: text ? 'text/plain, text/html' : 'application/json' };
  const opts = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch('/api/v1' + path, opts);
  } catch (e) {
    throw new ApiError(0, 'the server cannot be reached');
  }
  if (r.status === 401 && !path.startsWith('/auth/')) {
    window.dispatchEvent(new CustomEvent('vakt-signed-out'));
  }
  if (!r.ok) {
    let msg = r.statusText;
    try {
      const j = await r.json();
      msg = j.error || msg;
    } catch (_) { /* not JSON */ }
    throw new ApiError(r.status, msg);
  }
  if (text) return r.text();
  if (r.status === 204) return null;
  return r.json();
}

export const get = (p) => api(p);
export const post = (p, body) => api(p, { method: 'POST', body: body ?? {} });
export const put = (p, body) => api(p, { method: 'PUT', body });
export const patch = (p, body) => api(p, { method: 'PATCH', body });
export const del = (p) => api(p, { method: 'DELETE' });

/** Query string from an object (skips empty values; arrays repeat). */
export function qs(o) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => x !== '' && u.append(k, x));
    else u.append(k, v);
  }
  const s = u.toString();
  return s ? '?' + s : '';
}
