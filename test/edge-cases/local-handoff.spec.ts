/**
 * Local handoffs: a release with a waiter for the same key in this process
 * passes the lock straight to it (one store call, a new token and a larger
 * fence), never to a waiter that gave up, and never leaves an orphan lease.
 */
import {
  LockAbortedError,
  LockBackendUnavailableError,
  LockLostError,
  LockManager,
  MemoryLockStore,
  RedisLockStore,
  type QueueingLockStore,
} from '../../lib/index.js';
import { CountingQueueingStore } from '../support/counting-store.js';
import { sleep } from '../support/redis-harness.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();
const opened: LockManager[] = [];

function setup(localHandoffs?: number) {
  const store = new CountingQueueingStore(
    new RedisLockStore({ url: redis.server.url }),
  );
  const locks = new LockManager({ store, localHandoffs });
  opened.push(locks);
  return { store, locks };
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((locks) => locks.close()));
});

test('a release passes the lock to the next local waiter at once, and the store moves the lease in one call', async () => {
  const { store, locks } = setup();
  const first = await locks.acquire('handoff:one', { ttl: 1000 });
  const waiting = locks.acquire('handoff:one', { ttl: 5000 });
  await store.untilAnswered(2); // the waiter is in line
  store.handOffDelay = 50;
  const before = performance.now();
  const releasing = first.release();
  let answered = false;
  void releasing.then(() => (answered = true));
  const second = await waiting;
  // granted before the store answered: the old lease still holds the key
  expect(answered).toBe(false);
  expect(await redis.admin.get('lock:{handoff:one}')).toContain(first.token);
  expect(second.token).not.toBe(first.token);
  expect(second.fence).toBe(first.fence + 1);
  expect(second.acquiredAt).toBeGreaterThanOrEqual(before);
  // until the answer, trusted no longer than the old lock was
  expect(second.remainingTime).toBeLessThanOrEqual(1000);
  await releasing;
  // then for its own lease, counted from when the handoff was sent
  expect(second.remainingTime).toBeGreaterThan(4000);
  expect(second.remainingTime).toBeLessThanOrEqual(
    5000 - (performance.now() - before) + 1,
  );
  expect(await redis.admin.get('lock:{handoff:one}')).toMatch(
    new RegExp(`^w?${second.fence}:${second.token}$`),
  );
  expect(await redis.admin.pttl('lock:{handoff:one}')).toBeGreaterThan(4000);
  expect(store.calls.handOff).toBe(1);
  expect(store.calls.release).toBe(0);
  expect(store.calls.grants).toBe(0);
  await second.release();
  expect(await redis.admin.exists('lock:{handoff:one}')).toBe(0);
});

test('a handoff the store refuses (the old lease was gone) takes the passed-on lock back', async () => {
  const { store, locks } = setup();
  const first = await locks.acquire('handoff:refused', { ttl: 5000 });
  const waiting = locks.acquire('handoff:refused');
  await store.untilAnswered(2); // the waiter is in line
  await redis.admin.del('lock:{handoff:refused}'); // the lease is lost
  store.handOffDelay = 20;
  const releasing = first.release();
  const second = await waiting;
  const { signal } = second;
  await expect(releasing).rejects.toMatchObject({ reason: 'expired' });
  expect(signal.aborted).toBe(true);
  expect(signal.reason).toBeInstanceOf(LockLostError);
  expect(second.isHeld).toBe(false);
  expect(second.lostReason).toBe('expired');
  await expect(second.release()).rejects.toBeInstanceOf(LockLostError);
  expect(await redis.admin.exists('lock:{handoff:refused}')).toBe(0);
});

test('a handoff without an answer is sent again (it answers the same)', async () => {
  const { store, locks } = setup();
  const first = await locks.acquire('handoff:resent', { ttl: 3000 });
  const waiting = locks.acquire('handoff:resent', { ttl: 20_000 });
  await store.untilAnswered(2); // the waiter is in line
  store.failHandOff = 1; // it runs, but the answer is lost
  const releasing = first.release();
  const second = await waiting;
  await releasing;
  expect(store.calls.handOff).toBe(2);
  expect(second.remainingTime).toBeGreaterThan(19_000);
  await second.release();
  expect(await redis.admin.exists('lock:{handoff:resent}')).toBe(0);
});

