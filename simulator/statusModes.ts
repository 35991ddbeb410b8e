// What the vendors' status queries see, and the admin switches tests use to
// make them misbehave:
//   queryLagMs (behaviour): Aliyun QuerySendDetails and Tencent's pulls show a
//     message only this long after it was accepted (the real QuerySendDetails
//     lags behind SendSms, so "not found" right after a timeout proves nothing).
//   POST /admin/accounts/:id/forget {messageIds}: the vendor knows nothing of
//     these messages any more: no query finds them and no receipt comes.
// Receipts dropped is the behaviour dropReceiptRate (1: none pushed; the
// status still shows in queries).
import { Router, type Request } from 'express';
import type { SimContext } from './context.ts';
import type { SimAccount, SimMessage } from './state.ts';

/** True when the account's status queries show this message now. */
export function visibleToQueries(account: SimAccount, m: SimMessage, now = Date.now()): boolean {
  return now - m.sentAt.getTime() >= account.behaviour.queryLagMs;
}

export function statusModesRouter(ctx: SimContext): Router {
  const r = Router();
  r.post('/accounts/:id/forget', (req: Request<{ id: string }>, res) => {
    const account = ctx.state.accounts.get(req.params.id);
    if (!account) return void res.status(404).json({ error: 'no such account' });
    const body = req.body as { messageIds?: unknown } | undefined;
    const ids = body?.messageIds;
    if (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string'))
      return void res.status(400).json({ error: 'messageIds: expected an array of strings' });
    const forget = new Set(ids as string[]);
    let forgotten = 0;
    for (let i = ctx.state.messages.length - 1; i >= 0; i--) {
      const m = ctx.state.messages[i]!;
      if (m.accountId !== account.id || !forget.has(m.messageId)) continue;
      ctx.state.messages.splice(i, 1);
      ctx.state.pulled.delete(m);
      // a receipt still on its way is not pushed
      m.forgotten = true;
      forgotten++;
    }
    res.json({ forgotten });
  });
  return r;
}
