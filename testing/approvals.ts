// Approvals for tests that are not about reviews: what the reviewer would
// record once every vendor approved a template and its signature, appended
// through the deciders. Tests that send through a simulator use
// `seedSimulator` as well, so that the vendor really has them.
import {
  approvedBindings,
  approvedSignatureAccounts,
  signatureDecider,
  signatureStream,
  templateDecider,
  templateStream,
  toVendorTemplate,
  type Decider,
  type Event,
  type ExistingTemplate,
} from '../domain/index.ts';
import { aggregateStream, type EventStore } from '../platform/eventStore/index.ts';

type Vendor = 'aliyun' | 'tencent';

async function decideAll<C, S, E extends Event>(
  eventStore: EventStore,
  decider: Decider<C, S, E>,
  stream: string,
  commands: (state: S) => C[],
): Promise<S> {
  const loaded = await aggregateStream(eventStore, decider, stream);
  let state = loaded.state;
  const out: E[] = [];
  for (const c of commands(state)) {
    const next = decider.decide(c, state);
    for (const e of next) state = decider.evolve(state, e);
    out.push(...next);
  }
  if (out.length > 0) {
    await eventStore.append(
      stream,
      out.map((e) => ({
        type: e.type,
        data: e.data,
        metadata: { actor: { type: 'system' as const, id: 'reviews' } },
      })),
      loaded.expected,
    );
  }
  return state;
}

/** The vendor template id a test account gets for a template code. */
export const testVendorTemplateId = (vendor: Vendor, templateCode: string): string =>
  vendor === 'aliyun'
    ? `SMS_${templateCode}`
    : String(parseInt(Buffer.from(templateCode).toString('hex').slice(-10), 16));

/**
 * Records that every account of the template approved it and its tenant's
 * signature. `vendors` names each account's vendor (the config's suppliers).
 */
export async function approveTemplate(
  eventStore: EventStore,
  templateCode: string,
  vendors: ReadonlyMap<string, Vendor>,
): Promise<ExistingTemplate> {
  const stream = templateStream(templateCode);
  const { state: template } = await aggregateStream(eventStore, templateDecider, stream);
  if (!template.exists) throw new Error(`no template ${templateCode}`);
  const accounts = template.suppliers;
  await decideAll(
    eventStore,
    signatureDecider,
    signatureStream(template.tenantId, template.signature),
    (s) => [
      {
        type: 'RegisterSignature' as const,
        data: { tenantId: template.tenantId, name: template.signature, accounts },
      },
      ...accounts.flatMap((account) =>
        s.exists && s.reviews[account]?.status === 'approved'
          ? []
          : [
              { type: 'RecordSignatureSubmission' as const, data: { account } },
              {
                type: 'RecordSignatureReview' as const,
                data: { account, status: 'approved' as const },
              },
            ],
      ),
    ],
  );
  const state = await decideAll(eventStore, templateDecider, stream, (t) => {
    if (!t.exists) return [];
    return t.suppliers.flatMap((account) => {
      const vendor = vendors.get(account) ?? 'aliyun';
      const vendorTemplateId = testVendorTemplateId(vendor, templateCode);
      const { params } = toVendorTemplate(vendor, t.content);
      return [
        {
          type: 'RecordTemplateSubmission' as const,
          data: { account, vendorTemplateId, revision: t.revision, params },
        },
        {
          type: 'RecordTemplateReview' as const,
          data: { account, vendorTemplateId, revision: t.revision, status: 'approved' as const },
        },
      ];
    });
  });
  return state as ExistingTemplate;
}

/** The same template and signature, approved at the simulator's accounts (its admin API). */
export async function seedSimulator(
  simulatorUrl: string,
  template: ExistingTemplate,
  vendors: ReadonlyMap<string, Vendor>,
): Promise<void> {
  for (const account of template.suppliers) {
    const vendor = vendors.get(account) ?? 'aliyun';
    const put = (path: string, body: unknown) =>
      fetch(`${simulatorUrl}/admin/accounts/${account}${path}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    await put(`/signatures/${encodeURIComponent(template.signature)}`, {});
    await put(`/templates/${testVendorTemplateId(vendor, template.templateCode)}`, {
      content: toVendorTemplate(vendor, template.content).content,
      type: template.kind === 'verification' ? 0 : template.kind === 'notification' ? 1 : 2,
    });
  }
}

/**
 * Waits until the reviewer recorded that some account approved both the
 * template and its tenant's signature (the real flow: a simulator reviews).
 */
export async function waitForApproval(
  eventStore: EventStore,
  templateCode: string,
  timeoutMs = 20_000,
): Promise<ExistingTemplate> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { state: t } = await aggregateStream(
      eventStore,
      templateDecider,
      templateStream(templateCode),
    );
    if (t.exists) {
      const { state: s } = await aggregateStream(
        eventStore,
        signatureDecider,
        signatureStream(t.tenantId, t.signature),
      );
      const signed = new Set(approvedSignatureAccounts(s));
      if (approvedBindings(t).some((b) => signed.has(b.account))) return t;
    }
    if (Date.now() > deadline) throw new Error(`template ${templateCode} not approved in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
