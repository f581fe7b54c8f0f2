/**
 * close() of the quorum store called twice (an application shutdown hook and
 * the lock manager's own close, say) while an acquire is still undecided.
 * Every call must settle once the acquire is decided and given back.
 */
import { RedlockStore } from '../../lib/index.js';
import { ScriptedStore } from '../support/scripted-store.js';

it('settles every close() call made while an acquire is undecided', async () => {
  const masters = [
    new ScriptedStore(),
    new ScriptedStore(),
    new ScriptedStore(),
  ];
  const store = new RedlockStore({ masters });
  const pending = store.acquire(['k'], 'token', 10_000);
  pending.catch(() => {});
  // masters split: master 2 decides
  masters[0].acquires[0].resolve({ acquired: true, fences: [1] });
  masters[1].acquires[0].resolve({ acquired: false, retryAfterMs: 5000 });
  await new Promise((resolve) => setImmediate(resolve));
  const settled: string[] = [];
  const first = store.close().then(() => settled.push('first'));
  const second = store.close().then(() => settled.push('second'));
  masters[2].acquires[0].resolve({ acquired: false, retryAfterMs: 5000 });
  let guard: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all([first, second]),
    new Promise((resolve) => (guard = setTimeout(resolve, 2000))),
  ]);
  clearTimeout(guard);
  expect(settled.sort()).toEqual(['first', 'second']);
  await expect(pending).rejects.toThrow();
});
