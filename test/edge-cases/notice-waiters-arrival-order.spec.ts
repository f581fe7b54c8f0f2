/**
 * Waiters of one key in one process are served in arrival order, also on a
 * store without a wait queue (the quorum store), where they are woken by
 * release notices: the caller whose first attempt found the key held keeps
 * its place ahead of the callers that arrived while that attempt was under
 * way.
 */
import { LockManager, MemoryLockStore, RedlockStore } from '../../lib/index.js';

it('serves the waiters of a held key in the order they called, on a store without a queue', async () => {
  const store = new RedlockStore({
    masters: [
      new MemoryLockStore(),
      new MemoryLockStore(),
      new MemoryLockStore(),
    ],
  });
  const locks = new LockManager({ store });
  try {
    const holder = await locks.acquire('k');
    const order: number[] = [];
    // all three call while the key is held; 1 and 2 during 0's first attempt
    const calls = [0, 1, 2].map((index) =>
      locks.using('k', () => void order.push(index), { waitTimeout: 10_000 }),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    await holder.release();
    await Promise.all(calls);
    expect(order).toEqual([0, 1, 2]);
  } finally {
    await locks.close();
  }
});
