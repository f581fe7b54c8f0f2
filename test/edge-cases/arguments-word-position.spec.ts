/**
 * A position past a method's parameters fails at startup unless the method
 * can take more arguments (it reads `arguments`, or its source is hidden).
 * The word "arguments" in a string, a comment or a property name is not
 * the `arguments` object: such a method still fails at startup.
 */
import { DistributedLock, InvalidLockTemplateError } from '../../lib/index.js';

test('a position past the parameters fails at startup though the body says "arguments" in a string, a comment or a property', () => {
  expect(() => {
    class Commands {
      @DistributedLock('cmd:<2>')
      run(name: string, parsed: { arguments: unknown[] }) {
        // checks the arguments
        if (!name) throw new Error('missing arguments');
        return parsed.arguments;
      }
    }
    void Commands;
  }).toThrow(InvalidLockTemplateError);
});

test('a method that reads the arguments object still accepts positions past its parameters', () => {
  class Wrapped {
    @DistributedLock('cmd:<1>')
    run() {
      return arguments.length;
    }
  }
  expect(typeof Wrapped.prototype.run).toBe('function');
});
