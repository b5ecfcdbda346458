import postgres, { type Sql } from 'postgres';
import { recordingLogger } from '../../../engine/test/helpers.js';
import { connectTimescale } from '../connect.js';
import { startEmbeddedTimescale } from '../embedded/embedded.js';
import { migrate } from '../migrate.js';

/** An in-memory embedded TimescaleDB with every migration applied: a writer's client and a reader's. */
export interface MigratedTimescale {
  /** For assertions. */
  reader: Sql;
  /** The engine's kind of client, for the unit under test. */
  sql: Sql;
  stop(): Promise<void>;
}

export async function startMigratedTimescale(): Promise<MigratedTimescale> {
  const db = await startEmbeddedTimescale({ port: 0, dataDir: 'memory', log: recordingLogger([]) });
  const reader = postgres(db.url, { max: 1, onnotice: () => undefined });
  await migrate(reader, recordingLogger([]));
  const sql = connectTimescale(db.url, recordingLogger([]), { connectTimeoutS: 2 });
  return {
    reader,
    sql,
    stop: async () => {
      await sql.end({ timeout: 1 });
      await reader.end({ timeout: 1 });
      await db.stop();
    },
  };
}
