import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
// Shared query-string pieces: schemas, cursors, ranges, visibility.
import type { Request } from 'express';
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { principalOf, type Principal } from '../platform/auth/index.ts';
import { AppError } from '../platform/errors/index.ts';

export function e164(value: string): string {
  // Same reading as the command side: mainland numbers without a country code are Chinese.
  const parsed = parsePhoneNumberFromString(value.trim(), 'CN');
  return parsed?.number ?? `+${value.trim().replace(/^\+/, '')}`;
}

/** Opaque cursor: base64url of a JSON array of sort values. */
export function encodeCursor(values: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

/**
 * The sort values of a cursor made by encodeCursor, as `read` takes them;
 * anything `read` refuses (undefined) or that is no such cursor is INVALID_CURSOR.
 */
export function decodeCursor<T>(
  cursor: string | undefined,
  read: (values: unknown[]) => T | undefined,
): T | undefined {
  if (cursor === undefined) return undefined;
  let values: unknown;
  try {
    if (/^[A-Za-z0-9_-]+$/.test(cursor)) {
      values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    }
  } catch {
    // not JSON: malformed
  }
  const decoded = Array.isArray(values) ? read(values) : undefined;
  if (decoded === undefined) {
    throw new AppError(
      'INVALID_CURSOR',
      'The cursor is malformed; pass back the nextCursor of a previous page.',
    );
  }
  return decoded;
}

/** Decodes a cursor made of an ISO time and an id. */
export function decodeTimeCursor(cursor: string | undefined): { at: Date; id: string } | undefined {
  return decodeCursor(cursor, (values) => {
    const [at, id] = values;
    if (values.length !== 2 || typeof at !== 'string' || typeof id !== 'string') return undefined;
    if (id === '' || id.length > 128) return undefined;
    const date = new Date(at);
    if (Number.isNaN(date.getTime()) || date.toISOString() !== at) return undefined;
    return { at: date, id };
  });
}

/** from/to as dates, from before to, and at most maxDays apart when given. */
export function parseRange(
  query: { from?: string; to?: string },
  maxDays?: number,
): { from: Date | undefined; to: Date | undefined } {
  const from = query.from === undefined ? undefined : new Date(query.from);
  const to = query.to === undefined ? undefined : new Date(query.to);
  for (const [name, d] of [
    ['from', from],
    ['to', to],
  ] as const) {
    if (d && Number.isNaN(d.getTime())) {
      throw new AppError('INVALID_RANGE', `${name} is not a valid time.`, { field: name });
    }
  }
  if (from && to && from.getTime() >= to.getTime()) {
    throw new AppError('INVALID_RANGE', 'from must be before to.', {
      from: from.toISOString(),
      to: to.toISOString(),
    });
  }
  if (maxDays !== undefined && from && to && to.getTime() - from.getTime() > maxDays * 86_400_000) {
    throw new AppError('INVALID_RANGE', `The range may span at most ${maxDays} days.`, { maxDays });
  }
  return { from, to };
}

/**
 * Whose rows the caller may read: a member only their own tenant; an admin
 * every tenant, or the one named by ?tenant=.
 */
export function visibleTenant(req: Request, requested: string | undefined): string | undefined {
  return visibleTenantOf(principalOf(req), requested);
}

/** visibleTenant for a caller known by other means (gRPC). */
export function visibleTenantOf(
  principal: Principal,
  requested: string | undefined,
): string | undefined {
  if (principal.role === 'admin') return requested;
  if (requested !== undefined && requested !== principal.userId) {
    throw new AppError('FORBIDDEN', 'A member may read only their own tenant.');
  }
  return principal.userId;
}

export const iso = (v: unknown): string | null => (v instanceof Date ? v.toISOString() : null);

/** SQL conditions joined with AND, and their arguments in order. */
export function sqlConditions() {
  const clauses: string[] = [];
  const args: unknown[] = [];
  return {
    add(sql: string, ...values: unknown[]) {
      clauses.push(sql);
      args.push(...values);
    },
    where: () => (clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : ''),
    args,
  };
}

/**
 * One page of a table newest first by (time, id), after the cursor of the
 * previous page; the next cursor is set only when more rows follow.
 */
export async function newestFirstPage(
  mysql: Pool,
  query: {
    table: string;
    timeColumn: string;
    idColumn: string;
    conditions: ReturnType<typeof sqlConditions>;
    cursor: { at: Date; id: string } | undefined;
    limit: number;
  },
): Promise<{ rows: RowDataPacket[]; nextCursor: string | null }> {
  const { table, timeColumn: t, idColumn: id, conditions, cursor, limit } = query;
  if (cursor)
    conditions.add(`(${t} < ? OR (${t} = ? AND ${id} < ?))`, cursor.at, cursor.at, cursor.id);
  const [rows] = await mysql.query<RowDataPacket[]>(
    `SELECT * FROM ${table} ${conditions.where()} ORDER BY ${t} DESC, ${id} DESC LIMIT ?`,
    [...conditions.args, limit + 1],
  );
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    rows: page,
    nextCursor:
      rows.length > limit && last ? encodeCursor([iso(last[t])!, String(last[id])]) : null,
  };
}
