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
const FINAL = ['delivered', 'undelivered', 'failed', 'expired'];
const seconds = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);
const accountsOf = (text) =>
  String(text ?? '')
    .split(/[\s,]+/)
    .filter(Boolean);
/**
 * Reloads every `ms` while `pending()` holds (a write not shown yet, reviews
 * in progress), at most `times` times after `deps` last changed.
 */
function usePoll(state, reload, pending, deps = [], ms = 1000, times = 300) {
  const n = useRef(0);
  useEffect(() => {
    n.current = 0;
  }, deps);
  useEffect(() => {
    if (state.loading || !pending(state.data)) return;
    if (n.current++ >= times) return;
    const t = setTimeout(reload, ms);
    return () => clearTimeout(t);
  }, [state, ...deps]);
}
const Reviews = ({ list }) =>
  (list ?? []).map(
    (a) =>
      html`<span class="review" data-account=${a.account}
        ><span class="muted">${a.account}:</span> <${Status} s=${a.status} />${
          a.reason ? html` <span class="muted wrap">${a.reason}</span>` : null
        }</span
      >`,
  );
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
/** The message list's filters; `set(name)` handles a change of one. */
function MessageFilters({ filters, set, reload }) {
  return html`<div class="filters">
    <label
      >Status
      <select name="status" value=${filters.status} onChange=${set('status')}>
        ${[
          '',
          'accepted',
          'submitted',
          'uncertain',
          'delivered',
          'undelivered',
          'failed',
          'expired',
        ].map((s) => html`<option value=${s}>${s || 'any'}</option>`)}
      </select></label
    >
    <label
      >Template
      <input name="templateCode" value=${filters.templateCode} onChange=${set('templateCode')}
    /></label>
    <label>Mobile <input name="mobile" value=${filters.mobile} onChange=${set('mobile')} /></label>
    <label
      >From <input type="datetime-local" name="from" value=${filters.from} onChange=${set('from')}
    /></label>
    <label
      >To <input type="datetime-local" name="to" value=${filters.to} onChange=${set('to')}
    /></label>
    <button class="plain" onClick=${reload} id="refresh">Refresh</button>
  </div>`;
}

/** One message of the list; a click opens it. */
function MessageRow({ m }) {
  return html`<tr
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
  </tr>`;
}

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
    <${MessageFilters} filters=${filters} set=${set} reload=${reload} />
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
          ${items.map((m) => html`<${MessageRow} m=${m} />`)}
        </tbody>
      </table>
    </div>
    ${!state.loading && items.length === 0 ? html`<p class="muted">No messages.</p>` : null}
  </section>`;
}

function MessageDetail({ id }) {
  const [state, reload] = useLoad(() => query(`/v1/messages/${encodeURIComponent(id)}`), [id]);
  const m = state.data;
  // until it is final, and its timeline too (a projection of its own, which
  // may show the final state a moment after the status)
  usePoll(
    state,
    reload,
    (d) =>
      d !== undefined &&
      !(FINAL.includes(d.status) && (d.timeline?.states ?? []).some((s) => s.status === d.status)),
    [id],
    1500,
    Infinity,
  );
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
/** The form for a new template, with what came of the last attempt. */
function NewTemplate({ create, error, note }) {
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
  </section>`;
}

/** One template of the list, its edit form in place while `editing` is its code. */
function TemplateRow({ t, editing, save, setEditing }) {
  return html`<tr data-code=${t.templateCode}>
    <td><code>${t.templateCode}</code></td>
    <td>${t.name}</td>
    <td>${t.kind}</td>
    <td>${t.signature ?? ''}</td>
    <td class="wrap">
      ${
        editing === t.templateCode
          ? html`<form onSubmit=${save} class="edit" id="edit-template">
              <label
                >Signature <input name="signature" defaultValue=${t.signature} maxlength="32"
              /></label>
              <label
                >Content
                <textarea name="content" defaultValue=${t.content}></textarea>
              </label>
              <button type="submit">Save</button>
              <button type="button" class="plain" onClick=${() => setEditing(undefined)}>
                Cancel
              </button>
            </form>`
          : t.content
      }
    </td>
    <td>
      <${Status} s=${t.status ?? (t.enabled === false ? 'disabled' : 'enabled')} />
      <div class="reviews"><${Reviews} list=${t.bindings} /></div>
    </td>
    <td>
      <button class="plain" onClick=${() => setEditing(t.templateCode)}>Edit</button>
    </td>
  </tr>`;
}

