// The public API: the engine's (lib/core) and the Nest layer's. NOTE: named,
// not `export *`, so that what a module exports for the library's own use
// stays out of the API.
export * from './core/index.js';
export * from './errors/index.js';
export {
  DISTRIBUTED_LOCK_MANAGER,
  DISTRIBUTED_LOCK_OPTIONS,
  InjectDistributedLockOptions,
  InjectLockManager,
} from './distributed-lock.constants.js';
export { DistributedLock } from './distributed-lock.decorator.js';
export {
  DistributedLockInterceptor,
  type LockErrorResponse,
} from './distributed-lock.interceptor.js';
export { DistributedLockModule } from './distributed-lock.module.js';
export type {
  DistributedLockModuleAsyncOptions,
  DistributedLockModuleExtras,
  DistributedLockModuleRootOptions,
} from './distributed-lock.module-definition.js';
export type {
  DistributedLockModuleOptions,
  DistributedLockOptions,
  LockContentionContext,
  LockContentionStrategy,
  LockLostStrategy,
} from './distributed-lock.options.js';
export { DistributedLockService } from './distributed-lock.service.js';
export type { LockKeyFunction, LockKeySource } from './key-template.js';
