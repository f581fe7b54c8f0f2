import { callAsync } from './call-async.js';
import {
  LockLostError,
  type LockLostReason,
} from './errors/lock-lost.error.js';
import { MAX_TIMER_DELAY, assertDuration } from './lock-options.js';
import { noop } from './noop.js';
import type {
  HandoffResult,
  LockOutcome,
  LockStore,
} from './stores/lock-store.js';

/** What a lock needs from the manager that granted it. @internal */
export interface LockRuntime {
  readonly store: LockStore;
  validity(ttl: number, startedAt: number, reported?: number): number;
  /**
   * Releases the lock in the store, or passes it straight to a waiter of the
   * same process; answers what the store found.
   */
  release(lock: Lock): Promise<LockOutcome>;
  /**
   * The lock was lost: the manager stops tracking it once a lease of
   * `leaseMs` (its ttl) from now would have ended.
   */
  forget(lock: Lock, leaseMs: number): void;
}

/** The grant that a store answered, as the manager hands it to a lock. @internal */
export interface LockGrant {
  keys: readonly string[];
  storeKeys: readonly string[];
  token: string;
  fences: readonly number[];
  ttl: number;
  maxHold: number;
  startedAt: number;
  validityMs?: number;
  /** A store node may still set a lease for this grant later (see AcquireResult). */
  unsettled?: boolean;
  /**
   * A lock passed on in this process before the store confirmed the
   * handoff: valid until the previous holder's validity ends (or its own
   * lease, if sooner), then, once `confirmed` answers `ok` with this lock's
   * fence, for its own lease.
   * `undefined` means no answer (the lock keeps the previous validity).
   */
  pending?: {
    readonly validUntil: number;
    readonly confirmed: Promise<HandoffResult | undefined>;
  };
}

/**
 * A held lock. It stays valid until {@link Lock.expiresAt} unless extended;
 * its {@link Lock.signal} aborts as soon as it is known to be lost.
 *
 * @example
 * const lock = await locks.acquire('seat:12A', { ttl: 5000 });
 * try {
 *   await reserveSeat({ fence: lock.fence, signal: lock.signal });
 * } finally {
 *   await lock.release();
 * }
 */
export class Lock {
  /** The keys this lock holds, sorted. */
  readonly keys: readonly string[];
  /** The random owner token (128 bits): only it can extend or release the lock. */
  readonly token: string;
  /** Fencing token per key (same order as `keys`): larger for every later grant of a key. */
  readonly fences: readonly number[];
  /** When the lock was granted (`performance.now()` when the request was sent). */
  readonly acquiredAt: number;

  private validUntil: number;
  private state: LockLostReason | 'held' = 'held';
  private controller?: AbortController;
  private expiryTimer?: NodeJS.Timeout;
  private renewTimer?: NodeJS.Timeout;
  private releasing?: Promise<void>;
  /** Set by the first release call: renewal is over, whatever that call gets. */
  private releaseAsked = false;
  /** The store answered a release (or the lock was passed on): nothing more to send. */
  private done = false;
  /** The next renewal is the only one (see topUp). */
  private renewOnce = false;
  /** Reentrant `using` calls under this lock that have not settled yet. */
  private nested?: Set<Promise<unknown>>;
  /** Settles once the store answered the handoff that granted this lock. */
  private confirming?: Promise<void>;
  private readonly ttl: number;
  /** The longest lease asked of the store for this token (the ttl, or a longer extend). */
  private longestLease: number;
  /** When the last command that set a lease for this token was sent. */
  private lastLeaseSentAt: number;
  /**
   * Some command for this token got no answer (it may still run on a
   * stalled server and set a lease from then on): only a release or
   * close() can be sure to end it.
   */
  private leaseUnsettled: boolean;
  /** A release was sent and got no answer: it may have run (see passable). */
  private releaseUnanswered = false;
  private readonly holdUntil: number;

