/// <reference lib="dom" />
// The web console in a real browser: Debian's chromium driven by
// puppeteer-core (no browser download), against `streaming start`. A tenant
// logs in, registers a signature and creates a template (each supplier
// account's review shown as it comes), edits the template, sends a message,
// sees it delivered in the list and in its timeline, and sees the 24-hour
// charts drawn with data (receipt latency included); an admin sees both
// supplier accounts with health, breaker and throughput, the processors and
// projections with their lag, the jobs with their last runs, and the
// tenants. Every request the page makes is one the OpenAPI document of the
// service it went to describes (or a console asset), and an XSS attempt in a
// template's content or a message parameter renders as text. Every page is
// used at 1280 px and at phone width (390 px) without horizontal overflow.
// Screenshots go to tests/browser/output/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { buildOpenApi } from '../../schemas/openapi/index.ts';
import { call, eventually, startSystem, type RunningSystem } from '../support/system.ts';

const outDir = path.join(import.meta.dirname, 'output');
const XSS = '<img src=x onerror="window.__xss=1">${name}';
const XSS_PARAM = '<img src=x onerror=__xss=2>'; // vendors allow 35 characters
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };
/** Generous: the machine running the suite may be busy. */
const WAIT = { timeout: 90_000 };

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
    // ports 18484/18485/18494/18504 (the fault suite has 18380–18390), Redis DB 11
    sys = await startSystem('console', 18484);
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

  const open = async (size: { width: number; height: number }): Promise<Page> => {
    const page = await browser.newPage();
    page.setDefaultTimeout(WAIT.timeout);
    await page.setViewport(size);
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
  /** Goes to a page of the console and waits for `ready` (a selector) to show. */
  const visit = async (page: Page, hash: string, ready: string) => {
    await page.goto(`${sys.query}/console${hash}`);
    await page.waitForSelector(ready, WAIT);
  };
  /** The page fits the viewport's width (tables scroll inside their card). */
  const fits = async (page: Page, what: string) => {
    const { scroll, viewport } = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      viewport: window.innerWidth,
    }));
    assert.ok(scroll <= viewport, `${what}: no horizontal overflow (${scroll} > ${viewport})`);
  };
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
  /** The review of every account in `selector` shows approved. */
  const allApproved = (page: Page, selector: string) =>
    page.waitForFunction(
      (sel) => {
        const reviews = [...document.querySelectorAll(`${sel} .review`)];
        return reviews.length >= 2 && reviews.every((r) => r.textContent?.includes('approved'));
      },
      WAIT,
      selector,
    );

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

  test('a tenant registers a signature, creates and edits a template, sends, and sees it delivered with its timeline and charts', async () => {
    const tenant = await sys.tenant();
    const page = await open(DESKTOP);
    let phone: Page | undefined;
    try {
      await login(page, tenant.username, tenant.password);

      // create a template through the form, its content an XSS attempt
      await visit(page, '#/templates', '#new-template');
      await page.type('#new-template input[name=name]', 'Welcome <b>x</b>');
      await page.type('#new-template input[name=signature]', 'Acme');
      await page.type('#new-template textarea[name=content]', XSS);
      await page.click('#new-template button[type=submit]');
      await page.waitForFunction(
        () => document.querySelectorAll('#templates tbody tr').length > 0,
        WAIT,
      );
      const row = await textOf(page, '#templates tbody');
      assert.ok(row.includes('<img src=x onerror="window.__xss=1">'), `template as text: ${row}`);
      const templateCode = String(
        await page.$eval('#templates tbody tr', (tr) => tr.getAttribute('data-code')),
      );

      // register the signature on its page: each supplier account's review shows, then approves
      await visit(page, '#/signatures', '#new-signature');
      await page.type('#new-signature input[name=name]', 'Acme');
      await page.click('#new-signature button[type=submit]');
      await page.waitForSelector('#signatures tr[data-name="Acme"] .review', WAIT);
      await allApproved(page, '#signatures tr[data-name="Acme"]');
      const reviews = await textOf(page, '#signatures tr[data-name="Acme"]');
      for (const account of ['sim-aliyun', 'sim-tencent']) {
        assert.ok(reviews.includes(account), `the review of ${account}: ${reviews}`);
      }
      await shot(page, 'tenant-signatures');

      // the template's reviews approve too; then edit it and see it reviewed and approved again
      await visit(page, '#/templates', `#templates tr[data-code="${templateCode}"]`);
      await allApproved(page, `#templates tr[data-code="${templateCode}"]`);
      await page.click(`#templates tr[data-code="${templateCode}"] button.plain`);
      await page.waitForSelector('#edit-template textarea[name=content]');
      await page.click('#edit-template textarea[name=content]', { count: 3 });
      await page.keyboard.press('End');
      await page.type('#edit-template textarea[name=content]', ' Bye.');
      await page.click('#edit-template button[type=submit]');
      await page.waitForFunction(
        (code) =>
          document
            .querySelector(`#templates tr[data-code="${code}"]`)
            ?.textContent?.includes('${name} Bye.'),
        WAIT,
        templateCode,
      );
      await allApproved(page, `#templates tr[data-code="${templateCode}"]`);
      await shot(page, 'tenant-templates');
      const t = await call(
        `${sys.query}/v1/templates/${templateCode}`,
        'GET',
        undefined,
        tenant.token,
      );
      assert.equal(t.json.content, `${XSS} Bye.`, 'the edit went through the command API');

      // send a test message through the form, a parameter an XSS attempt
      await visit(page, '#/send', '#send select[name=templateCode] option');
      await page.type('#send input[name=mobile]', '13800138000');
      await page.type('#send textarea[name=params]', JSON.stringify({ name: XSS_PARAM }));
      await page.click('#send button[type=submit]');
      await page.waitForSelector('#sent-link, .error', WAIT);
      const refused = await page.$('.error');
      if (refused) assert.fail(`the send was refused: ${await textOf(page, '.error')}`);
      const messageId = await page.$eval('#sent-link', (a) => (a as HTMLElement).innerText);

      // the list shows it delivered (refresh until the receipt is in)
      await visit(page, '#/messages', '#messages');
      const stuck = async (err: unknown) => {
        await shot(page, 'tenant-messages-stuck');
        const m = await call(
          `${sys.query}/v1/messages/${messageId}`,
          'GET',
          undefined,
          tenant.token,
        );
        throw new Error(`${String(err)}; the API says: ${JSON.stringify(m.json).slice(0, 1500)}`, {
          cause: err,
        });
      };
      await eventually(
        'the message delivered in the list',
        async () => {
          await page.click('#refresh');
          await page.waitForSelector(`#messages tr[data-id="${messageId}"]`, { timeout: 5_000 });
          const cell = await page.$eval(
            `#messages tr[data-id="${messageId}"]`,
            (tr) => (tr as HTMLElement).innerText,
          );
          return cell.includes('delivered') ? cell : undefined;
        },
        120_000,
      ).catch(stuck);
      await shot(page, 'tenant-messages');

      // its timeline
      await page.click(`#messages tr[data-id="${messageId}"]`);
      await page.waitForSelector('#timeline tbody tr', WAIT);
      await page.waitForFunction(
        () => document.querySelector('#timeline')?.textContent?.includes('delivered'),
        WAIT,
      );
      const content = await textOf(page, '#content');
      assert.ok(content.includes(XSS_PARAM), `the parameter shows as text: ${content}`);
      await shot(page, 'tenant-timeline');

      // the 24-hour charts drawn with data, the receipt latency among them
      await visit(page, '#/charts', '#chart-status canvas');
      await page.waitForSelector('#chart-rate canvas', WAIT);
      await page.waitForSelector('#chart-latency canvas', WAIT);
      const total = Number(await textOf(page, '#kpi-total'));
      assert.ok(total >= 1, `the chart has data: ${total}`);
      assert.ok(Number(await textOf(page, '#kpi-delivered')) >= 1);
      const latency = await textOf(page, '#kpi-latency');
      assert.match(
        latency,
        /\d+(\.\d)? m?s \/ \d+(\.\d)? m?s/,
        `receipt latency shown: ${latency}`,
      );
      await shot(page, 'tenant-charts');

      // no script ran from the XSS attempts
      assert.equal(await page.evaluate(() => (window as { __xss?: number }).__xss), undefined);

      // at phone width every tenant page works and fits
      phone = await open(PHONE);
      await login(phone, tenant.username, tenant.password); // sessionStorage is per tab
      for (const [hash, ready] of [
        ['#/messages', `#messages tr[data-id="${messageId}"]`],
        ['#/templates', `#templates tr[data-code="${templateCode}"]`],
        ['#/signatures', '#signatures tr[data-name="Acme"]'],
        ['#/send', '#send'],
        ['#/charts', '#chart-latency canvas'],
        ['#/keys', 'form'],
      ] as const) {
        await visit(phone, hash, ready);
        await fits(phone, `tenant ${hash} at phone width`);
      }
      await visit(phone, '#/messages', `#messages tr[data-id="${messageId}"]`);
      await shot(phone, 'tenant-phone');
      await visit(phone, '#/charts', '#chart-latency canvas');
      await shot(phone, 'tenant-phone-charts');
      await visit(page, '#/messages', `#messages tr[data-id="${messageId}"]`);
      await fits(page, 'tenant messages at 1280 px');

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
      await page.waitForSelector('#login', WAIT);
    } catch (err) {
      // what the page showed when it failed
      await shot(page, 'tenant-failed').catch(() => undefined);
      if (phone) await shot(phone, 'tenant-phone-failed').catch(() => undefined);
      throw err;
    }
    await page.close();
    await phone?.close();
  });

  test('an admin sees the supplier accounts, the pipeline, the jobs and the tenants', async () => {
    const admin = await sys.admin();
    for (const [size, name] of [
      [DESKTOP, 'admin'],
      [PHONE, 'admin-phone'],
    ] as const) {
      const page = await open(size);
      await login(page, admin.username, admin.password);

      // both supplier accounts with health, breaker, and the throughput chart
      await visit(page, '#/suppliers', '#suppliers tbody tr');
      const accounts = await page.$$eval('#suppliers tbody tr', (rows) =>
        rows.map((r) => r.getAttribute('data-account')),
      );
      for (const a of ['sim-aliyun', 'sim-tencent']) {
        assert.ok(accounts.includes(a), `account ${a}: ${accounts.join(', ')}`);
      }
      const aliyun = await textOf(page, '#suppliers tr[data-account="sim-aliyun"]');
      assert.match(aliyun, /healthy|degraded|probing|down/, `health: ${aliyun}`);
      assert.match(aliyun, /closed|open|probe/, `breaker: ${aliyun}`);
      await page.waitForSelector('#chart-throughput canvas', WAIT);
      await page.waitForSelector('#chart-errors canvas, #no-error-codes', WAIT);
      await fits(page, `suppliers at ${size.width} px`);
      await shot(page, `${name}-suppliers`);

      // processors and projections, each with its lag
      await visit(page, '#/pipeline', '#pipeline tbody tr');
      await page.waitForFunction(
        () =>
          ['relay', 'message_history'].every((n) =>
            [...document.querySelectorAll('#pipeline tbody tr')].some((r) =>
              r.getAttribute('data-part')?.includes(n),
            ),
          ),
        WAIT,
      );
      const kinds = await page.$$eval('#pipeline tbody tr', (rows) =>
        rows.map((r) => (r.children[1] as HTMLElement).innerText),
      );
      assert.ok(kinds.includes('processor') && kinds.includes('projection'), kinds.join(', '));
      await fits(page, `pipeline at ${size.width} px`);
      await shot(page, `${name}-pipeline`);

      // the jobs the scheduler runs, with their schedules
      await visit(page, '#/jobs', '#jobs');
      await page.waitForSelector('#jobs tr[data-job="retention"]', WAIT);
      await page.waitForSelector('#jobs tr[data-job="sweeper"]', WAIT);
      const retention = await textOf(page, '#jobs tr[data-job="retention"]');
      assert.match(retention, /never|succeeded|failed|aborted|running/, retention);
      await fits(page, `jobs at ${size.width} px`);
      await shot(page, `${name}-jobs`);

      // tenants with their status and limits
      await visit(page, '#/tenants', '#tenants tbody tr');
      const tenants = await textOf(page, '#tenants tbody');
      assert.match(tenants, /active|trial|suspended/, tenants);
      await fits(page, `tenants at ${size.width} px`);
      await shot(page, `${name}-tenants`);
      await page.close();
    }
  });

  test('a member is refused the admin APIs with 403', async () => {
    const tenant = await sys.tenant();
    for (const p of ['/v1/pipeline', '/v1/jobs', '/v1/stats/suppliers']) {
      const r = await call(`${sys.query}${p}`, 'GET', undefined, tenant.token);
      assert.equal(r.status, 403, p);
      assert.equal(r.json.code, 'FORBIDDEN', p);
    }
  });

  test('the console made no request the API docs do not describe', async () => {
    // each service's own paths: a query path asked of the command API is not described
    const served = await (await fetch(`${sys.query}/openapi.json`)).json();
    const all = buildOpenApi();
    assert.deepEqual(Object.keys(served.paths).sort(), Object.keys(all.paths).sort());
    const byOrigin = new Map([
      [new URL(sys.command).origin, documentedRoutes(buildOpenApi({ paths: 'command' }))],
      [new URL(sys.query).origin, documentedRoutes(buildOpenApi({ paths: 'query' }))],
    ]);
    const undocumented = requests.filter(({ method, url }) => {
      const u = new URL(url);
      if (u.origin === new URL(sys.query).origin && u.pathname.startsWith('/console')) return false; // assets
      if (u.protocol === 'data:') return false;
      const routes = byOrigin.get(u.origin) ?? [];
      return !routes.some((r) => r.method === method && r.re.test(u.pathname));
    });
    assert.ok(requests.length > 0);
    // the console used the APIs its pages need, each documented
    const used = new Set(requests.map((r) => `${r.method} ${new URL(r.url).pathname}`));
    for (const p of [
      'GET /v1/signatures',
      'POST /v1/signatures',
      'POST /v1/templates',
      'GET /v1/stats',
      'GET /v1/stats/suppliers',
      'GET /v1/pipeline',
      'GET /v1/jobs',
      'GET /v1/tenants',
    ]) {
      assert.ok(used.has(p), `the console called ${p}`);
    }
    assert.ok(
      [...used].some((u) => /^PATCH \/v1\/templates\/[^/]+$/.test(u)),
      'template edit',
    );
    assert.deepEqual(undocumented, []);
  });
});
