/**
 * A waiter whose refresh attempt fails gives its ticket up (a
 * dequeue by token, then a release by token). When the grant to that very
 * ticket already reached another local waiter of the process, that waiter
 * holds the key with the ticket's token: giving the ticket up then frees the
 * key under it, and another owner takes it while it still holds it.
 *
 * How the grant reaches another waiter: the head of the line is attempting
 * (a refresh of its place, with the ticket's token) when a local holder
 * passes its lock to it; the holder's lease had been lost (its handoff is
 * refused), so the key was free and went to the process's ticket, which the
 * next local waiter takes. Then the head's attempt gets no answer.
 */
import { LockManager, RedisLockStore, type Lock } from '../../lib/index.js';
import { CountingQueueingStore } from '../support/counting-store.js';
import { sleep } from '../support/redis-harness.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();
const opened: LockManager[] = [];

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

test('a failed refresh attempt does not give up a ticket whose grant another local waiter holds', async () => {
  const key = 'edge:retire';
  const storeKey = `lock:{${key}}`;
  const { store, locks } = processLocks();
  const other = processLocks();
  const holder = await locks.acquire(key, { ttl: 20_000 });
  // the head of the line: refused, its ticket is in Redis's line
  let headLock: Lock | undefined;
  const head = locks
    .acquire(key, { ttl: 20_000, waitTimeout: 20_000 })
    .then((taken) => (headLock = taken));
  await store.untilAnswered(2);
  const next = locks.acquire(key, { ttl: 20_000, waitTimeout: 20_000 });
  await sleep(20);
  // the head renews its place about a second later: that attempt runs, but
  // its answer comes only after what follows, and is an error
  let answer!: () => void;
  store.acquireReplyGate = new Promise((resolve) => (answer = resolve));
  store.failAcquireAfterRun = 1;
  await until(() => store.calls.acquire === 3);
  store.acquireReplyGate = undefined;
  await until(() => store.ranAcquires === 3);
  // meanwhile the holder's lease is lost (a Redis restart, an eviction)...
  await redis.admin.del(storeKey);
  // ...and it releases: its lock is passed to the head (the store refuses
  // that handoff, the lease being gone)
  await holder.release().catch(() => undefined);
  // another process finds the key free: it goes to this process's ticket,
  // which the next local waiter takes
  expect(await other.locks.tryAcquire(key)).toBeNull();
  const lock = await next;
  expect(lock.isHeld).toBe(true);
  // the head's attempt fails now; it goes on waiting
  answer();
  await store.untilAnswered(3);
  await sleep(100); // and what the engine sends on it has landed
  const otherLock = await other.locks.tryAcquire(key);
  expect({
    held: lock.isHeld,
    value: await redis.admin.get(storeKey),
    headAlsoHolds: headLock?.isHeld ?? false,
    otherAlsoHolds: otherLock?.isHeld ?? false,
  }).toEqual({
    held: true,
    value: expect.stringContaining(`:${lock.token}`),
    headAlsoHolds: false,
    otherAlsoHolds: false,
  });
  await lock.release();
  await (await head).release();
}, 20_000);

test('a refresh attempt that reaches Redis after the grant to its ticket went to another local waiter makes no second holder and does not cut its lease', async () => {
  const key = 'edge:late-refresh';
  const storeKey = `lock:{${key}}`;
  const { store, locks } = processLocks();
  const other = processLocks();
  const holder = await locks.acquire(key, { ttl: 20_000 });
  let headLock: Lock | undefined;
  const head = locks
    .acquire(key, { ttl: 5_000, waitTimeout: 20_000 })
    .then((taken) => (headLock = taken));
  await store.untilAnswered(2);
  const next = locks.acquire(key, { ttl: 20_000, waitTimeout: 20_000 });
  await sleep(20);
  // the head renews its place about a second later: that attempt (with the
  // ticket's token) reaches Redis only after what follows
  let land!: () => void;
  store.acquireGate = new Promise((resolve) => (land = resolve));
  await until(() => store.calls.acquire === 3);
  store.acquireGate = undefined;
  // the holder's lease is lost, it releases (its lock is passed to the
  // head, a handoff the store refuses), and the free key goes to this
  // process's ticket, which the next local waiter takes
  await redis.admin.del(storeKey);
  await holder.release().catch(() => undefined);
  expect(await other.locks.tryAcquire(key)).toBeNull();
  const lock = await next;
  expect(lock.isHeld).toBe(true);
  // the new holder extends its lease before the head's attempt lands
  await lock.extend(60_000);
  // the head's attempt (ttl 5 s) now finds the key held by its own token
  land();
  await store.untilAnswered(3);
  await sleep(100); // and what the engine sends on it has landed
  expect({
    held: lock.isHeld,
    value: await redis.admin.get(storeKey),
    leaseCut: (await redis.admin.pttl(storeKey)) < 50_000,
    headAlsoHolds: headLock?.isHeld ?? false,
  }).toEqual({
    held: true,
    value: expect.stringContaining(`:${lock.token}`),
    leaseCut: false,
    headAlsoHolds: false,
  });
  await lock.release();
  await (await head).release();
}, 20_000);

test('a grant given back while a refresh with its token is in flight makes no holder of that refresh', async () => {
  const key = 'edge:given-back';
  const storeKey = `lock:{${key}}`;
  const { store, locks } = processLocks();
  const other = processLocks();
  // NOTE: calls on one connection keep their order: a release sent after a
  // (delayed) acquire runs after it, as the Redis store makes sure itself.
  const release = store.release.bind(store);
  const delayed = (store as unknown as { delayed: Set<Promise<void>> }).delayed;
  store.release = async (keys, token) => {
    await Promise.all(delayed);
    return release(keys, token);
  };
  const holder = await locks.acquire(key, { ttl: 20_000 });
  let headLock: Lock | undefined;
  const head = locks
    .acquire(key, { ttl: 20_000, waitTimeout: 20_000 })
    .then((taken) => (headLock = taken));
  await store.untilAnswered(2);
  // the head renews its place: that attempt (with the ticket's token)
  // reaches Redis only after what follows
  let land!: () => void;
  store.acquireGate = new Promise((resolve) => (land = resolve));
  await until(() => store.calls.acquire === 3);
  store.acquireGate = undefined;
  // the holder's lease is lost and it releases: its lock is passed to the
  // head (a handoff the store refuses); the free key then goes to this
  // process's ticket, which no local waiter can take (the head has a lock
  // passed on): the grant is given back, behind the head's attempt
  await redis.admin.del(storeKey);
  await holder.release().catch(() => undefined);
  expect(await other.locks.tryAcquire(key)).toBeNull();
  land();
  await store.untilAnswered(3);
  await sleep(300); // the give-back behind it, and what follows, have landed
  const otherLock = await other.locks.tryAcquire(key);
  const value = await redis.admin.get(storeKey);
  // whoever holds the key now (the head, or the other process once the
  // grant was given back) holds it alone, and Redis says it is theirs
  const holders = [headLock, otherLock].filter((lock) => lock?.isHeld);
  expect({
    holders: holders.length,
    ownedInRedis: holders.every((lock) => value?.endsWith(`:${lock!.token}`)),
  }).toEqual({ holders: 1, ownedInRedis: true });
  await otherLock?.release();
  await (await head).release();
}, 20_000);
