import { fillPlaceholders, type Params } from '../templates/placeholders.ts';

/** The full text as sent and counted: `【signature】content` with params filled in. */
export function renderMessage(signature: string, content: string, params: Params = {}): string {
  return `【${signature}】${fillPlaceholders(content, params)}`;
}
