// lvsadm command line entry (bin/lvsadm runs the compiled dist/src/cli/main.js).
// For now: usage, version, and a clear "not implemented yet" for everything else. The
// ipvsadm-compatible parser (one command spec table, see DESIGN.md) replaces the stub below.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The IPVS version the listing and --version claim compatibility with. */
export const IPVS_VERSION = '1.2.1';

/** Minimal writable the CLI prints to (process.stdout/stderr, or a capture in tests). */
export interface Out {
  write(s: string): unknown;
}

/** Version of the lvsadm package: read from the nearest package.json named lvsadm above this file
 *  (src/cli/ under tsx, dist/src/cli/ when built). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'lvsadm' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no (readable) package.json here: keep walking up
    }
    const up = dirname(dir);
    if (up === dir) return '0.0.0';
    dir = up;
  }
}

export function versionText(): string {
  return `lvsadm v${packageVersion()} (IP Virtual Server version ${IPVS_VERSION} compatible)\n`;
}

export function usageText(): string {
  return `${versionText()}Usage:
  lvsadm -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [-b sched-flags] [-j enable|disable]
  lvsadm -D virtual-service
  lvsadm -C
  lvsadm -R
  lvsadm -S [-n]
  lvsadm -a|e virtual-service -r server-address [-b] [-w weight] [-x upper-threshold] [-y lower-threshold]
  lvsadm -d virtual-service -r server-address
  lvsadm -L|l [virtual-service] [options]
  lvsadm -Z [virtual-service]
  lvsadm --set tcp tcpfin udp
  lvsadm -P|Q virtual-service -z local-address
  lvsadm -G [virtual-service]
  lvsadm daemon --socket PATH --state-dir DIR --tun NAME   the userspace dataplane
  lvsadm top                                              live view of services and rates
  lvsadm toa ...                                          RealServer TOA reader helpers
  lvsadm -h|--help
  lvsadm -v|--version

virtual-service:
  -t|u service-address   service-address is host[:port], IPv6 as [addr]:port

Status: only --help and --version work in this version. The packet engine (FULLNAT,
SYNPROXY, TOA, schedulers) is being built as a library; the commands above, the daemon,
top and the toa helpers come next.
`;
}

/** Runs the CLI on `argv` (without node and script); returns the process exit code. */
export function main(argv: readonly string[], out: Out = process.stdout, err: Out = process.stderr): number {
  if (argv.length === 0 || argv.includes('-h') || argv.includes('--help')) {
    out.write(usageText());
    return 0;
  }
  const cmd = argv[0]!;
  if (cmd === '-v' || cmd === '--version') {
    out.write(versionText());
    return 0;
  }
  err.write(`lvsadm: ${cmd}: not implemented yet\n`);
  return 1;
}
