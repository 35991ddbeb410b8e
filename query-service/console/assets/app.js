// The streaming console: Preact + htm, no build step. Every request goes to
// a documented public API: the query API on this origin, the command API at
// the URL in <meta name="streaming-command-url">. Text from the APIs is
// always rendered as text (never as HTML).
import { h, render } from '../VENDOR/preact.mjs';
import { useEffect, useRef, useState } from '../VENDOR/hooks.mjs';
import htm from '../VENDOR/htm.mjs';
import uPlot from '../VENDOR/uPlot.esm.js';

const html = htm.bind(h);
const COMMAND = document.querySelector('meta[name="streaming-command-url"]').content;
const QUERY = location.origin;
const STORE = 'streaming.console.session';

// session ------------------------------------------------------------------
function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE) ?? 'null');
  } catch {
    return null;
  }
}
let session = loadSession();
const listeners = new Set();
function setSession(s) {
  session = s;
  if (s) sessionStorage.setItem(STORE, JSON.stringify(s));
  else sessionStorage.removeItem(STORE);
  for (const l of listeners) l();
}
function roleOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part)).role ?? 'member';
  } catch {
    return 'member';
  }
}

// API ----------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ?? `HTTP ${status}`);
    this.status = status;
    this.code = body?.code ?? 'HTTP_' + status;
  }
}
async function api(base, method, path, body) {
  const headers = { accept: 'application/json' };
  if (session?.token) headers.authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(base + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (res.status === 401 && session) {
    // an ended or expired session: back to the login page
    setSession(null);
    location.hash = '#/login';
  }
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}
const query = (path) => api(QUERY, 'GET', path);
const command = (method, path, body) => api(COMMAND, method, path, body);
const qs = (params) => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') p.set(k, v);
  const s = p.toString();
  return s ? `?${s}` : '';
};

// routing ------------------------------------------------------------------
function useHash() {
  const [hash, setHash] = useState(location.hash || '#/messages');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/messages');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}
function useSession() {
  const [, tick] = useState(0);
  useEffect(() => {
    const l = () => tick((n) => n + 1);
    listeners.add(l);
    return () => listeners.delete(l);
  }, []);
  return session;
}
function useLoad(fn, deps) {
  const [state, setState] = useState({ loading: true });
  const [n, reload] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    fn().then(
      (data) => live && setState({ data }),
      (error) => live && setState({ error }),
    );
    return () => {
      live = false;
    };
  }, [...deps, n]);
  return [state, () => reload((x) => x + 1)];
}

const fmt = (t) => (t ? new Date(t).toLocaleString() : '');
const Status = ({ s }) => html`<span class=${`status ${s}`}>${s}</span>`;
const Err = ({ error }) =>
  error ? html`<p class="error" role="alert">${error.code}: ${error.message}</p>` : null;

// login --------------------------------------------------------------------
function Login() {
  const [error, setError] = useState();
  const submit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      const r = await api(COMMAND, 'POST', '/v1/sessions', {
        username: f.get('username'),
        password: f.get('password'),
      });
      setSession({ token: r.token, username: f.get('username'), role: roleOf(r.token) });
      location.hash = '#/messages';
    } catch (err) {
      setError(err);
    }
  };
  return html`<section class="card login">
    <h2>Log in to streaming</h2>
    <form onSubmit=${submit} id="login">
      <label>Username <input name="username" autocomplete="username" required /></label>
      <label
        >Password <input name="password" type="password" autocomplete="current-password" required
      /></label>
      <button type="submit">Log in</button>
      <${Err} error=${error} />
    </form>
  </section>`;
}

