import { InvalidLockKeyError } from './core/errors/invalid-lock-key.error.js';
import { LONE_SURROGATE, encodeKeyPart } from './core/lock-key.js';
import { InvalidLockKeyArgumentError } from './errors/invalid-lock-key-argument.error.js';
import { InvalidLockTemplateError } from './errors/invalid-lock-template.error.js';
import {
  invalidKeyFunctionMessage,
  missingValueKeyMessage,
  invalidKeyValueMessage,
  templateSyntaxMessage,
  unknownPlaceholderMessage,
} from './distributed-lock.messages.js';

/**
 * A key function: receives the method's arguments (after pipes) and returns
 * the key, or several keys taken all or nothing.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type LockKeyFunction = (...args: any[]) => string | readonly string[];

/**
 * What names the lock of a decorated method:
 * - a template: `'order:<id>'` (a parameter), `'customer:<dto.customerId>'`
 *   (a path into one), `'order:<0>'` (a position, safe under minifiers);
 *   text outside `<...>` is kept as written, each value is encoded with
 *   `encodeKeyPart` (only strings, numbers and bigints);
 * - an array of templates: all the keys are taken together, all or nothing;
 * - a {@link LockKeyFunction}.
 */
export type LockKeySource = string | readonly string[] | LockKeyFunction;

/** Builds the keys of one call from its arguments. */
export type LockKeyResolver = (args: readonly unknown[]) => string | string[];

/** The parameters of a method, as read from its source. */
export interface MethodParameters {
  /** Parameter names by position; `undefined` for a destructured parameter. */
  readonly names: readonly (string | undefined)[];
  /** Position of a rest parameter (`...args`), if any. */
  readonly restIndex?: number;
  /**
   * Default values by position: a literal (a string or a number written in
   * the source) as its value; `NOT_LITERAL` for any other default
   * expression, which only the method itself can evaluate.
   */
  readonly defaults?: readonly unknown[];
  /**
   * Positions past the list may be used: the source reads `arguments`, or
   * cannot be read at all (a bound function, a Proxy: native code).
   */
  readonly open?: boolean;
}

/** The decorated method, for messages and name lookups. */
export interface KeyTemplateTarget {
  /** `ClassName.method` */
  readonly label: string;
  readonly parameters: MethodParameters;
}

type Segment = string | Placeholder;

interface Placeholder {
  readonly text: string;
  readonly read: (args: readonly unknown[]) => unknown;
}

/** A default value that is not a literal (see {@link MethodParameters.defaults}). */
export const NOT_LITERAL: unique symbol = Symbol('not a literal');

const PATH = /^(?:[A-Za-z_$][\w$]*|\d+)(?:\.(?:[A-Za-z_$][\w$]*|\d+))*$/;

/**
 * Compiles a key source once, at decoration time. A template placeholder that
 * names no parameter of the method throws {@link InvalidLockTemplateError}
 * there, so a typo fails the application at startup rather than at the
 * first call.
 */
export function compileLockKey(
  source: LockKeySource,
  target: KeyTemplateTarget,
): LockKeyResolver {
  if (typeof source === 'function')
    return keyFunctionResolver(source, target.label);
  if (typeof source === 'string') return templateResolver(source, target);
  if (!Array.isArray(source) || source.length === 0) {
    throw new InvalidLockTemplateError(
      templateSyntaxMessage(
        target.label,
        String(source),
        'the key must be a template, a non-empty array of templates, or a function',
      ),
      target.label,
      String(source),
    );
  }
  const resolvers = source.map((template: string) =>
    templateResolver(template, target),
  );
  return (args) => resolvers.map((resolve) => resolve(args));
}

/**
 * Reads parameter names from a function's source. Destructured parameters
 * have no name; a minifier may rename the others, which is why templates can
 * use positions (`<0>`) instead.
 */
