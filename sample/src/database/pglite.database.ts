import { PGlite, type Transaction } from '@electric-sql/pglite';
import type { Database, Queryable, QueryResult } from './database.js';

/**
 * An embedded PostgreSQL (PGlite, compiled to WebAssembly) inside this
 * process: no server to install. One process only: to share it with other
 * processes, serve it with {@link PgliteWireServer}.
 */
export class PgliteDatabase implements Database {
  readonly description: string;

  constructor(
    readonly db: PGlite,
    dataDir?: string,
  ) {
    this.description = dataDir
      ? `embedded PGlite in ${dataDir}`
      : 'embedded PGlite in memory (data is lost at exit; set DATABASE_URL for PostgreSQL)';
  }

  static async open(dataDir?: string): Promise<PgliteDatabase> {
    return new PgliteDatabase(await PGlite.create(dataDir), dataDir);
  }

  query<Row>(
    sql: string,
    params: readonly unknown[] = [],
  ): Promise<QueryResult<Row>> {
    return run<Row>(this.db, sql, params);
  }

  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) =>
      work({
        query: <Row>(sql: string, params: readonly unknown[] = []) =>
          run<Row>(tx, sql, params),
      }),
    );
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

async function run<Row>(
  target: PGlite | Transaction,
  sql: string,
  params: readonly unknown[],
): Promise<QueryResult<Row>> {
  const result = await target.query<Row>(sql, [...params]);
  return { rows: result.rows, rowCount: result.affectedRows ?? 0 };
}
