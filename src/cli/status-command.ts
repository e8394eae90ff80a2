/**
 * `vigil status`: asks the local scorer (its /status endpoint) what each agent type is doing:
 * learning and how far, which model version is active, whether one is broken, the last alert.
 */
import { lstatSync } from "node:fs";
import { parseArgs } from "node:util";
import { credentialsPath, readRoleCredentials } from "../bus/bus-credentials.js";
import { type ConfigInput, loadConfig } from "../config/index.js";
import { ErrorCodes, VigilError } from "../errors.js";
import { listenerUid } from "../scorer/http.js";

const HELP = `usage: vigil status [--scorer HOST:PORT] [--json]

Prints each agent type's state from the running scorer ('vigil run' or 'vigil scorer'):
learning (with progress), active model version, broken model, last alert.

  --scorer HOST:PORT   the scorer's HTTP address (default: scorer.http.listen, 127.0.0.1:9464)
  --config FILE        JSON config file
  --json               print the raw status JSON

The status names every agent, so it needs the bus's access: run it as the user that runs
'vigil run' (root: sudo). It sends the bus reader's password only to a listener that user owns.`;

export interface TypeStatus {
  model:
    | { state: "active"; version: string; family: string; loadedAt: string }
    | { state: "missing" }
    | { state: "broken"; version: string; error: string; fallback?: string };
  learning?: {
    state: string;
    windows?: number;
    neededWindows?: number;
    progress?: number;
    error?: string;
  };
  received?: number;
  scored?: number;
  lastWindow?: string;
  lastAlert?: { at: string; severity: string; summary: string };
}

export interface StatusDocument {
  host: string;
  ready: boolean;
  notReady: string[];
  agentTypes: Record<string, TypeStatus>;
}

export async function statusCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      scorer: { type: "string" },
      config: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const config = loadConfig({
    ...(values.config ? { file: values.config } : {}),
    env: process.env,
    flags: (values.scorer ? { scorer: { http: { listen: values.scorer } } } : {}) as ConfigInput,
  });
  const address = config.scorer.http.listen;
  const { url, headers } = statusTarget(config.dataDir, address);
  let doc: StatusDocument;
  try {
    const res = await fetch(url, {
      headers,
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).trim()}`);
    doc = (await res.json()) as StatusDocument;
  } catch (cause) {
    throw new VigilError(
      ErrorCodes.USAGE,
      `no scorer answers on ${address}: ${(cause as Error).message}`,
      {
        hint: "start 'vigil run' (or 'vigil scorer'), or pass --scorer HOST:PORT",
        cause,
      },
    );
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(formatStatus(doc));
  return doc.ready ? 0 : 1;
}

/** The status as a table, one agent type a row. */
export function formatStatus(doc: StatusDocument): string {
  const rows: string[][] = [["agent type", "state", "model", "windows", "last alert"]];
  for (const [type, s] of Object.entries(doc.agentTypes).sort(([a], [b]) => (a < b ? -1 : 1))) {
    let state: string;
    let model = "-";
    if (s.model.state === "active") {
      state = "detecting";
      model = `${s.model.version} (${s.model.family})`;
    } else if (s.model.state === "broken") {
      state = `BROKEN: ${s.model.error}`;
      model = s.model.fallback ? `${s.model.fallback} (fallback)` : s.model.version;
    } else if (s.learning?.state === "learning") {
      state = `learning ${Math.floor((s.learning.progress ?? 0) * 100)} %`;
    } else if (s.learning) {
      state = s.learning.error ? `${s.learning.state}: ${s.learning.error}` : s.learning.state;
    } else {
      state = "no model";
    }
    const last = s.lastAlert
      ? `${s.lastAlert.at} ${s.lastAlert.severity}: ${s.lastAlert.summary}`
      : "-";
    rows.push([type, state, model, `${s.received ?? 0} in, ${s.scored ?? 0} scored`, last]);
  }
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length))) ?? [];
  const lines = rows.map((r) =>
    r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0))).join("  "),
  );
  const head = `host ${doc.host}: ${doc.ready ? "ready" : `NOT READY (${doc.notReady.join("; ")})`}`;
  return `${head}\n${lines.join("\n")}\n`;
}

/**
 * Where to ask for /status, and the Authorization header: the reader role's password from the
 * data directory, when there is one. It goes only to this host's loopback, and only once the
 * listener there is seen to belong to the uid that owns the credentials: a user who squats the
 * port first gets nothing. (A squatter who takes the port between this check and the connect is
 * not excluded.) Elsewhere no token is sent: run vigil status on the scorer's host.
 */
export function statusTarget(
  dataDir: string,
  address: string,
): { url: string; headers: Record<string, string> } {
  const at = address.lastIndexOf(":");
  const host = address.slice(0, at).replace(/^\[|\]$/g, "");
  const port = Number(address.slice(at + 1));
  const loop = ["127.0.0.1", "localhost", "0.0.0.0"].includes(host)
    ? "127.0.0.1"
    : ["::1", "::"].includes(host)
      ? "::1"
      : undefined;
  const url = loop
    ? `http://${loop === "::1" ? "[::1]" : loop}:${port}/status`
    : `http://${address}/status`;
  const reader = readRoleCredentials(dataDir, "reader");
  if (!reader || !loop) return { url, headers: {} };
  const owner = lstatSync(credentialsPath(dataDir)).uid;
  const holder = listenerUid(loop, port);
  if (holder !== owner) {
    throw new VigilError(
      ErrorCodes.FORBIDDEN,
      holder === undefined
        ? `nothing listens on ${loop}:${port}; not sending credentials`
        : `${address} is held by uid ${holder}, not by Vigil's uid ${owner}: someone else took the scorer's port; not sending credentials`,
      {
        hint:
          holder === undefined
            ? "start 'vigil run', or pass --scorer HOST:PORT"
            : "find it with `ss -ltnp` and stop it; vigil run binds the port as soon as it is free",
      },
    );
  }
  return { url, headers: { authorization: `Bearer ${reader.password}` } };
}

/** The Authorization header `statusTarget` would send to address; none when it would refuse. */
export function statusHeaders(dataDir: string, address: string): Record<string, string> {
  try {
    return statusTarget(dataDir, address).headers;
  } catch (e) {
    if ((e as VigilError).code === ErrorCodes.FORBIDDEN) return {};
    throw e; // unreadable credentials: say so, do not hide it
  }
}
