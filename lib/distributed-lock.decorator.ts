import { Inject } from '@nestjs/common';
import { SSE_METADATA } from '@nestjs/common/constants.js';
import { LOCK_SERVICE_PROPERTY } from './distributed-lock.constants.js';
import { throwError } from 'rxjs';
import {
  decoratedGeneratorMessage,
  decoratedNonMethodMessage,
  missingServiceMessage,
} from './distributed-lock.messages.js';
import {
  DISTRIBUTED_LOCK_DEFAULTS,
  resolveLockOptions,
  type DistributedLockOptions,
} from './distributed-lock.options.js';
import {
  DistributedLockService,
  type LockedMethod,
} from './distributed-lock.service.js';
import {
  compileLockKey,
  readMethodParameters,
  type LockKeySource,
} from './key-template.js';

type AnyMethod = (...args: unknown[]) => unknown;

/** On a wrapper: the method it wraps (whose parameters keys are read from). */
const ORIGINAL = Symbol('DistributedLock original method');
const GENERATOR_KINDS = ['GeneratorFunction', 'AsyncGeneratorFunction'];

/**
 * Runs the method under a distributed lock: on one instance at a time per
 * key, across every process that shares the Redis. Works on controller
 * methods (HTTP, RPC, WebSocket), on plain providers and on scheduled jobs,
 * above or below Nest's own decorators. The key is built from the arguments
 * the method receives (after pipes); see {@link LockKeySource}.
 *
 * The decorated method always returns a Promise, or an Observable when its
 * declared return type is an Observable (the lock is then held from
 * subscription until it completes, errors or is unsubscribed).
 *
 * The class must be created by Nest in a module that sees
 * `DistributedLockModule`: the decorator has Nest inject the lock service
 * into a hidden property of each instance.
 *
 * @example
 * @Post('orders/:id/pay')
 * @DistributedLock('order:<id>', { onContention: 'wait', waitTimeout: 5000 })
 * pay(@Param('id') id: string) { ... }
 *
 * @Interval(60_000)
 * @DistributedLock('jobs:cleanup', { onContention: 'skip' })
 * async cleanup() { ... }
 *
 * @DistributedLock(['account:<from>', 'account:<to>'])
 * transfer(from: string, to: string, amount: number) { ... }
 */
export function DistributedLock(
  key: LockKeySource,
  options: DistributedLockOptions = {},
): MethodDecorator {
  return (target, propertyKey, descriptor) => {
    const className =
      (typeof target === 'function' ? target.name : target.constructor.name) ||
      'AnonymousClass';
    const methodName = String(propertyKey);
    const label = `${className}.${methodName}`;
    // NOTE: used on a property (from plain JavaScript), there is no descriptor.
    const original = descriptor?.value as unknown;
    // NOTE: a static method has no instance for Nest to inject the service into.
    if (typeof original !== 'function' || typeof target === 'function')
      throw new TypeError(decoratedNonMethodMessage(label));
    // NOTE: a generator's body runs as the caller reads values, after the
    // wrapper has released the lock.
    if (GENERATOR_KINDS.includes(original.constructor.name))
      throw new TypeError(decoratedGeneratorMessage(label));
    // NOTE: validated here so that a bad option fails at startup; module
    // defaults are applied later, per application.
    resolveLockOptions(
      DISTRIBUTED_LOCK_DEFAULTS.defaults,
      options,
      `@DistributedLock on ${label}`,
    );
    // NOTE: under another @DistributedLock, the method's own parameters.
    const own =
      (original as Partial<Record<typeof ORIGINAL, AnyMethod>>)[ORIGINAL] ??
      (original as AnyMethod);
    const locked: LockedMethod = {
      className,
      methodName,
      options,
      method: original as AnyMethod,
      // NOTE: read from the wrapper when called: @Sse applied above this
      // decorator marks the wrapper, one below marks the original, whose
      // metadata the wrapper copies.
      isSse: () => Reflect.getMetadata(SSE_METADATA, wrapper) === true,
      resolveKeys: compileLockKey(key, {
        label,
        parameters: readMethodParameters(own),
      }),
    };
    const observable = returnsObservable(target, propertyKey);
    const wrapper = function (
      this: Record<symbol, DistributedLockService | undefined>,
      ...args: unknown[]
    ) {
      const service = this?.[LOCK_SERVICE_PROPERTY];
      if (!service) {
        // NOTE: the result's shape holds for this failure too.
        const error = new Error(missingServiceMessage(label));
        return observable ? throwError(() => error) : Promise.reject(error);
      }
      return observable
        ? service.observe(locked, this, args)
        : service.call(locked, this, args);
    };
    copyFunctionIdentity(original as AnyMethod, wrapper);
    Object.defineProperty(wrapper, ORIGINAL, { value: own });
    // NOTE: property injection, not a process-wide registry: each application
    // instance (two apps in one test process) injects its own service.
    Inject(DistributedLockService)(target, LOCK_SERVICE_PROPERTY);
    descriptor.value = wrapper as typeof descriptor.value;
    return descriptor;
  };
}

/**
 * Gives the wrapper the original's name, length and every Reflect metadata
 * key (route path and method, guards, schedule metadata set by decorators
 * applied before this one), or Nest would not see the route at all.
 */
function copyFunctionIdentity(original: AnyMethod, wrapper: AnyMethod): void {
  Object.defineProperty(wrapper, 'name', {
    value: original.name,
    configurable: true,
  });
  Object.defineProperty(wrapper, 'length', {
    value: original.length,
    configurable: true,
  });
  for (const metadataKey of Reflect.getOwnMetadataKeys(original)) {
    Reflect.defineMetadata(
      metadataKey,
      Reflect.getOwnMetadata(metadataKey, original),
      wrapper,
    );
  }
}

/**
 * Whether the method declares an Observable return type (`design:returntype`,
 * emitted by TypeScript's `emitDecoratorMetadata`). Duck-typed, so that an
 * Observable class from another copy of rxjs counts too.
 */
function returnsObservable(
  target: object,
  propertyKey: string | symbol,
): boolean {
  const type: unknown = Reflect.getMetadata(
    'design:returntype',
    target,
    propertyKey,
  );
  const prototype =
    typeof type === 'function'
      ? (type.prototype as Record<string, unknown> | undefined)
      : undefined;
  return (
    typeof prototype?.subscribe === 'function' &&
    typeof prototype.pipe === 'function' &&
    typeof prototype.lift === 'function'
  );
}
