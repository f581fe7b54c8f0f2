/**
 * Follow-up to grant-to-other-waiter.spec.ts. A refresh of this process's
 * place in line (an attempt with the ticket's token) is under way when the
 * grant to that ticket reaches another local waiter ("next"). The refresh
 * then finds the key held by its own token and answers "acquired": that is
 * next's lease, not a lock of the refreshing waiter, and wait() checks so
 * (grantTaken) by looking for the token among the locks held and the grants
 * not taken yet.
 *
 * But next may already have passed its lock on to a third local waiter
 * ("third") by the time the refresh is answered: releaseLock forgets the
 * old token at once (held.delete), and the store moves the lease to the new
 * token only after the refresh (the Redis store holds a release or handoff
 * of a token back until that token's acquire is answered; calls on one
 * connection keep their order anyway). The refresh's answer then passes
 * every check, and the head takes a lock on a key that the handoff gives
 * to the third waiter right after: two holders in one process.
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

test('a refresh answered after the grant to its ticket was taken and passed on by another local waiter makes no second holder', async () => {
  const key = 'edge:grant-passed-on';
  const storeKey = `lock:{${key}}`;
  const { store, locks } = processLocks();
  const other = processLocks();
  // NOTE: as the Redis store does (queueRelease), a handoff from a token
  // waits for the answer to an acquire of that token still under way.
  const acquire = store.acquire.bind(store);
  const handOff = store.handOff.bind(store);
  const answered = new Map<string, Promise<unknown>>();
  store.acquire = (keys, token, ttl, options) => {
    const pending = acquire(keys, token, ttl, options);
    answered.set(
      token,
      pending.catch(() => undefined),
    );
    return pending;
  };
  store.handOff = async (key, token, nextToken, ttl) => {
    await answered.get(token);
    return handOff(key, token, nextToken, ttl);
  };
  const holder = await locks.acquire(key, { ttl: 20_000 });
  // the head of the line: refused, its ticket is in Redis's line
  let headLock: Lock | undefined;
  const head = locks
    .acquire(key, { ttl: 20_000, waitTimeout: 20_000 })
    .then((taken) => (headLock = taken));
  await until(() => store.calls.acquire === 2);
  const next = locks.acquire(key, { ttl: 20_000, waitTimeout: 20_000 });
  let thirdLock: Lock | undefined;
  const third = locks
    .acquire(key, { ttl: 20_000, waitTimeout: 20_000 })
    .then((taken) => (thirdLock = taken));
  await sleep(20);
  // the head renews its place about a second later: that attempt (with the
  // ticket's token) reaches Redis only after what follows
  let land!: () => void;
  store.acquireGate = new Promise((resolve) => (land = resolve));
  await until(() => store.calls.acquire === 3);
  store.acquireGate = undefined;
  await sleep(50);
  // the holder's lease is lost, it releases (its lock is passed to the
  // head, a handoff the store refuses), and the free key goes to this
  // process's ticket, which next takes
  await redis.admin.del(storeKey);
  await holder.release().catch(() => undefined);
  expect(await other.locks.tryAcquire(key)).toBeNull();
  const nextLock = await next;
  expect(nextLock.isHeld).toBe(true);
  // next is done quickly: its lock goes to the third waiter (a local
  // handoff; the store moves the lease after the head's attempt)
  const handed = nextLock.release();
  await until(() => thirdLock !== undefined);
  land();
  await handed;
  // the head's attempt lands, finds the key held by its ticket's token
  await sleep(800);
  const value = await redis.admin.get(storeKey);
  const holders = [headLock, thirdLock].filter((lock) => lock?.isHeld);
  expect({
    value,
    holders: holders.map((lock) => (lock === thirdLock ? 'third' : 'head')),
    // (without the fix: the head's lock has next's token, which no longer
    // holds the key)
    headHasNextsToken: headLock?.token === nextLock.token,
  }).toEqual({
    value: expect.stringContaining(`:${thirdLock!.token}`),
    holders: ['third'],
    headHasNextsToken: false,
  });
  await thirdLock!.release();
  await (await head).release().catch(() => undefined);
  await third;
}, 20_000);
