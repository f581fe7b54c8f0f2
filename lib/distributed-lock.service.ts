import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
} from '@nestjs/common';
import {
  isObservable,
  lastValueFrom,
  Observable,
  type Subscription,
} from 'rxjs';
import { InvalidLockKeyError } from './core/errors/invalid-lock-key.error.js';
import { LockBackendUnavailableError } from './core/errors/lock-backend-unavailable.error.js';
import { LockLostError } from './core/errors/lock-lost.error.js';
import { LockNotAcquiredError } from './core/errors/lock-not-acquired.error.js';
import type { Lock } from './core/lock.js';
import { LockManager, type LockKeys } from './core/lock-manager.js';
import type { LockOptions } from './core/lock-options.js';
import type { LockStore } from './core/stores/lock-store.js';
import { RedisLockStore } from './core/stores/redis-lock-store.js';
import { DISTRIBUTED_LOCK_OPTIONS } from './distributed-lock.constants.js';
import {
  resolveLockOptions,
  resolveModuleOptions,
  type DistributedLockModuleOptions,
  type DistributedLockOptions,
  type ResolvedDistributedLockModuleOptions,
  type ResolvedDistributedLockOptions,
} from './distributed-lock.options.js';
import { InvalidLockKeyArgumentError } from './errors/invalid-lock-key-argument.error.js';
import { invalidKeyFunctionMessage } from './distributed-lock.messages.js';
import type { LockKeyResolver } from './key-template.js';

/** A method wrapped by `@DistributedLock`, as the decorator compiled it. @internal */
export interface LockedMethod {
  readonly className: string;
  readonly methodName: string;
  readonly resolveKeys: LockKeyResolver;
  readonly options: DistributedLockOptions;
  readonly method: (...args: unknown[]) => unknown;
  /** Whether the method is an `@Sse` route handler (read at call time). */
  readonly isSse: () => boolean;
}

/** Decorator options merged with this module's defaults, computed once per method. */
interface CallPlan {
  readonly options: ResolvedDistributedLockOptions;
  readonly lockOptions: LockOptions;
}

/**
 * The lock engine of this application, injectable anywhere. Decorated
 * methods run through it; use it directly where a decorator does not fit.
 *
 * @example
 * constructor(private readonly locks: DistributedLockService) {}
 *
 * async pay(orderId: string) {
 *   return this.locks.using(lockKey('order', orderId), async (lock) => {
 *     await this.payments.charge(orderId, { fence: lock.fence, signal: lock.signal });
 *   });
 * }
 */
@Injectable()
export class DistributedLockService implements BeforeApplicationShutdown {
  /** The framework-free engine behind this service. */
  readonly manager: LockManager;
  /** The module options, with defaults applied. */
  readonly options: ResolvedDistributedLockModuleOptions;
  private readonly logger = new Logger(DistributedLockService.name);
  private readonly plans = new WeakMap<LockedMethod, CallPlan>();

  constructor(
    @Inject(DISTRIBUTED_LOCK_OPTIONS) options: DistributedLockModuleOptions,
  ) {
    this.options = resolveModuleOptions(options);
    const { ttl, waitTimeout, maxHold } = this.options.defaults;
    this.manager = new LockManager({
      store: createStore(this.options),
      prefix: this.options.prefix,
      localHandoffs: this.options.localHandoffs,
      closeTimeout: this.options.closeTimeout,
      defaults: { ttl, waitTimeout, maxHold },
    });
  }

  /** Takes a lock, waiting up to `waitTimeout`; see {@link LockManager.acquire}. Release it yourself. */
  acquire(keys: LockKeys, options?: LockOptions): Promise<Lock> {
    return this.manager.acquire(keys, options);
  }

  /** One attempt: the lock, or `null` when another owner holds it. */
  tryAcquire(
    keys: LockKeys,
    options?: Omit<LockOptions, 'waitTimeout'>,
  ): Promise<Lock | null> {
    return this.manager.tryAcquire(keys, options);
  }

