export * from './core/index.js';
export * from './errors/index.js';
export * from './distributed-lock.constants.js';
export * from './distributed-lock.decorator.js';
export * from './distributed-lock.interceptor.js';
export * from './distributed-lock.module.js';
export type {
  DistributedLockModuleAsyncOptions,
  DistributedLockModuleExtras,
  DistributedLockModuleRootOptions,
} from './distributed-lock.module-definition.js';
export * from './distributed-lock.options.js';
export { DistributedLockService } from './distributed-lock.service.js';
export type { LockKeyFunction, LockKeySource } from './key-template.js';
