/**
 * The memory store's wait queue of a key must go once nobody waits
 * for the key, whether the last waiter gave up or was granted the key; a
 * lock taken for its ttl and left to run out (a throttle) is a supported
 * use, and a process that locks many distinct keys must not grow without
 * bound.
 */
import {
  LockManager,
  LockWaitTimeoutError,
  MemoryLockStore,
} from '../../lib/index.js';
import { sleep } from '../support/redis-harness.js';

/** The private maps under test. */
function internals(value: object): Record<string, Map<unknown, unknown>> {
  return value as unknown as Record<string, Map<unknown, unknown>>;
}

test('the memory store keeps no wait queue for a key once nobody waits for it', async () => {
  const store = new MemoryLockStore();
  const locks = new LockManager({ store });
  // a waiter that gives up while the holder lets its lease run out
  for (let i = 0; i < 50; i++) {
    const key = `edge:throttle:${i}`;
    // NOTE: a lease that a GC pause does not end before the waiter asks
    await locks.acquire(key, { ttl: 300 });
    await expect(locks.acquire(key, { waitTimeout: 5 })).rejects.toBeInstanceOf(
      LockWaitTimeoutError,
    );
  }
  // a waiter granted the key through the line, which lets it run out
  const strict = new LockManager({ store, localHandoffs: 0 });
  let queuedWhileWaiting = 0;
  for (let i = 0; i < 50; i++) {
    const key = `edge:granted:${i}`;
    const first = await strict.acquire(key, { ttl: 5000 });
    const next = strict.acquire(key, { ttl: 300 });
    await sleep(2);
    // the waiter is in the store's line: the map under test is in use
    queuedWhileWaiting = Math.max(
      queuedWhileWaiting,
      internals(store).queues.size,
    );
    await first.release();
    await next;
  }
  await sleep(400); // every lease above has run out
  expect(queuedWhileWaiting).toBeGreaterThan(0);
  expect(store.size).toBe(0);
  expect(internals(store).queues.size).toBe(0);
  await Promise.all([locks.close(), strict.close()]);
});
