/**
 * The quorum store's own options are checked when it is built, like the lock
 * manager's: a drift allowance of the whole lease (or more, or not a number)
 * would turn every grant into a refusal, so that a free key is never taken
 * and waits end in LockWaitTimeoutError (contention) instead of an error
 * that says what is wrong; a master that is neither a URL, a client nor a
 * store (an unset variable) must not quietly become the default Redis.
 */
import {
  LockError,
  MemoryLockStore,
  RedlockStore,
  type RedlockMaster,
} from '../../lib/index.js';

const masters = () => [
  new MemoryLockStore(),
  new MemoryLockStore(),
  new MemoryLockStore(),
];

it('rejects a drift factor outside [0, 1) at construction', () => {
  for (const driftFactor of [-0.5, 1, 2, Number.NaN])
    expect(() => new RedlockStore({ masters: masters(), driftFactor })).toThrow(
      /driftFactor must be a number from 0 to below 1/,
    );
  expect(
    () => new RedlockStore({ masters: masters(), driftFactor: 0 }),
  ).not.toThrow();
});

it('rejects a master that is neither a URL, an ioredis client nor a store, before opening anything', () => {
  for (const bad of [undefined, null, '', 42, {}]) {
    const build = () =>
      new RedlockStore({
        masters: [...masters(), bad as unknown as RedlockMaster],
      });
    expect(build).toThrow(LockError);
    expect(build).toThrow(/master/);
  }
});
