import {
  LockBackendUnavailableError,
  type AcquireOptions,
  type AcquireResult,
  type GrantListener,
  type HandoffResult,
  type LockOutcome,
  type LockStore,
  type QueueingLockStore,
  type ReleaseListener,
} from '../../lib/index.js';

/**
 * Wraps a store, counts the calls made to it (to check request budgets), and
 * can make the next extends or releases fail as if Redis had not answered.
 * It hides the inner store's wait queue (the engine then waits on release
 * notices); {@link CountingQueueingStore} keeps it.
 */
export class CountingStore implements LockStore {
  readonly calls = {
    acquire: 0,
    extend: 0,
    release: 0,
    subscribe: 0,
    leaveQueue: 0,
    handOff: 0,
    grants: 0,
  };
  /**
   * Acquires answered so far (granted, refused or failed). Once a test sees
   * this count go up from a timer, the engine has acted on the answer: a
   * refused waiter is in line.
   */
  answeredAcquires = 0;
  /**
   * Acquires that the inner store answered, before any `acquireReplyDelay`:
   * the command ran in Redis.
   */
  ranAcquires = 0;
  /** How many of the next extends fail with LockBackendUnavailableError. */
  failExtend = 0;
  /** How many of the next releases fail with LockBackendUnavailableError. */
  failRelease = 0;
  /** How many of the next acquires fail with LockBackendUnavailableError. */
  failAcquire = 0;
  /** Milliseconds each acquire waits before it reaches the inner store. */
  acquireDelay = 0;
  /**
   * While set, each acquire waits for this promise (instead of
   * `acquireDelay`) before it reaches the inner store: the test decides
   * when the command lands.
   */
  acquireGate?: Promise<void>;
  /**
   * Milliseconds each acquire's answer is held back after the inner store
   * answered: the command ran, its reply is late.
   */
  acquireReplyDelay = 0;
  /**
   * While set, each acquire's answer is held back (after the inner store
   * answered) until this promise settles, instead of `acquireReplyDelay`.
   */
  acquireReplyGate?: Promise<void>;
  /** How many of the next acquires run but answer LockBackendUnavailableError. */
  failAcquireAfterRun = 0;
  /** How many of the next subscribes fail with LockBackendUnavailableError. */
  failSubscribe = 0;
  /** Milliseconds each extend waits before it reaches the inner store. */
  extendDelay = 0;
  /**
   * Delayed acquires not yet sent on: a later queue call waits for them, as
   * calls on one connection keep their order.
   */
  protected readonly delayed = new Set<Promise<void>>();

  constructor(readonly inner: LockStore) {}

  acquire(
    keys: readonly string[],
    token: string,
    ttlMs: number,
    options?: AcquireOptions,
  ): Promise<AcquireResult> {
    const answer = this.send(keys, token, ttlMs, options);
    const answered = () => void this.answeredAcquires++;
    answer.then(answered, answered);
    return answer;
  }

  /** Resolves once `count` acquires were answered (polled from a timer). */
  async untilAnswered(count: number): Promise<void> {
    while (this.answeredAcquires < count) await sleep(5);
  }

  private send(
    keys: readonly string[],
    token: string,
    ttlMs: number,
    options?: AcquireOptions,
  ): Promise<AcquireResult> {
    this.calls.acquire++;
    if (this.failAcquire > 0) {
      this.failAcquire--;
      return Promise.reject(
        new LockBackendUnavailableError('injected: acquire got no answer'),
      );
    }
    const failAfterRun = this.failAcquireAfterRun > 0;
    if (failAfterRun) this.failAcquireAfterRun--;
    const replyDelay = this.acquireReplyDelay;
    const replyGate = this.acquireReplyGate;
    let ran: Promise<AcquireResult>;
    if (this.acquireDelay > 0 || this.acquireGate) {
      const reached = this.acquireGate ?? sleep(this.acquireDelay);
      this.delayed.add(reached);
      ran = reached.then(() => {
        this.delayed.delete(reached);
        return this.inner.acquire(keys, token, ttlMs, options);
      });
    } else ran = this.inner.acquire(keys, token, ttlMs, options);
    const counted = () => void this.ranAcquires++;
    ran.then(counted, counted);
    if (!failAfterRun && replyDelay === 0 && !replyGate) return ran;
    return ran.then(async (result) => {
      if (replyGate) await replyGate;
      else if (replyDelay > 0) await sleep(replyDelay);
      if (failAfterRun)
        throw new LockBackendUnavailableError(
          'injected: acquire ran but got no answer',
        );
      return result;
    });
  }

  async extend(
    keys: readonly string[],
    token: string,
    ttlMs: number,
  ): Promise<LockOutcome> {
    this.calls.extend++;
    if (this.failExtend > 0) {
      this.failExtend--;
      throw new LockBackendUnavailableError('injected: extend got no answer');
    }
    if (this.extendDelay > 0) await sleep(this.extendDelay);
    return this.inner.extend(keys, token, ttlMs);
  }

  async release(keys: readonly string[], token: string): Promise<LockOutcome> {
    this.calls.release++;
    if (this.failRelease > 0) {
      this.failRelease--;
      throw new LockBackendUnavailableError('injected: release got no answer');
    }
    return this.inner.release(keys, token);
  }

  subscribe(
    keys: readonly string[],
    listener: ReleaseListener,
  ): Promise<() => void> {
    this.calls.subscribe++;
    if (this.failSubscribe > 0) {
      this.failSubscribe--;
      return Promise.reject(
        new LockBackendUnavailableError('injected: subscribe got no answer'),
      );
    }
    return this.inner.subscribe(keys, listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A {@link CountingStore} that keeps the inner store's wait queue. */
export class CountingQueueingStore
  extends CountingStore
  implements QueueingLockStore
{
  constructor(override readonly inner: QueueingLockStore) {
    super(inner);
  }

  onGrant(listener: GrantListener): Promise<() => void> {
    return this.inner.onGrant((grant) => {
      this.calls.grants++;
      listener(grant);
    });
  }

  async leaveQueue(key: string, token: string): Promise<void> {
    this.calls.leaveQueue++;
    await Promise.all(this.delayed);
    return this.inner.leaveQueue(key, token);
  }

  /** Milliseconds each handoff waits before it reaches the inner store. */
  handOffDelay = 0;
  /** How many of the next handoffs run but answer LockBackendUnavailableError. */
  failHandOff = 0;

  async handOff(
    key: string,
    token: string,
    nextToken: string,
    ttlMs: number,
  ): Promise<HandoffResult> {
    this.calls.handOff++;
    if (this.handOffDelay > 0) await sleep(this.handOffDelay);
    const result = await this.inner.handOff!(key, token, nextToken, ttlMs);
    if (this.failHandOff > 0) {
      this.failHandOff--;
      throw new LockBackendUnavailableError('injected: handOff got no answer');
    }
    return result;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
