// Errors the command line reports itself (before or without the daemon): ipvsadm's words, exit 2.

export const PROGRAM = 'lvsadm';

/** ipvsadm's tryhelp_exit line. */
export const TRY_HELP = `Try \`${PROGRAM} -h' or '${PROGRAM} --help' for more information.`;

/** Usage and argument errors: the message goes to stderr as is (ipvsadm prints no prefix). */
export class CliError extends Error {
  /** Process exit status (ipvsadm's fail(2, ...) for every argument error). */
  readonly exitCode: number;

  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
