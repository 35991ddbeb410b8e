// Replay benchmark: events/s rebuilding message_history (MySQL) and
// audit_log (Mongo) blue/green from the MySQL event store.
//
//   node bench/replay.ts [--messages 40000]
//
// Each message is three events (accepted, submitted, delivered), appended
// concurrently first; then each read model is rebuilt from zero and swapped.
// Writes bench/results/replay.json. Target: ≥ 20,000 events/s for message_history.
import { mkdirSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { projectionNamed, rebuildProjection } from '../projectors/index.ts';
import { accepted, benchReadSide, machine, outcomes } from './readSideLoad.ts';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '40000' } } });
const messages = Number(values.messages);

const side = await benchReadSide('replay');
try {
  // 1. the history to replay
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < messages) {
        const i = next++;
        const id = randomUUID();
        await side.deps.eventStore.append(
          `message-${id}`,
          [accepted(i, id), ...outcomes(id, i)],
          'no_stream',
        );
      }
    }),
  );
  const events = await side.deps.eventStore.headPosition();
  console.log(`appended ${events} events in ${Math.round(performance.now() - started)} ms`);

  // 2. the rebuilds
  const results: Record<string, unknown> = {};
  for (const name of ['message_history', 'audit_log']) {
    const projection = projectionNamed(name)!;
    const r = await rebuildProjection(side.deps, projection, { progress: process.stderr.isTTY });
    const eventsPerSecond = Math.round(r.eventsPerSecond);
    console.log(
      `${name}: ${r.events} events in ${Math.round(r.ms)} ms = ${eventsPerSecond} events/s`,
    );
    results[name] = { events: r.events, ms: Math.round(r.ms), eventsPerSecond };
  }
  const out = {
    command: `node bench/replay.ts --messages ${messages}`,
    at: new Date().toISOString(),
    machine: machine(),
    node: process.version,
    events,
    results,
    targets: { message_history: '>= 20000 events/s' },
  };
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('./results/replay.json', import.meta.url),
    `${JSON.stringify(out, null, 2)}\n`,
  );
} finally {
  await side.drop();
}
