/**
 * Local handoffs: a release with a waiter for the same key in this process
 * passes the lock straight to it (one store call, a new token and a larger
 * fence), never to a waiter that gave up, and never leaves an orphan lease.
 */
import {
  LockAbortedError,
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

test('a release passes the lock to the next local waiter in one store call', async () => {
  const { store, locks } = setup();
  const first = await locks.acquire('handoff:one', { ttl: 5000 });
  const waiting = locks.acquire('handoff:one', { ttl: 2000 });
  await sleep(20); // the waiter is queued
  const before = performance.now();
  await first.release();
  const after = performance.now();
  const second = await waiting;
  expect(store.calls.handOff).toBe(1);
  expect(store.calls.release).toBe(0);
  expect(store.calls.grants).toBe(0);
  expect(second.token).not.toBe(first.token);
  expect(second.fence).toBeGreaterThan(first.fence);
  // validity counts from when the handoff was sent, with the waiter's ttl
  // (never later than the send: the lease may have started right then)
  expect(second.acquiredAt).toBeGreaterThanOrEqual(before);
  expect(second.acquiredAt).toBeLessThanOrEqual(after);
  expect(second.remainingTime).toBeLessThanOrEqual(2000);
  expect(second.remainingTime).toBeGreaterThan(1500);
  expect(await redis.admin.pttl('lock:{handoff:one}')).toBeLessThanOrEqual(
    2000,
  );
  await second.release();
  expect(await redis.admin.exists('lock:{handoff:one}')).toBe(0);
});

test('a waiter that gave up during the handoff leaves the lock to the next one', async () => {
  const { store, locks } = setup();
  const first = await locks.acquire('handoff:gave-up', { ttl: 5000 });
  const controller = new AbortController();
  const quitter = locks.acquire('handoff:gave-up', {
    signal: controller.signal,
  });
  const patient = locks.acquire('handoff:gave-up');
  await sleep(20);
  store.handOffDelay = 50;
  const releasing = first.release();
  await sleep(10);
  controller.abort();
  await expect(quitter).rejects.toBeInstanceOf(LockAbortedError);
  await releasing;
  const lock = await patient;
  expect(lock.isHeld).toBe(true);
  expect(lock.fence).toBeGreaterThan(first.fence);
  // passed on in the process: no release, no trip through the line
  expect(store.calls.handOff).toBe(1);
  expect(store.calls.release).toBe(0);
  expect(store.calls.grants).toBe(0);
  await lock.release();
});

test('a waiter that failed during the handoff leaves no orphan lease', async () => {
  const { store, locks } = setup();
  const first = await locks.acquire('handoff:failed', { ttl: 20_000 });
  const failing = locks.acquire('handoff:failed', { ttl: 20_000 });
  await sleep(20); // queued; it renews its place within a second
  store.handOffDelay = 1300;
  store.failAcquire = 1; // that renewal gets no answer: the wait fails
  const releasing = first.release();
  await expect(failing).rejects.toThrow(/acquire got no answer/);
  await releasing;
  expect(store.calls.handOff).toBe(1);
  const other = setup();
  const lock = await other.locks.tryAcquire('handoff:failed');
  expect(lock?.isHeld).toBe(true);
  await lock?.release();
});

test('close() during a handoff leaves no orphan lease', async () => {
  const { store, locks } = setup();
  const first = await locks.acquire('handoff:close', { ttl: 20_000 });
  const waiting = locks.acquire('handoff:close').catch((error: Error) => error);
  await sleep(20);
  store.handOffDelay = 50;
  const releasing = first.release();
  await sleep(10);
  await locks.close();
  await releasing;
  expect(await waiting).toBeInstanceOf(Error);
  expect(store.calls.handOff).toBe(1);
  expect(await redis.admin.exists('lock:{handoff:close}')).toBe(0);
});

test('a handed-on lock that nobody is left to take is released, not orphaned', async () => {
  const { store, locks } = setup();
  const first = await locks.acquire('handoff:orphan', { ttl: 5000 });
  const controller = new AbortController();
  const quitter = locks.acquire('handoff:orphan', {
    signal: controller.signal,
  });
  await sleep(20);
  store.handOffDelay = 50;
  const releasing = first.release();
  await sleep(10);
  controller.abort();
  await expect(quitter).rejects.toBeInstanceOf(LockAbortedError);
  await releasing;
  expect(store.calls.handOff).toBe(1);
  // another process takes the key at once: no 5 s lease was left behind
  const other = setup();
  const deadline = Date.now() + 500;
  let lock = await other.locks.tryAcquire('handoff:orphan');
  while (!lock && Date.now() < deadline) {
    await sleep(5);
    lock = await other.locks.tryAcquire('handoff:orphan');
  }
  expect(lock?.isHeld).toBe(true);
  await lock?.release();
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
  await sleep(20); // the other process is first in line
  const local = ['a1', 'a2', 'a3', 'a4', 'a5'].map((name) =>
    hold(name, here.locks),
  );
  await sleep(20);
  await first.release();
  await Promise.all([...local, remote]);
  // the release and the next one pass the lock on locally (a1, a2), though
  // b was in line first; then the line serves b
  expect(order).toHaveLength(6);
  expect(order.indexOf('b')).toBe(2);
  expect(here.store.calls.handOff).toBeGreaterThanOrEqual(2);
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
  await sleep(20); // this process took its place in line first
  const remote = hold('b', there.locks);
  await sleep(20);
  await first.release();
  await Promise.all([...local, remote]);
  // each handoff is a turn of this process: its place moves behind b's
  expect(order.indexOf('b')).toBe(2);
});

test('localHandoffs 0 sends every release through the line', async () => {
  const { store, locks } = setup(0);
  const first = await locks.acquire('handoff:off');
  const waiting = locks.acquire('handoff:off');
  await sleep(20);
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
