import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { LockNotAcquiredError } from './core/errors/lock-not-acquired.error.js';
import type { LockStore } from './core/stores/lock-store.js';
import {
  CLOSE_TIMEOUT_RULE,
  isCloseTimeout,
  MAX_TIMER_DELAY,
  MIN_TTL_MS,
} from './core/lock-options.js';
import { InvalidLockOptionsError } from './errors/invalid-lock-options.error.js';
import { invalidOptionMessage } from './distributed-lock.messages.js';

/**
 * What a decorated call does when another owner holds its lock:
 * - `'fail'`: reject at once with {@link LockNotAcquiredError} (HTTP 409 with `Retry-After`);
 * - `'wait'`: wait up to `waitTimeout`, then fail like `'fail'` ({@link LockWaitTimeoutError});
 * - `'skip'`: do not run the method; the call resolves to `undefined` (one replica of a scheduled job).
 */
export type LockContentionStrategy = 'fail' | 'wait' | 'skip';

/**
 * What a decorated call does when its lock is lost while the method runs (the
 * lease could not be renewed): `'throw'` rejects with {@link LockLostError}
 * once the method settles; `'ignore'` returns the method's result anyway.
 * Either way the lock's `signal` aborts at once, so a method that watches
 * `DistributedLockService.current()?.signal` can stop early.
 */
export type LockLostStrategy = 'throw' | 'ignore';

/** What an `exceptionFactory` learns about a call that met contention. */
export interface LockContentionContext {
  /** The lock keys the call asked for. */
  readonly keys: readonly string[];
  /** The decorated method's class. */
  readonly className: string;
  /** The decorated method's name. */
  readonly methodName: string;
  /** The arguments the method would have received. */
  readonly args: readonly unknown[];
}

/** Options of one `@DistributedLock`; each defaults to the module's `defaults`. */
export interface DistributedLockOptions {
  /**
   * Lease length in ms; the lease is renewed at a third of it while the method runs.
   * @default 30000
   */
  ttl?: number;
  /**
   * How long `'wait'` waits for the lock, in ms.
   * @default 10000
   */
  waitTimeout?: number;
  /**
   * Longest time, in ms, the lock is held (renewed) for one call.
   * @default 600000
   */
  maxHold?: number;
  /**
   * See {@link LockContentionStrategy}.
   * @default 'fail'
   */
  onContention?: LockContentionStrategy;
  /**
   * See {@link LockLostStrategy}.
   * @default 'throw'
   */
  onLockLost?: LockLostStrategy;
  /**
   * Builds the error thrown on contention (with `'fail'`, and with `'wait'`
   * after the timeout) instead of the {@link LockNotAcquiredError}. Return an
   * `HttpException` to choose the HTTP answer yourself.
   */
  exceptionFactory?: (
    error: LockNotAcquiredError,
    context: LockContentionContext,
  ) => unknown;
}

/** Options of `DistributedLockModule.forRoot` (and the result of a `forRootAsync` factory). */
export interface DistributedLockModuleOptions {
  /** A Redis URL (`redis://host:port/db`); the module opens and closes the connection. */
  url?: string;
  /** ioredis options for a connection the module opens (merged over its bounded defaults). */
  redisOptions?: RedisOptions;
  /**
   * An ioredis `Redis` or `Cluster` you own. The module never closes it; set
   * `commandTimeout` on it to bound operations while Redis is down, or the
   * module bounds each one with `operationTimeout`.
   */
  client?: Redis | Cluster;
  /**
   * Any {@link LockStore} (e.g. `MemoryLockStore` in tests). The module takes
   * it over and closes it at shutdown (a `RedisLockStore` never closes a
   * client it was given).
   */
  store?: LockStore;
  /**
   * Prepended to every lock key in Redis.
   * @default 'lock:'
   */
  prefix?: string;
  /**
   * Upper bound in ms for connecting and for each Redis operation: an
   * unreachable Redis fails a call within about this long (HTTP 503). For
   * the connection the module opens (`url`, `redisOptions`) and for a
   * `client` without a `commandTimeout` of its own (with one, that one
   * applies). Refused beside `store`: a store has its own.
   * @default 1000
   */
  operationTimeout?: number;
  /**
   * How many times in a row a release passes a busy lock straight to a
   * waiter in the same process before it goes through the line in Redis,
   * where other instances wait (see `LockManagerOptions.localHandoffs`).
   * 0: strict turns between instances.
   * @default 8
   */
  localHandoffs?: number;
  /**
   * How long, in ms, shutdown waits for decorated methods (and `using`
   * calls) still running before their locks are given up (see
   * `LockManagerOptions.closeTimeout`): meanwhile their locks stay held and
   * renewed, so that no other instance takes a key this one still works
   * on. 0: no wait.
   * @default 10000
   */
  closeTimeout?: number;
  /** Defaults for every `@DistributedLock` option. */
  defaults?: DistributedLockOptions;
}

