// Re-exported so every test file imports the runner the same way.
export { suite, test } from 'uvu';
export * as assert from 'uvu/assert';