/** The edited fields that differ from the template as listed. */
function templateChange(form, before) {
  const change = {};
  for (const k of ['content', 'signature']) {
    if (form.get(k) !== null && form.get(k) !== before[k]) change[k] = form.get(k);
  }
  return change;
}

/**
 * The list is a read model: true until it shows the template just created
 * (`waitFor`) and the change just saved (`expect`), and while a review is pending.
 */
function templatesPending(d, waitFor, expect) {
  const shown = (code) => (d?.items ?? []).find((t) => t.templateCode === code);
  return (
    (waitFor && !shown(waitFor)) ||
    (expect &&
      Object.entries(expect).some(([k, v]) => k !== 'code' && shown(expect.code)?.[k] !== v)) ||
    (d?.items ?? []).some((t) => (t.bindings ?? []).some((b) => b.status === 'pending'))
  );
}

function Templates() {
  const [state, reload] = useLoad(() => query('/v1/templates?limit=100'), []);
  const [error, setError] = useState();
  const [note, setNote] = useState();
  const [editing, setEditing] = useState();
  // what was written and not yet shown (templatesPending)
  const [waitFor, setWaitFor] = useState();
  const [expect, setExpect] = useState();
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
      const before = (state.data?.items ?? []).find((t) => t.templateCode === editing) ?? {};
      const change = templateChange(f, before);
      if (Object.keys(change).length === 0) {
        setEditing(undefined);
        return;
      }
      await command('PATCH', `/v1/templates/${encodeURIComponent(editing)}`, change);
      setError(undefined);
      setEditing(undefined);
      setNote(`Template ${editing} saved; the accounts review it again.`);
      setExpect({ code: editing, ...change });
      setTimeout(reload, 300);
    } catch (err) {
      setError(err);
    }
  };
  usePoll(state, reload, (d) => templatesPending(d, waitFor, expect), [waitFor, expect], 400);
  return html`<${NewTemplate} create=${create} error=${error} note=${note} />
    <${TemplateTable}
      items=${state.data?.items ?? []}
      error=${state.error}
      editing=${editing}
      save=${save}
      setEditing=${setEditing}
    />`;
}

/** The tenant's templates, one row each (the one being edited as a form). */
function TemplateTable({ items, error, editing, save, setEditing }) {
  return html`<section class="card">
    <h2>Templates</h2>
    <${Err} error=${error} />
    <div class="scroll">
      <table id="templates">
        <thead>
          <tr>
            <th>Code</th>
            <th>Name</th>
            <th>Kind</th>
            <th>Signature</th>
            <th>Content</th>
            <th>State and reviews</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          ${items.map(
            (t) =>
              html`<${TemplateRow}
                t=${t}
                editing=${editing}
                save=${save}
                setEditing=${setEditing}
              />`,
          )}
        </tbody>
      </table>
    </div>
  </section>`;
}

// signatures ---------------------------------------------------------------
/** The form for a new signature, with what came of the last attempt. */
function NewSignature({ create, error, note }) {
  return html`<section class="card">
    <h2>New signature</h2>
    <p class="muted">
      The name shown in 【】 before every message. Each supplier account reviews it; a message goes
      only through accounts that approved both its signature and its template.
    </p>
    <form class="grid" onSubmit=${create} id="new-signature">
      <label>Name <input name="name" required minlength="2" maxlength="12" /></label>
      <label
        >Supplier accounts (optional)
        <input name="accounts" placeholder="default: every account" maxlength="400"
      /></label>
      <button type="submit">Register</button>
    </form>
    <${Err} error=${error} />
    ${note ? html`<p class="note" role="status">${note}</p>` : null}
  </section>`;
}

