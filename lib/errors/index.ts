export * from './invalid-lock-key-argument.error.js';
export * from './invalid-lock-options.error.js';
export * from './invalid-lock-template.error.js';
