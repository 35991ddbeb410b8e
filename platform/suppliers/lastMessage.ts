// Where the dispatcher notes the last message sent to a number, so that an
// inbound SMS (webhooks, in the command service) can be linked to it: per
// number, per (number, supplier account), and per (number, extension code,
// supplier account) when the message went out with an extension code. Both
// sides build the keys here.

export interface LastMessage {
  messageId: string;
  tenantId: string;
  account: string;
}

/** `<prefix>lastmsg:<E.164>`: the last message any tenant sent to the number. */
export const lastMessageKey = (prefix: string, mobile: string): string =>
  `${prefix}lastmsg:${mobile}`;

/**
 * `<prefix>lastmsg:<E.164>:acct:<account>`: the last message sent to the number
 * through that account. A reply without an extension code comes back to the
 * account that sent, so it is linked only within that account.
 */
export const lastMessageByAccountKey = (prefix: string, mobile: string, account: string): string =>
  `${prefix}lastmsg:${mobile}:acct:${account}`;

/**
 * `<prefix>lastmsg:<E.164>:ext:<code>:<account>`: the last message sent to the
 * number with that extension code through that account. The account is part
 * of the key because a reply comes back to the sender number of the account
 * that sent it, and two accounts may hand out the same code.
 */
export const lastMessageByExtendKey = (
  prefix: string,
  mobile: string,
  extendCode: string,
  account: string,
): string => `${prefix}lastmsg:${mobile}:ext:${extendCode}:${account}`;
