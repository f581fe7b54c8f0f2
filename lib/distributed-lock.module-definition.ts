import { ConfigurableModuleBuilder } from '@nestjs/common';
import { DISTRIBUTED_LOCK_OPTIONS } from './distributed-lock.constants.js';
import type { DistributedLockModuleOptions } from './distributed-lock.options.js';

/** Extra options of `forRoot`/`forRootAsync` that shape the module itself. */
export interface DistributedLockModuleExtras {
  /**
   * Register the module globally: every module can inject
   * `DistributedLockService` and use `@DistributedLock` without importing it.
   * @default false
   */
  isGlobal?: boolean;
}

export const {
  ConfigurableModuleClass: ConfigurableDistributedLockModule,
  OPTIONS_TYPE: DISTRIBUTED_LOCK_MODULE_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: DISTRIBUTED_LOCK_MODULE_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<DistributedLockModuleOptions>({
  optionsInjectionToken: DISTRIBUTED_LOCK_OPTIONS,
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createDistributedLockOptions')
  .setExtras<DistributedLockModuleExtras>(
    { isGlobal: false },
    (definition, extras) => ({ ...definition, global: extras.isGlobal }),
  )
  .build();

/** What `DistributedLockModule.forRoot` accepts. */
export type DistributedLockModuleRootOptions =
  typeof DISTRIBUTED_LOCK_MODULE_OPTIONS_TYPE;
/** What `DistributedLockModule.forRootAsync` accepts (`useFactory`, `useClass` or `useExisting`). */
export type DistributedLockModuleAsyncOptions =
  typeof DISTRIBUTED_LOCK_MODULE_ASYNC_OPTIONS_TYPE;
