// Runs the supplier simulator as its own process:
//   node simulator/main.ts
// Port: SIMULATOR_PORT or STREAMING_SIMULATOR_PORT (default 8090); host:
// SIMULATOR_HOST (default 127.0.0.1). Accounts at start: STREAMING_SIMULATOR_ACCOUNTS,
// either a JSON array of account specs or the path of a JSON file holding one;
// without it, the two accounts of streaming's default configuration.
// Signatures and templates it reviewed: in STREAMING_SIMULATOR_CATALOG, a
// JSON file it reads at start and rewrites on every change (unset: memory
// only; `npm start` sets it to the stack folder's simulator/catalog.json).
import { readFileSync } from 'node:fs';
import type { AccountSpec } from './admin.ts';
import { runSimulator } from './run.ts';

function loadAccounts(value: string | undefined): AccountSpec[] {
  if (value === undefined || value.trim() === '') return [];
  const text = /^\s*[[{]/.test(value) ? value : readFileSync(value, 'utf8');
  const parsed: unknown = JSON.parse(text);
  const list = Array.isArray(parsed) ? parsed : [parsed];
  return list.map((spec, i) => {
    if (
      spec === null ||
      typeof spec !== 'object' ||
      typeof (spec as { id?: unknown }).id !== 'string'
    ) {
      throw new Error(`STREAMING_SIMULATOR_ACCOUNTS[${i}]: expected an object with an id`);
    }
    return spec as AccountSpec;
  });
}

const port = Number(process.env.SIMULATOR_PORT ?? process.env.STREAMING_SIMULATOR_PORT ?? 8090);
const host = process.env.SIMULATOR_HOST ?? '127.0.0.1';
const simulator = await runSimulator({
  port,
  host,
  accounts: loadAccounts(process.env.STREAMING_SIMULATOR_ACCOUNTS),
  ...(process.env.STREAMING_SIMULATOR_CATALOG
    ? { catalogFile: process.env.STREAMING_SIMULATOR_CATALOG }
    : {}),
});

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  void simulator.close().then(() => process.exit(0));
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, stop);
// Under `streaming start`'s supervisor: say it serves, and stop when the supervisor goes.
if (process.send) {
  if (process.connected) {
    process.send('streaming:ready');
    process.on('disconnect', stop);
  } else stop();
}