test('a handoff that never gets an answer never uses the old token again; the new lock keeps the old validity', async () => {
  const { store, locks } = setup();
  const first = await locks.acquire('handoff:silent', { ttl: 3000 });
  const waiting = locks.acquire('handoff:silent', { ttl: 20_000 });
  await store.untilAnswered(2); // the waiter is in line
  store.failHandOff = 3; // each one runs, but no answer comes back
  const releasing = first.release();
  // a second call while the first is under way shares its outcome
  const again = first.release();
  const second = await waiting;
  await expect(releasing).rejects.toBeInstanceOf(LockBackendUnavailableError);
  await expect(again).rejects.toBeInstanceOf(LockBackendUnavailableError);
  expect(store.calls.handOff).toBe(3);
  // a retried release does nothing: the key may belong to the new holder
  await first.release();
  expect(store.calls.release).toBe(0);
  expect(first.isHeld).toBe(false);
  expect(second.isHeld).toBe(true);
  expect(second.remainingTime).toBeLessThanOrEqual(3000);
  await second.release();
  expect(store.calls.release).toBe(1);
  expect(await redis.admin.exists('lock:{handoff:silent}')).toBe(0);
});

test('a passed-on lock extends only after the store answered the handoff', async () => {
  const { store, locks } = setup();
  const first = await locks.acquire('handoff:extend', { ttl: 5000 });
  const waiting = locks.acquire('handoff:extend', { ttl: 5000 });
  await store.untilAnswered(2); // the waiter is in line
  store.handOffDelay = 50;
  const releasing = first.release();
  const second = await waiting;
  const extended = second.extend(9000);
  expect(store.calls.extend).toBe(0);
  await releasing;
  await extended;
  expect(store.calls.extend).toBe(1);
  expect(await redis.admin.pttl('lock:{handoff:extend}')).toBeGreaterThan(8000);
  await second.release();
});

test('close() during a handoff leaves no orphan lease', async () => {
  const { store, locks } = setup();
  const first = await locks.acquire('handoff:close', { ttl: 20_000 });
  const waiting = locks.acquire('handoff:close', { ttl: 20_000 });
  await store.untilAnswered(2); // the waiter is in line
  store.handOffDelay = 50;
  const releasing = first.release();
  const second = await waiting;
  await locks.close();
  await releasing;
  expect(second.isHeld).toBe(false);
  expect(store.calls.handOff).toBe(1);
  expect(await redis.admin.exists('lock:{handoff:close}')).toBe(0);
});

/**
 * Holds the next acquire (the waiter's renewal of its place) back from the
 * store until the returned function is called: it is out while the test
 * releases and aborts.
 */
function holdAcquires(store: CountingQueueingStore): () => void {
  let land!: () => void;
  store.acquireGate = new Promise((resolve) => (land = resolve));
  return () => {
    store.acquireGate = undefined;
    land();
  };
}

async function untilAcquireSent(store: CountingQueueingStore): Promise<void> {
  const sent = store.calls.acquire;
  while (store.calls.acquire === sent) await sleep(5);
}

test('a lock passed to a waiter that gives up before taking it goes to the next waiter', async () => {
  const { store, locks } = setup();
  const first = await locks.acquire('handoff:gave-up', { ttl: 5000 });
  const controller = new AbortController();
  const quitter = locks.acquire('handoff:gave-up', {
    signal: controller.signal,
  });
  const patient = locks.acquire('handoff:gave-up');
  await store.untilAnswered(2); // the waiter is in line
  // the quitter renews its place within a second; that attempt is slow, so
  // the lock reaches it in the middle of it, and it gives up right then
  // (the attempt lands only after that)
  const land = holdAcquires(store);
  await untilAcquireSent(store);
  await first.release();
  controller.abort();
  land();
  await expect(quitter).rejects.toBeInstanceOf(LockAbortedError);
  const lock = await patient;
  expect(lock.isHeld).toBe(true);
  expect(lock.fence).toBe(first.fence + 2);
  // passed on twice in the process: no release, no trip through the line
  expect(store.calls.handOff).toBe(2);
  expect(store.calls.release).toBe(0);
  expect(store.calls.grants).toBe(0);
  await lock.release();
});

test('a lock passed on but lost before its waiter took it is never used: the waiter goes on waiting', async () => {
  const { store, locks } = setup();
  const key = 'handoff:lost-early';
  const first = await locks.acquire(key, { ttl: 5000 });
  const runs: { fence: number; held: boolean }[] = [];
  const waiting = locks.using(key, (lock) => {
    runs.push({ fence: lock.fence, held: lock.isHeld });
  });
  await store.untilAnswered(2); // the waiter is in line
  // the waiter's renewal of its place is slow: the lock reaches it meanwhile
  store.acquireDelay = 300;
  await untilAcquireSent(store);
  // the old lease is lost and another owner holds the key for 300 ms
  await redis.admin.set('lock:{handoff:lost-early}', '1:intruder', 'PX', 300);
  await expect(first.release()).rejects.toMatchObject({
    reason: 'not-owner',
  });
  store.acquireDelay = 0;
  await waiting;
  expect(runs).toHaveLength(1);
  expect(runs[0].held).toBe(true);
  expect(runs[0].fence).not.toBe(first.fence + 1);
  expect(store.calls.handOff).toBe(1);
  expect(await redis.admin.exists('lock:{handoff:lost-early}')).toBe(0);
});