  /** Runs `fn` under the lock, renewing it meanwhile and releasing it after; reentrant. */
  using<T>(
    keys: LockKeys,
    fn: (lock: Lock) => T | Promise<T>,
    options?: LockOptions,
  ): Promise<T> {
    return this.manager.using(keys, fn, options);
  }

  /**
   * The lock held by the current call chain (inside a decorated method or
   * `using`): the one for `key`, or the innermost. Read its `fence` to pass
   * downstream and watch its `signal` to stop when the lock is lost.
   */
  current(key?: string): Lock | undefined {
    return this.manager.current(key);
  }

  /**
   * Waits (up to `closeTimeout`) for decorated methods still running, then
   * stops renewals, releases held locks and closes what the module opened.
   * NOTE: before `onApplicationShutdown`, where modules such as TypeORM
   * close their connections: the methods waited for still have them.
   */
  async beforeApplicationShutdown(): Promise<void> {
    await this.manager.close();
  }

  /**
   * Runs a decorated method that returns a value or a Promise under its lock.
   * An Observable returned here (the method did not declare its return type,
   * so the decorator could not keep the Observable shape) is run to
   * completion under the lock, and the call resolves to its last value. @internal
   */
  call(
    locked: LockedMethod,
    instance: unknown,
    args: unknown[],
  ): Promise<unknown> {
    return this.run(locked, args, undefined, () =>
      thenOrNow(locked.method.apply(instance, args), settleObservable),
    );
  }

  /**
   * Runs a decorated method that returns an Observable: the lock is taken on
   * subscription and held until the source completes, errors or is
   * unsubscribed; the terminal notification is sent after the release. @internal
   */
  observe(
    locked: LockedMethod,
    instance: unknown,
    args: unknown[],
  ): Observable<unknown> {
    return new Observable((subscriber) => {
      const abort = new AbortController();
      let source: Subscription | undefined;
      let stop: (() => void) | undefined;
      let invoked = false;
      const invoke = () => {
        if (subscriber.closed) return undefined;
        invoked = true;
        const result = locked.method.apply(instance, args);
        // NOTE: a method typed as returning an Observable may still return
        // a value or a Promise: its value is the one value sent.
        if (!isObservable(result))
          return thenOrNow(result, (value) => subscriber.next(value));
        return new Promise<void>((resolve, reject) => {
          stop = resolve;
          source = result.subscribe({
            next: (value) => subscriber.next(value),
            error: reject,
            complete: resolve,
          });
          // NOTE: a subscriber that unsubscribed during the source's first,
          // synchronous values (`take(1)`) ran the teardown before `source`
          // was set: end the source here, or it runs on after the release.
          if (subscriber.closed) source.unsubscribe();
        });
      };
      this.run(locked, args, abort.signal, invoke).then(
        () => {
          // NOTE: a call skipped on contention sends `undefined`, as the
          // Promise form resolves to it: an Observable that completes empty
          // makes `lastValueFrom` (Nest's route handler) throw. An @Sse
          // route sends each value as an event: there, it ends with none.
          if (!invoked && !locked.isSse()) subscriber.next(undefined);
          subscriber.complete();
        },
        (error: unknown) => subscriber.error(error),
      );
      return () => {
        abort.abort();
        source?.unsubscribe();
        stop?.();
      };
    });
  }

