import { runControlWithNats } from '../control/nats-main.js';

/** `weir control`: the control API (NATS events when WEIR_NATS_URL is set); SIGTERM stops it. */
export async function runControlCommand(env: NodeJS.ProcessEnv): Promise<number> {
  const running = await runControlWithNats(env);
  if (running.bootstrapToken) process.stderr.write(`\nAdmin token (shown once, store it now):\n  ${running.bootstrapToken}\n\n`);
  return 0;
}
