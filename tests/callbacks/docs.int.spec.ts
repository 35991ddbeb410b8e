// The signature snippets of docs/callbacks.md, run as a tenant would run them
// (node and python3) against a signature streaming made.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newCallbackSecret, signatureHeader } from '../../platform/callbacks/index.ts';

const doc = readFileSync(new URL('../../docs/callbacks.md', import.meta.url), 'utf8');
const block = (lang: string) => {
  const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(doc);
  assert.ok(m, `a ${lang} snippet in docs/callbacks.md`);
  return m[1]!;
};

describe('docs/callbacks.md signature snippets', () => {
  const secret = newCallbackSecret();
  const body = JSON.stringify({ id: 'e1', type: 'message.delivered', data: { text: '你好' } });
  const header = signatureHeader(secret, body);
  const dir = mkdtempSync(join(tmpdir(), 'cb-docs-'));
  const cases = [
    { header, body, secret, want: 'ok' },
    { header, body: body + ' ', secret, want: 'bad' },
    { header, body, secret: newCallbackSecret(), want: 'bad' },
    { header: signatureHeader(secret, body, Date.now() - 600_000), body, secret, want: 'bad' },
  ];

  it('the Node one verifies a real signature and refuses a changed one', () => {
    const file = join(dir, 'verify.cjs');
    writeFileSync(
      file,
      block('js') +
        "\nconst fs = require('node:fs');\nconst raw = fs.readFileSync(process.env.BODY_FILE, 'utf8');\n" +
        "console.log(verifyStreamingSignature(raw, process.env.HEADER, process.env.SECRET) ? 'ok' : 'bad');\n",
    );
    for (const [i, c] of cases.entries()) {
      writeFileSync(join(dir, `b${i}`), c.body);
      const out = execFileSync(process.execPath, [file], {
        env: { HEADER: c.header, SECRET: c.secret, BODY_FILE: join(dir, `b${i}`) },
      });
      assert.equal(out.toString().trim(), c.want, `case ${i}`);
    }
  });

  it('the Python one does too', () => {
    const file = join(dir, 'verify.py');
    writeFileSync(
      file,
      block('python') +
        "\nimport os\nraw = open(os.environ['BODY_FILE'], 'rb').read()\n" +
        "print('ok' if verify_streaming_signature(raw, os.environ['HEADER'], os.environ['SECRET']) else 'bad')\n",
    );
    for (const [i, c] of cases.entries()) {
      writeFileSync(join(dir, `p${i}`), c.body);
      const out = execFileSync('python3', [file], {
        env: { HEADER: c.header, SECRET: c.secret, BODY_FILE: join(dir, `p${i}`) },
      });
      assert.equal(out.toString().trim(), c.want, `case ${i}`);
    }
  });
});
