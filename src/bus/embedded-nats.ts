/**
 * A nats-server child process with JetStream: what `vigil run` starts when no `--nats` is
 * given, and what the integration tests run against. It always listens on 127.0.0.1 only, so
 * the embedded server is never reachable from other hosts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { ErrorCodes, VigilError } from "../errors.js";
import { freePort } from "../free-port.js";

export interface EmbeddedNatsOptions {
  /** JetStream storage directory (created if missing). The config file is written here too. */
  storeDir: string;
  /**
   * nats-server binary: a path, or a name looked up on PATH (default "nats-server"); a bare
   * name is also tried in /usr/sbin, /usr/local/bin, /usr/local/sbin and /sbin, since PATH
   * often lacks sbin.
   */
  binary?: string;
  /** Port on 127.0.0.1; 0 (default) = pick a free one. The port is kept across restart(). */
  port?: number;
  /** max_payload in bytes (default 8 MiB; at most 64 MiB, nats-server's max_pending). */
  maxPayload?: number;
  /** How long to wait for readiness (default 15000 ms). */
  startTimeoutMs?: number;
  /**
   * Auth: { user, password } or { token } (tests of credentials), or the users of Vigil's
   * roles, each with its permissions (what `vigil run` uses; see bus-roles.ts). Without it the
   * server is open to every local user.
   */
  auth?: { user: string; password: string } | { token: string } | { users: EmbeddedUser[] };
}

export interface EmbeddedUser {
  user: string;
  password: string;
  /** Subjects the user may publish to and subscribe to; absent = everything. */
  permissions?: { publish: string[]; subscribe: string[] };
}

interface Settings {
  storeDir: string;
  binary: string;
  port: number;
  maxPayload: number;
  startTimeoutMs: number;
  auth: EmbeddedNatsOptions["auth"] | undefined;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One nats-server process. */
interface Run {
  child: ChildProcess;
  exit: Promise<Exit>;
  exited: Exit | undefined;
  output: OutputTail;
  /** Set by stop()/kill(): that exit is not reported to onExit. */
  expected: boolean;
}

const MAX_PAYLOAD_LIMIT = 64 * 1024 * 1024;
const STOP_TIMEOUT_MS = 5_000;
const POLL_MS = 20;
const PROBE_TIMEOUT_MS = 500;
const OUTPUT_LINES = 50;
/** A free port can be taken by someone else between our probe and nats-server's bind. */
const PORT_ATTEMPTS = 5;
const EXTRA_DIRS = ["/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/sbin"];
const START_HINT =
  "read the nats-server output above; or pass --nats nats://host:4222 to use an existing server";

export class EmbeddedNats {
  readonly url: string;
  readonly port: number;
  private readonly settings: Settings;
  private readonly binary: string;
  /** Identifies our server in INFO, so a foreign server on the same port is not taken for it. */
  private readonly serverName: string;
  private readonly exitListeners: Array<
    (code: number | null, signal: NodeJS.Signals | null) => void
  > = [];
  private run: Run | undefined;
  private lastPid: number;
  private restarting: Promise<void> | undefined;

  private constructor(
    settings: Settings,
    binary: string,
    serverName: string,
    port: number,
    run: Run,
  ) {
    this.settings = settings;
    this.binary = binary;
    this.serverName = serverName;
    this.port = port;
    this.url = `nats://127.0.0.1:${port}`;
    this.lastPid = run.child.pid ?? -1;
    this.adopt(run);
  }

  /** pid of the running server, or of the last one once it has exited. */
  get pid(): number {
    return this.lastPid;
  }

  /**
   * Starts nats-server and resolves once it answers on its port with JetStream enabled.
   * Rejects with NATS_MISSING if the binary cannot be found, NATS_START if it fails to start.
   */
  static async start(options: EmbeddedNatsOptions): Promise<EmbeddedNats> {
    const settings = parseOptions(options);
    try {
      await mkdir(settings.storeDir, { recursive: true, mode: 0o700 });
    } catch (cause) {
      throw new VigilError(
        ErrorCodes.NATS_START,
        `cannot create the NATS store directory ${settings.storeDir}: ${(cause as Error).message}`,
        { hint: "choose a writable directory for the JetStream store", cause },
      );
    }
    const serverName = `vigil-embedded-${randomBytes(6).toString("hex")}`;
    for (let attempt = 1; ; attempt++) {
      const port = settings.port || (await freePort());
      try {
        const { run, binary } = await launch(
          settings,
          candidates(settings.binary),
          serverName,
          port,
        );
        return new EmbeddedNats(settings, binary, serverName, port, run);
      } catch (e) {
        if (!(e instanceof PortInUse) || settings.port !== 0 || attempt >= PORT_ATTEMPTS) throw e;
      }
    }
  }

