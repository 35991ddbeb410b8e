// Is an error an outage of a server we depend on (retry later, 503), rather
// than a bug or bad data? Network errors, lost connections and the drivers'
// "cannot reach the server" errors of mysql2, ioredis, mongodb and kafkajs.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_SERVER_SHUTDOWN',
  'ER_CON_COUNT_ERROR',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_QUERY_INTERRUPTED',
  'ER_CONNECTION_KILLED',
  'CR_SERVER_LOST',
  'CR_SERVER_GONE_ERROR',
  'CR_CONNECTION_ERROR',
]);

const OUTAGE_NAMES = new Set([
  // mongodb
  'MongoServerSelectionError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoPoolClearedError',
  'MongoNotConnectedError',
  'MongoTopologyClosedError',
  // ioredis
  'MaxRetriesPerRequestError',
  // kafkajs
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSLockTimeout',
  'KafkaJSNumberOfRetriesExceeded',
  'KafkaJSNonRetriableError',
]);

const OUTAGE_MESSAGES = [
  'Connection is closed',
  "Can't add new command when connection is in closed state",
  "Stream isn't writeable",
  'Pool is closed',
  'lost the instance lock',
  'lost its lock',
];

export function isOutageError(err: unknown, depth = 0): boolean {
  if (err === null || typeof err !== 'object' || depth > 4) return false;
  const e = err as {
    code?: unknown;
    name?: unknown;
    message?: unknown;
    fatal?: unknown;
    cause?: unknown;
    errors?: unknown;
  };
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  if (e.fatal === true) return true; // mysql2: the connection is unusable
  // KurrentDB client: gRPC unavailable / deadline exceeded / not the leader
  const type = (err as { type?: unknown }).type;
  if (type === 'unavailable' || type === 'deadline-exceeded' || type === 'not-leader') return true;
  if (typeof e.name === 'string' && OUTAGE_NAMES.has(e.name)) {
    // kafkajs wraps the real cause; "retries exceeded" of a non-network error is not an outage
    if (e.name === 'KafkaJSNumberOfRetriesExceeded' || e.name === 'KafkaJSNonRetriableError') {
      return e.cause === undefined || isOutageError(e.cause, depth + 1);
    }
    return true;
  }
  if (
    typeof e.message === 'string' &&
    OUTAGE_MESSAGES.some((m) => (e.message as string).includes(m))
  )
    return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => isOutageError(inner, depth + 1)))
    return true;
  // mongodb: a bulk write error carries the network error it met in errorResponse
  const response = (err as { errorResponse?: unknown }).errorResponse;
  if (response !== undefined && response !== err && isOutageError(response, depth + 1)) return true;
  return e.cause !== undefined && isOutageError(e.cause, depth + 1);
}
