/**
 * Smaller engine guarantees on a real Redis: an aborted signal on the fast
 * path, no polling storm on a key without expiry, reentrant views that cannot
 * release the outer lock, no self-deadlock on a superset of held keys.
 */
import { inspect } from 'node:util';
import {
  Lock,
  LockAbortedError,
  LockLostError,
  LockManager,
  LockWaitTimeoutError,
  MemoryLockStore,
  RedisLockStore,
  type LockStore,
} from '../../lib/index.js';
import {
  CountingQueueingStore,
  CountingStore,
} from '../support/counting-store.js';
import { ScriptedStore } from '../support/scripted-store.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();

const managers: LockManager[] = [];
afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.close()));
});
function manager(
  store: LockStore = new RedisLockStore({ url: redis.server.url }),
): LockManager {
  const m = new LockManager({ store });
  managers.push(m);
  return m;
}

test('an already-aborted signal is honoured on the uncontended fast path too', async () => {
  const locks = manager();
  const outcome = await locks
    .acquire('edge:aborted', { signal: AbortSignal.abort() })
    .then(
      () => 'granted',
      (error: unknown) =>
        error instanceof LockAbortedError ? 'aborted' : String(error),
    );
  expect(outcome).toBe('aborted');
});

test('a key held without expiry (PTTL -1) does not make a waiter poll Redis every millisecond', async () => {
  await redis.admin.set('lock:{edge:nottl}', 'something-else'); // no PX: PTTL -1
  const store = new CountingStore(
    new RedisLockStore({ url: redis.server.url }),
  );
  const locks = manager(store);
  await expect(
    locks.acquire('edge:nottl', { waitTimeout: 1000 }),
  ).rejects.toBeInstanceOf(LockWaitTimeoutError);
  // backoff 50 ms doubling to 1 s: about 6-8 attempts in one second
  expect(store.calls.acquire).toBeLessThan(30);
});

test('nested using for a held key cannot release the outer lock', async () => {
  const locks = manager();
  let outerHeldAfterInner: boolean | undefined;
  await locks
    .using('edge:nested', async (outer) => {
      await locks.using('edge:nested', async (inner) => {
        await inner.release(); // acquire() hands out a view whose release is a no-op
      });
      outerHeldAfterInner = outer.isHeld;
    })
    .catch(() => undefined);
  expect(outerHeldAfterInner).toBe(true);
});

test('acquire() inside using for a superset of the held keys does not deadlock on itself', async () => {
  const locks = manager();
  const outcome = await locks.using('edge:a', async () => {
    const lock = await locks
      .acquire(['edge:a', 'edge:b'], { waitTimeout: 500 })
      .catch((error: Error) => error.name);
    if (typeof lock === 'string') return lock;
    await lock.release();
    return 'ok';
  });
  expect(outcome).toBe('ok');
});

test('a store whose acquire throws instead of rejecting does not leave later callers waiting', async () => {
  const inner = new RedisLockStore({ url: redis.server.url });
  let throwNext = true;
  const store: LockStore = {
    acquire: (...args) => {
      if (throwNext) {
        throwNext = false;
        throw new Error('store bug');
      }
      return inner.acquire(...args);
    },
    extend: (...args) => inner.extend(...args),
    release: (...args) => inner.release(...args),
    subscribe: (...args) => inner.subscribe(...args),
    close: () => inner.close(),
  };
  const locks = manager(store);
  const first = await locks
    .acquire('edge:sync-throw', { waitTimeout: 1000 })
    .then(
      () => 'granted',
      (error: Error) => error.message,
    );
  const started = performance.now();
  // NOTE: a long waitTimeout sets not waiting far apart from waiting it out
  const second = await locks.acquire('edge:sync-throw', {
    waitTimeout: 10_000,
  });
  expect({
    first,
    second: second.isHeld,
    waited: performance.now() - started < 5000 ? 'no' : 'yes',
  }).toEqual({ first: 'store bug', second: true, waited: 'no' });
  await second.release();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a nested using started without await keeps the key held until it ends, not only until the outer call returns', async () => {
  const a = manager();
  const b = manager();
  let inside = 0;
  let overlap = false;
  const enter = async (ms: number) => {
    inside++;
    if (inside > 1) overlap = true;
    await sleep(ms);
    inside--;
  };
  let nested: Promise<void> | undefined;
  await a.using('edge:fire-and-forget', () => {
    // NOTE: a reentrant call left running: the decorator's
    // `void this.sendReceipt(id)` from a method locked on the same key.
    nested = a.using('edge:fire-and-forget', () => enter(300));
  });
  const other = await b.using(
    'edge:fire-and-forget',
    async () => {
      await enter(10);
      return 'ran';
    },
    { waitTimeout: 2000 },
  );
  await nested;
  expect({ other, overlap }).toEqual({ other: 'ran', overlap: false });
});

