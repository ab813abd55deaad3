export * from './authorization.js';
export * from './decide.js';
export * from './events.js';
export * from './patch.js';
export * from './state.js';
export * from './values.js';