  /** Graceful stop (SIGTERM, then SIGKILL after 5 s); resolves once it has exited. Idempotent. */
  async stop(): Promise<void> {
    await this.end("SIGTERM");
  }

  /** SIGKILL, for failure tests; resolves once it has exited. */
  async kill(): Promise<void> {
    await this.end("SIGKILL");
  }

  /** Starts again on the same port and store; a running server is stopped first. */
  async restart(): Promise<void> {
    const pending = this.restarting ?? this.relaunch();
    this.restarting = pending;
    try {
      await pending;
    } finally {
      if (this.restarting === pending) this.restarting = undefined;
    }
  }

  /** Called if the server exits unexpectedly: not through stop() or kill(). */
  onExit(fn: (code: number | null, signal: NodeJS.Signals | null) => void): void {
    this.exitListeners.push(fn);
  }

  private async relaunch(): Promise<void> {
    await this.halt("SIGTERM");
    // The old socket is gone once the process has exited; a retry covers a slow kernel.
    for (let attempt = 1; ; attempt++) {
      try {
        const { run } = await launch(this.settings, [this.binary], this.serverName, this.port);
        this.adopt(run);
        return;
      } catch (e) {
        if (!(e instanceof PortInUse) || attempt >= PORT_ATTEMPTS) throw e;
        await sleep(100 * attempt);
      }
    }
  }

  private adopt(run: Run): void {
    this.run = run;
    this.lastPid = run.child.pid ?? -1;
    void run.exit.then(({ code, signal }) => {
      if (run.expected) return;
      for (const fn of this.exitListeners) fn(code, signal);
    });
  }

  private async end(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    // A restart in progress would otherwise leave a server running after stop() resolved.
    if (this.restarting) await this.restarting.catch(() => {});
    await this.halt(signal);
  }

