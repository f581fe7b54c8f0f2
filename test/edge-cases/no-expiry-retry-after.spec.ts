/**
 * A key held without expiry (written by something else: PTTL -1)
 * refuses with `retryAfterMs` -1, which LockNotAcquiredError documents as
 * "the key has no expiry". A wait for such a key that times out must say
 * the same (LockWaitTimeoutError is a LockNotAcquiredError), not that the
 * holder's lease ends in 0 ms.
 */
import {
  LockManager,
  LockNotAcquiredError,
  LockWaitTimeoutError,
  RedisLockStore,
} from '../../lib/index.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();
let locks: LockManager;

beforeEach(() => {
  locks = new LockManager({
    store: new RedisLockStore({ url: redis.server.url }),
  });
});

afterEach(async () => {
  await locks.close();
});

test('a wait for a key without expiry times out with retryAfterMs -1, like a single attempt', async () => {
  const key = 'edge:no-expiry';
  await redis.admin.set(`lock:{${key}}`, 'written-by-someone-else'); // no PX
  const once = await locks
    .acquire(key, { waitTimeout: 0 })
    .catch((error: unknown) => error);
  expect(once).toBeInstanceOf(LockNotAcquiredError);
  expect((once as LockNotAcquiredError).retryAfterMs).toBe(-1);
  // the first caller asks Redis itself; the second waits behind it
  const waits = await Promise.all(
    [0, 1].map(() =>
      locks.acquire(key, { waitTimeout: 300 }).catch((error: unknown) => error),
    ),
  );
  expect(
    waits.map((error) => ({
      type: error instanceof LockWaitTimeoutError,
      retryAfterMs: (error as LockWaitTimeoutError).retryAfterMs,
    })),
  ).toEqual([
    { type: true, retryAfterMs: -1 },
    { type: true, retryAfterMs: -1 },
  ]);
  expect((waits[0] as Error).message).not.toContain('runs 0 ms more');
});