test('a nested using for held and new keys also keeps the held ones until it ends', async () => {
  const a = manager();
  const b = manager();
  let nestedDone = false;
  let nested: Promise<void> | undefined;
  await a.using('edge:partial-a', () => {
    nested = a.using(['edge:partial-a', 'edge:partial-b'], () =>
      sleep(200).then(() => void (nestedDone = true)),
    );
  });
  const other = await b.using('edge:partial-a', () => nestedDone, {
    waitTimeout: 2000,
  });
  await nested;
  expect(other).toBe(true);
});

test('a slow first attempt: an abort settles the call at once (what it took is given back), and the wait counts from the call', async () => {
  const store = new ScriptedStore();
  const locks = manager(store);
  // abort during the first attempt
  const controller = new AbortController();
  const aborted = timedOutcome(
    locks.acquire('edge:slow-first', {
      waitTimeout: 10_000,
      signal: controller.signal,
    }),
  );
  await sleep(20);
  const abortedAt = performance.now();
  controller.abort();
  const abortOutcome = await aborted;
  store.acquires[0].resolve({ acquired: true, fences: [1] });
  await sleep(10);
  // NOTE: prompt counts from the abort (the attempt never answers by itself)
  expect({
    outcome: abortOutcome.outcome,
    prompt: abortOutcome.endedAt - abortedAt < 1000,
    givenBack: store.releases.length,
  }).toEqual({ outcome: 'LockAbortedError', prompt: true, givenBack: 1 });

  // a first attempt slower than waitTimeout: the wait is over when it answers
  const late = timedOutcome(
    locks.acquire('edge:slow-first-2', { waitTimeout: 100 }),
  );
  await sleep(300);
  const answeredAt = performance.now();
  store.acquires[1].resolve({ acquired: false, retryAfterMs: 5000 });
  const lateOutcome = await late;
  // NOTE: prompt counts from the answer: a wait past it would last until
  // the refusal's lease end, 5 s later
  expect({
    outcome: lateOutcome.outcome,
    prompt: lateOutcome.endedAt - answeredAt < 1000,
    waitedAtLeast300: (lateOutcome.waitedMs ?? 0) >= 290,
  }).toEqual({
    outcome: 'LockWaitTimeoutError',
    prompt: true,
    waitedAtLeast300: true,
  });
  // close() waits for every store call: answer any still open
  for (const answer of store.acquires)
    answer.resolve({ acquired: false, retryAfterMs: 1 });
});

async function timedOutcome(work: Promise<unknown>): Promise<{
  outcome: string;
  ms: number;
  endedAt: number;
  waitedMs?: number;
}> {
  const startedAt = performance.now();
  try {
    await work;
    const endedAt = performance.now();
    return { outcome: 'granted', ms: endedAt - startedAt, endedAt };
  } catch (error) {
    const endedAt = performance.now();
    return {
      outcome: (error as Error).name,
      ms: endedAt - startedAt,
      endedAt,
      waitedMs: (error as { waitedMs?: number }).waitedMs,
    };
  }
}

