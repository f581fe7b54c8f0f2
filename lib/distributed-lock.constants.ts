import { Inject } from '@nestjs/common';

/** Injection token of the options passed to `DistributedLockModule.forRoot(Async)`. */
export const DISTRIBUTED_LOCK_OPTIONS = Symbol(
  'nestjs-distributed-lock:options',
);

/** Injection token of the module's {@link LockManager} (the framework-free engine). */
export const DISTRIBUTED_LOCK_MANAGER = Symbol(
  'nestjs-distributed-lock:manager',
);

/**
 * Property under which the decorator has Nest inject the
 * `DistributedLockService` into each instance of a class that uses it.
 * @internal
 */
export const LOCK_SERVICE_PROPERTY = Symbol('nestjs-distributed-lock:service');

/** Injects the options given to `DistributedLockModule.forRoot(Async)`. */
export const InjectDistributedLockOptions = (): PropertyDecorator &
  ParameterDecorator => Inject(DISTRIBUTED_LOCK_OPTIONS);

/** Injects the module's `LockManager`, for code that wants the engine itself. */
export const InjectLockManager = (): PropertyDecorator & ParameterDecorator =>
  Inject(DISTRIBUTED_LOCK_MANAGER);
