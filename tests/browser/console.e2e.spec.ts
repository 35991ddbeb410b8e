/// <reference lib="dom" />
// The web console in a real browser: Debian's chromium driven by
// puppeteer-core (no browser download), against `streaming start`. A tenant
// logs in, creates a template, sends a message, sees it delivered in the
// list and in its timeline, and sees the 24-hour chart drawn with data; an
// admin sees both supplier accounts. Every request the page makes is one the
// OpenAPI document describes (or a console asset), and an XSS attempt in a
// template's content or a message parameter renders as text. Screenshots go
// to tests/browser/output/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import {
  approvedBySuppliers,
  call,
  eventually,
  startSystem,
  type RunningSystem,
} from '../support/system.ts';

const outDir = path.join(import.meta.dirname, 'output');
const XSS = '<img src=x onerror="window.__xss=1">${name}';
const XSS_PARAM = '<img src=x onerror=__xss=2>'; // vendors allow 35 characters

function chromiumPath(): string {
  const found = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
    (p) => p && fs.existsSync(p),
  );
  if (!found) {
    throw new Error(
      'no chromium: install it with `apt-get install -y chromium` (.ci/run does) or set CHROMIUM_PATH',
    );
  }
  return found;
}

/** method + OpenAPI path templates, as regular expressions over URL paths. */
function documentedRoutes(doc: { paths: Record<string, Record<string, unknown>> }) {
  const routes: { method: string; re: RegExp }[] = [];
  for (const [p, ops] of Object.entries(doc.paths)) {
    const re = new RegExp(`^${p.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    for (const method of Object.keys(ops)) routes.push({ method: method.toUpperCase(), re });
  }
  return routes;
}

describe('the web console in chromium', () => {
  let sys: RunningSystem;
  let browser: Browser;
  const requests: { method: string; url: string }[] = [];

  before(async () => {
    fs.mkdirSync(outDir, { recursive: true });
    sys = await startSystem('console', 18380);
    browser = await puppeteer.launch({
      executablePath: chromiumPath(),
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    });
  });
  after(async () => {
    await browser?.close();
    await sys?.stop();
  });

  const open = async (width: number, height: number): Promise<Page> => {
    const page = await browser.newPage();
    await page.setViewport({ width, height });
    page.on('request', (r) => {
      if (r.method() !== 'OPTIONS') requests.push({ method: r.method(), url: r.url() });
    });
    page.on('pageerror', (err) => assert.fail(`page error: ${String(err)}`));
    await page.goto(`${sys.query}/console`, { waitUntil: 'networkidle0' });
    return page;
  };
  const login = async (page: Page, username: string, password: string) => {
    await page.waitForSelector('#login');
    await page.type('input[name=username]', username);
    await page.type('input[name=password]', password);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('nav');
  };
  const textOf = (page: Page, selector: string) =>
    page.$eval(selector, (el) => (el as HTMLElement).innerText);

  test('serves the console with a strict CSP and cache headers', async () => {
    const res = await fetch(`${sys.query}/console`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.ok(!csp.includes('unsafe-inline'), csp);
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    const html = await res.text();
    assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/.test(html), 'no inline script in the page');
    const vendor = /href="(\/console\/vendor\/[^"]+\.css)"/.exec(html)?.[1];
    assert.ok(vendor);
    const lib = await fetch(`${sys.query}${vendor}`);
    assert.equal(lib.status, 200);
    assert.match(lib.headers.get('cache-control') ?? '', /immutable/);
  });

  test('a tenant creates a template, sends, and sees it delivered with its timeline and chart', async () => {
    const tenant = await sys.tenant();
    const page = await open(1280, 900);
    await login(page, tenant.username, tenant.password);

    // create a template through the form, its content an XSS attempt
    await page.goto(`${sys.query}/console#/templates`);
    await page.waitForSelector('#new-template');
    await page.type('#new-template input[name=name]', 'Welcome <b>x</b>');
    await page.type('#new-template input[name=signature]', 'Acme');
    await page.type('#new-template textarea[name=content]', XSS);
    await page.click('#new-template button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('#templates tbody tr').length > 0, {
      timeout: 30_000,
    });
    const row = await textOf(page, '#templates tbody');
    assert.ok(row.includes('<img src=x onerror="window.__xss=1">'), `template as text: ${row}`);
    // the vendors approve the signature and the template (signatures through the API)
    const templateCode = await page.$eval('#templates tbody tr', (tr) =>
      tr.getAttribute('data-code'),
    );
    await approvedBySuppliers(sys, tenant.token, String(templateCode), 'Acme');
    await page.reload();
    await page.waitForSelector('#templates tbody tr');
    await page.screenshot({ path: path.join(outDir, 'tenant-templates.png') });

    // send a test message through the form, a parameter an XSS attempt
    await page.goto(`${sys.query}/console#/send`);
    await page.waitForSelector('#send select[name=templateCode] option');
    await page.type('#send input[name=mobile]', '13800138000');
    await page.type('#send textarea[name=params]', JSON.stringify({ name: XSS_PARAM }));
    await page.click('#send button[type=submit]');
    await page.waitForSelector('#sent-link, .error');
    const refused = await page.$('.error');
    if (refused) assert.fail(`the send was refused: ${await textOf(page, '.error')}`);
    const messageId = await page.$eval('#sent-link', (a) => (a as HTMLElement).innerText);

    // the list shows it delivered (refresh until the receipt is in)
    await page.goto(`${sys.query}/console#/messages`);
    const stuck = async (err: unknown) => {
      await page.screenshot({ path: path.join(outDir, 'tenant-messages-stuck.png') });
      const m = await call(`${sys.query}/v1/messages/${messageId}`, 'GET', undefined, tenant.token);
      throw new Error(`${String(err)}; the API says: ${JSON.stringify(m.json).slice(0, 1500)}`, {
        cause: err,
      });
    };
    await eventually(
      'the message delivered in the list',
      async () => {
        await page.click('#refresh');
        await new Promise((r) => setTimeout(r, 500));
        const cell = await page.$eval(
          `#messages tr[data-id="${messageId}"]`,
          (tr) => (tr as HTMLElement).innerText,
        );
        return cell.includes('delivered') ? cell : undefined;
      },
      90_000,
    ).catch(stuck);
    await page.screenshot({ path: path.join(outDir, 'tenant-messages.png') });

    // its timeline
    await page.click(`#messages tr[data-id="${messageId}"]`);
    await page.waitForSelector('#timeline tbody tr');
    const timeline = await textOf(page, '#timeline');
    assert.match(timeline, /delivered/);
    const content = await textOf(page, '#content');
    assert.ok(content.includes(XSS_PARAM), `the parameter shows as text: ${content}`);
    await page.screenshot({ path: path.join(outDir, 'tenant-timeline.png') });

    // the 24-hour chart drawn with data
    await page.goto(`${sys.query}/console#/charts`);
    await page.waitForSelector('#chart-status canvas');
    const total = Number(await textOf(page, '#kpi-total'));
    assert.ok(total >= 1, `the chart has data: ${total}`);
    await page.screenshot({ path: path.join(outDir, 'tenant-charts.png') });

    // no script ran from the XSS attempts
    assert.equal(await page.evaluate(() => (window as { __xss?: number }).__xss), undefined);

    // at phone width the same pages work
    const phone = await open(390, 844);
    await login(phone, tenant.username, tenant.password); // sessionStorage is per tab
    await phone.goto(`${sys.query}/console#/messages`);
    await phone.waitForSelector(`#messages tr[data-id="${messageId}"]`);
    const width = await phone.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 400, `no horizontal overflow at phone width: ${width}`);
    await phone.screenshot({ path: path.join(outDir, 'tenant-phone.png') });

    // a 401 (here: the session ended) returns to the login page
    const r = await call(`${sys.command}/v1/sessions/logout`, 'POST', undefined, tenant.token);
    assert.ok(r.status < 300);
    await page.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem('streaming.console.session') ?? '{}');
      sessionStorage.setItem(
        'streaming.console.session',
        JSON.stringify({ ...s, token: 'invalid.token.value' }),
      );
    });
    await page.goto(`${sys.query}/console#/messages`);
    await page.reload();
    await page.waitForSelector('#login', { timeout: 15_000 });
    await page.close();
    await phone.close();
  });

  test('an admin sees both supplier accounts', async () => {
    const admin = await sys.admin();
    const page = await open(1280, 900);
    await login(page, admin.username, admin.password);
    await page.goto(`${sys.query}/console#/suppliers`);
    await page.waitForSelector('#suppliers tbody tr');
    const accounts = await page.$$eval('#suppliers tbody tr', (rows) =>
      rows.map((r) => r.getAttribute('data-account')),
    );
    assert.ok(accounts.length >= 2, `both accounts: ${accounts.join(', ')}`);
    await page.screenshot({ path: path.join(outDir, 'admin-suppliers.png') });
    await page.close();
  });

  test('the console made no request the API docs do not describe', async () => {
    const doc = (await (await fetch(`${sys.query}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const routes = documentedRoutes(doc);
    const undocumented = requests.filter(({ method, url }) => {
      const u = new URL(url);
      if (u.origin === sys.query && u.pathname.startsWith('/console')) return false; // assets
      if (u.protocol === 'data:') return false;
      return !routes.some((r) => r.method === method && r.re.test(u.pathname));
    });
    assert.ok(requests.length > 0);
    assert.deepEqual(undocumented, []);
  });
});
