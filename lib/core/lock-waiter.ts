import { LockAbortedError } from './errors/lock-aborted.error.js';
import { LockWaitTimeoutError } from './errors/lock-wait-timeout.error.js';
import { MAX_TIMER_DELAY, type ResolvedLockOptions } from './lock-options.js';
import type { Lock } from './lock.js';
import { noop } from './noop.js';

/** A lock request, normalized once. @internal */
export interface LockRequest {
  readonly keys: readonly string[];
  readonly storeKeys: readonly string[];
  readonly options: ResolvedLockOptions;
}

/** A grant that the store's queue made to this process's ticket. @internal */
export interface QueuedGrant {
  readonly token: string;
  readonly fence: number;
  /** The lease the grant started, in ms. */
  readonly ttl: number;
  /** `performance.now()` at or before the lease started. */
  readonly startedAt: number;
}

/**
 * One caller waiting for a lock: its deadline, its abort signal, and a sleep
 * that ends early when a release notice wakes it. @internal
 */
export class LockWaiter {
  /** Failed attempts so far (drives the backoff). */
  attempts = 0;
  /** The holder's remaining lease from the last failed attempt. */
  retryAfterMs: number;
  /** Set once the deadline passed or the signal aborted. */
  cancelled = false;
  /**
   * A grant made to this waiter's process, handed to it: from the store's
   * queue, or a lock passed on by a holder in this process.
   */
  granted?: QueuedGrant | Lock;
  /** Rejects when the wait is given up; race every await against it. */
  readonly cancellation: Promise<never>;

  private woken = false;
  private wakeUp?: () => void;
  private sleepTimer?: NodeJS.Timeout;
  private readonly deadlineTimer?: NodeJS.Timeout;
  private cancel!: (error: Error) => void;
  private readonly onAbort = () =>
    this.fail(
      new LockAbortedError(this.request.keys, {
        cause: this.request.options.signal?.reason,
      }),
    );

  constructor(
    readonly request: LockRequest,
    retryAfterMs: number,
    /** When the caller asked (the deadline and `waitedMs` count from it). */
    private readonly startedAt = performance.now(),
    /** When the holder's lease ends, as the key's last refusal said, if known. */
    private readonly leaseEndsAt?: () => number | undefined,
  ) {
    const { keys, options } = request;
    const { waitTimeout, signal } = options;
    this.retryAfterMs = retryAfterMs;
    this.cancellation = new Promise<never>(
      (_, reject) => (this.cancel = reject),
    );
    this.cancellation.catch(noop);
    // NOTE: Node fires a timer of more than 2^31-1 ms at once; such a wait
    // is as good as endless.
    if (waitTimeout <= MAX_TIMER_DELAY) {
      this.deadlineTimer = setTimeout(
        () =>
          this.fail(
            new LockWaitTimeoutError(
              keys,
              this.retryAfterNow(),
              Math.round(performance.now() - this.startedAt),
            ),
          ),
        Math.max(0, waitTimeout - (performance.now() - startedAt)),
      );
    }
    signal?.addEventListener('abort', this.onAbort, { once: true });
    if (signal?.aborted) this.onAbort();
  }

  /**
   * The holder's lease left: from this waiter's last refusal, or the key's
   * (a waiter queued behind others of its process never asks itself); -1
   * for a key without expiry.
   */
  private retryAfterNow(): number {
    const end = this.leaseEndsAt?.();
    // NOTE: the last refusal found a key without expiry (-1): say so, as a
    // single attempt's LockNotAcquiredError does.
    if (end === Infinity || (end === undefined && this.retryAfterMs < 0))
      return -1;
    const known = end === undefined ? 0 : Math.round(end - performance.now());
    return Math.max(this.retryAfterMs, known, 0);
  }

  /** Resolves with `work`, or rejects as soon as the wait is given up. */
  race<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.cancellation]);
  }

  /** Ends the current (or next) sleep now. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Ends the current sleep after `ms` unless something wakes it earlier. */
  wakeIn(ms: number): void {
    if (!this.wakeUp) return;
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    // NOTE: a longer delay would overflow Node's timer and fire at once.
    this.sleepTimer = setTimeout(
      () => this.wake(),
      Math.min(ms, MAX_TIMER_DELAY),
    );
  }

  /** Sleeps until woken, `ms` passes (`Infinity`: until woken) or the wait is given up. */
  async sleep(ms: number): Promise<void> {
    if (!this.woken) {
      const woken = new Promise<void>((resolve) => (this.wakeUp = resolve));
      if (Number.isFinite(ms)) this.wakeIn(ms);
      try {
        await this.race(woken);
      } finally {
        if (this.sleepTimer) clearTimeout(this.sleepTimer);
        this.sleepTimer = this.wakeUp = undefined;
      }
    }
    this.woken = false;
  }

  /** Gives up the wait with `error`. */
  fail(error: Error): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.cancel(error);
  }

  /** Clears the deadline and the abort listener. */
  dispose(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.request.options.signal?.removeEventListener('abort', this.onAbort);
  }
}