  /** @internal */
  constructor(
    private readonly runtime: LockRuntime,
    grant: LockGrant,
    /** @internal */
    readonly storeKeys: readonly string[] = grant.storeKeys,
  ) {
    this.keys = grant.keys;
    this.token = grant.token;
    this.fences = grant.fences;
    this.ttl = grant.ttl;
    this.longestLease = Math.max(grant.ttl, grant.validityMs ?? 0);
    this.acquiredAt = grant.startedAt;
    this.lastLeaseSentAt = grant.startedAt;
    this.leaseUnsettled = grant.unsettled === true;
    this.holdUntil = grant.startedAt + grant.maxHold;
    const validUntil = runtime.validity(
      grant.ttl,
      grant.startedAt,
      grant.validityMs,
    );
    const pending = grant.pending;
    // NOTE: until the answer comes, the key is held by the previous lease or,
    // from some moment after the send, by this one: trust the earlier end.
    this.validUntil = pending
      ? Math.min(pending.validUntil, validUntil)
      : validUntil;
    this.confirming = pending?.confirmed.then((result) => {
      this.confirming = undefined;
      this.confirm(result, validUntil);
    });
  }

  /** The first key (the only one for a single-key lock). */
  get key(): string {
    return this.keys[0];
  }

  /** Fencing token of the first key: pass it with every write the lock protects. */
  get fence(): number {
    return this.fences[0];
  }

  /** Wall-clock time (epoch ms) until which the lock is trusted to be held. */
  get expiresAt(): number {
    return Math.floor(performance.timeOrigin + this.validUntil);
  }

  /** Milliseconds for which the lock is still trusted to be held (0 once lost). */
  get remainingTime(): number {
    return this.isHeld ? Math.max(0, this.validUntil - performance.now()) : 0;
  }

  /** True until the lock is released, lost, or its validity runs out. */
  get isHeld(): boolean {
    return this.state === 'held' && performance.now() < this.validUntil;
  }

  /**
   * Aborts, with a {@link LockLostError} as its reason, when the lock is lost:
   * its lease ran out, an extension found another owner, or the hold cap was
   * reached. Not aborted by a normal release.
   */
  get signal(): AbortSignal {
    // NOTE: a lease that has run out is known lost now, not at the next
    // timer (unless a release is under way: its answer decides).
    if (
      this.state === 'held' &&
      !this.releaseAsked &&
      performance.now() >= this.validUntil
    )
      this.lose('expired');
    if (!this.controller) {
      this.controller = new AbortController();
      const lost = this.lostReason;
      if (lost) this.controller.abort(this.lostError(lost));
      // NOTE: a release under way stopped the timers for good (a failed one
      // arms the expiry again).
      else if (this.state === 'held' && !this.releaseAsked) this.armExpiry();
    }
    return this.controller.signal;
  }

  /**
   * Sets the lease to `ttl` ms from now (default: the ttl it was taken with).
   * Fails with {@link LockLostError} if the lock is no longer held, and then
   * aborts the signal.
   */
  async extend(ttl = this.ttl): Promise<void> {
    // NOTE: the holder sets the lease itself: a pending one-time top-up (to
    // the ttl) would undo it. (The top-up's own call comes with no timer.)
    if (this.renewOnce && this.renewTimer) {
      clearTimeout(this.renewTimer);
      this.renewTimer = undefined;
    }
    if (this.confirming) await this.confirming;
    this.assertHeld();
    const lease = toLease(ttl);
    if (lease > this.longestLease) this.longestLease = lease;
    const startedAt = performance.now();
    this.lastLeaseSentAt = startedAt;
    const outcome = await this.runtime.store
      .extend(this.storeKeys, this.token, lease)
      .catch((error: unknown) => {
        this.leaseUnsettled = true;
        // NOTE: the extend may still run (a command that timed out waits
        // on a stalled server), and a lease shorter than what is left cuts
        // the lease where it runs: the lock is trusted only until the
        // earlier of the two ends.
        const bound = this.runtime.validity(lease, startedAt);
        if (bound < this.validUntil) this.moveValidity(bound);
        throw error;
      });
    if (outcome !== 'ok') {
      this.lose(outcome);
      // NOTE: a release sent before this extend ran first (same
      // connection): the store found no lease because its holder released it.
      throw this.lostError(this.state === 'released' ? 'released' : outcome);
    }
    if (this.state !== 'held') throw this.notHeldError();
    this.moveValidity(this.runtime.validity(lease, startedAt));
  }

