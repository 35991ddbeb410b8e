// Serves an OpenAPI document at /openapi.json and a self-contained,
// script-free HTML rendering of it at /docs (no CDN: nothing is fetched).
import type { Express } from 'express';

type Doc = {
  info?: { title?: string; description?: string; version?: string };
  paths?: Record<string, Record<string, unknown>>;
};

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function schemaBlock(schema: unknown): string {
  return `<pre>${esc(JSON.stringify(schema, null, 2))}</pre>`;
}

/** The HTML page for a document: every path and method, its body, answers and error codes. */
export function renderApiDocs(doc: Doc): string {
  const sections: string[] = [];
  for (const [path, ops] of Object.entries(doc.paths ?? {})) {
    for (const [method, raw] of Object.entries(ops)) {
      const op = raw as {
        summary?: string;
        requestBody?: { content?: Record<string, { schema?: unknown }> };
        responses?: Record<
          string,
          { description?: string; content?: Record<string, { schema?: unknown }> }
        >;
        parameters?: { name: string; in: string; required?: boolean; description?: string }[];
        security?: unknown[];
        'x-error-codes'?: string[];
      };
      const body = op.requestBody?.content?.['application/json']?.schema;
      const responses = Object.entries(op.responses ?? {})
        .filter(([status]) => status !== 'default')
        .map(
          ([status, r]) =>
            `<h4>${esc(status)} ${esc(r.description ?? '')}</h4>${
              r.content?.['application/json']?.schema
                ? schemaBlock(r.content['application/json'].schema)
                : ''
            }`,
        )
        .join('');
      const params = (op.parameters ?? [])
        .map(
          (p) =>
            `<li><code>${esc(p.name)}</code> (${esc(p.in)}${p.required ? ', required' : ''}) ${esc(p.description ?? '')}</li>`,
        )
        .join('');
      const errors = (op['x-error-codes'] ?? []).map((c) => `<code>${esc(c)}</code>`).join(' ');
      sections.push(`<section>
<h2><span class="m">${esc(method.toUpperCase())}</span> ${esc(path)}</h2>
<p>${esc(op.summary ?? '')}${op.security && op.security.length === 0 ? ' — no authentication' : ' — Authorization: Bearer &lt;JWT or API key&gt;'}</p>
${params ? `<h3>Parameters</h3><ul>${params}</ul>` : ''}
${body ? `<h3>Request body</h3>${schemaBlock(body)}` : ''}
<h3>Responses</h3>${responses}
${errors ? `<h3>Error codes</h3><p>${errors}</p>` : ''}
</section>`);
    }
  }
  const title = esc(doc.info?.title ?? 'API');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}
section{border-top:1px solid #ccc;padding:.5rem 0}.m{background:#234;color:#fff;padding:0 .4rem;border-radius:3px}
pre{background:#f4f4f4;padding:.5rem;overflow:auto;font-size:.85rem}code{background:#eee;padding:0 .2rem}</style>
</head><body><h1>${title} ${esc(doc.info?.version ?? '')}</h1><p>${esc(doc.info?.description ?? '')}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a></p>
${sections.join('\n')}
</body></html>`;
}

/** Mounts GET /openapi.json and GET /docs for doc on app. */
export function serveApiDocs(app: Express, doc: object): void {
  const html = renderApiDocs(doc as Doc);
  app.get('/openapi.json', (_req, res) => {
    res.json(doc);
  });
  app.get('/docs', (_req, res) => {
    res.type('html').send(html);
  });
}