export function readMethodParameters(
  fn: (...args: never[]) => unknown,
): MethodParameters {
  const source = Function.prototype.toString.call(fn);
  const list = source.indexOf('(');
  const arrow = source.indexOf('=>');
  if (list < 0 || (arrow >= 0 && arrow < list)) {
    // NOTE: a single-parameter arrow function without parentheses: `x => ...`.
    const single = /^\s*(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(source);
    return { names: single ? [single[1]] : [] };
  }
  const names: (string | undefined)[] = [];
  const defaults: unknown[] = [];
  let restIndex: number | undefined;
  for (const raw of splitTopLevel(source, list)) {
    const parameter = raw.trim();
    if (parameter === '') continue;
    const rest = parameter.startsWith('...');
    if (rest) restIndex = names.length;
    const name = /^(?:\.\.\.)?\s*([A-Za-z_$][\w$]*)\s*(=?)/.exec(parameter);
    if (name?.[2] === '=')
      defaults[names.length] = literalValue(
        parameter.slice(name[0].length).trim(),
      );
    // NOTE: a destructured parameter's default (`{ id } = { id: 'x' }`) is
    // never a literal: a placeholder into it must fail at startup too.
    else if (!name && hasPatternDefault(parameter))
      defaults[names.length] = NOT_LITERAL;
    names.push(name ? name[1] : undefined);
  }
  // NOTE: a wrapper from another decorator may take its arguments through
  // `arguments`, or be a bound function or a Proxy, whose source is hidden.
  const open = /\[native code\]/.test(source) || readsArguments(source);
  return { names, restIndex, open, defaults };
}

/**
 * Whether a destructuring pattern (`{ a }`, `[a]`) is followed by a default
 * (`= ...`). Brackets inside strings in the pattern's own defaults are
 * skipped.
 */
function hasPatternDefault(parameter: string): boolean {
  if (parameter[0] !== '{' && parameter[0] !== '[') return false;
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < parameter.length; i++) {
    const c = parameter[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '{' || c === '[' || c === '(') depth++;
    else if ((c === '}' || c === ']' || c === ')') && --depth === 0)
      return parameter
        .slice(i + 1)
        .trimStart()
        .startsWith('=');
  }
  return false;
}

/**
 * The value of a string or number literal as written in source, or
 * `NOT_LITERAL`. Strings with escapes or substitutions count as not literal
 * (never guessed at).
 */
