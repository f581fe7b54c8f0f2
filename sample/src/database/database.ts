import { Inject } from '@nestjs/common';

/** Rows and the number of rows a statement touched. */
export interface QueryResult<Row> {
  readonly rows: Row[];
  readonly rowCount: number;
}

/** Anything that runs SQL with `$1`-style parameters: the database or a transaction. */
export interface Queryable {
  query<Row>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<QueryResult<Row>>;
}

/** The SQL database of the app: PostgreSQL or an embedded PGlite. */
export interface Database extends Queryable {
  /** What this database is, for the startup log. */
  readonly description: string;
  /** Runs `work` in one transaction: committed if it resolves, rolled back if it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Injection token of the {@link Database}. */
export const DATABASE = Symbol('order-sample:database');

/** Injects the {@link Database}. */
export const InjectDatabase = (): ParameterDecorator => Inject(DATABASE);

/** PostgreSQL's error code for a unique constraint violation. */
export const UNIQUE_VIOLATION = '23505';

/** Whether `error` is a database error with the given SQLSTATE code. */
export function hasSqlState(error: unknown, code: string): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { code?: unknown }).code === code
  );
}
