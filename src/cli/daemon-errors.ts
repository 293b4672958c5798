// Daemon error codes -> the words ipvsadm prints (libipvs ipvs_strerror, with Alibaba's local-address
// entries). ipvsadm picks the text by operation and errno: a missing service is "No such service"
// for -E/-D/-Z/-L but "Service not defined" for the real-server and local-address commands.
import type { Request } from '../control/protocol.js';

type Op = Request['op'];

/** Operations whose missing service reads "Service not defined" (ipvs_add_dest & co.). */
const SERVICE_NOT_DEFINED_OPS = new Set<Op>(['addDest', 'editDest', 'delDest', 'addLaddr', 'delLaddr']);

/** Codes whose ipvsadm wording is exact for the situation; other codes print the daemon's own
 *  message, which names the problem (ipvsadm's EINVAL/ENOMEM texts are about kernel modules). */
export function daemonErrorText(op: Op, code: string, message: string): string {
  switch (code) {
    case 'SVC_EXISTS':
      return 'Service already exists';
    case 'SVC_NOT_FOUND':
      if (op === 'batch') return message || 'Service not defined';
      return SERVICE_NOT_DEFINED_OPS.has(op) ? 'Service not defined' : 'No such service';
    case 'DEST_EXISTS':
      return 'Destination already exists';
    case 'DEST_NOT_FOUND':
      return 'No such destination';
    case 'LADDR_EXISTS':
      return 'Local address already exists';
    case 'LADDR_NOT_FOUND':
      return 'No such Local address';
    case 'SCHED_NOT_FOUND':
      return 'Scheduler or persistence engine not found';
    default:
      return message || code;
  }
}

/** A control-client error's code, when it has one. */
export function errorCode(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The refused request of a batch: the daemon's BatchError has `index` on the server side and ends
 *  its wire message with "(batch request N: op)" (1-based); either is understood here. */
export function batchFailure(e: unknown): { index: number; message: string } | undefined {
  const x = e as { index?: unknown; message?: unknown } | null;
  const message = typeof x?.message === 'string' ? x.message : '';
  const m = /\s*\(batch request (\d+): \w+\)$/.exec(message);
  const stripped = m ? message.slice(0, m.index) : message;
  if (typeof x?.index === 'number' && Number.isInteger(x.index) && x.index >= 0) {
    return { index: x.index, message: stripped };
  }
  return m ? { index: Number(m[1]) - 1, message: stripped } : undefined;
}

/** Connection failures that mean "no daemon there" (the client's code, or a raw socket errno). */
export const UNREACHABLE_CODES = new Set(['UNREACHABLE', 'ENOENT', 'ECONNREFUSED', 'ENOTSOCK']);

/** The client could talk to nobody, or not understand the answer: exit 2, the message as is. */
export const TRANSPORT_CODES = new Set(['TIMEOUT', 'EPROTO']);