test('a nested using that starts while the outer call is releasing takes the key afresh, never alongside another process', async () => {
  const a = manager();
  const b = manager();
  let inside = 0;
  let nested: Promise<void> | undefined;
  await a.using('edge:late-nested', () => {
    // starts after the body ended, during the release round trip
    setImmediate(() => {
      nested = a.using(
        'edge:late-nested',
        async () => {
          inside++;
          await sleep(300);
          inside--;
        },
        { waitTimeout: 5000 },
      );
    });
  });
  await sleep(5);
  const overlapped = await b.using('edge:late-nested', () => inside > 0, {
    waitTimeout: 5000,
  });
  // the nested call did start: the outcome below is about it
  expect(nested).toBeInstanceOf(Promise);
  await nested;
  expect(overlapped).toBe(false);
});

test('a nested using that waits for the outer call cannot keep the key past maxHold', async () => {
  const a = manager();
  const outer: Promise<number> = a.using(
    'edge:nested-deadlock',
    () => {
      void a.using('edge:nested-deadlock', () => outer).catch(() => {});
      return 1;
    },
    // NOTE: renewed every 200 ms: a renewal that late on a loaded machine
    // still lands within the lease, which then ends at max-hold
    { ttl: 600, maxHold: 900 },
  );
  const outcome = await Promise.race([
    outer.then(
      () => 'resolved',
      (error: unknown) =>
        error instanceof LockLostError ? `lost: ${error.reason}` : 'other',
    ),
    sleep(3000).then(() => 'still pending'),
  ]);
  expect(outcome).toBe('lost: max-hold');
});

test('a lock read after its lease ran out: its signal is aborted, and a release after max-hold says max-hold', async () => {
  const a = manager();
  // NOTE: a lease that a slow grant on a loaded machine does not use up
  const short = await a.acquire('edge:read-late', { ttl: 300 });
  await sleep(350);
  expect(short.signal.aborted).toBe(true);
  await short.release().catch(() => {});
  // NOTE: renewed every 200 ms: a renewal that late on a loaded machine
  // still lands within the lease, which then ends at max-hold
  const capped = await a.acquire('edge:max-hold-release', {
    ttl: 600,
    maxHold: 900,
    autoRenew: true,
  });
  await sleep(2000);
  expect(capped.lostReason).toBe('max-hold');
  const released = await capped.release().then(
    () => 'released',
    (error: unknown) =>
      error instanceof LockLostError ? error.reason : String(error),
  );
  expect(released).toBe('max-hold');
});

test('isHeld turns false when the validity runs out, before any timer has noticed', async () => {
  const a = manager();
  // NOTE: a ttl that a slow grant on a loaded machine does not use up
  const lock = await a.acquire('edge:held-late', {
    ttl: 1000,
    autoRenew: false,
  });
  const heldBefore = lock.isHeld;
  // NOTE: a blocked event loop: no timer runs past the validity
  const until = performance.now() + 1100;
  while (performance.now() < until);
  expect({ heldBefore, heldAfter: lock.isHeld }).toEqual({
    heldBefore: true,
    heldAfter: false,
  });
  await lock.release().catch(() => {});
});

test('a key with a lone surrogate and a ttl under 10 ms are refused (Redis would merge such keys; such a lease is never valid)', async () => {
  const a = manager();
  await expect(a.acquire('user:\uD800')).rejects.toThrow(/well-formed Unicode/);
  await expect(a.acquire('edge:tiny-ttl', { ttl: 5 })).rejects.toThrow(
    /ttl must be a number of milliseconds from 10/,
  );
  // a well-formed pair is fine
  const emoji = await a.acquire('user:\uD83D\uDE00');
  await emoji.release();
});

