import { InvalidLockKeyError } from './errors/invalid-lock-key.error.js';
import { LockKeyspace, lockKey } from './lock-key.js';

describe('lockKey', () => {
  it('joins strings, numbers and bigints with ":"', () => {
    expect(lockKey('order', 42, 7n)).toBe('order:42:7');
  });

  it('encodes separators so that different parts never collide', () => {
    expect(lockKey('a:b', 'c')).not.toBe(lockKey('a', 'b:c'));
    expect(lockKey('a%3Ab')).not.toBe(lockKey('a:b'));
  });

  it.each([undefined, null, {}, [], NaN, Infinity, '', true, Symbol('s')])(
    'rejects %p',
    (value) => {
      expect(() => lockKey('order', value as never)).toThrow(
        InvalidLockKeyError,
      );
    },
  );
});

describe('LockKeyspace', () => {
  const keyspace = new LockKeyspace('lock:', 128);

  it('prefixes and wraps the key in a cluster hash tag', () => {
    expect(keyspace.toStoreKey('order:42')).toBe('lock:{order:42}');
  });

  it('bounds long keys by hashing them, keeping distinct keys distinct', () => {
    const a = keyspace.toStoreKey('x'.repeat(1000) + 'a');
    const b = keyspace.toStoreKey('x'.repeat(1000) + 'b');
    expect(a.length).toBeLessThan(128);
    expect(a).not.toBe(b);
  });

  it('rejects braces in the prefix and non-string keys', () => {
    expect(() => new LockKeyspace('a{b', 128)).toThrow(InvalidLockKeyError);
    expect(() => keyspace.toStoreKey(undefined)).toThrow(/non-empty string/);
    expect(() => keyspace.normalize([])).toThrow(InvalidLockKeyError);
  });

  it('sorts and de-duplicates several keys', () => {
    expect(keyspace.normalize(['b', 'a', 'b'])).toEqual(['a', 'b']);
  });
});