/** Decorator options after the module defaults were applied. @internal */
export type ResolvedDistributedLockOptions = Required<
  Omit<DistributedLockOptions, 'exceptionFactory'>
> &
  Pick<DistributedLockOptions, 'exceptionFactory'>;

/** Module options after defaults were applied and validation passed. @internal */
export interface ResolvedDistributedLockModuleOptions extends Omit<
  DistributedLockModuleOptions,
  'defaults'
> {
  prefix: string;
  operationTimeout: number;
  defaults: ResolvedDistributedLockOptions;
}

/** Every default of the module, in one place. */
export const DISTRIBUTED_LOCK_DEFAULTS = Object.freeze({
  prefix: 'lock:',
  operationTimeout: 1000,
  defaults: Object.freeze({
    ttl: 30_000,
    waitTimeout: 10_000,
    maxHold: 600_000,
    onContention: 'fail',
    onLockLost: 'throw',
  } satisfies ResolvedDistributedLockOptions),
});

const CONTENTION_STRATEGIES: readonly LockContentionStrategy[] = [
  'fail',
  'wait',
  'skip',
];
const LOST_STRATEGIES: readonly LockLostStrategy[] = ['throw', 'ignore'];

/**
 * Applies the defaults to module options and validates them; throws
 * {@link InvalidLockOptionsError} naming the first bad option.
 */
export function resolveModuleOptions(
  options: DistributedLockModuleOptions | undefined,
): ResolvedDistributedLockModuleOptions {
  if (typeof options !== 'object' || options === null)
    failModule('options', 'must be an object', options);
  // NOTE: a misplaced option (`ttl` beside `url` instead of in `defaults`)
  // would otherwise be ignored without a word.
  for (const option of Object.keys(options)) {
    if (MODULE_OPTIONS.includes(option)) continue;
    failModule(
      option,
      EXTRAS.includes(option)
        ? 'goes to forRoot/forRootAsync itself (next to useFactory), not into the options'
        : LOCK_OPTIONS.includes(option)
          ? `is a lock option: put it in "defaults" (defaults: { ${option}: ... })`
          : `is not an option of ${MODULE} (the options are ${MODULE_OPTIONS.join(', ')})`,
      (options as Record<string, unknown>)[option],
    );
  }
  validateConnection(options);
  const resolved: ResolvedDistributedLockModuleOptions = {
    ...options,
    prefix: options.prefix ?? DISTRIBUTED_LOCK_DEFAULTS.prefix,
    operationTimeout:
      options.operationTimeout ?? DISTRIBUTED_LOCK_DEFAULTS.operationTimeout,
    defaults: resolveLockOptions(
      DISTRIBUTED_LOCK_DEFAULTS.defaults,
      options.defaults,
      MODULE,
      'defaults.',
    ),
  };
  if (typeof resolved.prefix !== 'string' || /[{}]/.test(resolved.prefix)) {
    failModule(
      'prefix',
      'must be a string without "{" or "}"',
      resolved.prefix,
    );
  }
  assertNumber(
    resolved.operationTimeout,
    'operationTimeout',
    1,
    failModule,
    MAX_TIMER_DELAY,
  );
  if (
    resolved.closeTimeout !== undefined &&
    !isCloseTimeout(resolved.closeTimeout)
  )
    failModule('closeTimeout', CLOSE_TIMEOUT_RULE, resolved.closeTimeout);
  if (
    resolved.localHandoffs !== undefined &&
    !(Number.isInteger(resolved.localHandoffs) && resolved.localHandoffs >= 0)
  )
    failModule(
      'localHandoffs',
      'must be a whole number from 0',
      resolved.localHandoffs,
    );
  return resolved;
}

/**
 * Applies `base` under decorator options and validates the result; errors
 * name `owner` and the option (`path` + its name).
 */
export function resolveLockOptions(
  base: ResolvedDistributedLockOptions,
  options: DistributedLockOptions | undefined,
  owner: string,
  path = '',
): ResolvedDistributedLockOptions {
  const fail = (option: string, problem: string, value: unknown) =>
    failOption(owner, path + option, problem, value);
  if (options !== undefined && !isObject(options))
    failOption(
      owner,
      path === '' ? 'options' : path.slice(0, -1),
      'must be an object',
      options,
    );
  for (const option of Object.keys(options ?? {}))
    if (!LOCK_OPTIONS.includes(option))
      fail(
        option,
        `is not a lock option (the options are ${LOCK_OPTIONS.join(', ')})`,
        (options as Record<string, unknown>)[option],
      );
  const resolved = { ...base, ...definedEntries(options ?? {}) };
  assertNumber(resolved.ttl, 'ttl', MIN_TTL_MS, fail, MAX_TIMER_DELAY);
  assertNumber(resolved.waitTimeout, 'waitTimeout', 0, fail);
  assertNumber(resolved.maxHold, 'maxHold', 1, fail);
  if (!CONTENTION_STRATEGIES.includes(resolved.onContention)) {
    fail(
      'onContention',
      `must be one of ${CONTENTION_STRATEGIES.map((s) => `'${s}'`).join(', ')}`,
      resolved.onContention,
    );
  }
  if (!LOST_STRATEGIES.includes(resolved.onLockLost)) {
    fail(
      'onLockLost',
      `must be one of ${LOST_STRATEGIES.map((s) => `'${s}'`).join(', ')}`,
      resolved.onLockLost,
    );
  }
  if (
    resolved.exceptionFactory !== undefined &&
    typeof resolved.exceptionFactory !== 'function'
  ) {
    fail('exceptionFactory', 'must be a function', resolved.exceptionFactory);
  }
  return resolved;
}