test('a long key with an astral character at the cut keeps the pair whole, so grants still find their waiters at once', async () => {
  const a = manager();
  const store = new CountingQueueingStore(
    new RedisLockStore({ url: redis.server.url }),
  );
  const b = manager(store);
  const key = `${'x'.repeat(31)}\u{1F600}${'y'.repeat(300)}`;
  const held = await a.acquire(key);
  const waiting = b.acquire(key, { waitTimeout: 5000 });
  await store.untilAnswered(1); // refused: b is in line
  await held.release();
  const lock = await waiting;
  // a grant that missed its waiter would be picked up only by the next
  // ticket refresh (another attempt), about a second later
  expect({ grants: store.calls.grants, attempts: store.calls.acquire }).toEqual(
    { grants: 1, attempts: 1 },
  );
  await lock.release();
});

test('a ttl that leaves no validity once the drift allowance is taken off is refused', async () => {
  const store = new RedisLockStore({ url: redis.server.url });
  const locks = new LockManager({ store, driftFactor: 0.8 });
  managers.push(locks);
  await expect(locks.acquire('edge:drift-ttl', { ttl: 10 })).rejects.toThrow(
    /leaves less than 5 ms of validity/,
  );
  expect(
    () => new LockManager({ store, driftFactor: 0.8, defaults: { ttl: 20 } }),
  ).toThrow(/defaults\.ttl \(20 ms\) leaves less than 5 ms/);
  // NOTE: a ttl whose validity (20% of it, less 2 ms) outlasts a slow grant
  // on a loaded machine; 100 ms left 18 ms, and a later grant is no lock
  const lock = await locks.acquire('edge:drift-ttl', { ttl: 5000 });
  expect(lock.isHeld).toBe(true);
  await lock.release();
});

test('reading the signal of a lock whose release is under way leaves the outcome to the release', async () => {
  const inner = new MemoryLockStore();
  // a release answered ok, but only after the lease would have ended
  let answer!: () => void;
  const answered = new Promise<void>((resolve) => (answer = resolve));
  const store: LockStore = {
    acquire: (...args) => inner.acquire(...args),
    extend: (...args) => inner.extend(...args),
    release: async (...args) => {
      const outcome = await inner.release(...args);
      await answered;
      return outcome;
    },
    subscribe: (...args) => inner.subscribe(...args),
    close: () => inner.close(),
  };
  const a = manager(store);
  const lock = await a.acquire('edge:signal-releasing', { ttl: 300 });
  const heldAtRelease = lock.isHeld;
  const releasing = lock.release();
  await sleep(350); // past the validity, before the answer comes
  const aborted = lock.signal.aborted;
  answer();
  await releasing;
  expect({ heldAtRelease, aborted, lostReason: lock.lostReason }).toEqual({
    heldAtRelease: true,
    aborted: false,
    lostReason: undefined,
  });
});

test('an acquire that fails midway on another application’s key (WRONGTYPE) leaves no lease behind', async () => {
  // a hash where the lock keeps its queue: the script sets the key, then fails
  await redis.admin.hset('lock:{edge:wrongtype}:q', 'field', 'value');
  const a = manager();
  await expect(a.tryAcquire('edge:wrongtype')).rejects.toThrow(/WRONGTYPE/);
  await redis.admin.del('lock:{edge:wrongtype}:q');
  // the release by token goes out in the background: wait for it (the lease
  // it removes would last the default 30 s)
  const deadline = performance.now() + 5000;
  while (
    (await redis.admin.exists('lock:{edge:wrongtype}')) === 1 &&
    performance.now() < deadline
  )
    await sleep(10);
  const b = manager();
  const lock = await b.tryAcquire('edge:wrongtype');
  expect(lock).not.toBeNull();
  await lock?.release();
});

