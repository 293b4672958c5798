// Persistence of the configuration in the state directory, so a restarted daemon (even after
// kill -9 or a power cut) comes back with what it had.
//
// Save: write state.json.tmp (mode 0600, created fresh), fsync it, rename it over state.json,
// fsync the directory. The rename is atomic, so state.json is always either the old or the new
// complete file; a leftover state.json.tmp is an interrupted save and is ignored (and removed).
// Load: a missing file is an empty configuration; an unreadable one (bad JSON, bad shape,
// inconsistent content, unknown format version) stops the start with an error naming the file.
// The bad file is never dropped: it stays where it is and a copy is kept as
// state.json.corrupt-<time>, so a restart loop cannot turn it into an empty configuration.
import { constants } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultSysctls } from '../common/sysctls.js';
import { type Config, ConfigModel } from './config-model.js';
import type { Log } from './log.js';
import { silentLog } from './log.js';
import { checkConfigShape } from './validate.js';

export const STATE_FILE = 'state.json';
/**
 * Format of the file; bump it when its layout changes (and read the old one).
 * 1: services and timeouts. 2: `config.sysctl` too (a version 1 file reads with the defaults).
 */
export const STATE_VERSION = 2;
const FORMAT = 'lvsadm-state';

export interface StateFileContent {
  format: typeof FORMAT;
  version: number;
  /** ISO time of the save (for humans). */
  savedAt: string;
  config: Config;
}

/** The state could not be read or written; `file` is the path concerned. */
export class StateError extends Error {
  readonly code = 'ESTATE';
  readonly file: string;

  constructor(file: string, message: string) {
    super(message);
    this.name = 'StateError';
    this.file = file;
  }
}

export interface StateStoreOptions {
  log?: Log;
  /** Clock for `savedAt` and the corrupt copy's name. */
  now?: () => Date;
  /** Test hook: runs after the temporary file is written and synced, before the rename. */
  beforeRename?: () => void | Promise<void>;
}

export class StateStore {
  readonly dir: string;
  readonly file: string;
  readonly tmpFile: string;
  private readonly log: Log;
  private readonly now: () => Date;
  private readonly beforeRename: (() => void | Promise<void>) | undefined;
  /** Saves run one after the other. */
  private tail: Promise<void> = Promise.resolve();

  constructor(dir: string, opts: StateStoreOptions = {}) {
    this.dir = dir;
    this.file = join(dir, STATE_FILE);
    this.tmpFile = `${this.file}.tmp`;
    this.log = opts.log ?? silentLog;
    this.now = opts.now ?? (() => new Date());
    this.beforeRename = opts.beforeRename;
  }

  /**
   * Reads the stored configuration: null when there is none yet. Creates the state directory
   * (0700) when missing. Throws StateError when the file exists but cannot be used.
   */
  async load(): Promise<Config | null> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await this.dropTmp();
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new StateError(this.file, `cannot read state file ${this.file}: ${(e as Error).message}`);
    }
    let content: unknown;
    try {
      content = JSON.parse(text);
    } catch (e) {
      return this.corrupt(text, `not valid JSON: ${(e as Error).message}`);
    }
    if (typeof content !== 'object' || content === null || Array.isArray(content)) {
      return this.corrupt(text, 'not a JSON object');
    }
    const c = content as Record<string, unknown>;
    if (c.format !== FORMAT) return this.corrupt(text, `no "format": "${FORMAT}" field`);
    if (typeof c.version !== 'number' || !Number.isInteger(c.version) || c.version < 1) {
      return this.corrupt(text, 'no valid "version" field');
    }
    if (c.version > STATE_VERSION) {
      throw new StateError(
        this.file,
        `state file ${this.file} has format version ${c.version}, written by a newer lvsadm; ` +
          `this one reads version ${STATE_VERSION}. Refusing to start rather than lose its configuration.`,
      );
    }
    try {
      checkConfigShape(c.config);
    } catch (e) {
      return this.corrupt(text, (e as Error).message);
    }
    const stored = c.config as Omit<Config, 'sysctl'> & { sysctl?: Partial<Config['sysctl']> };
    const config: Config = { ...stored, sysctl: { ...defaultSysctls(), ...stored.sysctl } };
    try {
      ConfigModel.fromConfig(config);
    } catch (e) {
      return this.corrupt(text, `inconsistent configuration: ${(e as Error).message}`);
    }
    return config;
  }

  private async dropTmp(): Promise<void> {
    try {
      await rm(this.tmpFile);
      this.log.warn(`removed ${this.tmpFile} left by an interrupted save (${this.file} is intact)`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  /** Keeps a copy of the bad file (once per distinct content) and refuses. */
  private async corrupt(text: string, why: string): Promise<never> {
    let copy: string | undefined;
    for (const name of await readdir(this.dir)) {
      if (!name.startsWith(`${STATE_FILE}.corrupt-`)) continue;
      const p = join(this.dir, name);
      if ((await readFile(p, 'utf8').catch(() => undefined)) === text) copy = p;
    }
    if (!copy) {
      copy = `${this.file}.corrupt-${this.now().toISOString().replace(/[:.]/g, '-')}`;
      await copyFile(this.file, copy, constants.COPYFILE_EXCL);
    }
    throw new StateError(
      this.file,
      `state file ${this.file} is corrupt (${why}). Refusing to start so its configuration is not lost; ` +
        `a copy is kept as ${copy}. Repair the file, or move it away to start with an empty configuration.`,
    );
  }

  /** Stores `config` durably; concurrent calls are written one after the other, in call order. */
  save(config: Config): Promise<void> {
    const content: StateFileContent = {
      format: FORMAT,
      version: STATE_VERSION,
      savedAt: this.now().toISOString(),
      config,
    };
    const data = `${JSON.stringify(content, null, 1)}\n`;
    const p = this.tail.then(() => this.write(data));
    this.tail = p.catch(() => {});
    return p;
  }

  private async write(data: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await rm(this.tmpFile, { force: true });
    const fh = await open(this.tmpFile, 'wx', 0o600);
    try {
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.beforeRename?.();
    await rename(this.tmpFile, this.file);
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}
