import { InvalidLockKeyArgumentError } from './errors/invalid-lock-key-argument.error.js';
import { InvalidLockTemplateError } from './errors/invalid-lock-template.error.js';
import {
  compileLockKey,
  readMethodParameters,
  type LockKeySource,
} from './key-template.js';

class Sample {
  pay(id: string, dto: { customerId?: unknown }, ...rest: unknown[]) {
    return [id, dto, rest];
  }
  commented(
    // the id, see https://example.com/x
    id: string /* , fake */,
    url = 'http://a,b', // trailing
  ) {
    return [id, url];
  }
  destructured(
    { a }: { a: string },
    /* note, b */ b = 'x,y',
    [c]: string[] = [],
  ) {
    return [a, b, c];
  }
}

const target = {
  label: 'Sample.pay',
  parameters: readMethodParameters(Sample.prototype.pay),
};
const resolve = (source: LockKeySource, args: unknown[]) =>
  compileLockKey(source, target)(args);

describe('readMethodParameters', () => {
  it('reads names, rest parameters, and leaves destructured ones unnamed', () => {
    expect(readMethodParameters(Sample.prototype.pay)).toEqual({
      names: ['id', 'dto', 'rest'],
      restIndex: 2,
      open: false,
      defaults: [],
    });
    expect(readMethodParameters(Sample.prototype.destructured).names).toEqual([
      undefined,
      'b',
      undefined,
    ]);
    expect(readMethodParameters((x: number) => x).names).toEqual(['x']);
    expect(readMethodParameters(Sample.prototype.commented).names).toEqual([
      'id',
      'url',
    ]);
    expect(readMethodParameters(function () {}).names).toEqual([]);
    expect(
      readMethodParameters(function (a = /[(,]/, b = 6 / 3, c = /\//) {
        return [a, b, c];
      }).names,
    ).toEqual(['a', 'b', 'c']);
  });
});

describe('default parameter values', () => {
  class Defaults {
    export(format = 'csv', page = 2, day = `mon`) {
      return [format, page, day];
    }
    computed(kind = 'a' + 'b', id = String(1), text = "it's") {
      return [kind, id, text];
    }
  }
  const compile = (template: string, method: (...args: never[]) => unknown) =>
    compileLockKey(template, {
      label: 'Defaults.m',
      parameters: readMethodParameters(method),
    });

  it('applies a literal default where the argument is undefined, as the method sees it', () => {
    const key = compile(
      'export:<format>:<page>:<day>',
      Defaults.prototype.export,
    );
    expect(key([])).toBe('export:csv:2:mon');
    expect(key(['pdf', undefined, 'tue'])).toBe('export:pdf:2:tue');
    // null does not trigger a default in JavaScript, nor here
    expect(() => key([null])).toThrow(InvalidLockKeyArgumentError);
  });

  it('reads a template literal default as JavaScript does: CR and CRLF become LF', () => {
    const crlf = new Function('id = `a\r\nb`, other = `c\rd`', 'return id;');
    expect(
      compile('k:<id>:<other>', crlf as (...args: never[]) => unknown)([]),
    ).toBe('k:a\nb:c\nd');
  });

  it('fails at compile time on a default it cannot know, never guessing', () => {
    for (const name of ['kind', 'id', 'text'])
      expect(() => compile(`k:<${name}>`, Defaults.prototype.computed)).toThrow(
        /default value is not a string or number literal/,
      );
    // a parameter that is not in the key may have any default
    expect(() =>
      compile('k:<0>', function (a: string, b = Date.now()) {
        return [a, b];
      }),
    ).not.toThrow();
  });
});

describe('compileLockKey', () => {
  it('resolves names, paths, positions and rest parameters, keeping literal text', () => {
    expect(resolve('order:<id>', ['42'])).toBe('order:42');
    expect(resolve('c/<dto.customerId>-x', ['1', { customerId: 7 }])).toBe(
      'c/7-x',
    );
    expect(resolve('<1.customerId>:<0>', ['1', { customerId: 10n }])).toBe(
      '10:1',
    );
    expect(resolve('r:<rest.1>', ['1', {}, 'a', 'b'])).toBe('r:b');
    expect(resolve('static', [])).toBe('static');
  });

  it('encodes separators so that values cannot collide', () => {
    expect(
      resolve('<0>:<1.customerId>', ['a:b', { customerId: 'c' }]),
    ).not.toBe(resolve('<0>:<1.customerId>', ['a', { customerId: 'b:c' }]));
  });

  it('builds several keys from an array or a function', () => {
    expect(resolve(['a:<id>', 'b:<0>'], ['1'])).toEqual(['a:1', 'b:1']);
    expect(resolve((id: string) => [`x:${id}`, 'y'], ['2'])).toEqual([
      'x:2',
      'y',
    ]);
  });

  it.each([undefined, null, {}, '', Number.NaN])(
    'rejects %p as a key value',
    (value) => {
      expect(() =>
        resolve('c:<dto.customerId>', ['1', { customerId: value }]),
      ).toThrow(InvalidLockKeyArgumentError);
    },
  );

  it('rejects a key function that returns no usable key', () => {
    expect(() => resolve(() => undefined as unknown as string, [])).toThrow(
      /the key function returned undefined/,
    );
    expect(() => resolve(() => [], [])).toThrow(/returned an empty array/);
  });

  it.each([
    ['order:undefined', 'undefined'],
    ['undefined', 'undefined'],
    ['a:null:b', 'null'],
    ['n:NaN', 'NaN'],
    ['o:[object Object]', '[object Object]'],
  ])(
    'rejects a key function whose key %p has a part that only a missing value makes',
    (key, part) => {
      expect(() => resolve(() => key, [])).toThrow(InvalidLockKeyArgumentError);
      expect(() => resolve(() => ['ok:1', key], [])).toThrow(
        new RegExp(`a part of the key is "${part.replace(/[[\]]/g, '\\$&')}"`),
      );
    },
  );

  it('accepts key function keys where those words are only part of a part', () => {
    expect(resolve(() => 'order:undefined-ish:nullable:NaNa', [])).toBe(
      'order:undefined-ish:nullable:NaNa',
    );
  });

  it('fails at compile time on unknown names and malformed templates', () => {
    expect(() => compileLockKey('x:<customer>', target)).toThrow(
      InvalidLockTemplateError,
    );
    expect(() => compileLockKey('x:<customer>', target)).toThrow(
      /<customer> names no parameter; Sample.pay has the parameters \(id, dto, rest\)/,
    );
    expect(() => compileLockKey('x:<>', target)).toThrow(
      /is not a placeholder/,
    );
    expect(() => compileLockKey('x>', target)).toThrow(/no matching "<"/);
    expect(() => compileLockKey([], target)).toThrow(InvalidLockTemplateError);
  });

  it('fails at compile time on a placeholder that reads the whole rest parameter, an array no call could turn into a key part', () => {
    expect(() => compileLockKey('r:<rest>', target)).toThrow(
      InvalidLockTemplateError,
    );
    expect(() => compileLockKey('r:<rest>', target)).toThrow(/<rest\.0>/);
    expect(resolve('r:<rest.0>:<rest.length>', ['1', {}, 'a'])).toBe('r:a:1');
  });

  it('fails at compile time on a lone surrogate in the literal text, which no call could turn into a key', () => {
    expect(() => compileLockKey('x\ud800:<id>', target)).toThrow(
      InvalidLockTemplateError,
    );
    expect(() => compileLockKey(['ok:<id>', '<id>:\udc00'], target)).toThrow(
      /well-formed Unicode/,
    );
    expect(resolve('\u{1F600}:<id>', ['1'])).toBe('\u{1F600}:1');
  });

  it('fails at compile time on a position past the parameters, unless they can go on', () => {
    class Positions {
      one(id: string) {
        return id;
      }
      none() {
        return 0;
      }
      wrapped(...args: unknown[]) {
        return args;
      }
      legacyWrapper() {
        // eslint-disable-next-line prefer-rest-params
        return arguments;
      }
    }
    const on = (method: keyof Positions) => ({
      label: `Positions.${method}`,
      parameters: readMethodParameters(Positions.prototype[method]),
    });
    expect(() => compileLockKey('x:<1>', on('one'))).toThrow(
      /<1> names no parameter; Positions.one has the parameters \(id\)/,
    );
    expect(() => compileLockKey('x:<0>', on('none'))).toThrow(
      InvalidLockTemplateError,
    );
    expect(compileLockKey('x:<0>', on('one'))(['a'])).toBe('x:a');
    expect(compileLockKey('x:<3>', on('wrapped'))([0, 1, 2, 'd'])).toBe('x:d');
    expect(compileLockKey('x:<1>', on('legacyWrapper'))([0, 'b'])).toBe('x:b');
    // a method another decorator replaced with a bound function or a Proxy
    const hidden = [
      Positions.prototype.one.bind(null),
      new Proxy(Positions.prototype.one, {}),
    ];
    for (const method of hidden)
      expect(
        compileLockKey('x:<0>', {
          label: 'Positions.one',
          parameters: readMethodParameters(method),
        })(['a']),
      ).toBe('x:a');
  });
});
