/** The app's settings, read from the environment at startup. */
import { loadConfig } from '../src/app.config.js';

describe('loadConfig', () => {
  it.each([
    ['DATABASE_URL', 'postgress://shop:hunter2@db.internal:5432/shop'],
    ['REDIS_URL', 'redis//:hunter2@cache.internal:6379'],
  ])('refuses a malformed %s without echoing its password', (name, value) => {
    let message = '';
    try {
      loadConfig({ [name]: value });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(new RegExp(`^${name} must match`));
    expect(message).not.toContain('hunter2');
  });

  it('mounts the unlocked demonstration endpoint only when asked', () => {
    expect(loadConfig({}).unlockedEndpoint).toBe(false);
    expect(loadConfig({ UNLOCKED_ENDPOINT: 'true' }).unlockedEndpoint).toBe(
      true,
    );
    expect(loadConfig({ UNLOCKED_ENDPOINT: 'false' }).unlockedEndpoint).toBe(
      false,
    );
    expect(() => loadConfig({ UNLOCKED_ENDPOINT: 'yes please' })).toThrow(
      /UNLOCKED_ENDPOINT must be true or false \(got "yes please"\)/,
    );
  });
});