test('a lock passed to a waiter that gives up, with nobody after it, is released', async () => {
  const { store, locks } = setup();
  const first = await locks.acquire('handoff:orphan', { ttl: 5000 });
  const controller = new AbortController();
  const quitter = locks.acquire('handoff:orphan', {
    signal: controller.signal,
  });
  await store.untilAnswered(2); // the waiter is in line
  const land = holdAcquires(store);
  await untilAcquireSent(store);
  await first.release();
  controller.abort();
  land();
  await expect(quitter).rejects.toBeInstanceOf(LockAbortedError);
  expect(store.calls.handOff).toBe(1);
  // another process takes the key at once: no 5 s lease was left behind
  // (the release that frees it is a round trip or two away)
  const other = setup();
  const deadline = Date.now() + 2000;
  let lock = await other.locks.tryAcquire('handoff:orphan');
  while (!lock && Date.now() < deadline) {
    await sleep(5);
    lock = await other.locks.tryAcquire('handoff:orphan');
  }
  expect(lock?.isHeld).toBe(true);
  await lock?.release();
});

test('a lock passed to a waiter that gives up is released even when the first try gets no answer', async () => {
  const { store, locks } = setup();
  const first = await locks.acquire('handoff:orphan-retry', { ttl: 5000 });
  const controller = new AbortController();
  const quitter = locks.acquire('handoff:orphan-retry', {
    ttl: 5000,
    signal: controller.signal,
  });
  await store.untilAnswered(2); // the waiter is in line
  const land = holdAcquires(store);
  await untilAcquireSent(store);
  await first.release(); // passed on while the waiter's attempt is out
  store.failRelease = 1;
  const releasesBefore = store.calls.release;
  controller.abort();
  land();
  await expect(quitter).rejects.toBeInstanceOf(LockAbortedError);
  expect(store.calls.handOff).toBe(1);
  // the release is tried again instead of leaving a 5 s lease
  const other = setup();
  const deadline = Date.now() + 2000;
  let lock = await other.locks.tryAcquire('handoff:orphan-retry');
  while (!lock && Date.now() < deadline) {
    await sleep(20);
    lock = await other.locks.tryAcquire('handoff:orphan-retry');
  }
  expect(lock?.isHeld).toBe(true);
  // the failed try, the retry, and the quiet release of the waiter's own
  // attempt if it landed on the freed key
  expect(store.calls.release - releasesBefore).toBeGreaterThanOrEqual(2);
  await lock?.release();
});

test('a lost lock is let go once no lease of its token can be left (its ttl and a margin), not kept for close()', async () => {
  const { store, locks } = setup();
  const lock = await locks.acquire('handoff:lost', {
    ttl: 200,
    autoRenew: false,
  });
  store.failRelease = 1;
  await expect(lock.release()).rejects.toBeInstanceOf(
    LockBackendUnavailableError,
  );
  await sleep(300);
  expect(lock.lostReason).toBe('expired');
  await sleep(200 + 2000 + 100); // the ttl and the margin after the loss
  const releasesBefore = store.calls.release;
  await locks.close();
  expect(store.calls.release).toBe(releasesBefore);
});

test('a lost lock that may still own a lease is released by close()', async () => {
  const { locks } = setup();
  const lock = await locks.acquire(['handoff:mk-a', 'handoff:mk-b'], {
    ttl: 5000,
    autoRenew: false,
  });
  const [first, second] = lock.storeKeys;
  // another owner takes the second key: an extend (all or nothing) fails,
  // but the first key still carries this token's lease
  await redis.admin.set(second, '1:someone-else', 'PX', 5000);
  await expect(lock.extend()).rejects.toMatchObject({ reason: 'not-owner' });
  expect(await redis.admin.get(first)).toContain(lock.token);
  await locks.close();
  expect(await redis.admin.exists(first)).toBe(0);
  expect(await redis.admin.get(second)).toBe('1:someone-else');
});

test('handoffs while no other process waits do not count against localHandoffs', async () => {
  const { store, locks } = setup(1);
  const key = 'handoff:alone';
  const first = await locks.acquire(key);
  const waiting = Array.from({ length: 5 }, () =>
    locks.using(key, () => sleep(2)),
  );
  await store.untilAnswered(2); // the waiter is in line
  await first.release();
  await Promise.all(waiting);
  expect(store.calls.handOff).toBe(5);
  expect(store.calls.grants).toBe(0);
});