/** One signature with its reviews; `adding` is the one taking more accounts. */
function SignatureRow({ x, adding, add, setAdding }) {
  return html`<tr data-name=${x.name}>
    <td><b>${x.name}</b></td>
    <td class="reviews"><${Reviews} list=${x.accounts} /></td>
    <td class="opt">${fmt(x.createdAt)}</td>
    <td>
      ${
        adding === x.name
          ? html`<form class="edit" onSubmit=${(e) => add(e, x)}>
              <input name="accounts" placeholder="more accounts" required />
              <button type="submit">Submit</button>
              <button type="button" class="plain" onClick=${() => setAdding(undefined)}>
                Cancel
              </button>
            </form>`
          : html`<button class="plain" onClick=${() => setAdding(x.name)}>Add accounts</button>`
      }
    </td>
  </tr>`;
}

function Signatures() {
  const [state, reload] = useLoad(() => query('/v1/signatures'), []);
  const [error, setError] = useState();
  const [note, setNote] = useState();
  const [adding, setAdding] = useState();
  // reviews take a while: reload while one is pending (and until a new one shows)
  const [waitFor, setWaitFor] = useState();
  usePoll(
    state,
    reload,
    (d) =>
      (waitFor && !(d?.items ?? []).some((x) => x.name === waitFor)) ||
      (d?.items ?? []).some((x) => (x.accounts ?? []).some((a) => a.status === 'pending')),
    [waitFor],
  );
  const register = async (name, accounts) => {
    const body = { name };
    if (accounts.length > 0) body.accounts = accounts;
    const r = await command('POST', '/v1/signatures', body);
    setError(undefined);
    setWaitFor(r.name);
    setTimeout(reload, 300);
    return r;
  };
  const create = async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      const r = await register(f.get('name'), accountsOf(f.get('accounts')));
      setNote(`Signature ${r.name} submitted to ${r.accounts.join(', ')}.`);
      e.target.reset();
    } catch (err) {
      setError(err);
    }
  };
  const add = async (e, sig) => {
    e.preventDefault();
    const f = new FormData(e.target);
    const more = accountsOf(f.get('accounts'));
    try {
      const known = (sig.accounts ?? []).map((a) => a.account);
      const r = await register(sig.name, [...new Set([...known, ...more])]);
      setNote(`Signature ${r.name} submitted to ${r.accounts.join(', ')}.`);
      setAdding(undefined);
    } catch (err) {
      setError(err);
    }
  };
  const items = state.data?.items ?? [];
  return html`<${NewSignature} create=${create} error=${error} note=${note} />
    <section class="card">
      <h2>Signatures <button class="plain" onClick=${reload}>Refresh</button></h2>
      <${Err} error=${state.error} />
      <div class="scroll">
        <table id="signatures">
          <thead>
            <tr>
              <th>Name</th>
              <th>Review per supplier account</th>
              <th class="opt">Registered</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${items.map(
              (x) =>
                html`<${SignatureRow} x=${x} adding=${adding} add=${add} setAdding=${setAdding} />`,
            )}
          </tbody>
        </table>
      </div>
      ${!state.loading && items.length === 0 ? html`<p class="muted">No signatures yet.</p>` : null}
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

/** The 24 hours' series for the charts: every hour, with zeros where the API has no bucket. */
function hourlySeries(data, buckets) {
  const to = data ? Date.parse(data.to) : Date.now();
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
  const latency = [
    xs,
    ...['p50', 'p90', 'p99'].map((p) =>
      slot.map((b) => (b?.receiptLatencyMs ? b.receiptLatencyMs[p] / 1000 : null)),
    ),
  ];
  return { statuses, byStatus, rate, latency };
}

/** Sent, delivered, delivery rate and receipt latency of the 24 hours. */
function Kpis({ total, delivered, withLatency }) {
  return html`<div class="kpis">
    <div class="kpi"><span class="muted">Sent</span><b id="kpi-total">${total}</b></div>
    <div class="kpi">
      <span class="muted">Delivered</span><b id="kpi-delivered">${delivered}</b>
    </div>
    <div class="kpi">
      <span class="muted">Delivery rate</span
      ><b>${total ? ((100 * delivered) / total).toFixed(1) + ' %' : '–'}</b>
    </div>
    <div class="kpi">
      <span class="muted">Receipt latency p50 / p99</span
      ><b id="kpi-latency"
        >${
          withLatency.length
            ? `${seconds(Math.max(...withLatency.map((b) => b.receiptLatencyMs.p50)))} / ${seconds(Math.max(...withLatency.map((b) => b.receiptLatencyMs.p99)))}`
            : '–'
        }</b
      >
    </div>
  </div>`;
}

function Charts() {
  const [state] = useLoad(() => {
    const to = new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000);
    const from = new Date(to.getTime() - 24 * 3_600_000);
    return query(
      '/v1/stats' + qs({ granularity: 'hour', from: from.toISOString(), to: to.toISOString() }),
    );
  }, []);
  const buckets = state.data?.buckets ?? [];
  const { statuses, byStatus, rate, latency } = hourlySeries(state.data, buckets);
  const withLatency = buckets.filter((b) => b.receiptLatencyMs);
  const total = buckets.reduce((n, b) => n + (b.total ?? 0), 0);
  const delivered = buckets.reduce((n, b) => n + (b.byStatus?.delivered ?? 0), 0);
  return html`<section class="card">
    <h2>Last 24 hours</h2>
    <${Err} error=${state.error} />
    <${Kpis} total=${total} delivered=${delivered} withLatency=${withLatency} />
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
              <${Chart}
                id="chart-latency"
                title="Receipt latency (s): submission to delivery report"
                data=${latency}
                series=${[
                  ['p50', '#2858c6'],
                  ['p90', '#b25e00'],
                  ['p99', '#c0362c'],
                ].map(([label, stroke]) => ({ label, stroke, width: 2, points: { show: true } }))}
              />
            </div>
            ${
              withLatency.length
                ? null
                : html`<p class="muted">No delivery receipts in these 24 hours yet.</p>`
            }`
        : null
    }
  </section>`;
}