test('a lock over more than 1,000 keys is refused, and many large locks in one turn still go through', async () => {
  // NOTE: a turn of 150,000 keys keeps Redis busy for a while: on a loaded
  // machine the last calls would outlast the default 1 s command timeout.
  const a = manager(
    new RedisLockStore({ url: redis.server.url, operationTimeout: 10_000 }),
  );
  const keys = (n: number, tag: string) =>
    Array.from({ length: n }, (_, i) => `edge:many:${tag}:${i}`);
  await expect(a.acquire(keys(1001, 'x'))).rejects.toThrow(/at most 1000 keys/);
  // 150 locks of 1,000 keys in one turn: more arguments than one call takes
  const locks = await Promise.all(
    Array.from({ length: 150 }, (_, i) => a.acquire(keys(1000, String(i)))),
  );
  expect(locks.every((lock) => lock.isHeld)).toBe(true);
  await Promise.all(locks.map((lock) => lock.release()));
}, 60_000);

test('a nested call left running does not hold up the outer using once its lease has run out unnoticed', async () => {
  const locks = manager();
  let nested: Promise<unknown> | undefined;
  const settled: string[] = [];
  const outer = timedOutcome(
    locks.using(
      'edge:nested-unnoticed',
      () => {
        nested = locks
          .using('edge:nested-unnoticed', () => sleep(1500))
          .finally(() => settled.push('nested'));
        // NOTE: the event loop is blocked past the lease (a long synchronous
        // task, a GC pause): neither the renewal nor the expiry timer has
        // run when the call ends, so the first to see the lease over is
        // the wait for the nested call.
        const until = performance.now() + 400;
        while (performance.now() < until);
      },
      { ttl: 300 },
    ),
  ).finally(() => settled.push('outer'));
  const { outcome } = await outer;
  await nested?.catch(() => {});
  // not held up: the outer call settled while the nested one still ran
  expect({ outcome, settled }).toEqual({
    outcome: 'LockLostError',
    settled: ['outer', 'nested'],
  });
});

test('every close() call settles only once the locks are released and the store is closed', async () => {
  const locks = manager();
  const lock = await locks.acquire('edge:double-close', { ttl: 30_000 });
  const first = locks.close();
  await locks.close();
  const leaseLeft = await redis.admin.pttl(lock.storeKeys[0]);
  await first;
  expect(leaseLeft).toBe(-2);
});

test('locks left to run out are no longer tracked once their leases are over for good', async () => {
  const store = new CountingStore(
    new RedisLockStore({ url: redis.server.url }),
  );
  const locks = manager(store);
  const take = (tag: string, n: number) =>
    Promise.all(
      Array.from({ length: n }, (_, i) =>
        locks.tryAcquire(`edge:left:${tag}:${i}`, { ttl: 1000 }),
      ),
    );
  // taken for their ttl and never released (a throttle). NOTE: a ttl of
  // 1 s, not less: 1,500 grants at once on a busy 2-core machine can take
  // longer than a short lease, and a grant that comes after its lease is
  // refused (LateGrantError).
  expect((await take('old', 1500)).every(Boolean)).toBe(true);
  await sleep(3200); // their ttl and the 2 s margin for a command on its way
  expect((await take('new', 1500)).every(Boolean)).toBe(true);
  // close() releases what may still hold a lease: the newer ones only
  const before = store.calls.release;
  await locks.close();
  expect(store.calls.release - before).toBe(1500);
}, 20_000);

