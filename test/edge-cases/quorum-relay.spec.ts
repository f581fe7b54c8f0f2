/**
 * The quorum store's NoticeRelay must deliver a release that a quorum
 * of masters announced, even when the batch it joined was opened (by a lone
 * give-back notice) almost NOTICE_WINDOW_MS earlier.
 */
import { jest } from '@jest/globals';
import { RedlockStore } from '../../lib/index.js';
import { ScriptedStore } from '../support/scripted-store.js';

afterEach(() => {
  jest.useRealTimers();
});

it('delivers a release that a quorum announced, even when the window of the batch it joined ends during the grace', async () => {
  jest.useFakeTimers();
  const masters = [
    new ScriptedStore(),
    new ScriptedStore(),
    new ScriptedStore(),
  ];
  const store = new RedlockStore({ masters });
  const notices: Array<[string, string]> = [];
  const unsubscribe = await store.subscribe(['k'], (key, id) =>
    notices.push([key, id]),
  );
  // a refused attempt gives back its minority grant: a lone notice
  masters[2].notify('k', '100');
  jest.advanceTimersByTime(995);
  // ~1 s later a holder releases; master 1 is down (its notices are lost):
  // master 0 announces it, which makes a quorum with the lone notice...
  masters[0].notify('k', '200');
  jest.advanceTimersByTime(7);
  // ...and master 2 announces the same release inside the 10 ms grace
  masters[2].notify('k', '200');
  jest.advanceTimersByTime(2000);
  expect(notices).toEqual([['k', '200']]);
  unsubscribe();
});
