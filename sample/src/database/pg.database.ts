import pg from 'pg';
import type { Database, Queryable, QueryResult } from './database.js';

/**
 * How long a new connection may take. NOTE: pg waits forever by default, so
 * a database host that drops packets (a wrong address, a firewall) would
 * hang the app's startup, and every request after it, without a word.
 */
const CONNECT_TIMEOUT_MS = 5000;

/** PostgreSQL through a `pg` connection pool. */
export class PgDatabase implements Database {
  readonly description: string;
  private readonly pool: pg.Pool;

  constructor(url: string, poolSize: number) {
    this.pool = new pg.Pool({
      connectionString: url,
      max: poolSize,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      // NOTE: TCP keepalive, so that the kernel finds out, in the end, about
      // a connection whose peer vanished (after its idle time, two hours by
      // default): connecting is bounded above, a query is not.
      keepAlive: true,
    });
    // NOTE: an idle client that loses its connection emits 'error' on the
    // pool; without a listener that would crash the process.
    this.pool.on('error', () => {});
    const { host, port, pathname } = new URL(url);
    this.description = `PostgreSQL at ${host}${port ? '' : ':5432'}${pathname}`;
  }

  query<Row>(
    sql: string,
    params: readonly unknown[] = [],
  ): Promise<QueryResult<Row>> {
    return run<Row>(this.pool, sql, params);
  }

  async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work({
        query: <Row>(sql: string, params: readonly unknown[] = []) =>
          run<Row>(client, sql, params),
      });
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

async function run<Row>(
  client: pg.Pool | pg.PoolClient,
  sql: string,
  params: readonly unknown[],
): Promise<QueryResult<Row>> {
  const result = await client.query(sql, [...params]);
  return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 };
}
