import postgres, { type Sql } from 'postgres';
import { createLogger, type Logger } from '../../engine/log.js';

export interface ConnectOptions {
  /** Pool size; the writer needs one, dashboards and migrations another. */
  max?: number;
  /** Seconds to wait for a TCP connection before the query fails (and the writer backs off). */
  connectTimeoutS?: number;
}

/**
 * A postgres.js client for the detections store. Small pool: the embedded server serialises all clients onto
 * one session anyway, and a real PostgreSQL gains nothing from more writers than batches in flight.
 */
export function connectTimescale(
  url: string,
  log: Logger = createLogger('timescale'),
  opts: ConnectOptions = {},
): Sql {
  return postgres(url, {
    max: opts.max ?? 4,
    connect_timeout: opts.connectTimeoutS ?? 5,
    // postgres.js backs off reconnects by itself, up to 20 s, and a query waits that out silently. Our callers
    // (writer, migrations) own retry and backoff and log the outage, so the driver's own delay stays short.
    backoff: () => 0.2,
    // Idle connections to a restarted database would fail their next query; recycling keeps them fresh.
    idle_timeout: 60,
    max_lifetime: 60 * 30,
    // NOTICEs (e.g. "relation already exists, skipping" from migrations) are not news.
    onnotice: (notice) => log.debug('Database notice', { message: String(notice.message ?? '') }),
    connection: { application_name: 'kuzet' },
  });
}