test('localHandoffs bounds the local streak while another process waits', async () => {
  const here = setup(2);
  const there = setup(2);
  const key = 'handoff:bounded';
  const order: string[] = [];
  const hold = async (name: string, locks: LockManager) =>
    locks.using(key, async () => {
      order.push(name);
      await sleep(5);
    });
  const first = await here.locks.acquire(key);
  const remote = hold('b', there.locks);
  await there.store.untilAnswered(1); // the other process is first in line
  const local = ['a1', 'a2', 'a3', 'a4', 'a5'].map((name) =>
    hold(name, here.locks),
  );
  await here.store.untilAnswered(2); // a1 is in line behind it
  await first.release();
  await Promise.all([...local, remote]);
  // the release and the next one pass the lock on locally (a1, a2), though
  // b was in line first; then the line serves b
  expect(order).toHaveLength(6);
  expect(order.indexOf('b')).toBe(2);
  expect(here.store.calls.handOff).toBeGreaterThanOrEqual(2);
});

test('the bound holds for a process that has one waiter at a time', async () => {
  const here = setup(1);
  const there = setup(1);
  const key = 'handoff:one-at-a-time';
  const order: string[] = [];
  let stop = false;
  const loop = async (name: string) => {
    while (!stop)
      await here.locks.using(key, async () => {
        order.push(name);
        await sleep(5);
      });
  };
  const first = await here.locks.acquire(key);
  const remote = there.locks.using(
    key,
    () => {
      order.push('b');
      stop = true;
    },
    { waitTimeout: 3000 },
  );
  await there.store.untilAnswered(1); // the other process is in line
  const second = loop('a2'); // this process's only waiter
  await here.store.untilAnswered(2); // a2 is in line behind it
  await first.release(); // passed on to a2
  const third = loop('a1'); // waits while a2 holds: again the only waiter
  await remote;
  await Promise.all([second, third]);
  // a2's release is the second in a row: it goes to the line
  expect(order.indexOf('b')).toBe(1);
});

test('a process first in line still gives way after localHandoffs handoffs', async () => {
  const here = setup(2);
  const there = setup(2);
  const key = 'handoff:first-in-line';
  const order: string[] = [];
  const hold = async (name: string, locks: LockManager) =>
    locks.using(key, async () => {
      order.push(name);
      await sleep(5);
    });
  const first = await here.locks.acquire(key);
  const local = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7'].map((name) =>
    hold(name, here.locks),
  );
  await here.store.untilAnswered(2); // this process took its place in line first
  const remote = hold('b', there.locks);
  await there.store.untilAnswered(1); // b is in line behind it
  await first.release();
  await Promise.all([...local, remote]);
  // each handoff is a turn of this process: its place moves behind b's
  expect(order.indexOf('b')).toBe(2);
});

test('localHandoffs 0 sends every release through the line', async () => {
  const { store, locks } = setup(0);
  const first = await locks.acquire('handoff:off');
  const waiting = locks.acquire('handoff:off');
  await store.untilAnswered(2); // the waiter is in line
  await first.release();
  const second = await waiting;
  expect(store.calls.handOff).toBe(0);
  expect(store.calls.grants).toBe(1);
  await second.release();
});

test('a queueing store without handOff releases through its line', async () => {
  const inner = new MemoryLockStore();
  const store: QueueingLockStore = {
    acquire: (...args) => inner.acquire(...args),
    extend: (...args) => inner.extend(...args),
    release: (...args) => inner.release(...args),
    subscribe: (...args) => inner.subscribe(...args),
    onGrant: (...args) => inner.onGrant(...args),
    leaveQueue: (...args) => inner.leaveQueue(...args),
    close: () => inner.close(),
  };
  const locks = new LockManager({ store });
  opened.push(locks);
  const first = await locks.acquire('handoff:none');
  const waiting = locks.acquire('handoff:none');
  await sleep(20);
  await first.release();
  const second = await waiting;
  expect(second.fence).toBeGreaterThan(first.fence);
  await second.release();
});

test('rejects a localHandoffs that is not a whole number from 0', () => {
  const store = new CountingQueueingStore(
    new RedisLockStore({ url: redis.server.url }),
  );
  for (const bad of [-1, 1.5, Number.NaN])
    expect(() => new LockManager({ store, localHandoffs: bad })).toThrow(
      /localHandoffs must be a whole number/,
    );
  return store.close();
});
