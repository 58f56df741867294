/**
 * CPU time and memory of a process and its descendants, read from /proc (Linux only).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clockTicks: number | undefined;

/** Clock ticks per second for /proc/<pid>/stat times (`getconf CLK_TCK`, else 100). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim());
      clockTicks = Number.isInteger(n) && n > 0 ? n : 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime of one process (all its threads), in clock ticks; undefined once it is gone. */
export function parseStatCpuTicks(stat: string): number | undefined {
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
  const close = stat.lastIndexOf(')');
  if (close < 0) return undefined;
  const rest = stat.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return utime + stime;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** `pid` and every live descendant (through /proc/<pid>/task/<tid>/children). */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop() as number;
    out.push(p);
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      const children = readText(`/proc/${p}/task/${tid}/children`);
      if (!children) continue;
      for (const c of children.trim().split(/\s+/)) {
        const n = Number(c);
        if (Number.isInteger(n) && n > 0 && !out.includes(n) && !todo.includes(n)) todo.push(n);
      }
    }
  }
  return out;
}

/** CPU seconds (user + system) used so far by `pid` and its descendants. */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    const stat = readText(`/proc/${p}/stat`);
    const t = stat === undefined ? undefined : parseStatCpuTicks(stat);
    if (t !== undefined) ticks += t;
  }
  return ticks / clockTicksPerSecond();
}

/** A `Vm*:   1234 kB` field of /proc/<pid>/status, in bytes. */
export function parseStatusKb(status: string, field: string): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
  return m?.[1] === undefined ? undefined : Number(m[1]) * 1024;
}

/** Sum of a /proc/<pid>/status field (VmRSS, VmHWM) over `pid` and its descendants, in bytes. */
export function treeStatusBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  let total = 0;
  for (const p of processTree(pid)) {
    const status = readText(`/proc/${p}/status`);
    const v = status === undefined ? undefined : parseStatusKb(status, field);
    if (v !== undefined) total += v;
  }
  return total;
}

/** Samples the tree's RSS every `intervalMs`, keeping the maximum and a timeline. */
export class RssSampler {
  max = 0;
  readonly timeline: { atMs: number; rss: number }[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly pid: number,
    readonly intervalMs = 500,
  ) {}

  sample(): number {
    const rss = treeStatusBytes(this.pid, 'VmRSS');
    if (rss > 0) {
      this.max = Math.max(this.max, rss);
      this.timeline.push({ atMs: Date.now(), rss });
    }
    return rss;
  }

  start(): void {
    this.sample();
    this.#timer = setInterval(() => this.sample(), this.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** Busy CPU seconds of the whole machine so far (all CPUs, from the first line of /proc/stat). */
export function machineBusySeconds(): number {
  const text = readText('/proc/stat');
  const line = text?.split('\n', 1)[0];
  if (line === undefined || !line.startsWith('cpu ')) return Number.NaN;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
  return busy / clockTicksPerSecond();
}
