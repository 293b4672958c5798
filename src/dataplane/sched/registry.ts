// Scheduler registry (ip_vs_sched.c): ipvsadm's -s names in ipvsadm's listing order.
import { SCHEDULER_NAMES } from '../../common/vocabulary.js';
import { dh } from './dh.js';
import { fo } from './fo.js';
import { lblc } from './lblc.js';
import { lblcr } from './lblcr.js';
import { lc } from './lc.js';
import { mh } from './mh.js';
import { nq } from './nq.js';
import { ovf } from './ovf.js';
import { rr } from './rr.js';
import type { Scheduler } from './scheduler.js';
import { sed } from './sed.js';
import { sh } from './sh.js';
import { wlc } from './wlc.js';
import { wrr } from './wrr.js';

const ALL: readonly Scheduler[] = [rr, wrr, lc, wlc, sed, nq, dh, sh, mh, lblc, lblcr, fo, ovf];
const BY_NAME = new Map(ALL.map((s) => [s.name, s]));

// The CLI knows the names from common/ without loading any scheduler: both lists must agree.
if (ALL.map((s) => s.name).join() !== SCHEDULER_NAMES.join())
  throw new Error('scheduler registry and SCHEDULER_NAMES disagree');

export { SCHEDULER_NAMES };

export function getScheduler(name: string): Scheduler | undefined {
  return BY_NAME.get(name);
}