  private async run(
    locked: LockedMethod,
    args: unknown[],
    signal: AbortSignal | undefined,
    invoke: () => unknown,
  ): Promise<unknown> {
    const keys = locked.resolveKeys(args);
    const plan = this.plan(locked);
    let ran = false;
    let completed = false;
    let lock: Lock | undefined;
    /** The lease was still valid when the method completed. */
    let heldAtEnd = false;
    let result: unknown;
    const done = (value: unknown) => {
      completed = true;
      heldAtEnd = lock?.isHeld === true;
      result = value;
      return value;
    };
    try {
      return await this.manager.using(
        keys,
        (held) => {
          ran = true;
          lock = held;
          // NOTE: no async wrapper: a method that answers at once costs no
          // extra promise.
          return thenOrNow(invoke(), done);
        },
        signal ? { ...plan.lockOptions, signal } : plan.lockOptions,
      );
    } catch (caught) {
      let error = caught;
      // NOTE: `ran` tells contention on this call's own lock apart from a
      // LockNotAcquiredError thrown by the method (a nested lock it took).
      if (!ran && error instanceof LockNotAcquiredError)
        return this.contended(locked, plan.options, error, args);
      // NOTE: keys the engine refuses (more keys than a lock takes, say)
      // came from the call's arguments: a bad argument, like those the
      // resolver refuses itself (400), not a server error.
      if (
        !ran &&
        error instanceof InvalidLockKeyError &&
        !(error instanceof InvalidLockKeyArgumentError)
      )
        throw new InvalidLockKeyArgumentError(
          invalidKeyFunctionMessage(
            `${locked.className}.${locked.methodName}`,
            `gave keys the engine refuses: ${error.message}`,
          ),
          undefined,
          `${locked.className}.${locked.methodName}`,
          error.value,
          { cause: error },
        );
      // NOTE: a method that completed within its lease, whose release alone
      // got no answer, keeps its result (the lease runs out on its own): a
      // 503 "retry shortly" would have the caller run it again. A lease that
      // ran out before the method completed (no timer had noticed yet) is a
      // lost lock: the method's end ran unprotected.
      if (completed && error instanceof LockBackendUnavailableError) {
        if (!heldAtEnd)
          error = new LockLostError(lock!.keys, 'expired', { cause: error });
        else {
          this.logger.warn(
            `${locked.className}.${locked.methodName} completed, but its lock "${keys.toString()}" could not be released (${error.message}); the lease runs out on its own.`,
          );
          return result;
        }
      }
      if (
        completed &&
        error instanceof LockLostError &&
        plan.options.onLockLost === 'ignore'
      )
        return result;
      throw error;
    }
  }

  private contended(
    locked: LockedMethod,
    options: ResolvedDistributedLockOptions,
    error: LockNotAcquiredError,
    args: unknown[],
  ): undefined {
    if (options.onContention === 'skip') {
      this.logger.debug(
        `Skipped ${locked.className}.${locked.methodName}: lock "${error.keys.join('", "')}" is held elsewhere.`,
      );
      return undefined;
    }
    if (!options.exceptionFactory) throw error;
    throw options.exceptionFactory(error, {
      keys: error.keys,
      className: locked.className,
      methodName: locked.methodName,
      args,
    });
  }

  private plan(locked: LockedMethod): CallPlan {
    let plan = this.plans.get(locked);
    if (!plan) {
      const options = resolveLockOptions(
        this.options.defaults,
        locked.options,
        `@DistributedLock options of ${locked.className}.${locked.methodName}`,
      );
      const waitTimeout =
        options.onContention === 'wait' ? options.waitTimeout : 0;
      plan = {
        options,
        // NOTE: frozen, so the engine resolves it once, not on every call.
        lockOptions: Object.freeze({
          ttl: options.ttl,
          maxHold: options.maxHold,
          waitTimeout,
        }),
      };
      this.plans.set(locked, plan);
    }
    return plan;
  }
}

function createStore(options: ResolvedDistributedLockModuleOptions): LockStore {
  if (options.store) return options.store;
  const { client, url, redisOptions, operationTimeout } = options;
  return new RedisLockStore({ client, url, redisOptions, operationTimeout });
}

/** `map(value)`, after `value` settles when it is a promise (or thenable). */
function thenOrNow(value: unknown, map: (value: unknown) => unknown): unknown {
  return typeof (value as { then?: unknown } | null | undefined)?.then ===
    'function'
    ? Promise.resolve(value).then(map)
    : map(value);
}

/** The last value of an Observable (run to completion), or the value itself. */
function settleObservable(value: unknown): unknown {
  return isObservable(value)
    ? lastValueFrom(value, { defaultValue: undefined })
    : value;
}