// admin --------------------------------------------------------------------
const PALETTE = ['#2858c6', '#b25e00', '#1a7f37', '#8a63d2', '#c0362c', '#0e7c86'];
/** The vendors' codes of the calls, without their success codes (Aliyun OK, Tencent Ok). */
const errorCodes = (s) => (s.rejections ?? []).filter((r) => !/^(ok|0)$/i.test(r.code));
const HEALTH = { healthy: 'ok', degraded: 'pending', probing: 'probe', down: 'open', unknown: '' };

/** Calls per second in each bucket and the share not accepted, one line per account. */
function supplierSeries(series) {
  const throughput = series
    ? [
        series.starts.map((t) => Date.parse(t) / 1000),
        ...series.accounts.map((a) => a.calls.map((n) => n / series.bucketSeconds)),
      ]
    : null;
  const failedShare = series
    ? [
        series.starts.map((t) => Date.parse(t) / 1000),
        ...series.accounts.map((a) =>
          a.calls.map((n, i) => (n === 0 ? null : (100 * a.failed[i]) / n)),
        ),
      ]
    : null;
  return { throughput, failedShare };
}

/** The vendors' error codes summed over the accounts: one bar per code. */
function codeTotals(list) {
  const codes = new Map();
  for (const s of list)
    for (const r of errorCodes(s)) codes.set(r.code, (codes.get(r.code) ?? 0) + r.count);
  return codes;
}

