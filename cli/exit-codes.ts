export const EXIT = { ok: 0, failure: 1, usage: 2, stackDown: 3 } as const;

/** An error that carries the process exit code the CLI should end with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
  ) {
    super(message);
  }
}
