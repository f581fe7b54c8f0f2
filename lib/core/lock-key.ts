import { createHash } from 'node:crypto';
import { InvalidLockKeyError } from './errors/invalid-lock-key.error.js';

/** A value that may become part of a lock key. */
export type LockKeyPart = string | number | bigint;

const SEPARATOR = ':';

/**
 * Builds a lock key from parts, joined with `:`. Each string part has `%` and
 * `:` percent-encoded, so `('a:b', 'c')` and `('a', 'b:c')` name different
 * locks. Only non-empty strings, finite numbers and bigints are accepted:
 * `undefined`, `null`, objects and `NaN` throw {@link InvalidLockKeyError}
 * rather than silently becoming `order:undefined`.
 *
 * @example
 * lockKey('order', order.id); // 'order:42'
 */
export function lockKey(...parts: readonly LockKeyPart[]): string {
  if (parts.length === 0) {
    throw new InvalidLockKeyError('A lock key needs at least one part.');
  }
  return parts.map((part, index) => encodeKeyPart(part, index)).join(SEPARATOR);
}

/**
 * Encodes one key part; `index` only serves the error message.
 * @internal
 */
export function encodeKeyPart(part: unknown, index = 0): string {
  switch (typeof part) {
    case 'string':
      if (part.length === 0) {
        throw new InvalidLockKeyError(
          `Lock key part ${index} is an empty string.`,
          part,
        );
      }
      return part.replace(/[%:]/g, (c) => (c === '%' ? '%25' : '%3A'));
    case 'number':
      if (!Number.isFinite(part)) {
        throw new InvalidLockKeyError(
          `Lock key part ${index} is ${part}; only finite numbers can name a lock.`,
          part,
        );
      }
      return String(part);
    case 'bigint':
      return part.toString();
    default:
      throw new InvalidLockKeyError(
        `Lock key part ${index} is ${describeValue(part)}; only strings, numbers and bigints can name a lock.`,
        part,
      );
  }
}

/** A short, safe description of a rejected value for error messages. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (value === '') return 'an empty string';
  if (typeof value === 'number' && !Number.isFinite(value))
    return `the number ${value}`;
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/**
 * Maps user keys to store keys: prefix, length bound and a Redis Cluster hash
 * tag, so that every key derived from one lock (its queue, its channel) lands
 * in the same slot.
 */
export class LockKeyspace {
  constructor(
    readonly prefix: string,
    readonly maxKeyLength: number,
  ) {
    if (LONE_SURROGATE.test(prefix)) {
      throw new InvalidLockKeyError(
        'The key prefix must be well-formed Unicode (it has a lone surrogate).',
      );
    }
    if (/[{}]/.test(prefix)) {
      throw new InvalidLockKeyError(
        `The key prefix "${prefix}" must not contain "{" or "}" (they are used as the Redis Cluster hash tag).`,
      );
    }
    if (!Number.isInteger(maxKeyLength) || maxKeyLength < 64) {
      throw new InvalidLockKeyError(
        `maxKeyLength must be an integer of at least 64 (got ${maxKeyLength}).`,
      );
    }
  }

  /**
   * The store key of a lock. A key longer than `maxKeyLength` keeps a readable
   * head and replaces the rest with its SHA-256, so distinct long keys stay
   * distinct while Redis memory stays bounded.
   */
  toStoreKey(key: unknown): string {
    return this.storeKey(this.check(key));
  }

  /**
   * The store key of a key `normalize` has already checked. NOTE: a key
   * that starts with `}` would give an empty hash tag (`{}`), which Redis
   * Cluster ignores: the lock's queue and ticket keys would then hash to
   * other slots than the lock. Such a key is stored by its SHA-256 alone;
   * only a key spelling that digest (`#` and 43 base64url characters) could
   * share its lock. @internal
   */
  storeKey(key: string): string {
    const bounded =
      key.length > this.maxKeyLength
        ? `${readableHead(key)}#${digest(key)}`
        : key;
    return bounded.charCodeAt(0) === CLOSE_BRACE
      ? `${this.prefix}{#${digest(key)}}`
      : `${this.prefix}{${bounded}}`;
  }

  /** Normalizes one key or several into a non-empty, duplicate-free list. */
  normalize(keyOrKeys: string | readonly string[]): string[] {
    if (typeof keyOrKeys === 'string') return [this.check(keyOrKeys)];
    if (!Array.isArray(keyOrKeys)) {
      throw new InvalidLockKeyError(
        `A lock key must be a string or an array of strings (got ${describeValue(keyOrKeys)}).`,
        keyOrKeys,
      );
    }
    const keys: string[] = [...keyOrKeys];
    if (keys.length === 0) {
      throw new InvalidLockKeyError('At least one lock key is needed.');
    }
    // NOTE: a script call's arguments go on the stack; far more keys than
    // any lock needs would fail the other requests of its call.
    if (keys.length > MAX_KEYS_PER_LOCK) {
      throw new InvalidLockKeyError(
        `A lock takes at most ${MAX_KEYS_PER_LOCK} keys (got ${keys.length}).`,
        keyOrKeys,
      );
    }
    for (const key of keys) this.check(key);
    // NOTE: sorted so that two callers taking the same keys in another order
    // take them in one order on stores that lock key by key.
    return [...new Set(keys)].sort();
  }

  private check(key: unknown): string {
    if (typeof key !== 'string' || key.length === 0) {
      throw new InvalidLockKeyError(
        `A lock key must be a non-empty string (got ${describeValue(key)}); build one with lockKey(...parts).`,
        key,
      );
    }
    // NOTE: a lone surrogate becomes U+FFFD on its way to Redis (UTF-8), so
    // two different keys would be one lock there, and two in memory.
    if (LONE_SURROGATE.test(key)) {
      throw new InvalidLockKeyError(
        'A lock key must be well-formed Unicode (it has a lone surrogate, which Redis would read as U+FFFD).',
        key,
      );
    }
    return key;
  }
}

/**
 * A UTF-16 surrogate not part of a pair (the `u` flag matches code points).
 * @internal
 */
export const LONE_SURROGATE = /\p{Surrogate}/u;

const CLOSE_BRACE = 0x7d;

function digest(key: string): string {
  return createHash('sha256').update(key).digest('base64url');
}

/** The first 32 UTF-16 units of `key`, never cutting a surrogate pair in two. */
function readableHead(key: string): string {
  const code = key.charCodeAt(31);
  return key.slice(0, code >= 0xd800 && code <= 0xdbff ? 31 : 32);
}

/** The most keys one lock takes. */
const MAX_KEYS_PER_LOCK = 1000;