  /**
   * Releases the lock. Fails with {@link LockLostError} if it was not held any
   * more (expired, or taken by another owner after expiring); the store is
   * left untouched for keys held by another owner. If the store does not
   * answer, the call rejects and the lock stays as it was, so that calling
   * `release` again retries (the lease runs out in any case); except for a
   * release that passed the lock on to a waiter of this process, which is
   * never retried (the key may belong to that waiter by then). A call while
   * a release is under way shares its outcome.
   */
  release(): Promise<void> {
    if (this.releasing) return this.releasing;
    if (this.done) return Promise.resolve();
    this.releaseAsked = true;
    this.stopTimers();
    // NOTE: a lock passed on ahead of the store's answer is released (or
    // passed on again) only once that answer is in: the store then sees
    // the calls in order, and fences keep growing with the server clock.
    // NOTE: `then` rather than `await`, like the rest of the hot path.
    const send = () => callAsync(() => this.runtime.release(this));
    const sent = this.confirming ? this.confirming.then(send) : send();
    this.releasing = sent.then(
      (outcome) => {
        this.releasing = undefined;
        this.done = true;
        // NOTE: a lock lost before (close() releases its locks as 'closed')
        // keeps its reason: its holder must still learn it was lost.
        if (this.state === 'held')
          this.state = outcome === 'ok' ? 'released' : outcome;
        if (outcome !== 'ok') {
          // NOTE: a lock already known lost keeps the reason it was lost for
          // (`max-hold`, `closed`), unless the store says that another owner
          // holds it now, which says more.
          const reason =
            outcome === 'not-owner' ? outcome : (this.lostReason ?? outcome);
          this.controller?.abort(this.lostError(reason));
          throw this.lostError(reason);
        }
      },
      (error: unknown) => {
        this.releasing = undefined;
        this.leaseUnsettled = true;
        this.releaseUnanswered = true;
        if (this.state === 'held') this.armExpiry();
        throw error;
      },
    );
    return this.releasing;
  }

  /** Why the lock was lost, if it was; `undefined` while held or after a normal release. */
  get lostReason(): LockLostReason | undefined {
    return this.state === 'held' || this.state === 'released'
      ? undefined
      : this.state;
  }

  /**
   * No lease of this lock's token can be left in the store after this time
   * (`performance.now()`), unless a command sent later sets one; never
   * while a command for it went unanswered or its handoff is unconfirmed.
   * @internal
   */
  get leaseGoneBy(): number {
    return this.leaseUnsettled || this.confirming
      ? Infinity
      : this.lastLeaseSentAt + this.longestLease;
  }

  /**
   * The lock may be passed on to a waiter of this process ahead of the
   * store's answer. NOTE: not after a release that got no answer: it may
   * have run (a command that timed out still runs on a slow server), so the
   * key may be free or another process's by now, and the lock's validity
   * says nothing about it; a retry goes to the store, which knows. @internal
   */
  get passable(): boolean {
    return !this.releaseUnanswered;
  }

