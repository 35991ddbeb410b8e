// The simulator keeps its reviews across a restart, as a vendor does: a
// signature and a template applied for and approved through the real
// adapters are still approved by a simulator started again on the same
// catalog file, and the ids it hands out afterwards are new ones.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createSupplierAdapter } from '../suppliers/index.ts';
import type { SupplierAccount } from '../suppliers/types.ts';
import { startSimulator, type Simulator } from './server.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'sim-catalog-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const keys = {
  aliyun: { accessKeyId: 'LTAI-catalog', accessKeySecret: 'aliyun-catalog-secret' },
  tencent: { accessKeyId: 'AKID-catalog', accessKeySecret: 'tencent-catalog-secret' },
};

async function simulator(vendor: 'aliyun' | 'tencent', catalogFile?: string): Promise<Simulator> {
  return startSimulator({
    port: 0,
    accounts: [
      {
        id: `${vendor}-catalog`,
        vendor,
        ...keys[vendor],
        ...(vendor === 'tencent' ? { smsSdkAppId: '1400007777' } : {}),
        behaviour: { reviewDelayMs: 0 },
      },
    ],
    ...(catalogFile ? { catalogFile } : {}),
  });
}

function adapter(vendor: 'aliyun' | 'tencent', sim: Simulator) {
  const account: SupplierAccount = {
    id: `${vendor}-catalog`,
    vendor,
    endpoint: vendor === 'aliyun' ? `${sim.url}/` : `${sim.url}/tencent/`,
    ...keys[vendor],
    signName: '回执',
    ...(vendor === 'tencent' ? { smsSdkAppId: '1400007777' } : {}),
    timeoutMs: 2000,
  };
  return createSupplierAdapter(account);
}

for (const vendor of ['aliyun', 'tencent'] as const) {
  describe(`${vendor}: the simulator remembers its reviews across a restart`, () => {
    const file = path.join(dir, `${vendor}`, 'catalog.json');
    const content = vendor === 'aliyun' ? '您的订单${order}已发货' : '您的订单{1}已发货';
    const send = (sim: Simulator, templateCode: string, n: number) =>
      adapter(vendor, sim).send({
        messageId: `catalog-${vendor}-${n}`,
        mobile: '+8613800138000',
        signature: '回执',
        templateCode,
        params: { order: 'A123' },
        paramOrder: ['order'],
        content: '【回执】您的订单A123已发货',
      });

    it('a template approved before the restart is still approved after it; new ids are new', async () => {
      let sim = await simulator(vendor, file);
      const sign = await adapter(vendor, sim).submitSignature('回执');
      assert.equal(sign.kind, 'submitted', JSON.stringify(sign));
      const applied = await adapter(vendor, sim).submitTemplate({
        name: 'shipped',
        kind: 'notification',
        content,
        signature: '回执',
        remark: 'order shipped',
      });
      assert.ok(applied.kind === 'submitted' && applied.id, JSON.stringify(applied));
      const templateId = applied.id;
      const review = await adapter(vendor, sim).templateReview(templateId);
      assert.equal(review.kind, 'approved', JSON.stringify(review));
      await sim.close();

      // a simulator without the file knows nothing of it: the vendor's refusal
      const forgetful = await simulator(vendor);
      try {
        const refused = await send(forgetful, templateId, 1);
        assert.equal(refused.kind, 'rejected', JSON.stringify(refused));
      } finally {
        await forgetful.close();
      }

      sim = await simulator(vendor, file);
      try {
        const again = await adapter(vendor, sim).templateReview(templateId);
        assert.equal(again.kind, 'approved', JSON.stringify(again));
        const sent = await send(sim, templateId, 2);
        assert.equal(sent.kind, 'accepted', JSON.stringify(sent));
        const [message] = sim.state.messages;
        assert.equal(message?.content, '【回执】您的订单A123已发货');

        const next = await adapter(vendor, sim).submitTemplate({
          name: 'delivered',
          kind: 'notification',
          content,
          signature: '回执',
          remark: 'order delivered',
        });
        assert.ok(next.kind === 'submitted' && next.id, JSON.stringify(next));
        assert.notEqual(next.id, templateId, 'a restarted simulator handed out an id again');
        const kept = JSON.parse(readFileSync(file, 'utf8')) as {
          accounts: Record<string, { templates: Array<{ id: string }> }>;
        };
        assert.deepEqual(
          kept.accounts[`${vendor}-catalog`]?.templates.map((t) => t.id).sort(),
          [templateId, next.id].sort(),
        );
      } finally {
        await sim.close();
      }
    });
  });
}

describe('a catalog file that is not one', () => {
  it('stops the simulator with the file named, rather than starting empty', async () => {
    const file = path.join(dir, 'broken.json');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, '{"version": 1, "accounts": ');
    await assert.rejects(simulator('aliyun', file), (err: Error) => {
      assert.match(err.message, /broken\.json: not JSON/);
      return true;
    });
  });
});
