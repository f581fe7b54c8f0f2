/**
 * A release that got no answer may still have run on the server (a command
 * that timed out there): the key may be free, or another process's, by the
 * time the holder calls release() again. That retry must not pass the lock
 * on to a waiter of this process: the waiter would run under a lock that
 * another process holds until the store's answer comes.
 */
import {
  LockBackendUnavailableError,
  LockLostError,
  LockManager,
  RedisLockStore,
  type Lock,
} from '../../lib/index.js';
import { CountingQueueingStore } from '../support/counting-store.js';
import { sleep } from '../support/redis-harness.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis({ own: true });

test('retrying a release whose first send ran without an answer never hands the lock to a local waiter', async () => {
  const store = new CountingQueueingStore(
    new RedisLockStore({ url: redis.server.url, operationTimeout: 150 }),
  );
  const here = new LockManager({ store });
  const other = new LockManager({
    store: new RedisLockStore({ url: redis.server.url }),
  });
  const key = 'edge:release-retry-handoff';
  try {
    const first = await here.acquire(key, { ttl: 10_000 });
    // the server holds the release past the client's timeout, then runs it
    await redis.admin.call('CLIENT', 'PAUSE', '500', 'WRITE');
    await expect(first.release()).rejects.toBeInstanceOf(
      LockBackendUnavailableError,
    );
    // the pause ends 500 ms after it began; the release then runs
    for (let i = 0; i < 500 && (await redis.admin.get(`lock:{${key}}`)); i++)
      await sleep(10);
    expect(await redis.admin.get(`lock:{${key}}`)).toBeNull();
    // another process takes the free key; a caller here waits for it
    const theirs = await other.acquire(key, { ttl: 10_000 });
    let overlap = false;
    let got: Lock | undefined;
    const waiting = here.acquire(key, { ttl: 10_000, waitTimeout: 5000 });
    void waiting.then((lock) => {
      got = lock;
      if (lock.isHeld && theirs.isHeld) overlap = true;
    });
    await store.untilAnswered(2); // the caller is queued
    await expect(first.release()).rejects.toBeInstanceOf(LockLostError);
    await sleep(20);
    expect(overlap).toBe(false);
    expect(got).toBeUndefined();
    // the key's real release still reaches the waiter
    await theirs.release();
    const mine = await waiting;
    expect(mine.isHeld).toBe(true);
    expect(mine.fence).toBeGreaterThan(theirs.fence);
    await mine.release();
  } finally {
    await Promise.all([here.close(), other.close()]);
  }
});
