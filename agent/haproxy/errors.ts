/** Errors raised by the HAProxy plumbing. Each message names what failed and what to check. */

/** The CLI socket could not be reached, closed mid-reply, or did not answer in time. */
export class RuntimeSocketError extends Error {
  override readonly name = 'RuntimeSocketError';
  constructor(
    readonly socket: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`HAProxy CLI socket ${socket}: ${reason}`, options);
  }
}

/** HAProxy answered a command with an error reply. */
export class RuntimeCommandError extends Error {
  override readonly name = 'RuntimeCommandError';
  constructor(
    readonly command: string,
    readonly reply: string,
  ) {
    super(`HAProxy rejected "${truncate(command, 200)}": ${truncate(reply, 500) || '(empty reply)'}`);
  }
}

/** A master-CLI reload did not produce a new worker. */
export class ReloadFailedError extends Error {
  override readonly name = 'ReloadFailedError';
  constructor(
    readonly reason: string,
    readonly stderrTail: string[] = [],
  ) {
    const tail = stderrTail.length > 0 ? `\nLast HAProxy stderr lines:\n${stderrTail.join('\n')}` : '';
    super(
      `HAProxy reload failed (${reason}); the old worker keeps serving the previous configuration. ` +
        `HAProxy wrote the reason to its stderr, which the supervisor captures.${tail}`,
    );
  }
}

/** The HAProxy binary could not be run (missing, not executable, or killed). */
export class HaproxyExecError extends Error {
  override readonly name = 'HaproxyExecError';
  constructor(
    readonly bin: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot run HAProxy binary "${bin}": ${reason} (check the path, or set it in the agent config)`, options);
  }
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
