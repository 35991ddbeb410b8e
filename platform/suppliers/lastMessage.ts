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

export {
  lastMessageByAccountKey,
  lastMessageByExtendKey,
  lastMessageKey,
} from '../../contracts/index.ts';
