// A MySQL projection: rows keyed by one column, folded in memory per batch
// and written with one multi-row upsert, in the same transaction as the
// checkpoint row. Every row remembers the position of the last event applied
// to it (updated_position), so an event seen again is a no-op even outside
// the checkpoint (e.g. right after a blue/green swap).
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { RecordedEvent } from '../platform/eventStore/index.ts';
import type { MysqlPool } from '../platform/clients/index.ts';
import {
  deleteCheckpoint,
  ensureCheckpoints,
  initCheckpoint,
  readCheckpoint,
  saveCheckpoint,
  setCheckpoint,
} from '../platform/checkpoints/index.ts';
import type { Projection, ProjectorDeps, Target } from './types.ts';

export type Row = Record<string, unknown> & { updated_position: number };

export interface RowModel {
  /** The live table name; a build lives in `<table><suffix>`. */
  table: string;
  key: string;
  columns: readonly string[];
  ddl: (table: string) => string;
  /**
   * Columns added after the table first shipped (name → definition, as in
   * the ddl): prepare adds those an existing table lacks. Only for columns
   * that no event stored before them can fill, so old rows stay right as NULL.
   */
  addedColumns?: Readonly<Record<string, string>>;
  /** The row an event concerns, or undefined. */
  keyOf: (event: RecordedEvent) => string | undefined;
  /** The row after the event (undefined: still no row). Only called for events newer than the row. */
  reduce: (row: Row | undefined, event: RecordedEvent) => Row | undefined;
}

const CHUNK = 1000;

async function addMissingColumns(pool: MysqlPool, model: RowModel, table: string) {
  const added = Object.entries(model.addedColumns ?? {});
  if (added.length === 0) return;
  const [rows] = await pool.query<RowDataPacket[]>(
    'SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?',
    [table],
  );
  const present = new Set(rows.map((r) => String(r.name)));
  for (const [column, definition] of added) {
    if (present.has(column)) continue;
    await pool
      .query(`ALTER TABLE \`${table}\` ADD COLUMN \`${column}\` ${definition}`)
      .catch((err: { code?: string }) => {
        // another process added it meanwhile
        if (err.code !== 'ER_DUP_FIELDNAME') throw err;
      });
  }
}

async function upsert(conn: PoolConnection, model: RowModel, table: string, rows: Row[]) {
  const cols = model.columns;
  const updates = cols
    .filter((c) => c !== model.key)
    .map((c) => `\`${c}\` = VALUES(\`${c}\`)`)
    .join(', ');
  for (let i = 0; i < rows.length; i += CHUNK) {
    const values = rows.slice(i, i + CHUNK).map((row) => cols.map((c) => row[c] ?? null));
    await conn.query(
      `INSERT INTO \`${table}\` (${cols.map((c) => `\`${c}\``).join(', ')}) VALUES ? ON DUPLICATE KEY UPDATE ${updates}`,
      [values],
    );
  }
}

async function applyModel(
  conn: PoolConnection,
  model: RowModel,
  table: string,
  events: RecordedEvent[],
) {
  const keyed: [string, RecordedEvent][] = [];
  for (const event of events) {
    const key = model.keyOf(event);
    if (key !== undefined) keyed.push([key, event]);
  }
  if (keyed.length === 0) return;
  const keys = [...new Set(keyed.map(([k]) => k))];
  const current = new Map<string, Row>();
  for (let i = 0; i < keys.length; i += CHUNK) {
    const [rows] = await conn.query<RowDataPacket[]>(
      `SELECT * FROM \`${table}\` WHERE \`${model.key}\` IN (?) FOR UPDATE`,
      [keys.slice(i, i + CHUNK)],
    );
    for (const row of rows) {
      current.set(String(row[model.key]), {
        ...row,
        updated_position: Number(row.updated_position),
      });
    }
  }
  const changed = new Map<string, Row>();
  for (const [key, event] of keyed) {
    const row = current.get(key);
    if (row && row.updated_position >= event.position) continue;
    const next = model.reduce(row, event);
    if (next === undefined || next === row) continue;
    next.updated_position = event.position;
    current.set(key, next);
    changed.set(key, next);
  }
  if (changed.size > 0) await upsert(conn, model, table, [...changed.values()]);
}

export function mysqlProjection(def: {
  name: string;
  version: number;
  model: RowModel;
}): Projection & {
  model: RowModel;
} {
  const { model } = def;
  const tableOf = (target: Target) => `${model.table}${target.suffix}`;
  return {
    name: def.name,
    version: def.version,
    store: 'mysql',
    model,
    async prepare(deps: ProjectorDeps, target: Target) {
      await ensureCheckpoints(deps.mysql);
      await deps.mysql.query(model.ddl(tableOf(target)));
      await addMissingColumns(deps.mysql, model, tableOf(target));
      // the row exists before any batch locks it: no gap locks, no deadlocks between projections
      await initCheckpoint(deps.mysql, target.checkpoint);
    },
    checkpoint: (deps, target) => readCheckpoint(deps.mysql, target.checkpoint),
    concerns: (event) => model.keyOf(event) !== undefined,
    async apply(deps, target, events, upTo) {
      if (!events.some((e) => model.keyOf(e) !== undefined)) {
        // no row changes: the checkpoint alone, one statement (it never moves back)
        await saveCheckpoint(deps.mysql, target.checkpoint, upTo);
        return;
      }
      const conn = await deps.mysql.getConnection();
      try {
        await conn.query('SET TRANSACTION ISOLATION LEVEL READ COMMITTED');
        await conn.beginTransaction();
        const checkpoint = await readCheckpoint(conn, target.checkpoint, true);
        if (upTo > checkpoint) {
          const fresh = events.filter((e) => e.position > checkpoint);
          await applyModel(conn, model, tableOf(target), fresh);
          await saveCheckpoint(conn, target.checkpoint, upTo);
        }
        await conn.commit();
      } catch (err) {
        await conn.rollback().catch(() => undefined);
        throw err;
      } finally {
        conn.release();
      }
    },
    async swap(deps, build) {
      const live = model.table;
      const old = `${live}__old${build.suffix}`;
      const position = await readCheckpoint(deps.mysql, build.checkpoint);
      await deps.mysql.query(model.ddl(live)); // so that the rename below always has a left side
      await addMissingColumns(deps.mysql, model, live);
      // One RENAME TABLE is atomic: readers see either the old or the new table.
      await deps.mysql.query(
        `RENAME TABLE \`${live}\` TO \`${old}\`, \`${tableOf(build)}\` TO \`${live}\``,
      );
      // Between the rename and this update, the live projector may re-apply
      // a few events to the new table: updated_position makes that a no-op.
      await setCheckpoint(deps.mysql, `${def.name}@${def.version}`, position);
      await deleteCheckpoint(deps.mysql, build.checkpoint);
      await deps.mysql.query(`DROP TABLE IF EXISTS \`${old}\``);
    },
    async discard(deps, build) {
      await deps.mysql.query(`DROP TABLE IF EXISTS \`${tableOf(build)}\``);
      await deleteCheckpoint(deps.mysql, build.checkpoint);
    },
  };
}
