// What the vendor handlers share: state, the pusher, and the behaviour rules
// applied to every SendSms.
import type { Response } from 'express';
import { Catalog } from './catalog.ts';
import { Pusher } from './pusher.ts';
import { chance } from './rng.ts';
import {
  chinaTime,
  splitMobile,
  type SimAccount,
  type SimMessage,
  SimulatorState,
} from './state.ts';

export type SendDecision =
  | { kind: 'transient'; code: string }
  | { kind: 'rejected'; code: string }
  | { kind: 'accepted'; hang: boolean };

export class SimContext {
  readonly state = new SimulatorState();
  readonly pusher = new Pusher();
  /** Signatures and templates per account. */
  readonly catalog: Catalog;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly held = new Set<Response>();
  private closed = false;

  /** catalogFile: where the reviews are kept across restarts (none: in memory only). */
  constructor(catalogFile?: string) {
    this.catalog = new Catalog(catalogFile);
  }

  /** Apply the account's behaviour to one SendSms, in a fixed order of draws. */
  decide(account: SimAccount, defaults: { transient: string; reject: string }): SendDecision {
    const b = account.behaviour;
    if (chance(account.sendRng, b.transientRate)) {
      account.stats.transient++;
      return { kind: 'transient', code: b.transientCode ?? defaults.transient };
    }
    const overLimit = b.rejectAfter !== null && account.stats.accepted >= b.rejectAfter;
    if (overLimit || chance(account.sendRng, b.rejectRate)) {
      account.stats.rejected++;
      return { kind: 'rejected', code: b.rejectCode ?? defaults.reject };
    }
    return { kind: 'accepted', hang: chance(account.sendRng, b.timeoutAfterAcceptRate) };
  }

  /** Record an accepted message and schedule its delivery report. */
  accept(account: SimAccount, message: SimMessage): void {
    this.state.messages.push(message);
    this.state.countAccepted(account, message.messageId);
    this.later(account.behaviour.receiptDelayMs, () => this.report(account, message));
  }

  private report(account: SimAccount, message: SimMessage): void {
    const failed = chance(account.receiptRng, account.behaviour.deliverFailRate);
    message.status = failed ? 'failed' : 'delivered';
    message.reportedAt = new Date();
    if (failed) message.errCode = account.behaviour.deliverFailCode;
    if (message.forgotten) return; // the vendor knows nothing of it (statusModes.ts)
    account.stats.receiptsGenerated++;
    this.pusher.deliverReceipt(account, receiptItem(message));
  }

  later(ms: number, fn: () => void): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  sleep(ms: number): Promise<void> {
    return ms > 0 ? new Promise((resolve) => this.later(ms, resolve)) : Promise.resolve();
  }

  /** Accept-then-hang: answer nothing; drop the connection after hangMs or when the client leaves. */
  hold(account: SimAccount, res: Response): void {
    account.stats.hung++;
    this.held.add(res);
    const t = setTimeout(() => res.socket?.destroy(), account.behaviour.hangMs);
    res.on('close', () => {
      clearTimeout(t);
      this.held.delete(res);
    });
  }

  /** Forget messages and counters, and cancel receipts and pushes still pending from before. */
  reset(dropAccounts: boolean): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.pusher.reset();
    this.state.reset(dropAccounts);
    if (dropAccounts) this.catalog.clear();
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const res of this.held) res.socket?.destroy();
    this.held.clear();
    this.pusher.close();
  }
}

/** The vendor's receipt push item for a reported message. */
export function receiptItem(m: SimMessage): Record<string, unknown> {
  const delivered = m.status === 'delivered';
  const reportedAt = m.reportedAt ?? new Date();
  const { nationCode, national } = splitMobile(m.mobile);
  if (m.vendor === 'aliyun') {
    return {
      phone_number: nationCode === '86' ? national : m.mobile.slice(1),
      send_time: chinaTime(m.sentAt),
      report_time: chinaTime(reportedAt),
      success: delivered,
      err_code: delivered ? 'DELIVERED' : (m.errCode ?? 'UNKNOWN'),
      err_msg: delivered ? '用户接收成功' : '用户接收失败',
      sms_size: String(m.segments),
      biz_id: m.supplierMessageId,
      out_id: m.messageId,
    };
  }
  return {
    user_receive_time: chinaTime(reportedAt),
    nationcode: nationCode,
    mobile: national,
    report_status: delivered ? 'SUCCESS' : 'FAIL',
    errmsg: delivered ? 'DELIVRD' : (m.errCode ?? 'UNKNOWN'),
    description: delivered ? '用户短信送达成功' : '用户短信接收失败',
    sid: m.supplierMessageId,
  };
}
