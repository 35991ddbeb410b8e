// The mysql2 connection under its promise wrapper. mysql2's types call it a
// promise Connection; at run time it is the callback-style core connection,
// which emits 'error' and 'end' and holds the socket. The one place that
// reaches for it (the named locks watch it, the event store's own connection
// unrefs its socket).
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Connection, PoolConnection } from 'mysql2/promise';
import { internalField } from './internals.ts';

export interface CoreConnection extends EventEmitter {
  stream?: Socket;
}

export function coreConnectionOf(conn: Connection | PoolConnection): CoreConnection {
  const core = internalField(conn, 'connection');
  if (!(core instanceof EventEmitter))
    throw new Error('mysql2: no core connection under the promise one');
  return core as CoreConnection;
}
