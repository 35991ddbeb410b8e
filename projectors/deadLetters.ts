// Parked (dead-letter) events: an event a projection failed on every attempt
// while its stores answered is parked here with the error, and the
// projection moves on. `streaming projections retry <name>` rebuilds the
// projection (every event again, in order, the parked ones included) and
// clears the parked events the rebuild applied.
import type { RowDataPacket } from 'mysql2/promise';
import type { MysqlPool } from '../platform/clients/index.ts';
import type { RecordedEvent } from '../platform/eventStore/index.ts';

export const parkedTable = 'projection_parked_events';

const ddl = `CREATE TABLE IF NOT EXISTS ${parkedTable} (
  projection VARCHAR(190) NOT NULL,
  position BIGINT UNSIGNED NOT NULL,
  event_id VARCHAR(64) NOT NULL,
  event_type VARCHAR(190) NOT NULL,
  stream_id VARCHAR(190) NOT NULL,
  error TEXT NOT NULL,
  attempts INT NOT NULL,
  parked_at DATETIME(3) NOT NULL,
  PRIMARY KEY (projection, position)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`;

export interface ParkedEvent {
  projection: string;
  position: number;
  eventId: string;
  type: string;
  streamId: string;
  error: string;
  attempts: number;
  parkedAt: Date;
}

const ready = new WeakSet<MysqlPool>();

export async function ensureParkedTable(pool: MysqlPool): Promise<void> {
  if (ready.has(pool)) return;
  await pool.query(ddl);
  ready.add(pool);
}

export async function parkEvent(
  pool: MysqlPool,
  projection: string,
  event: RecordedEvent,
  error: unknown,
  attempts: number,
): Promise<void> {
  await ensureParkedTable(pool);
  const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
  await pool.query(
    `INSERT INTO ${parkedTable} (projection, position, event_id, event_type, stream_id, error, attempts, parked_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3))
     ON DUPLICATE KEY UPDATE error = VALUES(error), attempts = attempts + VALUES(attempts), parked_at = VALUES(parked_at)`,
    [
      projection,
      event.position,
      event.eventId,
      event.type,
      event.streamId,
      text.slice(0, 4000),
      attempts,
    ],
  );
}

export async function parkedEvents(pool: MysqlPool, projection?: string): Promise<ParkedEvent[]> {
  await ensureParkedTable(pool);
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT * FROM ${parkedTable}${projection ? ' WHERE projection = ?' : ''} ORDER BY projection, position`,
    projection ? [projection] : [],
  );
  return rows.map((r) => ({
    projection: String(r.projection),
    position: Number(r.position),
    eventId: String(r.event_id),
    type: String(r.event_type),
    streamId: String(r.stream_id),
    error: String(r.error),
    attempts: Number(r.attempts),
    parkedAt: r.parked_at as Date,
  }));
}

export async function parkedCounts(pool: MysqlPool): Promise<Map<string, number>> {
  await ensureParkedTable(pool);
  const [rows] = await pool.query<RowDataPacket[]>(
    `SELECT projection, COUNT(*) AS n FROM ${parkedTable} GROUP BY projection`,
  );
  return new Map(rows.map((r) => [String(r.projection), Number(r.n)]));
}

/** Forgets the parked events of a projection up to a position (a rebuild applied them). */
export async function clearParked(
  pool: MysqlPool,
  projection: string,
  upTo: number,
): Promise<number> {
  await ensureParkedTable(pool);
  const [result] = await pool.query(
    `DELETE FROM ${parkedTable} WHERE projection = ? AND position <= ?`,
    [projection, upTo],
  );
  return (result as { affectedRows: number }).affectedRows;
}
