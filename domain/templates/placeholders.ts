// `${name}` placeholders in template content.
import { DomainError } from '../errors.ts';

const namePattern = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type Params = Readonly<Record<string, string>>;

export type Piece = { text: string } | { name: string };

function contentInvalid(message: string, reason: string): DomainError {
  return new DomainError('TEMPLATE_CONTENT_INVALID', message, { field: 'content', reason });
}

/** The content as literal text and `${name}` pieces. Throws TEMPLATE_CONTENT_INVALID. */
export function pieces(content: string): Piece[] {
  const out: Piece[] = [];
  let at = 0;
  while (at < content.length) {
    const open = content.indexOf('${', at);
    if (open < 0) {
      out.push({ text: content.slice(at) });
      break;
    }
    if (open > at) out.push({ text: content.slice(at, open) });
    const close = content.indexOf('}', open + 2);
    if (close < 0) {
      throw contentInvalid(
        `The placeholder opened at position ${open} is never closed with "}".`,
        'UNBALANCED_PLACEHOLDER',
      );
    }
    const name = content.slice(open + 2, close);
    if (!namePattern.test(name)) {
      throw contentInvalid(
        `"\${${name}}" at position ${open} is not a valid placeholder: a name is a letter or _ followed by letters, digits or _.`,
        'INVALID_PLACEHOLDER_NAME',
      );
    }
    out.push({ name });
    at = close + 1;
  }
  return out;
}

/** The distinct placeholder names in order of first use. Throws TEMPLATE_CONTENT_INVALID. */
export function parsePlaceholders(content: string): string[] {
  const names: string[] = [];
  for (const piece of pieces(content)) {
    if ('name' in piece && !names.includes(piece.name)) names.push(piece.name);
  }
  return names;
}

/** Throws PARAMS_MISMATCH with details {missing, extra} unless params fill exactly the placeholders. */
export function checkParams(placeholders: readonly string[], params: Params): void {
  const given = Object.keys(params);
  const missing = placeholders.filter((p) => !Object.prototype.hasOwnProperty.call(params, p));
  const extra = given.filter((k) => !placeholders.includes(k));
  const notText = given.filter((k) => typeof params[k] !== 'string');
  if (missing.length === 0 && extra.length === 0 && notText.length === 0) return;
  const parts = [
    missing.length ? `missing params: ${missing.join(', ')}` : '',
    extra.length ? `params the template does not use: ${extra.join(', ')}` : '',
    notText.length ? `params that are not strings: ${notText.join(', ')}` : '',
  ].filter(Boolean);
  throw new DomainError(
    'PARAMS_MISMATCH',
    `The params do not match the template: ${parts.join('; ')}.`,
    {
      missing,
      extra,
      ...(notText.length ? { notText } : {}),
    },
  );
}

/** Replaces every placeholder with its param, in one pass (a param containing `${x}` stays literal). */
export function fillPlaceholders(content: string, params: Params): string {
  const list = pieces(content);
  checkParams(
    list.flatMap((p) => ('name' in p ? [p.name] : [])).filter((n, i, a) => a.indexOf(n) === i),
    params,
  );
  return list.map((p) => ('name' in p ? (params[p.name] ?? '') : p.text)).join('');
}
