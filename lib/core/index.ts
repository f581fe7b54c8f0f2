// The public API of the engine. NOTE: named, not `export *`: what a module
// exports for the library's own use (option resolution, key encoding,
// tokens, backoff) stays out of the API, so that changing it breaks nobody.
export * from './errors/index.js';
export { Lock } from './lock.js';
export { lockKey, type LockKeyPart } from './lock-key.js';
export { LockManager, type LockKeys } from './lock-manager.js';
export type {
  LockManagerOptions,
  LockOptions,
  RetryOptions,
} from './lock-options.js';
export type * from './stores/lock-store.js';
export {
  RedisLockStore,
  type RedisLockStoreOptions,
} from './stores/redis-lock-store.js';
export { MemoryLockStore } from './stores/memory-lock-store.js';
export {
  RedlockStore,
  type RedlockMaster,
  type RedlockStoreOptions,
} from './stores/redlock-store.js';
