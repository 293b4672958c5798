// Errors the command line reports itself (before or without the daemon): ipvsadm's words and its
// exit statuses.

export const PROGRAM = 'lvsadm';

/** ipvsadm's tryhelp_exit line. */
export const TRY_HELP = `Try \`${PROGRAM} -h' or '${PROGRAM} --help' for more information.`;

/**
 * ipvsadm's exit statuses: 255 (its -1) for a change the kernel refuses, for options it cannot
 * parse (unknown, missing argument) and when the first word is not a command; 2 for its own
 * fail() (illegal values, illegal combinations, IPVS unreachable); 1 for a listing that fails.
 */
export const EXIT_REFUSED = 255;
export const EXIT_FAIL = 2;
export const EXIT_LIST_FAILED = 1;

/** Usage and argument errors: the message goes to stderr as is (ipvsadm prints no prefix). */
export class CliError extends Error {
  /** Process exit status: EXIT_FAIL (ipvsadm's fail(2, ...)) unless said otherwise. */
  readonly exitCode: number;

  constructor(message: string, exitCode = EXIT_FAIL) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}
