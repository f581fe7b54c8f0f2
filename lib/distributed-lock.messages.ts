/**
 * Every message the Nest layer writes, in one place: each says what went
 * wrong and what to do about it.
 */
import { describeValue } from './core/lock-key.js';

export function invalidOptionMessage(
  owner: string,
  option: string,
  problem: string,
  value: unknown,
): string {
  return `${owner}: option "${option}" ${problem} (got ${describeOption(value)}).`;
}

export function unknownPlaceholderMessage(
  method: string,
  template: string,
  placeholder: string,
  parameters: readonly string[],
  wrappedHint = false,
): string {
  const has =
    parameters.length > 0
      ? `has the parameters (${parameters.join(', ')})`
      : 'has no named parameters';
  // NOTE: `(...args)` is what another decorator's wrapper usually looks like.
  const wrapped = wrappedHint ? ` ${WRAPPED_HINT}` : '';
  return (
    `@DistributedLock('${template}') on ${method}: the placeholder <${placeholder}> names no parameter; ${method} ${has}. ` +
    `Use one of them, a position such as <0>, or a key function.${wrapped}`
  );
}

export function templateSyntaxMessage(
  method: string,
  template: string,
  problem: string,
): string {
  return `@DistributedLock('${template}') on ${method}: ${problem}.`;
}

export function invalidKeyValueMessage(
  method: string,
  placeholder: string,
  value: unknown,
): string {
  return `@DistributedLock on ${method}: the placeholder <${placeholder}> is ${describeKeyValue(value)}; a lock key needs a non-empty string, a number or a bigint there.`;
}

export function invalidKeyFunctionMessage(
  method: string,
  detail: string,
): string {
  return `@DistributedLock on ${method}: the key function ${detail}; it must return a non-empty string or a non-empty array of them.`;
}

export function missingValueKeyMessage(
  method: string,
  key: string,
  part: string,
): string {
  return `@DistributedLock on ${method}: the key function returned ${JSON.stringify(key)}: a part of the key is ${JSON.stringify(part)}, which is what a missing value (undefined, null, NaN, an object) becomes in a template string. Build the key with lockKey(...), which refuses such values.`;
}

export function missingServiceMessage(method: string): string {
  return (
    `@DistributedLock on ${method}: no DistributedLockService was injected. The class must be created by Nest ` +
    '(a provider, controller, resolver or gateway) in a module that imports DistributedLockModule, or where it is global.'
  );
}

export function decoratedNonMethodMessage(target: string): string {
  return `@DistributedLock can only decorate an instance method; ${target} is not one.`;
}

const WRAPPED_HINT =
  'If another decorator wraps the method in a function (...args), put @DistributedLock directly above the method, below that decorator, so that it sees the parameters.';

export function decoratedGeneratorMessage(target: string): string {
  return (
    `@DistributedLock cannot decorate the generator ${target}: the lock would be released before the caller reads the first value. ` +
    'Take the lock where the values are consumed (DistributedLockService.using), or return an Observable.'
  );
}

/** HTTP body text for contention; the key stays out of the answer. */
export function conflictMessage(retryAfterSeconds: number): string {
  return `The resource is locked by another operation. Retry in ${retryAfterSeconds} s.`;
}

export const UNAVAILABLE_MESSAGE =
  'The lock service is temporarily unavailable. Retry shortly.';

export const SHUTTING_DOWN_MESSAGE =
  'This instance is shutting down and takes no new locks. Retry shortly.';

export function badKeyValueMessage(
  placeholder: string | undefined,
  value: unknown,
): string {
  return placeholder === undefined
    ? 'The request does not identify the resource to lock.'
    : `The request does not identify the resource to lock: "${placeholder}" is ${describeKeyValue(value)}; a string or a number is required.`;
}

/** A refused key value: a non-empty string is refused only for a lone surrogate. */
function describeKeyValue(value: unknown): string {
  return typeof value === 'string' && value.length > 0
    ? 'a string that is not well-formed Unicode (it has a lone surrogate)'
    : describeValue(value);
}

function describeOption(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean')
    return String(value);
  return describeValue(value);
}