  /**
   * The same lock seen from a nested (reentrant) acquire: everything reads
   * through to this lock, but `release` does nothing, since the outer holder
   * releases. @internal
   */
  reentrantView(): Lock {
    return new Proxy(this, {
      get: (target, property) => {
        if (property === 'release') return releaseNothing;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /** Counts `work` (a reentrant call under this lock) until it settles. @internal */
  trackNested(work: Promise<unknown>): void {
    const nested = (this.nested ??= new Set());
    nested.add(work);
    const settled = () => void nested.delete(work);
    work.then(settled, settled);
  }

  /** Some reentrant call under this lock has not settled yet. @internal */
  get nestedRunning(): boolean {
    return (
      this.nested !== undefined && this.nested.size > 0 && !this.lostReason
    );
  }

  /**
   * close() gave this lock up (`closed`) while a reentrant call under it
   * still runs: its lease is left to run out, never released under that
   * call. @internal
   */
  get closedUnderNested(): boolean {
    return (
      this.state === 'closed' &&
      this.nested !== undefined &&
      this.nested.size > 0
    );
  }

  /**
   * A reentrant call may still join this lock: its holder has not asked to
   * release it (from then on, a call for these keys takes them afresh). @internal
   */
  get takesNested(): boolean {
    return !this.releaseAsked;
  }

  /**
   * Settles once the reentrant calls under this lock running now have
   * settled, or the lock is lost (renewal stops at `maxHold`: a nested call
   * that never ends cannot keep the key forever). @internal
   */
  async nestedSettled(): Promise<void> {
    if (!this.nested || this.nested.size === 0) return;
    const signal = this.signal;
    // NOTE: reading the signal may be what finds the lease over (timers
    // held up by a blocked event loop); an aborted signal sends no event.
    if (signal.aborted) return;
    let onLost!: () => void;
    const lost = new Promise<void>((resolve) => (onLost = resolve));
    signal.addEventListener('abort', onLost, { once: true });
    try {
      await Promise.race([Promise.allSettled([...this.nested]), lost]);
    } finally {
      signal.removeEventListener('abort', onLost);
    }
  }

  /**
   * Keeps the lease alive at a third of the ttl until the lock is released,
   * lost, or has been held for `maxHold`. @internal
   */
  startRenewal(): void {
    if (this.renewTimer || this.state !== 'held' || this.releaseAsked) return;
    this.scheduleRenewal(this.renewalDelay(this.ttl));
  }

  /**
   * Renews once, to the full ttl, halfway through a lease shorter than it (a
   * queued grant's first lease): for a lock that does not renew itself, so
   * that it lasts its ttl as asked. @internal
   */
  topUp(): void {
    if (this.renewTimer || this.state !== 'held' || this.releaseAsked) return;
    this.renewOnce = true;
    this.scheduleRenewal((this.validUntil - performance.now()) / 2);
  }

  /**
   * The lock was passed on to a waiter of this process: it is no longer
   * held, and nothing may use its token again (a retried release could free
   * the key under the new holder). @internal
   */
  passedOn(): void {
    this.state = 'released';
    this.done = true;
    this.stopTimers();
  }

  /** Marks the lock lost and aborts its signal. @internal */
  lose(reason: LockLostReason): void {
    if (this.state !== 'held') return;
    this.state = reason;
    this.stopTimers();
    this.runtime.forget(this, this.longestLease);
    this.controller?.abort(this.lostError(reason));
  }

  /** The error that says why this lock is not held. @internal */
  lostError(reason: LockLostReason, cause?: unknown): LockLostError {
    return new LockLostError(
      this.keys,
      reason,
      cause === undefined ? undefined : { cause },
    );
  }

  /** Throws the lost error if the lock was lost or has run out. @internal */
  assertHeld(): void {
    if (this.state === 'held' && performance.now() >= this.validUntil)
      this.lose('expired');
    if (this.state !== 'held') throw this.notHeldError();
  }

  private notHeldError(): LockLostError {
    if (this.state === 'released') return this.lostError('released');
    return this.lostError(this.lostReason ?? 'expired');
  }

  /**
   * The store's answer to the handoff that passed this lock on: `ok` with
   * the expected fence starts its own lease's validity; a refusal means the
   * previous holder's lease was gone, so this lock never was held.
   */
  private confirm(result: HandoffResult | undefined, validUntil: number): void {
    // NOTE: a handoff that got no answer may still run, and move the lease
    // to this token from then on.
    if (!result) this.leaseUnsettled = true;
    if (!result || this.state !== 'held') return;
    if (result.outcome !== 'ok') return this.lose(result.outcome);
    if (result.fence !== this.fence) return this.lose('not-owner');
    // NOTE: an answer after the validity ran out does not revive the lock.
    if (performance.now() >= this.validUntil) return this.lose('expired');
    this.moveValidity(validUntil);
  }

  /**
   * Sets the validity, and moves the expiry timer with it. NOTE: also when
   * no one has read the signal: renewal may have armed an expiry timer for
   * the old lease after a failed attempt. A release under way stopped the
   * timers for good.
   */
  private moveValidity(validUntil: number): void {
    this.validUntil = validUntil;
    if ((this.controller || this.expiryTimer) && !this.releasing)
      this.armExpiry();
  }

  private scheduleRenewal(delay: number): void {
    this.renewTimer = setTimeout(() => void this.renew(), Math.max(0, delay));
    this.renewTimer.unref();
  }

  private async renew(): Promise<void> {
    this.renewTimer = undefined;
    if (this.state !== 'held' || this.releaseAsked) return;
    const now = performance.now();
    if (now >= this.validUntil) return this.lose('expired');
    const holdLeft = this.holdUntil - now;
    if (holdLeft <= 0) return this.armExpiry('max-hold');
    const ttl = Math.ceil(Math.min(this.ttl, holdLeft));
    try {
      await this.extend(ttl);
    } catch (error) {
      if (
        error instanceof LockLostError ||
        this.state !== 'held' ||
        this.releaseAsked
      )
        return;
      // NOTE: the store did not answer (Redis down or slow). The lease may
      // still be valid: retry soon while it lasts; the expiry timer below
      // marks the lock lost if it runs out first.
      this.armExpiry();
      this.scheduleRenewal(
        Math.min(
          this.ttl / 10,
          Math.max(0, (this.validUntil - performance.now()) / 2),
        ),
      );
      return;
    }
    // NOTE: a release was asked for while the extend was under way: renewal
    // is over, even if that release failed (the lease then runs out).
    if (this.releaseAsked || this.state !== 'held' || this.renewOnce) return;
    if (ttl < this.ttl) return this.armExpiry('max-hold');
    this.scheduleRenewal(this.renewalDelay(ttl));
  }

  /**
   * When to renew a lease of `ttl`: at a third of it, or sooner when less
   * than two thirds of it are left (a grant or extend answered late), so
   * that the renewal lands while the lease still runs.
   */
  private renewalDelay(ttl: number): number {
    return Math.min(
      ttl / 3,
      Math.max(0, (this.validUntil - performance.now()) / 2),
    );
  }

  /**
   * Declares the lock lost, for `reason`, when its current lease ends (after
   * the last renewal, `max-hold`).
   */
  private armExpiry(reason: LockLostReason = 'expired'): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    const delay = Math.max(0, this.validUntil - performance.now());
    this.expiryTimer = setTimeout(() => this.lose(reason), delay);
    this.expiryTimer.unref();
  }

  private stopTimers(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.expiryTimer = this.renewTimer = undefined;
  }
}

async function releaseNothing(): Promise<void> {}

/**
 * The lock that a nested call gets when several locks of its call chain hold
 * its keys between them (`using('a')` inside `using('b')`, then a nested
 * `using(['a', 'b'])`): its keys and fences are the requested ones, taken
 * from each holder; it is held only while every holder is, its signal
 * aborts when any of them is lost, `extend` extends them all, and `release`
 * does nothing (the outer holders release). @internal
 */
export function combinedView(
  keys: readonly string[],
  holders: readonly Lock[],
): Lock {
  const owners = keys.map((key) => {
    const holder = holders.find((lock) => lock.keys.includes(key))!;
    return { holder, at: holder.keys.indexOf(key) };
  });
  const fences = owners.map(({ holder, at }) => holder.fences[at]);
  const storeKeys = owners.map(({ holder, at }) => holder.storeKeys[at]);
  const first = holders[0].reentrantView();
  // NOTE: what util.inspect and JSON show (they read the Proxy's target):
  // the combined keys and fences; token and acquiredAt are the first
  // holder's.
  const target = Object.assign(Object.create(Lock.prototype) as Lock, {
    keys,
    token: first.token,
    fences,
    acquiredAt: first.acquiredAt,
    storeKeys,
  });
  let signal: AbortSignal | undefined;
  const view: Partial<Record<keyof Lock, unknown>> = {
    keys,
    fences,
    storeKeys,
    key: keys[0],
    fence: fences[0],
    get isHeld() {
      return holders.every((lock) => lock.isHeld);
    },
    get remainingTime() {
      return Math.min(...holders.map((lock) => lock.remainingTime));
    },
    get expiresAt() {
      return Math.min(...holders.map((lock) => lock.expiresAt));
    },
    get lostReason() {
      return holders.find((lock) => lock.lostReason)?.lostReason;
    },
    get signal() {
      // NOTE: each holder's signal is read every time: reading it is what
      // finds a lease that ran out while no timer could run.
      const signals = holders.map((lock) => lock.signal);
      return (signal ??= AbortSignal.any(signals));
    },
    extend: (ttl?: number) =>
      Promise.all(holders.map((lock) => lock.extend(ttl))).then(noop),
    release: releaseNothing,
  };
  return new Proxy(target, {
    get: (_, property) =>
      Object.hasOwn(view, property)
        ? view[property as keyof Lock]
        : Reflect.get(first, property),
  });
}

/** A lease for the store: a whole number of ms (Redis takes no fractions). */
function toLease(ttl: number): number {
  assertDuration(ttl, 'A lease', 1, MAX_TIMER_DELAY);
  return Math.ceil(ttl);
}