/** One supplier account: health, breaker, calls, latency, error codes. */
function SupplierRow({ s }) {
  return html`<tr data-account=${s.account}>
    <td><b>${s.account}</b> <span class="muted">${s.vendor ?? ''}</span></td>
    <td><span class=${`status ${HEALTH[s.health] ?? ''}`}>${s.health ?? '–'}</span></td>
    <td class="breaker">
      ${
        s.breaker
          ? html`<${Status} s=${s.breaker.state} />
              <span class="muted"
                >${s.breaker.consecutiveFailures} failing in a
                row${s.breaker.openUntil ? ` · until ${fmt(s.breaker.openUntil)}` : ''}</span
              >`
          : '–'
      }
    </td>
    <td>${s.calls}</td>
    <td>${s.successRate == null ? '–' : (100 * s.successRate).toFixed(1) + ' %'}</td>
    <td class="opt">${s.maxPerSecond ?? '–'}</td>
    <td class="opt">
      ${s.latencyMs ? ['p50', 'p95', 'p99'].map((p) => Math.round(s.latencyMs[p])).join(' / ') + ' ms' : '–'}
    </td>
    <td class="wrap">
      ${
        errorCodes(s)
          .map((r) => `${r.code} × ${r.count}`)
          .join(', ') || '–'
      }
    </td>
  </tr>`;
}

/** A bar per vendor error code, or a line saying there were none. */
function ErrorCodesChart({ codes, codeNames }) {
  return codeNames.length
    ? html`<${Chart}
        id="chart-errors"
        title="Vendor error codes"
        data=${[codeNames.map((_, i) => i), codeNames.map((c) => codes.get(c))]}
        categories=${codeNames}
        series=${[
          {
            label: 'calls',
            stroke: '#c0362c',
            fill: 'rgba(192, 54, 44, 0.35)',
            paths: uPlot.paths.bars({ size: [0.5] }),
            points: { show: false },
          },
        ]}
      />`
    : html`<p class="muted" id="no-error-codes">No vendor error codes in these 24 hours.</p>`;
}

