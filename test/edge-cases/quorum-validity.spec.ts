/**
 * A master that is a LockStore may grant a lease shorter than the
 * ttl asked for (`validityMs`, part of the LockStore contract). The quorum
 * store must not report such a grant as a lease of the whole ttl.
 */
import { LockManager, RedlockStore } from '../../lib/index.js';
import { ScriptedStore } from '../support/scripted-store.js';

it('a quorum of masters that granted 200 ms of a 10 s ttl gives a lock valid for about 200 ms, not 10 s', async () => {
  const masters = [
    new ScriptedStore(),
    new ScriptedStore(),
    new ScriptedStore(),
  ];
  const store = new RedlockStore({ masters });
  const locks = new LockManager({ store });
  const pending = locks.acquire('k', { ttl: 10_000, waitTimeout: 0 });
  await new Promise((resolve) => setImmediate(resolve));
  for (const master of masters)
    master.acquires[0].resolve({
      acquired: true,
      fences: [1],
      validityMs: 200,
    });
  const lock = await pending;
  // every master's lease ends within 200 ms of the send
  expect(lock.remainingTime).toBeLessThanOrEqual(200);
  await locks.close();
});

it('a nested master that says its grant is unsettled makes the quorum grant unsettled too', async () => {
  const masters = [
    new ScriptedStore(),
    new ScriptedStore(),
    new ScriptedStore(),
  ];
  const store = new RedlockStore({ masters });
  const pending = store.acquire(['k'], 'token', 10_000);
  for (const master of masters)
    master.acquires[0].resolve({
      acquired: true,
      fences: [1],
      unsettled: true,
    });
  expect(await pending).toMatchObject({ acquired: true, unsettled: true });
});
