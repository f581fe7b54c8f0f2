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

  // The rule Redis Cluster applies: the part between the first '{' and the
  // first '}' after it, when not empty, decides the slot; else the whole key.
  const hashTag = (key: string): string => {
    const open = key.indexOf('{');
    const close = open === -1 ? -1 : key.indexOf('}', open + 1);
    return close > open + 1 ? key.slice(open + 1, close) : key;
  };

  it.each(['order:1', 'a}b', '}abc', '}', '}}', '{x}', '{}', 'x'.repeat(200)])(
    'keeps the key %p and the keys derived from it in one Cluster slot',
    (key) => {
      const store = keyspace.toStoreKey(key);
      const tag = hashTag(store);
      expect(tag).not.toBe(store);
      // Queue, ticket and release channel are derived by appending.
      for (const derived of [`${store}:q`, `${store}:t:client-1`])
        expect(hashTag(derived)).toBe(tag);
    },
  );

  it('keeps a key that starts with "}" apart from other keys', () => {
    const keys = ['}abc', '}abd', 'abc', '}', '}}'];
    const stored = keys.map((key) => keyspace.toStoreKey(key));
    expect(new Set(stored).size).toBe(keys.length);
  });

  it('sorts and de-duplicates several keys', () => {
    expect(keyspace.normalize(['b', 'a', 'b'])).toEqual(['a', 'b']);
  });
});
