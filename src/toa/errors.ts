// Errors of `lvsadm toa ...`: a stable code, a message that says what to do. The CLI prints
// `lvsadm toa: <message>` and exits 1 (2 for USAGE).

export type ToaErrorCode =
  | 'USAGE' // bad arguments
  | 'NOT_ROOT' // loading, unloading and building into system paths need root
  | 'NO_BPF' // the kernel has no bpf() (CONFIG_BPF_SYSCALL) or no cgroup BPF (CONFIG_CGROUP_BPF)
  | 'NO_TOOL' // a program is missing (bpftool, make, gcc, insmod, mount); the message names the package
  | 'NO_CGROUP2' // no cgroup v2 mounted and it cannot be mounted
  | 'CGROUP_MISSING' // --cgroup PATH does not exist or is not a cgroup v2 directory
  | 'PIN_DIR' // the pin directory is not on a BPF filesystem or is unusable
  | 'OTHER_BUILD' // a different build of the eBPF reader is loaded
  | 'BPF_LOAD' // bpftool could not load the object (verifier, missing features)
  | 'BPF_ATTACH' // bpftool could not attach or detach
  | 'NO_MODULES' // the kernel has no loadable module support
  | 'NO_HEADERS' // no kernel build directory for the target kernel
  | 'BUILD' // make failed (or warned with --strict)
  | 'NO_MODULE_FILE' // toa.ko not built yet
  | 'KMOD'; // insmod or rmmod failed

const BRAND = Symbol.for('lvsadm.ToaError');

export class ToaError extends Error {
  readonly code: ToaErrorCode;
  readonly [BRAND] = true;

  constructor(code: ToaErrorCode, message: string) {
    super(message);
    this.name = 'ToaError';
    this.code = code;
  }

  static is(e: unknown): e is ToaError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[BRAND] === true;
  }
}
