// The library under test, compiled by `npm run bench` into bench/.dist (a
// private copy: `npm test` rebuilds dist/ and could swap files under a run).
// The lock engine only: the Nest layer is imported where it is measured.
export * from '../.dist/core/index.js';
