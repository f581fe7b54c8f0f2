export * from './lock-error.js';
export * from './lock-not-acquired.error.js';
export * from './lock-wait-timeout.error.js';
export * from './lock-lost.error.js';
export * from './lock-backend-unavailable.error.js';
export * from './invalid-lock-key.error.js';
export * from './lock-aborted.error.js';
export * from './lock-manager-closed.error.js';