function Suppliers() {
  const [state, reload] = useLoad(() => {
    const to = new Date();
    const from = new Date(to.getTime() - 24 * 3_600_000);
    return query('/v1/stats/suppliers' + qs({ from: from.toISOString(), to: to.toISOString() }));
  }, []);
  const list = state.data?.suppliers ?? [];
  const series = state.data?.series;
  const { throughput, failedShare } = supplierSeries(series);
  const codes = codeTotals(list);
  const codeNames = [...codes.keys()].sort();
  const line = (label, i) => ({ label, stroke: PALETTE[i % PALETTE.length], width: 2 });
  return html`<section class="card">
    <h2>Supplier accounts (last 24 h) <button class="plain" onClick=${reload}>Refresh</button></h2>
    <${Err} error=${state.error} />
    <div class="scroll">
      <table id="suppliers">
        <thead>
          <tr>
            <th>Account</th>
            <th>Health</th>
            <th>Breaker</th>
            <th>Calls</th>
            <th>Success</th>
            <th class="opt">Cap / s</th>
            <th class="opt">Latency p50 / p95 / p99</th>
            <th>Error codes</th>
          </tr>
        </thead>
        <tbody>
          ${list.map((s) => html`<${SupplierRow} s=${s} />`)}
        </tbody>
      </table>
    </div>
    ${
      throughput
        ? html`<div class="charts">
            <${Chart}
              id="chart-throughput"
              title=${`Throughput (calls/s, ${series.bucketSeconds / 60}-minute buckets)`}
              data=${throughput}
              series=${series.accounts.map((a, i) => line(a.account, i))}
            />
            <${Chart}
              id="chart-failed"
              title="Calls not accepted (%)"
              data=${failedShare}
              yRange=${[0, 100]}
              series=${series.accounts.map((a, i) => ({ ...line(a.account, i), points: { show: true } }))}
            />
            <${ErrorCodesChart} codes=${codes} codeNames=${codeNames} />
          </div>`
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

function Pipeline() {
  const [state, reload] = useLoad(() => query('/v1/pipeline'), []);
  useEffect(() => {
    const t = setTimeout(reload, 5000);
    return () => clearTimeout(t);
  }, [state]);
  const parts = state.data?.parts ?? [];
  return html`<section class="card">
    <h2>
      Processors and projections
      <span class="muted">(event store head ${state.data?.head ?? '–'})</span>
      <button class="plain" onClick=${reload}>Refresh</button>
    </h2>
    <${Err} error=${state.error} />
    <div class="scroll">
      <table id="pipeline">
        <thead>
          <tr>
            <th>Part</th>
            <th>Kind</th>
            <th>State</th>
            <th>Lag (events)</th>
            <th>Lag (s)</th>
            <th class="opt">Pending</th>
            <th class="opt">Parked</th>
            <th class="opt">Idle (s)</th>
            <th class="opt">Process</th>
          </tr>
        </thead>
        <tbody>
          ${parts.map(
            (p) =>
              html`<tr data-part=${p.name}>
                <td>
                  <b>${p.name}</b>${p.error ? html`<div class="error wrap">${p.error}</div>` : null}
                </td>
                <td>${p.kind}</td>
                <td><${Status} s=${p.state} /></td>
                <td>${p.lag ?? '–'}</td>
                <td>${p.lagSeconds ? p.lagSeconds.toFixed(1) : 0}</td>
                <td class="opt">${p.pending ?? '–'}</td>
                <td class="opt">${p.parked ?? '–'}</td>
                <td class="opt">${p.idleSeconds}</td>
                <td class="opt">${p.process} (${p.pid})</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${!state.loading && parts.length === 0 ? html`<p class="muted">No part reported yet.</p>` : null}
  </section>`;
}

const duration = (r) =>
  r?.endedAt ? seconds(Date.parse(r.endedAt) - Date.parse(r.startedAt)) : r ? 'running' : '–';
const summary = (r) => (r?.error ? r.error : r?.result ? JSON.stringify(r.result) : '');

function Jobs() {
  const [state, reload] = useLoad(() => query('/v1/jobs' + qs({ runs: 5 })), []);
  const items = state.data?.items ?? [];
  return html`<section class="card">
    <h2>Jobs <button class="plain" onClick=${reload}>Refresh</button></h2>
    <${Err} error=${state.error} />
    <div class="scroll">
      <table id="jobs">
        <thead>
          <tr>
            <th>Job</th>
            <th>Schedule (UTC)</th>
            <th>Last run</th>
            <th>Took</th>
            <th class="opt">Next run</th>
            <th>Last runs</th>
          </tr>
        </thead>
        <tbody>
          ${items.map(
            (j) =>
              html`<tr data-job=${j.name}>
                <td>
                  <b>${j.name}</b
                  >${j.holder ? html`<div class="muted">running on ${j.holder}</div>` : null}
                </td>
                <td><code>${j.schedule}</code></td>
                <td>
                  ${
                    j.lastRun
                      ? html`<${Status} s=${j.lastRun.status} /> ${fmt(j.lastRun.startedAt)}
                          <div class="muted wrap">${summary(j.lastRun)}</div>`
                      : html`<span class="muted">never</span>`
                  }
                </td>
                <td>${duration(j.lastRun)}</td>
                <td class="opt">${fmt(j.nextRun)}</td>
                <td class="runs">
                  ${(j.runs ?? []).map(
                    (r) =>
                      html`<span title=${`${fmt(r.startedAt)} · ${duration(r)} · ${summary(r)}`}
                        ><${Status} s=${r.status}
                      /></span> `,
                  )}
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
    ${!state.loading && items.length === 0 ? html`<p class="muted">No scheduler has announced its jobs yet.</p>` : null}
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
  ['#/signatures', 'Signatures'],
  ['#/send', 'Send'],
  ['#/charts', 'Charts'],
  ['#/keys', 'API keys'],
];
const ADMIN_PAGES = [
  ['#/suppliers', 'Suppliers'],
  ['#/pipeline', 'Pipeline'],
  ['#/jobs', 'Jobs'],
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
  else if (hash === '#/signatures') page = html`<${Signatures} />`;
  else if (hash === '#/send') page = html`<${Send} />`;
  else if (hash === '#/charts') page = html`<${Charts} />`;
  else if (hash === '#/keys') page = html`<${ApiKeys} />`;
  else if (hash === '#/suppliers' && s.role === 'admin') page = html`<${Suppliers} />`;
  else if (hash === '#/pipeline' && s.role === 'admin') page = html`<${Pipeline} />`;
  else if (hash === '#/jobs' && s.role === 'admin') page = html`<${Jobs} />`;
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
