// Our template as each vendor writes it, the check that a vendor template is
// ours, the accounts a message may go through, and the vendors' limits on
// the values of variables.
import type { Params } from './placeholders.ts';
import { pieces } from './placeholders.ts';
import type { ExistingTemplate, TemplateBinding } from './template.ts';
import type { TemplateKind } from './policy.ts';

export type Vendor = 'aliyun' | 'tencent';

/**
 * Our content in the vendor's syntax and its placeholder names in the
 * vendor's order. Aliyun names its variables like we do (`${name}`);
 * Tencent numbers them (`{1}`, `{2}`, …), so the n-th distinct name becomes
 * `{n}` and TemplateParamSet must follow that order.
 */
export function toVendorTemplate(
  vendor: Vendor,
  content: string,
): { content: string; params: string[] } {
  const names: string[] = [];
  const out = pieces(content).map((p) => {
    if ('text' in p) return p.text;
    if (!names.includes(p.name)) names.push(p.name);
    return vendor === 'aliyun' ? `\${${p.name}}` : `{${names.indexOf(p.name) + 1}}`;
  });
  return { content: out.join(''), params: names };
}

type VendorPiece = { text: string } | { slot: string };

function vendorPieces(vendor: Vendor, content: string): VendorPiece[] {
  const pattern = vendor === 'aliyun' ? /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g : /\{([0-9]+)\}/g;
  const out: VendorPiece[] = [];
  let at = 0;
  for (const m of content.matchAll(pattern)) {
    if (m.index > at) out.push({ text: content.slice(at, m.index) });
    out.push({ slot: m[1]! });
    at = m.index + m[0].length;
  }
  if (at < content.length) out.push({ text: content.slice(at) });
  return out;
}

/**
 * Whether a vendor's template says exactly what ours says, variables at the
 * same places: `{ok, params}` with our names in the vendor's order, or the
 * reason it does not match.
 */
export function matchVendorTemplate(
  vendor: Vendor,
  ours: string,
  theirs: string,
): { ok: true; params: string[] } | { ok: false; reason: string } {
  const a = pieces(ours);
  const b = vendorPieces(vendor, theirs);
  const differs = {
    ok: false as const,
    reason: `the vendor template's text "${theirs}" is not ours "${ours}"`,
  };
  if (a.length !== b.length) return differs;
  const bySlot = new Map<string, string>();
  const byName = new Map<string, string>();
  for (const [i, p] of a.entries()) {
    const q = b[i]!;
    if ('text' in p) {
      if (!('text' in q) || q.text !== p.text) return differs;
      continue;
    }
    if (!('slot' in q)) return differs;
    if (vendor === 'aliyun' && q.slot !== p.name) {
      return {
        ok: false,
        reason: `the vendor template names a variable \${${q.slot}} where ours has \${${p.name}}`,
      };
    }
    const seenName = bySlot.get(q.slot);
    const seenSlot = byName.get(p.name);
    if (
      (seenName !== undefined && seenName !== p.name) ||
      (seenSlot !== undefined && seenSlot !== q.slot)
    ) {
      return {
        ok: false,
        reason: `the vendor template's variable {${q.slot}} does not stand for one of our placeholders`,
      };
    }
    bySlot.set(q.slot, p.name);
    byName.set(p.name, q.slot);
  }
  if (vendor === 'aliyun') return { ok: true, params: [...byName.keys()] };
  const slots = [...bySlot.keys()].map(Number).sort((x, y) => x - y);
  if (slots.some((n, i) => n !== i + 1)) {
    return { ok: false, reason: 'the vendor template numbers its variables with gaps' };
  }
  return { ok: true, params: slots.map((n) => bySlot.get(String(n))!) };
}

/** A route: an account where template and signature are approved, with the vendor's template. */
export type Route = { account: string; vendorTemplateId: string; params: string[] };

/** The template's approved bindings, in the template's supplier order. */
export function approvedBindings(template: ExistingTemplate): Route[] {
  const routes: Route[] = [];
  for (const account of template.suppliers) {
    const b: TemplateBinding | undefined = template.bindings[account];
    if (b?.status === 'approved' && b.vendorTemplateId !== undefined) {
      routes.push({ account, vendorTemplateId: b.vendorTemplateId, params: [...b.params] });
    }
  }
  return routes;
}

/** What a vendor refuses in a variable's value; undefined when it takes it. */
export type ParamProblem = { param: string; vendor: Vendor; limit: string };

const chars = (v: string): number => [...v].length;

/**
 * The vendors' documented limits on the values of variables:
 *
 * Aliyun (https://help.aliyun.com/en/sms/templaterule-template-variable-parameter-filling-example,
 * and the variable specifications of https://help.aliyun.com/en/sms/user-guide/message-template-specifications/):
 * a verification code is one variable of 4 to 6 digits or letters; any other
 * variable value at most 35 characters (SendSms answers isv.PARAM_LENGTH_LIMIT).
 * The 35-character default is stated in "长变量短信发送与字符限制是什么?"
 * (https://help.aliyun.com/zh/document_detail/3041859.html): a template whose
 * variable limit Aliyun lifted on request may carry longer values, up to 500
 * characters for the whole message; we keep the default.
 *
 * Tencent (https://cloud.tencent.com/document/product/382/13301, "短信正文模板中每个变量是否有字数限制",
 * and https://www.tencentcloud.com/zh/document/product/382/40653): a
 * verification code at most 6 digits; other variables: no per-variable limit
 * for enterprise accounts (the only ones the template APIs serve), 12
 * characters for personal ones, which we take as the limit so that a message
 * passes on either; SendSms answers InvalidParameterValue.TemplateParameterLengthLimit.
 */
export function vendorParamProblem(
  vendor: Vendor,
  kind: TemplateKind,
  params: Params,
  codeParam: string,
): ParamProblem | undefined {
  for (const [param, value] of Object.entries(params)) {
    const isCode = kind === 'verification' && param === codeParam;
    if (vendor === 'aliyun') {
      if (isCode && !/^[A-Za-z0-9]{4,6}$/.test(value)) {
        return { param, vendor, limit: 'a verification code of 4 to 6 digits or letters' };
      }
      if (!isCode && chars(value) > 35) return { param, vendor, limit: 'at most 35 characters' };
    } else {
      if (isCode && !/^[0-9]{1,6}$/.test(value)) {
        return { param, vendor, limit: 'a verification code of at most 6 digits' };
      }
      if (!isCode && chars(value) > 12) return { param, vendor, limit: 'at most 12 characters' };
    }
  }
  return undefined;
}
