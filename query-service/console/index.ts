// The web console: static assets under /console, served by the query
// service (no separate server). The page talks to the public APIs only: the
// query API on this origin and the command API on its own port (allowed by
// CORS for this page, see platform/http/app.ts). Preact + htm and uPlot come
// from their npm packages as installed (no build step), under a versioned
// path cached for a year; the console's own files are revalidated on every
// load. Its Content-Security-Policy allows scripts from this origin only, so
// no inline script runs, and text from templates or parameters is rendered
// as text by Preact.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import express, { Router, type Request, type Response } from 'express';
import type { Config } from '../../platform/config/index.ts';

const require = createRequire(import.meta.url);
const assetsDir = path.join(import.meta.dirname, 'assets');

interface Vendor {
  pkg: string;
  files: Record<string, string>;
  /** Bare imports a browser cannot resolve without an (inline) import map, rewritten. */
  rewrite?: [RegExp, string][];
}

const vendors: Vendor[] = [
  { pkg: 'preact', files: { 'preact.mjs': 'dist/preact.mjs' } },
  {
    pkg: 'preact',
    files: { 'hooks.mjs': 'hooks/dist/hooks.mjs' },
    rewrite: [[/from\s*["']preact["']/g, 'from"./preact.mjs"']],
  },
  { pkg: 'htm', files: { 'htm.mjs': 'dist/htm.mjs' } },
  {
    pkg: 'uplot',
    files: { 'uPlot.esm.js': 'dist/uPlot.esm.js', 'uPlot.min.css': 'dist/uPlot.min.css' },
  },
];

/** The installed package's folder (not every package exports its package.json). */
function packageDir(pkg: string): string {
  let dir = path.dirname(require.resolve(pkg));
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (
      fs.existsSync(file) &&
      (JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string }).name === pkg
    ) {
      return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the folder of the npm package ${pkg}`);
    dir = up;
  }
}

function packageVersion(pkg: string): string {
  return (
    JSON.parse(fs.readFileSync(path.join(packageDir(pkg), 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
}

/** The vendored files, read once: name → body and type. */
function vendorFiles(): Map<string, { body: string; type: string }> {
  const out = new Map<string, { body: string; type: string }>();
  for (const v of vendors) {
    for (const [name, rel] of Object.entries(v.files)) {
      let body = fs.readFileSync(path.join(packageDir(v.pkg), rel), 'utf8');
      for (const [re, to] of v.rewrite ?? []) body = body.replace(re, to);
      out.set(name, { body, type: name.endsWith('.css') ? 'text/css' : 'text/javascript' });
    }
  }
  return out;
}

/** One path segment naming every vendored version, so that an upgrade changes the URL. */
export const VENDOR_PATH = `vendor/${['preact', 'htm', 'uplot'].map((p) => `${p}-${packageVersion(p)}`).join('_')}`;

function commandUrl(config: Pick<Config, 'http' | 'console'>, req: Request): string {
  if (config.console.commandUrl) return config.console.commandUrl;
  const scheme = config.http.tls ? 'https' : 'http';
  const host = req.hostname.includes(':') ? `[${req.hostname}]` : req.hostname;
  return `${scheme}://${host}:${config.http.commandPort}`;
}

function csp(command: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self' ${new URL(command).origin}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

const escapeAttr = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** GET /console (the page), /console/assets/* (its code), /console/vendor@…/* (the libraries). */
export function consoleRouter(config: Pick<Config, 'http' | 'console'>): Router {
  const router = Router();
  const vendored = vendorFiles();
  const page = fs.readFileSync(path.join(import.meta.dirname, 'index.html'), 'utf8');

  const setCsp = (req: Request, res: Response) => {
    res.setHeader('Content-Security-Policy', csp(commandUrl(config, req)));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
  };

  router.get(['/console', '/console/'], (req, res) => {
    setCsp(req, res);
    res.setHeader('Cache-Control', 'no-cache');
    res
      .type('html')
      .send(
        page
          .replace('%COMMAND_URL%', escapeAttr(commandUrl(config, req)))
          .replaceAll('%VENDOR%', VENDOR_PATH),
      );
  });
  router.get(`/console/${VENDOR_PATH}/:file`, (req, res, next) => {
    const file = vendored.get(String(req.params.file));
    if (!file) return next();
    setCsp(req, res);
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.type(file.type).send(file.body);
  });
  // the app's imports name the versioned vendor path
  const appJs = fs
    .readFileSync(path.join(assetsDir, 'app.js'), 'utf8')
    .replaceAll('../VENDOR/', `../${VENDOR_PATH}/`);
  router.get('/console/assets/app.js', (req, res) => {
    setCsp(req, res);
    res.setHeader('Cache-Control', 'no-cache');
    res.type('text/javascript').send(appJs);
  });
  router.use(
    '/console/assets',
    (req, res, next) => {
      setCsp(req, res);
      next();
    },
    express.static(assetsDir, {
      index: false,
      etag: true,
      lastModified: true,
      fallthrough: true,
      setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache'),
    }),
  );
  return router;
}
