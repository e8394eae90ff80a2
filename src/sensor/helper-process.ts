/**
 * One run of the native helper (bpf/build/vigil-bpf): spawns it, decodes its frames, sends
 * control commands and matches their acks (the helper answers ack-producing commands in
 * order). Restarting after a crash is the sensor's job, not this class's.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { type ErrorCode, ErrorCodes, VigilError } from "../errors.js";
import type { Logger } from "../telemetry/logger.js";
import { FrameReader, type WireItem } from "./wire.js";

export interface HelperHello {
  wireVersion: number;
  pid: number;
  ngram: number;
  syscallHook: string;
  /** "fentry" or "lsm": opens with full kernel paths; "sys_enter": the fallback. */
  fileHook: string;
  /** Why the full-path hooks are not in use, e.g. "fentry: Operation not permitted; lsm: ...". */
  fileHookFallback: string;
  kernel: string;
  arch: string;
  /** Same instant on both clocks: converts the kernel's monotonic ns to wall time. */
  monotonicNs: number;
  realtimeNs: number;
}

export interface HelperOptions {
  path: string;
  ngram: number;
  ngramMapEntries: number;
  flowMapEntries: number;
  ringbufBytes: number;
  reportUntrackedExecs: boolean;
  syscallHook?: "auto" | "tp_btf" | "raw_tp";
  fileHook?: "auto" | "fentry" | "lsm" | "sys_enter";
  /** First id the kernel may give an auto-matched agent: set above every id still in use. */
  autoInstanceBase?: number;
  startTimeoutMs?: number;
}

export interface HelperExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Last lines the helper wrote on stderr, for the report. */
  stderrTail: string;
  expected: boolean;
}

interface Ack {
  kind: "ack";
  op: string;
  ok: boolean;
  error?: string;
  threads?: number;
}

interface PendingAck {
  resolve: (ack: Ack) => void;
  reject: (e: Error) => void;
}

const KNOWN_CODES = new Set<string>(Object.values(ErrorCodes));

export class HelperProcess {
  readonly hello: HelperHello;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly acks: PendingAck[];
  private stopping = false;
  private exited: Promise<HelperExit>;

