// The callback sender's tables (processors/callbacks writes them, in one
// transaction per batch of events; the query service reads them). They are a
// read model of the event store like any other: endpoints folded from the
// callback-<id> streams, deliveries from the events delivered. The delivery
// rows are also the durable timers of the retries (next_at_ms).
import type { MysqlPool } from '../clients/index.ts';

export const CALLBACK_TABLES = [
  `CREATE TABLE IF NOT EXISTS callback_endpoints (
    callback_id VARCHAR(64) NOT NULL PRIMARY KEY,
    tenant_id VARCHAR(64) NOT NULL,
    url VARCHAR(2048) NOT NULL,
    events JSON NOT NULL,
    sealed_secret VARCHAR(400) NOT NULL,
    status ENUM('active', 'paused', 'deleted') NOT NULL,
    pause_code VARCHAR(64) NULL,
    pause_message VARCHAR(500) NULL,
    paused_at_ms BIGINT NULL,
    failing_since_ms BIGINT NULL,
    last_error VARCHAR(500) NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    KEY callback_endpoints_tenant (tenant_id, status)
  ) ENGINE=InnoDB`,
  // the tenant and statusCallback of messages whose statuses someone listens to
  `CREATE TABLE IF NOT EXISTS callback_messages (
    message_id VARCHAR(64) NOT NULL PRIMARY KEY,
    tenant_id VARCHAR(64) NOT NULL,
    template_code VARCHAR(64) NOT NULL,
    mobile VARCHAR(32) NOT NULL,
    status_callback VARCHAR(2048) NULL,
    accepted_at_ms BIGINT NOT NULL
  ) ENGINE=InnoDB`,
  // callback_id '' with url set: a send's own statusCallback
  `CREATE TABLE IF NOT EXISTS callback_deliveries (
    delivery_id CHAR(32) NOT NULL PRIMARY KEY,
    callback_id VARCHAR(64) NOT NULL,
    tenant_id VARCHAR(64) NOT NULL,
    url VARCHAR(2048) NULL,
    order_key VARCHAR(100) NOT NULL,
    seq BIGINT NOT NULL,
    event_id VARCHAR(64) NOT NULL,
    event_type VARCHAR(40) NOT NULL,
    message_id VARCHAR(64) NULL,
    body MEDIUMTEXT NOT NULL,
    state ENUM('pending', 'delivered', 'failed') NOT NULL,
    attempts INT NOT NULL DEFAULT 0,
    first_at_ms BIGINT NOT NULL,
    next_at_ms BIGINT NOT NULL,
    last_attempt_at_ms BIGINT NULL,
    delivered_at_ms BIGINT NULL,
    last_status INT NULL,
    last_error VARCHAR(500) NULL,
    KEY callback_deliveries_due (state, next_at_ms),
    KEY callback_deliveries_order (callback_id, order_key, state, seq),
    KEY callback_deliveries_list (callback_id, state, seq)
  ) ENGINE=InnoDB`,
];

const ready = new WeakSet<MysqlPool>();

export async function ensureCallbackTables(pool: MysqlPool): Promise<void> {
  if (ready.has(pool)) return;
  for (const sql of CALLBACK_TABLES) await pool.query(sql);
  ready.add(pool);
}
