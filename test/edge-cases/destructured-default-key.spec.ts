/**
 * A placeholder on a parameter whose default the key cannot know fails at
 * startup (README, Keys): also when that parameter is destructured
 * (`{ id } = { id: 'x' }`), whose default the method applies but the key
 * would not (every call without the argument answered 400).
 */
import { DistributedLock, InvalidLockTemplateError } from '../../lib/index.js';

test('a placeholder into a destructured parameter with a default fails at startup', () => {
  expect(() => {
    class Reports {
      @DistributedLock('report:<0.id>')
      run({ id }: { id: string } = { id: 'daily' }) {
        return id;
      }
    }
    void Reports;
  }).toThrow(InvalidLockTemplateError);
  expect(() => {
    class Reports {
      @DistributedLock('report:<1.0>')
      run(kind: string, [day]: string[] = ['mon']) {
        return [kind, day];
      }
    }
    void Reports;
  }).toThrow(/default value is not a string or number literal/);
});

test('a destructured parameter without a default, or one the key does not read, stays usable', () => {
  class Reports {
    @DistributedLock('report:<0.id>')
    run({ id }: { id: string }, { page } = { page: 1 }) {
      return [id, page];
    }
  }
  expect(typeof Reports.prototype.run).toBe('function');
});
