export * from './lua-script.js';
export * from './acquire.script.js';
export * from './extend.script.js';
export * from './release.script.js';
export * from './dequeue.script.js';
export * from './batch.script.js';
