// `lvsadm daemon [--socket PATH] [--state-dir DIR] [--tun NAME] ...`: flags, defaults and signals.

import type { SubcommandIo } from '../cli/main.js';
import { packageVersion } from '../common/version.js';
import { stderrLog } from '../control/log.js';
import { startDaemon } from './daemon.js';

export const DEFAULT_SOCKET = '/run/lvsadm/lvsadm.sock';
export const DEFAULT_STATE_DIR = '/var/lib/lvsadm';
export const DEFAULT_TUN = 'lvs0';

const USAGE = `usage: lvsadm daemon [options]
  --socket PATH         control socket (env LVSADM_SOCKET; default ${DEFAULT_SOCKET})
  --state-dir DIR       where the configuration is kept across restarts (default ${DEFAULT_STATE_DIR})
  --tun NAME            TUN device to create and serve (default ${DEFAULT_TUN})
  --queues N            TUN queues (default 1)
  --offload on|off|auto TUN checksum and segmentation offload: bulk TCP moves as GSO packets of up
                        to 64 KB instead of one packet per MTU, about 9x the throughput
                        (default auto: on where the kernel offers it)
  --conn-capacity N     most connections (default 1048576)
  --tick-ms N           engine clock tick in ms (default 100)
  --host-check-s N      how often routes and proxy entries are checked and repaired, e.g. after
                        a link went down and took its proxy entries along (default 5; 0 = never)
  -h, --help            this text
Runs in the foreground until SIGINT or SIGTERM, then removes its routes and proxy entries and
restores the sysctls it changed. The configuration is changed with ipvsadm-style commands
(lvsadm -A ..., -a ..., -P ...) and survives restarts, including kill -9.`;

function intArg(name: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < min || n > max) {
    throw new Error(`${name} needs an integer from ${min} to ${max}`);
  }
  return n;
}

export async function daemonMain(args: string[], io: SubcommandIo): Promise<number> {
  let socketPath = io.env.LVSADM_SOCKET || DEFAULT_SOCKET;
  let stateDir = DEFAULT_STATE_DIR;
  let tun = DEFAULT_TUN;
  let queues = 1;
  let connCapacity = 1 << 20;
  let tickMs = 100;
  let hostCheckS = 5;
  let offload: 'on' | 'off' | 'auto' = 'auto';
  try {
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      const [flag, inline] =
        a.startsWith('--') && a.includes('=')
          ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]
          : [a, undefined];
      const val = (): string => {
        const v = inline ?? args[++i];
        if (v === undefined || v === '') throw new Error(`${flag} needs a value`);
        return v;
      };
      switch (flag) {
        case '-h':
        case '--help':
          io.stdout.write(`${USAGE}\n`);
          return 0;
        case '--socket':
          socketPath = val();
          break;
        case '--state-dir':
          stateDir = val();
          break;
        case '--tun':
          tun = val();
          if (tun.length > 15 || !/^[A-Za-z0-9_.-]+$/.test(tun))
            throw new Error(`--tun: bad interface name ${JSON.stringify(tun)}`);
          break;
        case '--queues':
          queues = intArg('--queues', val(), 1, 64);
          break;
        case '--conn-capacity':
          connCapacity = intArg('--conn-capacity', val(), 1, 1 << 26);
          break;
        case '--tick-ms':
          tickMs = intArg('--tick-ms', val(), 10, 1000);
          break;
        case '--offload': {
          const v = val();
          if (v !== 'on' && v !== 'off' && v !== 'auto') throw new Error('--offload needs on, off or auto');
          offload = v;
          break;
        }
        case '--host-check-s':
          hostCheckS = intArg('--host-check-s', val(), 0, 3600);
          break;
        default:
          throw new Error(`unknown option ${a}`);
      }
    }
  } catch (e) {
    io.stderr.write(`lvsadm daemon: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon({
      socketPath,
      stateDir,
      tun,
      queues,
      offload,
      connCapacity,
      tickMs,
      hostCheckMs: hostCheckS * 1000,
      cookieRotateMs: 5 * 60_000,
      version: packageVersion(),
      log: stderrLog,
    });
  } catch (e) {
    io.stderr.write(`lvsadm daemon: ${(e as Error).message}\n`);
    return 1;
  }
  const onSignal = (sig: string) => {
    stderrLog.info(`lvsadm daemon: ${sig}, stopping`);
    void daemon.stop();
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  await daemon.done;
  return 0;
}
