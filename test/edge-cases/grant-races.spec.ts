/**
 * Grants from the store's queue racing with the waiter they are meant for:
 * a grant that reaches a waiter while its own attempt is in flight, a grant
 * that comes before the answer that queued its ticket, a process that takes
 * its own turn while others still wait in line, and a manager closed while
 * attempts are in flight. In every case the key ends with one holder or
 * none, and a free key goes to the next in line at once.
 */
import {
  LockAbortedError,
  LockBackendUnavailableError,
  LockError,
  LockManager,
  RedisLockStore,
  type Lock,
} from '../../lib/index.js';
import { CountingQueueingStore } from '../support/counting-store.js';
import { sleep } from '../support/redis-harness.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();
const opened: LockManager[] = [];

/** A LockManager of its own (a process of its own, as far as Redis can tell). */
function processLocks() {
  const store = new CountingQueueingStore(
    new RedisLockStore({ url: redis.server.url }),
  );
  const locks = new LockManager({ store });
  opened.push(locks);
  return { store, locks };
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((locks) => locks.close()));
});

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(5);
}

/**
 * A waiter whose ticket is granted while its refresh attempt (same ticket)
 * is in flight: the attempt ran, its answer comes late (and, with
 * `failRefresh`, is an error); with `abort`, the waiter gives up once the
 * grant has reached this process.
 */
async function grantDuringRefresh(
  key: string,
  { abort = false, failRefresh = false } = {},
) {
  const other = processLocks();
  const held = await other.locks.acquire(key, { ttl: 20_000 });
  const { store, locks } = processLocks();
  const controller = new AbortController();
  const first = locks
    .acquire(key, { ttl: 20_000, signal: controller.signal })
    .catch((error: Error) => error);
  const second = locks.acquire(key, { ttl: 20_000 });
  await store.untilAnswered(1); // refused: the ticket is in line
  // the first waiter renews its place in line about 1 s later
  store.acquireReplyDelay = 400;
  if (failRefresh) store.failAcquireAfterRun = 1;
  await until(() => store.calls.acquire === 2);
  store.acquireReplyDelay = 0;
  await until(() => store.ranAcquires === 2); // the refresh ran in Redis
  await held.release(); // the key is granted to the ticket in flight
  await until(() => store.calls.grants === 1);
  if (abort) controller.abort();
  return { other, first: await first, second, store };
}

/** `lock` holds `key` in Redis, and another process cannot take it. */
async function expectSoleHolder(key: string, lock: Lock, other: LockManager) {
  expect({
    value: await redis.admin.get(`lock:{${key}}`),
    otherGets: (await other.tryAcquire(key)) !== null,
    held: lock.isHeld,
  }).toEqual({
    value: expect.stringContaining(`:${lock.token}`),
    otherGets: false,
    held: true,
  });
}

test('a waiter that gives up while its ticket was granted leaves the grant to the next local waiter, still held in Redis', async () => {
  const key = 'race:abort';
  const { other, first, second, store } = await grantDuringRefresh(key, {
    abort: true,
  });
  expect(first).toBeInstanceOf(LockAbortedError);
  const next = await second;
  await store.untilAnswered(2); // the late answer of the abandoned attempt has come
  await sleep(100); // and what the engine sends on it has landed
  await expectSoleHolder(key, next, other.locks);
  await next.release();
});

test('a refresh attempt that gets no answer after its ticket was granted still gives the waiter that grant', async () => {
  const key = 'race:no-answer';
  const { other, first, second, store } = await grantDuringRefresh(key, {
    failRefresh: true,
  });
  expect(first).not.toBeInstanceOf(Error);
  const lock = first as Exclude<typeof first, Error>;
  await store.untilAnswered(2); // the refresh's failure has come
  await sleep(100); // and what the engine sends on it has landed
  await expectSoleHolder(key, lock, other.locks);
  await lock.release();
  await (await second).release();
});

