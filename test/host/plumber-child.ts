// Runs a HostPlumber in its own process (started by the tests with `ip netns exec <lb>`), driven by
// JSON lines on stdin: {"id":1,"op":"start","tun":"lvt0","spawnTun":true}, {"op":"sync",...},
// {"op":"stop"}, {"op":"cleanupStale","tun":...}, {"op":"write","hex":...}, {"op":"closeTun"}.
// Answers {"id":1,"ok":true,"result":...} or {"id":1,"ok":false,"error":"..."} on stdout; with
// spawnTun the TUN is held by a child tun-holder.pl (as the daemon would hold it) and every
// packet the kernel sends into it is reported as {"ev":"pkt","hex":"..."}. Logs go to stderr.
// Usage: node --import tsx plumber-child.ts STATE_DIR

import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { HostPlumber } from '../../src/host/plumber.js';

const stateDir = process.argv[2];
if (!stateDir) {
  process.stderr.write('usage: plumber-child.ts STATE_DIR\n');
  process.exit(2);
}

const out = (msg: unknown) => process.stdout.write(`${JSON.stringify(msg)}\n`);
const plumber = new HostPlumber({ stateDir, log: (l) => process.stderr.write(`${l}\n`) });
let holder: ChildProcess | null = null;

function spawnTun(name: string): Promise<void> {
  const holderPath = fileURLToPath(new URL('tun-holder.pl', import.meta.url));
  const child = spawn('perl', [holderPath, name], { stdio: ['pipe', 'pipe', 'inherit'] });
  holder = child;
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      if (l.startsWith('ready ')) resolve();
      else if (l.startsWith('pkt ')) out({ ev: 'pkt', hex: l.slice(4) });
    });
    child.on('exit', (code) => reject(new Error(`tun-holder exited with ${code}`)));
  });
}

async function closeTun(): Promise<void> {
  const h = holder;
  holder = null;
  if (!h || h.exitCode !== null) return;
  const exited = new Promise((r) => h.on('exit', r));
  h.stdin!.end();
  await exited;
}

type Req = { id: number; op: string; [k: string]: unknown };

async function handle(req: Req): Promise<unknown> {
  switch (req.op) {
    case 'start': {
      const tun = req.tun as string;
      await plumber.start(req.spawnTun ? { tun, createTun: () => spawnTun(tun) } : { tun });
      return null;
    }
    case 'sync':
      return plumber.sync({ vips: req.vips as string[], lips: req.lips as string[] });
    case 'stop':
      await plumber.stop();
      return null;
    case 'cleanupStale':
      return plumber.cleanupStale({ tun: req.tun as string });
    case 'write':
      holder!.stdin!.write(`${req.hex as string}\n`);
      return null;
    case 'closeTun':
      await closeTun();
      return null;
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

const rl = createInterface({ input: process.stdin });
let chain: Promise<unknown> = Promise.resolve();
rl.on('line', (line) => {
  const req = JSON.parse(line) as Req;
  chain = chain.then(async () => {
    try {
      out({ id: req.id, ok: true, result: (await handle(req)) ?? null });
    } catch (e) {
      out({ id: req.id, ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  });
});
rl.on('close', () => {
  chain.then(closeTun).then(() => process.exit(0));
});
