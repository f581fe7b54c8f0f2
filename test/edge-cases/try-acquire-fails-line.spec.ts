/**
 * Follow-up to outage-fails-line.spec.ts. failLine fails the local waiters
 * of a key with the error of an attempt that got no answer, because they
 * wait for that attempt instead of asking themselves. A tryAcquire (or an
 * acquire with waitTimeout 0) never waits and never queues, so take() sends
 * its attempt even while a line of waiters exists: those waiters are not
 * behind it (their head asks for them, and their place is in Redis's
 * line). Its unanswered attempt must not fail them.
 */
import {
  LockBackendUnavailableError,
  LockManager,
  RedisLockStore,
} from '../../lib/index.js';
import { CountingQueueingStore } from '../support/counting-store.js';
import { sleep } from '../support/redis-harness.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();
const opened: LockManager[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((locks) => locks.close()));
});

test('a tryAcquire whose attempt gets no answer does not fail the waiters already in line', async () => {
  const key = 'edge:try-fails-line';
  const holder = new LockManager({
    store: new RedisLockStore({ url: redis.server.url }),
  });
  const store = new CountingQueueingStore(
    new RedisLockStore({ url: redis.server.url }),
  );
  const locks = new LockManager({ store });
  opened.push(holder, locks);
  const held = await holder.acquire(key, { ttl: 60_000 });
  const outcomes: string[] = [];
  const waits = Array.from({ length: 3 }, () =>
    locks.acquire(key, { ttl: 5000, waitTimeout: 10_000 }).then(
      async (lock) => {
        outcomes.push('granted');
        await lock.release();
      },
      (error: Error) => void outcomes.push(error.name),
    ),
  );
  // all in line, the first one's place is in Redis (its attempt answered)
  await store.untilAnswered(1);
  // one unrelated attempt gets no answer (Redis answers everything else)
  store.failAcquire = 1;
  await expect(locks.tryAcquire(key)).rejects.toBeInstanceOf(
    LockBackendUnavailableError,
  );
  await sleep(100);
  const beforeRelease = [...outcomes];
  await held.release();
  await Promise.all(waits);
  expect({ beforeRelease, outcomes }).toEqual({
    beforeRelease: [],
    outcomes: ['granted', 'granted', 'granted'],
  });
}, 20_000);
