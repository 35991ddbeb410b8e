// Shared by bench/replay.ts and bench/lag.ts: a fresh read side (own MySQL
// database with the event store, own Mongo database, own Redis prefix) and a
// generator of message events in the shapes the command side and the
// dispatcher append.
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { NewEvent } from '../platform/eventStore/index.ts';
import { readSide, REDIS_URL } from '../testing/readSide.ts';

/** The test read side, with the larger MySQL pool the benchmarks are measured with. */
export const benchReadSide = (name: string) => readSide(name, {}, REDIS_URL, 30);

const tenants = Array.from({ length: 20 }, () => randomUUID());

export function accepted(i: number, messageId = randomUUID()): NewEvent {
  const tenantId = tenants[i % tenants.length]!;
  return {
    type: 'sms.accepted.v1',
    data: {
      messageId,
      tenantId,
      templateId: `tpl-${i % 50}`,
      templateCode: `code_${i % 50}`,
      kind: 'notification',
      mobile: `+86138${String(i % 100_000_000).padStart(8, '0')}`,
      content: `【Acme】Your parcel ${i} is on its way`,
      params: { n: String(i) },
      segments: 1,
      encoding: 'UCS-2',
      suppliers: ['aliyun-main', 'tencent-main'],
      requestHash: `h${i}`,
      acceptedAt: new Date().toISOString(),
    },
    metadata: { actor: { type: 'user', id: tenantId } },
  };
}

export function outcomes(messageId: string, i: number): NewEvent[] {
  const sid = `sid-${i}`;
  return [
    {
      type: 'sms.submitted.v1',
      data: {
        messageId,
        supplierAccount: 'aliyun-main',
        supplierMessageId: sid,
        attempt: 1,
        latencyMs: 20,
      },
    },
    {
      type: 'sms.delivered.v1',
      data: {
        messageId,
        supplierAccount: 'aliyun-main',
        supplierMessageId: sid,
        deliveredAt: new Date().toISOString(),
      },
    },
  ];
}

export function machine() {
  return { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? 'unknown', load: os.loadavg() };
}