  private constructor(
    child: ChildProcessWithoutNullStreams,
    hello: HelperHello,
    acks: PendingAck[],
    exited: Promise<HelperExit>,
  ) {
    this.child = child;
    this.hello = hello;
    this.acks = acks;
    this.exited = exited;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Wall-clock milliseconds for a kernel CLOCK_MONOTONIC timestamp. */
  toEpochMs(monotonicNs: number): number {
    return (this.hello.realtimeNs - this.hello.monotonicNs + monotonicNs) / 1e6;
  }

  /**
   * Starts the helper and waits for its hello. A helper that fails at start-up (not root, no
   * BTF, verifier rejection) rejects with its own error code, message and fix.
   */
  static async open(
    options: HelperOptions,
    onItem: (item: WireItem) => void,
    onExit: (exit: HelperExit) => void,
    logger: Logger,
  ): Promise<HelperProcess> {
    try {
      await access(options.path, constants.X_OK);
    } catch (cause) {
      throw new VigilError(
        ErrorCodes.HELPER_MISSING,
        `the BPF helper ${options.path} is missing or not executable`,
        { hint: "build it with `npm run setup` (or `make -C bpf`)", cause },
      );
    }
    const args = [
      "run",
      "--ngram",
      String(options.ngram),
      "--ngram-entries",
      String(options.ngramMapEntries),
      "--flow-entries",
      String(options.flowMapEntries),
      "--ringbuf-bytes",
      String(options.ringbufBytes),
      "--syscall-hook",
      options.syscallHook ?? "auto",
      "--file-hook",
      options.fileHook ?? "auto",
    ];
    if (!options.reportUntrackedExecs) args.push("--no-untracked-execs");
    if (options.autoInstanceBase) {
      args.push("--auto-instance-base", String(options.autoInstanceBase));
    }
    // Its own process group: a terminal's Ctrl-C reaches the service, which then stops the
    // helper in order, instead of killing both at once. It still dies with the service, as it
    // exits when its stdin closes.
    const child = spawn(options.path, args, { stdio: ["pipe", "pipe", "pipe"], detached: true });
    const reader = new FrameReader({ ngramN: options.ngram });
    const acks: PendingAck[] = [];
    let stderrTail = "";
    let fatal: VigilError | undefined;
    let self: HelperProcess | undefined;
    let resolveHello: (h: HelperHello) => void = () => {};
    const hello = new Promise<HelperHello>((res) => {
      resolveHello = res;
    });

    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (s: string) => {
      stderrTail = (stderrTail + s).slice(-4000);
    });
    child.stdin.on("error", () => {}); // EPIPE after a crash: the exit handler reports it
    child.stdout.on("data", (chunk: Buffer) => {
      let items: WireItem[];
      try {
        items = reader.push(chunk);
      } catch (e) {
        // The stream cannot be resynchronised: treat the helper as broken.
        logger.error("BPF helper sent an undecodable stream; restarting it", {
          code: ErrorCodes.HELPER_PROTOCOL,
          error: (e as Error).message,
        });
        child.kill("SIGKILL");
        return;
      }
      for (const item of items) {
        if (item.kind === "json") {
          const v = item.value as Record<string, unknown>;
          if (v.kind === "hello") resolveHello(v as unknown as HelperHello);
          else if (v.kind === "ack") acks.shift()?.resolve(v as unknown as Ack);
          else if (v.kind === "fatal") fatal = fatalError(v);
        }
        onItem(item);
      }
    });

    const exited = new Promise<HelperExit>((resolve) => {
      child.on("error", (cause) => {
        fatal ??= new VigilError(ErrorCodes.HELPER_CRASHED, `could not start ${options.path}`, {
          cause,
        });
      });
      child.on("close", (code, signal) => {
        const exit: HelperExit = {
          code,
          signal,
          stderrTail,
          expected: self?.stopping ?? false,
        };
        for (const a of acks.splice(0)) {
          a.reject(new VigilError(ErrorCodes.HELPER_CRASHED, "the BPF helper exited"));
        }
        resolve(exit);
        if (self) onExit(exit);
      });
    });

    const timeoutMs = options.startTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      hello.then((h) => ({ hello: h })),
      exited.then((exit) => ({ exit })),
      new Promise<{ timeout: true }>((res) => {
        timer = setTimeout(() => res({ timeout: true }), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if ("hello" in outcome) {
      self = new HelperProcess(child, outcome.hello, acks, exited);
      return self;
    }
    child.kill("SIGKILL");
    if ("exit" in outcome && fatal) throw fatal;
    throw new VigilError(
      ErrorCodes.HELPER_CRASHED,
      "exit" in outcome
        ? `the BPF helper exited before it was ready (code ${outcome.exit.code}, signal ${outcome.exit.signal}): ${stderrTail.trim()}`
        : `the BPF helper did not become ready within ${timeoutMs} ms`,
      { hint: "run `bpf/build/vigil-bpf probe` as root to see what the kernel refuses" },
    );
  }

  private command(line: string, expectAck: boolean): Promise<Ack> | undefined {
    let pending: Promise<Ack> | undefined;
    if (expectAck) {
      pending = new Promise<Ack>((resolve, reject) => this.acks.push({ resolve, reject }));
    }
    this.child.stdin.write(`${line}\n`);
    return pending;
  }

  /** Tags every thread of `tgid` with `instance`; resolves with the number of threads. */
  async track(tgid: number, instance: number): Promise<number> {
    const ack = await (this.command(`track ${tgid} ${instance}`, true) as Promise<Ack>);
    if (!ack.ok) {
      throw new VigilError(ErrorCodes.TRACK_FAILED, `cannot track pid ${tgid}: ${ack.error}`);
    }
    return ack.threads ?? 0;
  }

  async untrack(tgid: number): Promise<void> {
    await this.command(`untrack ${tgid}`, true);
  }

  /** Kernel-side watch: an untracked exec whose new comm equals `comm` starts tracking. */
  async watch(comm: string, value: number): Promise<void> {
    const ack = await (this.command(`watch ${comm} ${value}`, true) as Promise<Ack>);
    if (!ack.ok)
      throw new VigilError(ErrorCodes.BPF_LOAD, `cannot watch comm ${comm}: ${ack.error}`);
  }

  /** Asks for one window's aggregates; they arrive as items, ending with drain-end(seq). */
  drain(seq: number): void {
    this.command(`drain ${seq}`, false);
  }

  /** Stops the helper (its hooks detach as it exits) and waits for it. */
  async stop(timeoutMs = 5000): Promise<HelperExit> {
    this.stopping = true;
    this.child.stdin.end("quit\n");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  /** Immediate stop without a goodbye, for emergency clean-up (benchmarks on SIGINT). */
  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    this.child.kill(signal);
  }
}

function fatalError(v: Record<string, unknown>): VigilError {
  const code = typeof v.code === "string" && KNOWN_CODES.has(v.code) ? v.code : ErrorCodes.BPF_LOAD;
  const log = typeof v.log === "string" && v.log ? `\n${v.log.trimEnd()}` : "";
  return new VigilError(code as ErrorCode, `${String(v.message)}${log}`, {
    hint: typeof v.hint === "string" ? v.hint : "see the helper's message above",
  });
}