function literalValue(text: string): unknown {
  const quoted = /^(['"`])([^'"`\\$]*)\1$/.exec(text);
  // NOTE: inside a template literal, JavaScript reads CR and CRLF as LF.
  if (quoted)
    return quoted[1] === '`' ? quoted[2].replace(/\r\n?/g, '\n') : quoted[2];
  if (/^-?(?:\d+|\d*\.\d+)(?:e[+-]?\d+)?$/i.test(text)) return Number(text);
  return NOT_LITERAL;
}

function templateResolver(
  template: string,
  target: KeyTemplateTarget,
): (args: readonly unknown[]) => string {
  const segments = parseTemplate(template, target);
  if (segments.every((segment) => typeof segment === 'string')) {
    const key = segments.join('');
    return () => key;
  }
  return (args) => {
    let key = '';
    for (const segment of segments)
      key +=
        typeof segment === 'string'
          ? segment
          : encodePlaceholder(segment, args, target.label);
    return key;
  };
}

function parseTemplate(template: string, target: KeyTemplateTarget): Segment[] {
  const syntaxError = (problem: string) =>
    new InvalidLockTemplateError(
      templateSyntaxMessage(target.label, template, problem),
      target.label,
      template,
    );
  if (typeof template !== 'string' || template.length === 0)
    throw syntaxError('a key template must be a non-empty string');
  // NOTE: the engine refuses such a key (Redis would read the surrogate as
  // U+FFFD): every call would fail, so the template fails at startup.
  if (LONE_SURROGATE.test(template))
    throw syntaxError(
      'a key template must be well-formed Unicode (it has a lone surrogate)',
    );
  const segments: Segment[] = [];
  let rest = template;
  while (rest.length > 0) {
    const open = rest.indexOf('<');
    const close = rest.indexOf('>');
    if (open < 0) {
      if (close >= 0) throw syntaxError('a ">" has no matching "<"');
      segments.push(rest);
      break;
    }
    if (close < open)
      throw syntaxError(
        close < 0
          ? 'a "<" is never closed with ">"'
          : 'a ">" has no matching "<"',
      );
    if (open > 0) segments.push(rest.slice(0, open));
    segments.push(
      placeholder(rest.slice(open + 1, close), template, target, syntaxError),
    );
    rest = rest.slice(close + 1);
  }
  return segments;
}

function placeholder(
  text: string,
  template: string,
  target: KeyTemplateTarget,
  syntaxError: (problem: string) => Error,
): Placeholder {
  if (!PATH.test(text)) {
    throw syntaxError(
      `<${text}> is not a placeholder; write <name>, <name.path> or <0>`,
    );
  }
  const [head, ...path] = text.split('.');
  const { names, restIndex, open } = target.parameters;
  const index = /^\d+$/.test(head) ? Number(head) : names.indexOf(head);
  const past = index >= names.length && restIndex === undefined && !open;
  if (index < 0 || past) {
    const known = names.filter((name): name is string => name !== undefined);
    throw new InvalidLockTemplateError(
      unknownPlaceholderMessage(
        target.label,
        template,
        text,
        known,
        restIndex === 0 && names.length === 1,
      ),
      target.label,
      template,
    );
  }
  const fromRest = index === restIndex && head === names[index];
  // NOTE: the rest parameter as a whole is an array, which no key part can
  // be: every call would answer 400.
  if (fromRest && path.length === 0)
    throw new InvalidLockTemplateError(
      templateSyntaxMessage(
        target.label,
        template,
        `<${text}> reads the rest parameter, an array, which cannot be part of a key; name one of its elements (<${head}.0>), or use a key function`,
      ),
      target.label,
      template,
    );
  // NOTE: the key is built from the arguments before the method runs, so a
  // parameter's default value applies here too: a literal one is known, any
  // other only the method can evaluate (a startup error, never a guess).
  const fallback = target.parameters.defaults?.[index];
  if (fallback === NOT_LITERAL)
    throw new InvalidLockTemplateError(
      templateSyntaxMessage(
        target.label,
        template,
        `<${text}> reads a parameter whose default value is not a string or number literal; the key is built before the method runs, so that default is unknown there. Use a literal default, or a key function`,
      ),
      target.label,
      template,
    );
  const value =
    fallback === undefined
      ? (args: readonly unknown[]) => args[index]
      : (args: readonly unknown[]) =>
          args[index] === undefined ? fallback : args[index];
  return {
    text,
    read: (args) =>
      path.reduce<unknown>(step, fromRest ? args.slice(index) : value(args)),
  };
}

function step(value: unknown, property: string): unknown {
  return (typeof value === 'object' && value !== null) ||
    typeof value === 'function'
    ? (value as Record<string, unknown>)[property]
    : undefined;
}

function encodePlaceholder(
  segment: Placeholder,
  args: readonly unknown[],
  label: string,
): string {
  const value = segment.read(args);
  try {
    const encoded = encodeKeyPart(value);
    // NOTE: the engine refuses a key with a lone surrogate (Redis would read
    // it as U+FFFD): a value from the request, so a bad argument (400).
    if (LONE_SURROGATE.test(encoded))
      throw new InvalidLockKeyError(
        'A lock key part must be well-formed Unicode (it has a lone surrogate).',
        value,
      );
    return encoded;
  } catch (error) {
    throw new InvalidLockKeyArgumentError(
      invalidKeyValueMessage(label, segment.text, value),
      segment.text,
      label,
      value,
      { cause: error },
    );
  }
}

function keyFunctionResolver(
  fn: LockKeyFunction,
  label: string,
): LockKeyResolver {
  return (args) => {
    let keys: unknown;
    try {
      keys = fn(...args);
    } catch (error) {
      if (error instanceof InvalidLockKeyError) {
        throw new InvalidLockKeyArgumentError(
          invalidKeyFunctionMessage(label, `failed: ${error.message}`),
          undefined,
          label,
          error.value,
          { cause: error },
        );
      }
      throw error;
    }
    if (isKey(keys)) return checkParts(keys, label);
    if (Array.isArray(keys) && keys.length > 0 && keys.every(isKey)) {
      for (const key of keys as string[]) checkParts(key, label);
      return keys as string[];
    }
    throw new InvalidLockKeyArgumentError(
      invalidKeyFunctionMessage(label, `returned ${describeKeys(keys)}`),
      undefined,
      label,
      keys,
    );
  };
}

/**
 * A whole `:`-separated part that only a missing value makes inside a
 * template string (`order:${dto.id}` with no id): every such call would
 * share one key. NOTE: key functions only; a template reads the value itself
 * and refuses it by type, and `lockKey` does the same for code that builds
 * keys. A part that merely contains one of these words is a key like any
 * other.
 */
const MISSING_VALUE_PART =
  /(?:^|:)(undefined|null|NaN|\[object Object\])(?=:|$)/;

function checkParts(key: string, label: string): string {
  const missing = MISSING_VALUE_PART.exec(key);
  if (!missing) return key;
  throw new InvalidLockKeyArgumentError(
    missingValueKeyMessage(label, key, missing[1]),
    undefined,
    label,
    key,
  );
}

function isKey(value: unknown): value is string {
  return (
    typeof value === 'string' && value.length > 0 && !LONE_SURROGATE.test(value)
  );
}

function describeKeys(value: unknown): string {
  if (Array.isArray(value))
    return value.length === 0
      ? 'an empty array'
      : 'an array with a value that is not a non-empty string';
  if (value === '') return 'an empty string';
  return value === null || value === undefined
    ? String(value)
    : `a value of type ${typeof value}`;
}

/**
 * The parameter list that starts at `open`, split at top-level commas, with
 * comments left out.
 */
function splitTopLevel(source: string, open: number): string[] {
  const parts: string[] = [];
  let current = '';
  let depth = 0;
  let quote: string | undefined;
  for (let i = open + 1; i < source.length; i++) {
    const c = source[i];
    if (quote) {
      if (c === '\\')
        i++; // the escaped character cannot end the string
      else if (c === quote) quote = undefined;
    } else if (isCommentStart(source, i)) {
      i = commentEnd(source, i);
      continue;
    } else if (c === '/' && regexMayFollow(current)) {
      // NOTE: a regex literal in a default value: `(` and `,` inside it
      // are no structure.
      const end = regexEnd(source, i);
      current += source.slice(i, end + 1);
      i = end;
      continue;
    } else if (c === '"' || c === "'" || c === '`') {
      quote = c;
    } else if (c === '(' || c === '[' || c === '{') {
      depth++;
    } else if (c === ')' || c === ']' || c === '}') {
      if (depth === 0) break;
      depth--;
    } else if (c === ',' && depth === 0) {
      parts.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  parts.push(current);
  return parts;
}

/**
 * Whether a function's source reads the `arguments` object: the word as code,
 * not inside a string, a comment or a regex literal, nor a property
 * (`parsed.arguments`).
 */
function readsArguments(source: string): boolean {
  let code = '';
  let quote: string | undefined;
  /** Open braces of the code, one entry per template substitution under way. */
  const substitutions: number[] = [];
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      // NOTE: a substitution in a template literal is code.
      else if (quote === '`' && c === '$' && source[i + 1] === '{') {
        quote = undefined;
        substitutions.push(0);
        i++;
        code += ' ';
      }
      continue;
    }
    const depth = substitutions.length - 1;
    if (isCommentStart(source, i)) {
      i = commentEnd(source, i);
      code += ' ';
    } else if (c === '/' && regexMayFollow(code)) {
      i = regexEnd(source, i);
      code += ' 0 ';
    } else if (c === '"' || c === "'" || c === '`') {
      quote = c;
      code += ' 0 ';
    } else if (depth >= 0 && c === '{') {
      substitutions[depth]++;
      code += c;
    } else if (depth >= 0 && c === '}') {
      if (substitutions[depth]-- > 0) code += c;
      else {
        // the end of the substitution: back into the template literal
        substitutions.pop();
        quote = '`';
        code += ' ';
      }
    } else code += c;
  }
  // NOTE: `...arguments` is the object; `parsed.arguments` a property.
  return /(?<![.\w$])arguments(?![\w$])/.test(code.replaceAll('...', ' '));
}

/** Whether a `//` or `/*` comment opens at `i`. */
function isCommentStart(source: string, i: number): boolean {
  return source[i] === '/' && (source[i + 1] === '/' || source[i + 1] === '*');
}

/** Where the comment that opens at `start` ends (its last character). */
function commentEnd(source: string, start: number): number {
  const end =
    source[start + 1] === '/'
      ? source.indexOf('\n', start)
      : source.indexOf('*/', start) + 1;
  return end <= 0 ? source.length : end;
}

/** Whether a `/` after `code` opens a regex literal (rather than dividing). */
function regexMayFollow(code: string): boolean {
  const before = code.trimEnd();
  return (
    REGEX_MAY_FOLLOW.test(before.slice(-1)) ||
    /(?<![\w$.])(?:return|typeof|case|void|yield|await|in|of|delete|throw|else|do)$/.test(
      before,
    )
  );
}

/** A `/` after one of these (or at the start) opens a regex literal. */
const REGEX_MAY_FOLLOW = /^$|[(,=:[!&|?{};]/;

/** Where the regex literal that opens at `start` ends (its closing `/`). */
function regexEnd(source: string, start: number): number {
  let inClass = false;
  for (let i = start + 1; i < source.length; i++) {
    const c = source[i];
    if (c === '\\') i++;
    else if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    else if (c === '/' && !inClass) return i;
  }
  return source.length;
}
