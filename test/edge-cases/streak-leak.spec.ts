/**
 * The manager's count of local handoffs per key (localHandoffs)
 * must go once no lock of the process holds the key. A lock taken for its
 * ttl and left to run out is a supported use (the manager stops tracking
 * such locks, see sweepHeld); the streak kept beside it must go too, or a
 * process that locks many distinct keys grows without bound.
 */
import { LockManager, MemoryLockStore } from '../../lib/index.js';
import { sleep } from '../support/redis-harness.js';

/** The private maps under test. */
function internals(value: object): Record<string, Map<unknown, unknown>> {
  return value as unknown as Record<string, Map<unknown, unknown>>;
}

test('the manager forgets the handoff streak of a key whose last holder let its lease run out', async () => {
  const locks = new LockManager({ store: new MemoryLockStore() });
  for (let i = 0; i < 50; i++) {
    const key = `edge:streak:${i}`;
    const first = await locks.acquire(key, { ttl: 5000 });
    const next = locks.acquire(key, { ttl: 30 });
    await sleep(1);
    await first.release(); // passed on to the waiter...
    await next; // ...which lets it run out
  }
  // the handoffs did start streaks: the check below is not about an empty map
  expect(internals(locks).streaks.size).toBeGreaterThan(0);
  await sleep(2100); // the leases and the margin for a command on its way
  // enough other locks, left to run out too, to make the manager sweep
  await Promise.all(
    Array.from({ length: 1100 }, (_, i) =>
      locks.tryAcquire(`edge:other:${i}`, { ttl: 30_000 }),
    ),
  );
  expect(internals(locks).streaks.size).toBe(0);
  await locks.close();
});
