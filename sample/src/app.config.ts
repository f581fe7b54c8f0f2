/** What the app reads from its environment, checked once at startup. */
export interface AppConfig {
  /** HTTP port. */
  readonly port: number;
  /** PostgreSQL URL; without it, an embedded PGlite database (one process only). */
  readonly databaseUrl?: string;
  /** Where the embedded PGlite keeps its files; in memory when unset. */
  readonly pgliteDataDir?: string;
  /** Redis URL for the locks; without it, the in-memory lock store (one process only). */
  readonly redisUrl?: string;
  /** How long a reservation waits for its payment before it expires, in ms. */
  readonly paymentWindowMs: number;
  /** Number of connections each instance opens to PostgreSQL. */
  readonly databasePoolSize: number;
  /**
   * Whether to mount `POST /unlocked/orders`, the demonstration's naive
   * endpoint that oversells under load; off unless asked for.
   */
  readonly unlockedEndpoint?: boolean;
}

/** Reads {@link AppConfig} from environment variables; throws on a bad value. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  return {
    port: integer(env, 'PORT', 3000, 0, 65_535),
    databaseUrl: text(env, 'DATABASE_URL', /^postgres(ql)?:\/\//),
    pgliteDataDir: text(env, 'PGLITE_DATA_DIR', /./),
    redisUrl: text(env, 'REDIS_URL', /^rediss?:\/\//),
    paymentWindowMs: integer(env, 'PAYMENT_WINDOW_MS', 600_000, 1, 86_400_000),
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 1, 100),
    unlockedEndpoint: boolean(env, 'UNLOCKED_ENDPOINT'),
  };
}

/** The URL without its password, for logs and printouts. */
export function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

function text(
  env: NodeJS.ProcessEnv,
  name: string,
  pattern: RegExp,
): string | undefined {
  const value = env[name]?.trim();
  if (!value) return undefined;
  // NOTE: the value is echoed without what comes before an '@': a URL's
  // user and password (a mistyped scheme must not print the password).
  if (!pattern.test(value))
    throw new Error(
      `${name} must match ${String(pattern)} (got "${value.replace(/^([a-z][a-z0-9+.-]*:\/*)?.*@/i, '$1***@')}").`,
    );
  return value;
}

function boolean(env: NodeJS.ProcessEnv, name: string): boolean {
  const raw = env[name]?.trim();
  if (!raw || raw === 'false') return false;
  if (raw === 'true') return true;
  throw new Error(`${name} must be true or false (got "${raw}").`);
}

function integer(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max)
    throw new Error(
      `${name} must be a whole number from ${min} to ${max} (got "${raw}").`,
    );
  return value;
}

/** When the expiry sweep runs: every `EXPIRY_SWEEP_SECONDS` (default 5) on the wall clock. */
export interface SweepSchedule {
  readonly cron: string;
  /** How long one sweep keeps its lock at least, so one instance runs per tick. */
  readonly minHoldMs: number;
}

/**
 * Read once when the job's module is loaded: `@Cron` takes its expression at
 * decoration time.
 */
export function sweepSchedule(
  env: NodeJS.ProcessEnv = process.env,
): SweepSchedule {
  const seconds = integer(env, 'EXPIRY_SWEEP_SECONDS', 5, 1, 30);
  // NOTE: a cron step that does not divide 60 would make the last tick of
  // each minute come early.
  if (60 % seconds !== 0)
    throw new Error(
      `EXPIRY_SWEEP_SECONDS must divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20 or 30; got ${seconds}).`,
    );
  return { cron: `*/${seconds} * * * * *`, minHoldMs: (seconds * 1000) / 2 };
}