// messages -----------------------------------------------------------------
function Messages() {
  const [filters, setFilters] = useState({
    status: '',
    templateCode: '',
    mobile: '',
    from: '',
    to: '',
  });
  const [state, reload] = useLoad(
    () =>
      query(
        '/v1/messages' +
          qs({
            ...filters,
            from: filters.from ? new Date(filters.from).toISOString() : '',
            to: filters.to ? new Date(filters.to).toISOString() : '',
            limit: 50,
          }),
      ),
    [JSON.stringify(filters)],
  );
  const set = (k) => (e) => setFilters({ ...filters, [k]: e.target.value });
  const items = state.data?.items ?? [];
  return html`<section class="card">
    <h2>Messages</h2>
    <div class="filters">
      <label
        >Status
        <select name="status" value=${filters.status} onChange=${set('status')}>
          ${['', 'accepted', 'submitted', 'delivered', 'undelivered', 'failed'].map(
            (s) => html`<option value=${s}>${s || 'any'}</option>`,
          )}
        </select></label
      >
      <label
        >Template
        <input name="templateCode" value=${filters.templateCode} onChange=${set('templateCode')}
      /></label>
      <label
        >Mobile <input name="mobile" value=${filters.mobile} onChange=${set('mobile')}
      /></label>
      <label
        >From
        <input type="datetime-local" name="from" value=${filters.from} onChange=${set('from')}
      /></label>
      <label
        >To <input type="datetime-local" name="to" value=${filters.to} onChange=${set('to')}
      /></label>
      <button class="plain" onClick=${reload} id="refresh">Refresh</button>
    </div>
    <${Err} error=${state.error} />
    <div class="scroll">
      <table id="messages">
        <thead>
          <tr>
            <th>Accepted</th>
            <th>Mobile</th>
            <th>Template</th>
            <th>Status</th>
            <th class="opt">Supplier</th>
            <th class="opt">Content</th>
          </tr>
        </thead>
        <tbody>
          ${items.map(
            (m) =>
              html`<tr
                class="click"
                data-id=${m.messageId}
                onClick=${() => (location.hash = `#/messages/${encodeURIComponent(m.messageId)}`)}
              >
                <td>${fmt(m.acceptedAt)}</td>
                <td>${m.mobile}</td>
                <td>${m.templateCode}</td>
                <td><${Status} s=${m.status} /></td>
                <td class="opt">${m.supplierAccount ?? ''}</td>
                <td class="opt wrap">${m.content ?? ''}</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${!state.loading && items.length === 0 ? html`<p class="muted">No messages.</p>` : null}
  </section>`;
}

function MessageDetail({ id }) {
  const [state, reload] = useLoad(() => query(`/v1/messages/${encodeURIComponent(id)}`), [id]);
  const m = state.data;
  useEffect(() => {
    if (!m || ['delivered', 'undelivered', 'failed'].includes(m.status)) return;
    const t = setTimeout(reload, 1500);
    return () => clearTimeout(t);
  }, [m]);
  return html`<section class="card">
    <h2><a href="#/messages">Messages</a> › ${id}</h2>
    <${Err} error=${state.error} />
    ${
      m &&
      html`<div>
        <p>
          <${Status} s=${m.status} /> ${m.mobile} · template ${m.templateCode} · ${m.segments}
          segment(s) ${m.supplierAccount ? ` · via ${m.supplierAccount}` : ''}
        </p>
        <p class="wrap" id="content">${m.content ?? ''}</p>
        ${m.error ? html`<p class="error">${m.error.code}: ${m.error.message ?? ''}</p>` : null}
        <h2>Timeline</h2>
        <table id="timeline">
          <thead>
            <tr>
              <th>When</th>
              <th>What</th>
              <th>Detail</th>
            </tr>
          </thead>
          <tbody>
            ${(m.timeline?.states ?? []).map(
              (s) =>
                html`<tr>
                  <td>${fmt(s.at ?? s.timestamp)}</td>
                  <td><${Status} s=${s.status ?? s.type} /></td>
                  <td class="wrap">
                    ${[s.supplierAccount, s.reason?.code ?? s.code].filter(Boolean).join(' · ')}
                  </td>
                </tr>`,
            )}
            ${(m.timeline?.attempts ?? []).map(
              (a) =>
                html`<tr>
                  <td>${fmt(a.at ?? a.timestamp)}</td>
                  <td>attempt ${a.attempt ?? ''}</td>
                  <td class="wrap">
                    ${[a.supplierAccount ?? a.account, a.outcome, a.supplierMessageId].filter(Boolean).join(' · ')}
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>`
    }
  </section>`;
}

// templates ----------------------------------------------------------------
function Templates() {
  const [state, reload] = useLoad(() => query('/v1/templates?limit=100'), []);
  const [error, setError] = useState();
  const [note, setNote] = useState();
  const [editing, setEditing] = useState();
  // the list is a read model: reload until the new template is in it
  const [waitFor, setWaitFor] = useState();
  useEffect(() => {
    if (!waitFor) return;
    if ((state.data?.items ?? []).some((t) => t.templateCode === waitFor)) {
      setWaitFor(undefined);
      return;
    }
    const t = setTimeout(reload, 400);
    return () => clearTimeout(t);
  }, [waitFor, state]);
  const create = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      const r = await command('POST', '/v1/templates', {
        name: f.get('name'),
        kind: f.get('kind'),
        signature: f.get('signature'),
        content: f.get('content'),
        policy: {},
      });
      setError(undefined);
      setNote(`Template ${r.templateCode} created.`);
      e.target.reset();
      setWaitFor(r.templateCode);
    } catch (err) {
      setError(err);
    }
  };
  const save = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      await command('PATCH', `/v1/templates/${encodeURIComponent(editing)}`, {
        content: f.get('content'),
      });
      setEditing(undefined);
      setNote(`Template ${editing} saved.`);
      setTimeout(reload, 300);
    } catch (err) {
      setError(err);
    }
  };
  const items = state.data?.items ?? [];
  return html`<section class="card">
      <h2>New template</h2>
      <form class="grid" onSubmit=${create} id="new-template">
        <label>Name <input name="name" required maxlength="100" /></label>
        <label
          >Kind
          <select name="kind">
            <option value="notification">notification</option>
            <option value="verification">verification</option>
            <option value="marketing">marketing</option>
          </select></label
        >
        <label>Signature <input name="signature" required maxlength="32" /></label>
        <label
          >Content
          <textarea
            name="content"
            required
            maxlength="1000"
            placeholder="Hello, \${name}!"
          ></textarea>
        </label>
        <button type="submit">Create</button>
      </form>
      <${Err} error=${error} />
      ${note ? html`<p class="note" role="status">${note}</p>` : null}
    </section>
    <section class="card">
      <h2>Templates</h2>
      <${Err} error=${state.error} />
      <div class="scroll">
        <table id="templates">
          <thead>
            <tr>
              <th>Code</th>
              <th>Name</th>
              <th>Kind</th>
              <th>Signature</th>
              <th>Content</th>
              <th>State</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${items.map(
              (t) =>
                html`<tr data-code=${t.templateCode}>
                  <td><code>${t.templateCode}</code></td>
                  <td>${t.name}</td>
                  <td>${t.kind}</td>
                  <td>${t.signature ?? ''}</td>
                  <td class="wrap">
                    ${
                      editing === t.templateCode
                        ? html`<form onSubmit=${save} class="edit">
                            <textarea name="content" defaultValue=${t.content}></textarea>
                            <button type="submit">Save</button>
                            <button
                              type="button"
                              class="plain"
                              onClick=${() => setEditing(undefined)}
                            >
                              Cancel
                            </button>
                          </form>`
                        : t.content
                    }
                  </td>
                  <td>
                    <${Status} s=${t.enabled === false ? 'disabled' : 'enabled'} />
                    ${
                      Array.isArray(t.bindings ?? t.approvals)
                        ? (t.bindings ?? t.approvals).map(
                            (a) =>
                              html` <span class="muted">${a.account ?? a.supplierAccount}:</span>
                                <${Status} s=${a.status} />`,
                          )
                        : null
                    }
                  </td>
                  <td>
                    <button class="plain" onClick=${() => setEditing(t.templateCode)}>Edit</button>
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>
      </div>
    </section>`;
}

// API keys -----------------------------------------------------------------
function ApiKeys() {
  const [state, reload] = useLoad(() => command('GET', '/v1/api-keys'), []);
  const [created, setCreated] = useState();
  const [error, setError] = useState();
  const create = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      setCreated(await command('POST', '/v1/api-keys', { name: f.get('name') }));
      e.target.reset();
      reload();
    } catch (err) {
      setError(err);
    }
  };
  const revoke = async (id) => {
    try {
      await command('DELETE', `/v1/api-keys/${encodeURIComponent(id)}`);
      reload();
    } catch (err) {
      setError(err);
    }
  };
  const keys =
    state.data?.items ?? state.data?.keys ?? (Array.isArray(state.data) ? state.data : []);
  return html`<section class="card">
    <h2>API keys</h2>
    <form class="grid" onSubmit=${create}>
      <label>Name <input name="name" required maxlength="100" /></label>
      <button type="submit">Create key</button>
    </form>
    ${
      created
        ? html`<p class="note">
            New key (shown once): <code>${created.apiKey ?? created.key ?? created.secret}</code>
          </p>`
        : null
    }
    <${Err} error=${error ?? state.error} />
    <table>
      <thead>
        <tr>
          <th>Name</th>
          <th>Id</th>
          <th>Created</th>
          <th>State</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${keys.map(
          (k) =>
            html`<tr>
              <td>${k.name}</td>
              <td><code>${k.keyId ?? k.id}</code></td>
              <td>${fmt(k.createdAt)}</td>
              <td><${Status} s=${k.revoked || k.revokedAt ? 'revoked' : 'active'} /></td>
              <td>
                ${k.revoked || k.revokedAt ? null : html`<button class="plain" onClick=${() => revoke(k.keyId ?? k.id)}>Revoke</button>`}
              </td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

// send ---------------------------------------------------------------------
function Send() {
  const [tpls] = useLoad(() => query('/v1/templates?limit=100'), []);
  const [error, setError] = useState();
  const [sent, setSent] = useState();
  const submit = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    let params;
    try {
      params = JSON.parse(f.get('params') || '{}');
    } catch {
      setError({ code: 'PARAMS_NOT_JSON', message: 'Parameters must be a JSON object.' });
      return;
    }
    try {
      const r = await command('POST', '/v1/messages', {
        templateCode: f.get('templateCode'),
        mobile: f.get('mobile'),
        params,
      });
      setError(undefined);
      setSent(r.messageId);
    } catch (err) {
      setError(err);
    }
  };
  return html`<section class="card">
    <h2>Send a test message</h2>
    <form class="grid" onSubmit=${submit} id="send">
      <label
        >Template
        <select name="templateCode" required>
          ${(tpls.data?.items ?? [])
            .filter((t) => t.kind !== 'verification' && t.enabled !== false)
            .map(
              (t) => html`<option value=${t.templateCode}>${t.name} (${t.templateCode})</option>`,
            )}
        </select></label
      >
      <label>Mobile <input name="mobile" required placeholder="13800138000" /></label>
      <label
        >Parameters (JSON) <textarea name="params" placeholder='{"name":"Li"}'></textarea>
      </label>
      <button type="submit">Send</button>
    </form>
    <${Err} error=${error} />
    ${
      sent
        ? html`<p class="note" role="status">
            Accepted: <a id="sent-link" href=${`#/messages/${encodeURIComponent(sent)}`}>${sent}</a>
          </p>`
        : null
    }
  </section>`;
}

// charts -------------------------------------------------------------------
function Chart({ id, title, data, series, yRange, categories }) {
  const ref = useRef();
  useEffect(() => {
    if (!ref.current || !data) return;
    const width = Math.max(260, ref.current.clientWidth - 8);
    const plot = new uPlot(
      {
        width,
        height: 220,
        title,
        scales: {
          x: categories ? { time: false, range: [-0.5, categories.length - 0.5] } : { time: true },
          ...(yRange ? { y: { range: yRange } } : {}),
        },
        series: [
          categories ? { label: 'account', value: (_, i) => categories[i] ?? '' } : {},
          ...series,
        ],
        axes: [
          categories
            ? {
                splits: () => categories.map((_, i) => i),
                values: (_, ticks) => ticks.map((i) => categories[i] ?? ''),
              }
            : {},
          {},
        ],
      },
      data,
      ref.current,
    );
    return () => plot.destroy();
  }, [data]);
  return html`<div class="chart" id=${id} ref=${ref}></div>`;
}

const COLORS = {
  accepted: '#b25e00',
  submitted: '#8a63d2',
  delivered: '#1a7f37',
  undelivered: '#c0362c',
  failed: '#6b1d17',
};

function Charts() {
  const [state] = useLoad(() => {
    const to = new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000);
    const from = new Date(to.getTime() - 24 * 3_600_000);
    return query(
      '/v1/stats' + qs({ granularity: 'hour', from: from.toISOString(), to: to.toISOString() }),
    );
  }, []);
  const buckets = state.data?.buckets ?? [];
  // every hour of the window, with zeros where the API has no bucket
  const to = state.data ? Date.parse(state.data.to) : Date.now();
  const hours = [];
  for (let t = to - 24 * 3_600_000; t < to; t += 3_600_000) hours.push(t);
  const at = new Map(buckets.map((b) => [Math.floor(Date.parse(b.start) / 3_600_000), b]));
  const slot = hours.map((t) => at.get(Math.floor(t / 3_600_000)));
  const xs = hours.map((t) => t / 1000);
  const statuses = Object.keys(COLORS);
  const byStatus = [xs, ...statuses.map((s) => slot.map((b) => b?.byStatus?.[s] ?? 0))];
  const rate = [
    xs,
    slot.map((b) => {
      const d = b?.byStatus?.delivered ?? 0;
      const bad = (b?.byStatus?.undelivered ?? 0) + (b?.byStatus?.failed ?? 0);
      return d + bad === 0 ? null : (100 * d) / (d + bad);
    }),
  ];
  const total = buckets.reduce((n, b) => n + (b.total ?? 0), 0);
  const delivered = buckets.reduce((n, b) => n + (b.byStatus?.delivered ?? 0), 0);
  return html`<section class="card">
    <h2>Last 24 hours</h2>
    <${Err} error=${state.error} />
    <div class="kpis">
      <div class="kpi"><span class="muted">Sent</span><b id="kpi-total">${total}</b></div>
      <div class="kpi"><span class="muted">Delivered</span><b>${delivered}</b></div>
      <div class="kpi">
        <span class="muted">Delivery rate</span
        ><b>${total ? ((100 * delivered) / total).toFixed(1) + ' %' : '–'}</b>
      </div>
    </div>
    ${
      state.data
        ? html`<div class="charts">
            <${Chart}
              id="chart-status"
              title="Sends per hour by status"
              data=${byStatus}
              series=${statuses.map((s) => ({ label: s, stroke: COLORS[s], width: 2, points: { show: true } }))}
            />
            <${Chart}
              id="chart-rate"
              title="Delivery rate (%)"
              data=${rate}
              yRange=${[0, 100]}
              series=${[{ label: 'delivered %', stroke: '#1a7f37', width: 2, points: { show: true } }]}
            />
          </div>`
        : null
    }
  </section>`;
}

// admin --------------------------------------------------------------------
function Suppliers() {
  const [state, reload] = useLoad(() => {
    const to = new Date();
    const from = new Date(to.getTime() - 24 * 3_600_000);
    return query('/v1/stats/suppliers' + qs({ from: from.toISOString(), to: to.toISOString() }));
  }, []);
  const list = state.data?.suppliers ?? [];
  const calls = [list.map((_, i) => i), list.map((s) => s.calls ?? 0)];
  return html`<section class="card">
    <h2>Supplier accounts (last 24 h) <button class="plain" onClick=${reload}>Refresh</button></h2>
    <${Err} error=${state.error} />
    <div class="scroll">
      <table id="suppliers">
        <thead>
          <tr>
            <th>Account</th>
            <th>Vendor</th>
            <th>Calls</th>
            <th>Success</th>
            <th>Latency p50 / p95 / p99</th>
            <th>Error codes</th>
          </tr>
        </thead>
        <tbody>
          ${list.map(
            (s) =>
              html`<tr data-account=${s.account}>
                <td><b>${s.account}</b></td>
                <td>${s.vendor}</td>
                <td>${s.calls}</td>
                <td>${s.successRate == null ? '–' : (100 * s.successRate).toFixed(1) + ' %'}</td>
                <td>${['p50', 'p95', 'p99'].map((p) => s.latencyMs?.[p] ?? '–').join(' / ')} ms</td>
                <td class="wrap">
                  ${(s.rejections ?? []).map((r) => `${r.code} × ${r.count}`).join(', ') || '–'}
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${
      list.length
        ? html`<${Chart}
            id="chart-suppliers"
            title="Calls per account"
            data=${calls}
            categories=${list.map((s) => s.account)}
            series=${[
              {
                label: 'calls',
                stroke: '#2858c6',
                fill: 'rgba(40, 88, 198, 0.35)',
                paths: uPlot.paths.bars({ size: [0.5] }),
                points: { show: false },
              },
            ]}
          />`
        : null
    }
    ${
      state.data?.sendRejections?.length
        ? html`<h2>Refused sends</h2>
            <p>${state.data.sendRejections.map((r) => `${r.rule} × ${r.count}`).join(', ')}</p>`
        : null
    }
  </section>`;
}

function Tenants() {
  const [state, reload] = useLoad(() => query('/v1/tenants?limit=100'), []);
  const items = state.data?.items ?? [];
  return html`<section class="card">
    <h2>Tenants <button class="plain" onClick=${reload}>Refresh</button></h2>
    <${Err} error=${state.error} />
    <div class="scroll">
      <table id="tenants">
        <thead>
          <tr>
            <th>Tenant</th>
            <th>Status</th>
            <th>Limits</th>
            <th class="opt">Verified numbers</th>
            <th class="opt">Since</th>
          </tr>
        </thead>
        <tbody>
          ${items.map(
            (t) =>
              html`<tr>
                <td><code>${t.tenantId}</code></td>
                <td>
                  <${Status} s=${t.status} />${t.suspendedReason ? ` ${t.suspendedReason}` : ''}
                </td>
                <td class="wrap"><code>${JSON.stringify(t.limits ?? {})}</code></td>
                <td class="opt">${t.verifiedNumbers ?? ''}</td>
                <td class="opt">${fmt(t.createdAt)}</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
  </section>`;
}

// shell --------------------------------------------------------------------
const TENANT_PAGES = [
  ['#/messages', 'Messages'],
  ['#/templates', 'Templates'],
  ['#/send', 'Send'],
  ['#/charts', 'Charts'],
  ['#/keys', 'API keys'],
];
const ADMIN_PAGES = [
  ['#/suppliers', 'Suppliers'],
  ['#/tenants', 'Tenants'],
];

function App() {
  const s = useSession();
  const hash = useHash();
  if (!s || hash === '#/login') return html`<${Login} />`;
  const pages = s.role === 'admin' ? [...TENANT_PAGES, ...ADMIN_PAGES] : TENANT_PAGES;
  const logout = async () => {
    await command('POST', '/v1/sessions/logout').catch(() => undefined);
    setSession(null);
    location.hash = '#/login';
  };
  let page;
  const detail = /^#\/messages\/(.+)$/.exec(hash);
  if (detail) page = html`<${MessageDetail} id=${decodeURIComponent(detail[1])} />`;
  else if (hash === '#/templates') page = html`<${Templates} />`;
  else if (hash === '#/send') page = html`<${Send} />`;
  else if (hash === '#/charts') page = html`<${Charts} />`;
  else if (hash === '#/keys') page = html`<${ApiKeys} />`;
  else if (hash === '#/suppliers' && s.role === 'admin') page = html`<${Suppliers} />`;
  else if (hash === '#/tenants' && s.role === 'admin') page = html`<${Tenants} />`;
  else page = html`<${Messages} />`;
  return html`<header>
      <h1>streaming</h1>
      <nav>
        ${pages.map(
          ([href, label]) =>
            html`<a href=${href} class=${hash.startsWith(href) ? 'on' : ''}>${label}</a>`,
        )}
      </nav>
      <span class="who"
        >${s.username} (${s.role})
        <button class="plain" onClick=${logout} id="logout">Log out</button></span
      >
    </header>
    <main>${page}</main>`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
