#!/usr/bin/env node
// Short HTTP connections at a fixed rate, the client closing first (so the client, not the
// server, keeps TIME_WAIT, and the load balancer's entries are not recycled by a client port
// coming back): the load of a sustained-rate run. Run inside the client namespace:
//   node close-first-client.mjs URL RATE SECONDS SRC[,SRC...]
// Each connection sends one keep-alive GET, reads the whole response (Content-Length), then
// ends its side. A connection that fails, or has no complete answer within 3 s, is a failure.
// Source addresses rotate so the client's own ports (per source) are not the limit.
// Prints one JSON line: {"started":N,"ok":N,"failed":N,"errors":{"ECONNREFUSED":N,...},"seconds":S}.
import net from 'node:net';

const [url, rateArg, secondsArg, srcArg] = process.argv.slice(2);
if (!url || !rateArg || !secondsArg || !srcArg) {
  process.stderr.write('usage: close-first-client.mjs URL RATE SECONDS SRC[,SRC...]\n');
  process.exit(2);
}
const u = new URL(url);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const sources = srcArg.split(',');
const request = Buffer.from(
  `GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUser-Agent: lvsadm-bench\r\n\r\n`,
);
const TICK_MS = 10;
const TIMEOUT_MS = 3000;

let started = 0;
let ok = 0;
let failed = 0;
let open = 0;
const errors = {};
const fail = (why) => {
  failed++;
  errors[why] = (errors[why] ?? 0) + 1;
};

function one(src) {
  started++;
  open++;
  let got = Buffer.alloc(0);
  let need = -1;
  let done = false;
  const s = net.connect({ host: u.hostname, port: Number(u.port || 80), localAddress: src });
  const finish = (why) => {
    if (done) return;
    done = true;
    open--;
    if (why === null) ok++;
    else fail(why);
  };
  const timer = setTimeout(() => {
    finish('timeout');
    s.destroy();
  }, TIMEOUT_MS);
  s.on('connect', () => s.write(request));
  s.on('data', (d) => {
    got = Buffer.concat([got, d]);
    if (need < 0) {
      const h = got.indexOf('\r\n\r\n');
      if (h < 0) return;
      const m = /content-length:\s*(\d+)/i.exec(got.subarray(0, h).toString('latin1'));
      if (!m) {
        clearTimeout(timer);
        finish('no-content-length');
        s.destroy();
        return;
      }
      need = h + 4 + Number(m[1]);
    }
    if (got.length >= need) {
      clearTimeout(timer);
      finish(null);
      s.end(); // our FIN first
    }
  });
  s.on('error', (e) => {
    clearTimeout(timer);
    finish(e.code ?? 'error');
  });
  s.on('close', () => {
    clearTimeout(timer);
    finish('closed-early');
  });
}

const t0 = performance.now();
let next = 0;
const ticker = setInterval(() => {
  const elapsed = performance.now() - t0;
  if (elapsed >= seconds * 1000) {
    clearInterval(ticker);
    const wait = setInterval(() => {
      if (open === 0 || performance.now() - t0 > seconds * 1000 + TIMEOUT_MS + 1000) {
        clearInterval(wait);
        const out = {
          started,
          ok,
          failed: failed + open,
          errors,
          seconds: Number((elapsed / 1000).toFixed(1)),
        };
        process.stdout.write(`${JSON.stringify(out)}\n`);
        process.exit(0);
      }
    }, 50);
    return;
  }
  // Catch up to the schedule: rate * elapsed connections by now.
  const due = Math.floor((rate * elapsed) / 1000);
  while (started < due) one(sources[next++ % sources.length]);
}, TICK_MS);
