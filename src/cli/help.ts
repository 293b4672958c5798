// --help text, built from the tables in spec.ts in ipvsadm's layout (usage, commands, options).
import { PROGRAM } from './cli-error.js';
import { COMMANDS, OPTIONS, type OptionSpec, SUBCOMMANDS } from './spec.js';

/** `-p [timeout]`, `-s scheduler`, `-n` */
export function optionArgText(o: OptionSpec): string {
  if (o.arg === 'none') return '';
  const name = o.argName ?? 'value';
  return o.arg === 'optional' ? `[${name}]` : name;
}

function optionLine(o: OptionSpec): string {
  const arg = optionArgText(o);
  const long = `--${o.long}`;
  let head: string;
  if (o.short) {
    const lead = long.length >= 15 ? `${long}  ` : long.padEnd(15);
    head = `${lead}-${o.short}${arg ? ` ${arg}` : ''}`;
  } else {
    head = `${long}${arg ? ` ${arg}` : ''}`;
  }
  head = head.length >= 36 ? `${head} ` : head.padEnd(36);
  return `  ${head}${o.help}\n`;
}

export function usageBody(): string {
  let out = 'Usage:\n';
  for (const c of COMMANDS) out += `  ${PROGRAM} ${c.usage}\n`;
  for (const s of SUBCOMMANDS) out += `  ${PROGRAM} ${s.usage}\n`;
  out += '\nCommands:\nEither long or short options are allowed.\n';
  for (const c of COMMANDS) {
    const long = c.id === 'set' ? '--set tcp tcpfin udp' : `--${c.long}`;
    const short = c.short.map((s) => `-${s}`).join('|');
    const head = (long.length >= 18 ? `${long} ` : long.padEnd(18)) + short;
    out += `  ${head.length >= 28 ? `${head} ` : head.padEnd(28)}${c.help}\n`;
  }
  out += '\nvirtual-service:\n';
  for (const o of OPTIONS) if (o.group === 'service-address') out += optionLine(o);
  out += '\nOptions:\n';
  for (const o of OPTIONS) if (o.group !== 'service-address') out += optionLine(o);
  out += '\nSubcommands:\n';
  for (const s of SUBCOMMANDS) out += `  ${s.name.padEnd(16)}${s.help}\n`;
  return out;
}