test('a nested call over keys that two outer locks hold gets a lock for all of them, held only while both are', async () => {
  const a = manager();
  const b = manager();
  let seen: Record<string, unknown> = {};
  const outcome = await a
    .using('edge:two-a', (outerA) =>
      a.using('edge:two-b', (outerB) =>
        a.using(['edge:two-a', 'edge:two-b'], async (both) => {
          seen = {
            keys: both.keys,
            fences: both.fences,
            expectedFences: [outerA.fence, outerB.fence],
            heldBefore: both.isHeld,
            inspected: /edge:two-b/.test(inspect(both)),
            isLock: both instanceof Lock,
          };
          // another owner takes b (its lease gone from under it)
          await redis.admin.del(outerB.storeKeys[0]);
          const thief = await b.acquire('edge:two-b');
          await both.extend().catch(() => {});
          seen.heldAfter = both.isHeld;
          seen.abortedAfter = both.signal.aborted;
          seen.lostAfter = both.lostReason;
          await thief.release();
        }),
      ),
    )
    .then(
      () => 'resolved',
      (error: unknown) => (error as Error).name,
    );
  expect(seen).toEqual({
    keys: ['edge:two-a', 'edge:two-b'],
    fences: seen.expectedFences,
    expectedFences: seen.expectedFences,
    heldBefore: true,
    inspected: true,
    isLock: true,
    heldAfter: false,
    abortedAfter: true,
    lostAfter: 'not-owner',
  });
  expect(outcome).toBe('LockLostError');
});

test('the signal of a lock over keys of two outer locks notices, when read, a lease that ran out unnoticed', async () => {
  const locks = manager();
  const seen: Record<string, boolean> = {};
  await locks
    .using(
      'edge:two-signal-a',
      () =>
        locks.using(
          'edge:two-signal-b',
          () =>
            locks.using(['edge:two-signal-a', 'edge:two-signal-b'], (both) => {
              seen.before = both.signal.aborted;
              // NOTE: a blocked event loop: no timer runs past the lease
              const until = performance.now() + 1100;
              while (performance.now() < until);
              seen.after = both.signal.aborted;
            }),
          { ttl: 1000 },
        ),
      // NOTE: a ttl that the second lock's round trip on a loaded machine
      // does not use up
      { ttl: 1000 },
    )
    .catch(() => {});
  expect(seen).toEqual({ before: false, after: true });
});

test('extend after release says the lock was released, not that it expired', async () => {
  const locks = manager();
  const lock = await locks.acquire('edge:extend-released', { ttl: 5000 });
  await lock.release();
  const extended = await lock.extend().catch((e: unknown) => e);
  expect(extended).toBeInstanceOf(LockLostError);
  expect((extended as LockLostError).reason).toBe('released');
  expect((extended as LockLostError).message).toMatch(/released/);
  // the store was not asked: the key stays free for others
  const other = await locks.tryAcquire('edge:extend-released');
  expect(other).not.toBeNull();
  await other!.release();
});

test('an extend answered after a release of the same lock says it was released', async () => {
  const store = new ScriptedStore();
  const locks = manager(store);
  const acquiring = locks.acquire('edge:extend-then-release', { ttl: 5000 });
  await new Promise((resolve) => setImmediate(resolve));
  store.acquires[0].resolve({ acquired: true, fences: [1], validityMs: 5000 });
  const lock = await acquiring;
  const extending = lock.extend().catch((e: unknown) => e);
  await new Promise((resolve) => setImmediate(resolve));
  await lock.release();
  store.extensions[0].resolve('ok');
  const extended = await extending;
  expect(extended).toBeInstanceOf(LockLostError);
  expect((extended as LockLostError).reason).toBe('released');
});

test('an extend sent while its own release is under way, and run after it, says the lock was released', async () => {
  // as on one Redis connection: the release is answered `ok`, then the
  // extend behind it finds no lease (`expired`)
  const store = new ScriptedStore();
  const locks = manager(store);
  const acquiring = locks.acquire('edge:extend-during-release', { ttl: 5000 });
  await new Promise((resolve) => setImmediate(resolve));
  store.acquires[0].resolve({ acquired: true, fences: [1], validityMs: 5000 });
  const lock = await acquiring;
  const releasing = lock.release();
  const extending = lock.extend().catch((e: unknown) => e);
  await releasing;
  await new Promise((resolve) => setImmediate(resolve));
  store.extensions[0].resolve('expired');
  const extended = await extending;
  expect(extended).toBeInstanceOf(LockLostError);
  expect((extended as LockLostError).reason).toBe('released');
});