function validateConnection(options: DistributedLockModuleOptions): void {
  const sources = [
    options.store !== undefined && 'store',
    options.client !== undefined && 'client',
    (options.url !== undefined || options.redisOptions !== undefined) &&
      'url/redisOptions',
  ].filter(Boolean);
  if (sources.length === 0)
    failModule(
      'url',
      'is missing: give one of url, redisOptions, client or store',
      undefined,
    );
  if (sources.length > 1)
    failModule(
      String(sources[1]),
      `cannot be combined with ${String(sources[0])}; give only one connection`,
      options[sources[1] === 'client' ? 'client' : 'url'],
    );
  if (
    options.store !== undefined &&
    !hasMethods(options.store, [
      'acquire',
      'extend',
      'release',
      'subscribe',
      'close',
    ])
  ) {
    failModule(
      'store',
      'must implement LockStore (acquire, extend, release, subscribe, close)',
      options.store,
    );
  }
  // NOTE: a store was built with its own timeout (RedisLockStore,
  // RedlockStore: `operationTimeout` in their own options); the module's
  // would be ignored without a word, and an outage would answer 503 later
  // than the option says.
  if (options.store !== undefined && options.operationTimeout !== undefined)
    failModule(
      'operationTimeout',
      'has no effect with "store": give it to the store itself (new RedisLockStore({ ..., operationTimeout }))',
      options.operationTimeout,
    );
  if (
    options.client !== undefined &&
    !hasMethods(options.client, ['evalsha', 'duplicate'])
  ) {
    failModule(
      'client',
      'must be an ioredis Redis or Cluster instance',
      options.client,
    );
  }
  if (
    options.url !== undefined &&
    (typeof options.url !== 'string' || !/^rediss?:\/\//.test(options.url))
  ) {
    failModule('url', 'must be a redis:// or rediss:// URL', options.url);
  }
  if (options.redisOptions !== undefined && !isObject(options.redisOptions)) {
    failModule(
      'redisOptions',
      'must be an object of ioredis options',
      options.redisOptions,
    );
  }
}

type Fail = (option: string, problem: string, value: unknown) => never;

/**
 * A duration from `min` to `max` ms. A lease or a Redis call bound goes
 * into a Node timer, so its `max` is the longest timer (2^31-1 ms, about
 * 24.8 days: a longer one fires at once); a wait or a hold cap may be
 * longer (the engine treats such a wait as endless).
 */
function assertNumber(
  value: unknown,
  option: string,
  min: number,
  fail: Fail,
  max = Number.MAX_SAFE_INTEGER,
): void {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < min ||
    value > max
  ) {
    fail(
      option,
      `must be a number of milliseconds from ${min} to ${max}`,
      value,
    );
  }
}

function failOption(
  owner: string,
  option: string,
  problem: string,
  value: unknown,
): never {
  throw new InvalidLockOptionsError(
    invalidOptionMessage(owner, option, problem, value),
    option,
  );
}

const MODULE = 'DistributedLockModule';
/** Every key of {@link DistributedLockModuleOptions}. */
const MODULE_OPTIONS = [
  'url',
  'redisOptions',
  'client',
  'store',
  'prefix',
  'operationTimeout',
  'localHandoffs',
  'closeTimeout',
  'defaults',
];
/** Options of forRoot/forRootAsync themselves (they shape the module). */
const EXTRAS = ['isGlobal', 'mapErrors'];
/** Every key of {@link DistributedLockOptions}. */
const LOCK_OPTIONS = [
  'ttl',
  'waitTimeout',
  'maxHold',
  'onContention',
  'onLockLost',
  'exceptionFactory',
];
const failModule: Fail = (option, problem, value) =>
  failOption(MODULE, option, problem, value);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function hasMethods(value: unknown, names: readonly string[]): boolean {
  return (
    isObject(value) && names.every((name) => typeof value[name] === 'function')
  );
}

function definedEntries<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(value).filter(([, entry]) => entry !== undefined),
  ) as Partial<T>;
}
