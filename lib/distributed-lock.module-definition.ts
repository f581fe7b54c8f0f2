import { ConfigurableModuleBuilder, type Provider } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { DISTRIBUTED_LOCK_OPTIONS } from './distributed-lock.constants.js';
import { DistributedLockInterceptor } from './distributed-lock.interceptor.js';
import type { DistributedLockModuleOptions } from './distributed-lock.options.js';

/** Extra options of `forRoot`/`forRootAsync` that shape the module itself. */
export interface DistributedLockModuleExtras {
  /**
   * Register the module globally: every module can inject
   * `DistributedLockService` and use `@DistributedLock` without importing it.
   * @default false
   */
  isGlobal?: boolean;
  /**
   * Register {@link DistributedLockInterceptor} globally, mapping lock errors
   * to HTTP (409, 503, 400) and to RPC/WebSocket errors. Set `false` to put
   * it (or a subclass) only where you want it, with `@UseInterceptors`:
   * routes then skip Nest's interceptor pipeline unless something else uses
   * it. Given to `forRoot`/`forRootAsync` itself (next to `useFactory`),
   * since it shapes the module's providers.
   * @default true
   */
  mapErrors?: boolean;
}

/** The global error-mapping interceptor (`mapErrors`). */
const ERROR_MAPPING: Provider = {
  provide: APP_INTERCEPTOR,
  useClass: DistributedLockInterceptor,
};

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
    { isGlobal: false, mapErrors: true },
    (definition, extras) => ({
      ...definition,
      global: extras.isGlobal,
      providers:
        extras.mapErrors === false
          ? definition.providers
          : [...(definition.providers ?? []), ERROR_MAPPING],
    }),
  )
  .build();

/** What `DistributedLockModule.forRoot` accepts. */
export type DistributedLockModuleRootOptions =
  typeof DISTRIBUTED_LOCK_MODULE_OPTIONS_TYPE;
/** What `DistributedLockModule.forRootAsync` accepts (`useFactory`, `useClass` or `useExisting`). */
export type DistributedLockModuleAsyncOptions =
  typeof DISTRIBUTED_LOCK_MODULE_ASYNC_OPTIONS_TYPE;