  private async halt(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    const run = this.run;
    if (!run) return;
    run.expected = true;
    if (!run.exited) {
      run.child.kill(signal);
      const timer = setTimeout(() => run.child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await run.exit;
      clearTimeout(timer);
    }
    if (this.run === run) this.run = undefined;
  }
}

/** nats-server could not bind its port: with a picked port, try another one. */
class PortInUse extends VigilError {}

function parseOptions(o: EmbeddedNatsOptions): Settings {
  const bad = (what: string): never => {
    throw new VigilError(ErrorCodes.CONFIG_INVALID, `embedded NATS: ${what}`, {
      hint: "fix the embedded NATS options",
    });
  };
  const port = o.port ?? 0;
  const maxPayload = o.maxPayload ?? 8 * 1024 * 1024;
  const startTimeoutMs = o.startTimeoutMs ?? 15_000;
  if (typeof o.storeDir !== "string" || o.storeDir === "") bad("storeDir is required");
  if (!Number.isInteger(port) || port < 0 || port > 65535) bad(`port ${port} is not 0..65535`);
  if (!Number.isInteger(maxPayload) || maxPayload < 1 || maxPayload > MAX_PAYLOAD_LIMIT) {
    bad(`maxPayload ${maxPayload} is not 1..${MAX_PAYLOAD_LIMIT} bytes`);
  }
  if (!(startTimeoutMs > 0)) bad(`startTimeoutMs ${startTimeoutMs} is not positive`);
  const strings = [o.storeDir, o.binary ?? "nats-server"];
  if (o.auth && "users" in o.auth) {
    for (const u of o.auth.users) {
      strings.push(u.user, u.password, ...(u.permissions?.publish ?? []));
      strings.push(...(u.permissions?.subscribe ?? []));
    }
  } else if (o.auth) strings.push(...Object.values(o.auth));
  // The config file format has no escape for control characters.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
  if (strings.some((s) => typeof s !== "string" || /[\u0000-\u001f]/.test(s))) {
    bad("storeDir, binary and auth must be strings without control characters");
  }
  const secrets =
    o.auth && "users" in o.auth
      ? o.auth.users.flatMap((u) => [u.user, u.password])
      : Object.values(o.auth ?? {});
  if (secrets.some((s) => s === "")) bad("auth values must not be empty");
  return {
    storeDir: resolve(o.storeDir),
    binary: o.binary ?? "nats-server",
    port,
    maxPayload,
    startTimeoutMs,
    auth: o.auth,
  };
}

/** Where to look for the binary: a path as given; a bare name on PATH, then in the sbin dirs. */
function candidates(binary: string): string[] {
  return binary.includes("/") ? [binary] : [binary, ...EXTRA_DIRS.map((d) => join(d, binary))];
}

function renderConfig(s: Settings, serverName: string, port: number): string {
  // JSON string syntax is valid NATS config syntax for quoted strings (no $VAR expansion).
  const q = JSON.stringify;
  const lines = [
    "# Written by Vigil on every start of the embedded server; edits are overwritten.",
    `server_name: ${q(serverName)}`,
    `listen: ${q(`127.0.0.1:${port}`)}`,
    `max_payload: ${s.maxPayload}`,
    `jetstream { store_dir: ${q(s.storeDir)} }`,
  ];
  if (s.auth && "token" in s.auth) lines.push(`authorization { token: ${q(s.auth.token)} }`);
  else if (s.auth && "users" in s.auth) {
    // A user with permissions gets exactly those subjects; nothing is allowed by default.
    const users = s.auth.users.map((u) => ({
      user: u.user,
      password: u.password,
      ...(u.permissions
        ? {
            permissions: {
              publish: allowOnly(u.permissions.publish),
              subscribe: allowOnly(u.permissions.subscribe),
            },
          }
        : {}),
    }));
    lines.push(`authorization { users: ${q(users)} }`);
  } else if (s.auth) {
    lines.push(`authorization { user: ${q(s.auth.user)}, password: ${q(s.auth.password)} }`);
  }
  return `${lines.join("\n")}\n`;
}

/** Exactly these subjects; an empty list allows none (an empty allow would allow all). */
function allowOnly(subjects: string[]): { allow: string[] } | { deny: string[] } {
  return subjects.length > 0 ? { allow: subjects } : { deny: [">"] };
}

/** Spawns the first candidate that exists; ENOENT on every one means nats-server is missing. */
async function spawnFirst(binaries: string[], configPath: string) {
  for (const binary of binaries) {
    const child = spawn(binary, ["-c", configPath, "-js"], { stdio: ["ignore", "pipe", "pipe"] });
    const error = await new Promise<NodeJS.ErrnoException | undefined>((res) => {
      child.once("spawn", () => res(undefined));
      child.once("error", res);
    });
    if (!error) return { child, binary };
    if (error.code === "ENOENT") continue;
    throw new VigilError(ErrorCodes.NATS_START, `cannot run ${binary}: ${error.message}`, {
      hint: "make sure the nats-server binary is executable",
      cause: error,
    });
  }
  throw new VigilError(
    ErrorCodes.NATS_MISSING,
    `nats-server is not installed (looked for ${binaries.join(", ")})`,
    {
      hint: "apt-get install nats-server (Debian/Ubuntu), or pass --nats nats://host:4222 to use an existing server",
    },
  );
}

async function launch(s: Settings, binaries: string[], serverName: string, port: number) {
  const configPath = join(s.storeDir, "nats-server.conf");
  await writeFile(configPath, renderConfig(s, serverName, port), { mode: 0o600 });
  const { child, binary } = await spawnFirst(binaries, configPath);
  const output = new OutputTail(OUTPUT_LINES);
  child.stdout?.on("data", (d: Buffer) => output.push(d));
  child.stderr?.on("data", (d: Buffer) => output.push(d));
  const run: Run = {
    child,
    output,
    exited: undefined,
    expected: false,
    exit: new Promise<Exit>((res) => {
      child.once("exit", (code, signal) => {
        run.exited = { code, signal };
        untrack(child);
        res(run.exited);
      });
    }),
  };
  track(child);
  try {
    await waitReady(run, serverName, port, s.startTimeoutMs);
  } catch (e) {
    run.expected = true;
    child.kill("SIGKILL");
    await run.exit;
    throw e;
  }
  return { run, binary };
}

async function waitReady(run: Run, serverName: string, port: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const info = await probeInfo(port, run.exit);
    if (run.exited) {
      const { code, signal } = run.exited;
      const log = run.output.text();
      const how = signal ? `signal ${signal}` : `code ${code}`;
      const message = `nats-server exited during start-up (${how})${logBlock(log)}`;
      if (/address already in use/.test(log)) {
        throw new PortInUse(ErrorCodes.NATS_START, message, {
          hint: `port ${port} on 127.0.0.1 is taken: stop what uses it or choose another port`,
        });
      }
      throw new VigilError(ErrorCodes.NATS_START, message, { hint: START_HINT });
    }
    if (info?.server_name === serverName) {
      if (info.jetstream === true) return;
      throw new VigilError(
        ErrorCodes.NATS_START,
        `nats-server on port ${port} started without JetStream${logBlock(run.output.text())}`,
        { hint: START_HINT },
      );
    }
    await sleep(POLL_MS);
  }
  throw new VigilError(
    ErrorCodes.NATS_START,
    `nats-server did not become ready on 127.0.0.1:${port} within ${timeoutMs} ms${logBlock(run.output.text())}`,
    { hint: START_HINT },
  );
}

/**
 * The INFO a NATS server sends first on every connection, or undefined if none came; gives up
 * early when `cancel` settles (the server exited, so whatever listens there is not ours).
 */
function probeInfo(
  port: number,
  cancel: Promise<unknown>,
): Promise<Record<string, unknown> | undefined> {
  return new Promise((res) => {
    const socket = connect({ host: "127.0.0.1", port });
    let buffered = "";
    const done = (info: Record<string, unknown> | undefined) => {
      socket.destroy();
      res(info);
    };
    socket.setTimeout(PROBE_TIMEOUT_MS, () => done(undefined));
    void cancel.then(() => done(undefined));
    socket.on("error", () => done(undefined));
    socket.on("close", () => done(undefined));
    socket.on("data", (d: Buffer) => {
      buffered += d.toString("utf8");
      const end = buffered.indexOf("\r\n");
      if (end < 0) {
        if (buffered.length > 65536) done(undefined);
        return;
      }
      const line = buffered.slice(0, end);
      if (!line.startsWith("INFO ")) return done(undefined);
      try {
        const info: unknown = JSON.parse(line.slice(5));
        done(
          typeof info === "object" && info !== null ? (info as Record<string, unknown>) : undefined,
        );
      } catch {
        done(undefined);
      }
    });
  });
}

function logBlock(log: string): string {
  return log ? `\n--- last lines of nats-server output ---\n${log}` : " (no output)";
}

function sleep(ms: number): Promise<void> {
  return new Promise((res) => setTimeout(res, ms));
}

/** The last lines a process wrote, for error messages; never printed otherwise. */
class OutputTail {
  private readonly lines: string[] = [];
  private partial = "";

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    const parts = (this.partial + chunk.toString("utf8")).split("\n");
    this.partial = (parts.pop() ?? "").slice(-4096);
    for (const line of parts) if (line.trim() !== "") this.lines.push(line.slice(0, 4096));
    if (this.lines.length > this.max) this.lines.splice(0, this.lines.length - this.max);
  }

  text(): string {
    return [...this.lines, this.partial].filter((l) => l.trim() !== "").join("\n");
  }
}

// Children must not outlive this process: one 'exit' handler while any server runs.
const live = new Set<ChildProcess>();

function killLive(): void {
  for (const child of live) child.kill("SIGKILL");
}

function track(child: ChildProcess): void {
  if (live.size === 0) process.on("exit", killLive);
  live.add(child);
}

function untrack(child: ChildProcess): void {
  if (!live.delete(child)) return;
  if (live.size === 0) process.off("exit", killLive);
}