test('a grant that comes before the answer that queued its ticket is taken at once', async () => {
  const key = 'race:early-grant';
  const other = processLocks();
  const held = await other.locks.acquire(key, { ttl: 20_000 });
  const { store, locks } = processLocks();
  // NOTE: a reply late enough that the grant, published by the release
  // below, comes first on a loaded machine too
  store.acquireReplyDelay = 1000;
  const pending = locks.acquire(key, { ttl: 20_000 });
  await until(() => store.calls.acquire === 1);
  store.acquireReplyDelay = 0;
  await until(() => store.ranAcquires === 1); // refused, the ticket is in line
  await held.release(); // granted to that ticket before the refusal arrives
  const lock = await pending;
  // taken from the grant, not by asking again at the ticket's renewal
  expect({
    attempts: store.calls.acquire,
    grants: store.calls.grants,
    value: await redis.admin.get(`lock:{${key}}`),
  }).toEqual({
    attempts: 1,
    grants: 1,
    value: expect.stringContaining(`:${lock.token}`),
  });
  await lock.release();
});

test('a process that takes its own turn on a free key leaves the others in line to be granted by its release', async () => {
  const key = 'race:own-turn';
  await redis.admin.set(`lock:{${key}}`, '1:gone', 'PX', 20_000);
  const first = processLocks();
  const second = processLocks();
  const firstWaits = first.locks.acquire(key, { ttl: 20_000 });
  await first.store.untilAnswered(1);
  // NOTE: the renewals come about a second after each refusal: 500 ms
  // apart, the first's renewal and release (below) have that long to end
  // before the second's renewal would find the key itself
  await sleep(500);
  const secondWaits = second.locks.acquire(key, { ttl: 20_000 });
  await until(() => second.store.calls.acquire === 1);
  // the holder dies: its lease runs out, which publishes nothing
  await redis.admin.pexpire(`lock:{${key}}`, 50);
  // the first in line finds the key free when it renews its place (its own
  // turn), 300 ms before the second renews its own
  const lock = await firstWaits;
  expect(await redis.admin.get(`lock:{${key}}`)).toMatch(/^w/);
  await lock.release();
  const next = await secondWaits;
  // granted by that release, not found free at its own renewal
  expect({
    grants: second.store.calls.grants,
    attempts: second.store.calls.acquire,
  }).toEqual({ grants: 1, attempts: 1 });
  await next.release();
});

test('close() with a contended acquire in flight gives its place in line up', async () => {
  const key = 'race:close-queued';
  const other = processLocks();
  const held = await other.locks.acquire(key, { ttl: 20_000 });
  const { store, locks } = processLocks();
  await (await locks.acquire('race:close-warm')).release(); // grants are live
  store.acquireReplyDelay = 100;
  const pending = locks.acquire(key, { ttl: 20_000 }).catch((e: Error) => e);
  await until(() => store.calls.acquire === 2);
  await locks.close();
  expect(await pending).toBeInstanceOf(LockError);
  expect(await redis.admin.lrange(`lock:{${key}}:q`, 0, -1)).toEqual([]);
  await held.release();
  // the key is free, not granted to the closed process's ticket
  expect(await redis.admin.exists(`lock:{${key}}`)).toBe(0);
});

test('close() with an uncontended acquire in flight hands the lease back before it returns', async () => {
  const key = 'race:close-free';
  const { store, locks } = processLocks();
  await (await locks.acquire('race:close-warm')).release(); // connected
  store.acquireReplyDelay = 100;
  const pending = locks.acquire(key, { ttl: 20_000 }).catch((e: Error) => e);
  await until(() => store.calls.acquire === 2);
  await locks.close();
  expect(await pending).toBeInstanceOf(LockError);
  expect(await redis.admin.exists(`lock:{${key}}`)).toBe(0);
});

test('a multi-key wait whose subscription failed does not make later ones fail while Redis answers again', async () => {
  const { store, locks } = processLocks();
  const holder = processLocks();
  const held = await holder.locks.acquire('race:sub-a', { ttl: 20_000 });
  // a single-key waiter keeps the key's local queue alive throughout
  const single = locks.acquire('race:sub-a', { ttl: 20_000 });
  await until(() => store.calls.acquire === 1);
  store.failSubscribe = 1;
  await expect(
    locks.acquire(['race:sub-a', 'race:sub-b'], { waitTimeout: 5000 }),
  ).rejects.toBeInstanceOf(LockBackendUnavailableError);
  const both = locks.acquire(['race:sub-a', 'race:sub-b'], {
    waitTimeout: 5000,
  });
  await held.release();
  await (await single).release();
  const lock = await both;
  expect(lock.keys).toEqual(['race:sub-a', 'race:sub-b']);
  await lock.release();
});
