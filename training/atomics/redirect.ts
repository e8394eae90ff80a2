/**
 * Points a test's remote hosts at loopback sinks, so that it runs where nothing but loopback may
 * be contacted and its network behaviour still happens: URLs become plain-http fetches from the
 * HTTP sink (the original host kept as the first path segment, so the sink can serve the
 * library's own files), remote IPv4 addresses and host-name arguments become the sink address.
 * Every rewrite is listed; nothing else in the test changes.
 */
import { existsSync, statSync } from "node:fs";
import { resolve, sep } from "node:path";
import { type ResolvedTest, resolveTest } from "./resolve.js";

/** Where remote traffic goes: the HTTP sink's base URL and the address of the other sinks. */
export interface RemoteSinks {
  /** e.g. "http://127.0.0.2:8080" */
  http: string;
  /** e.g. "127.0.0.2" */
  address: string;
}

/** A port the test will contact on the (redirected) remote address. */
export interface Endpoint {
  port: number;
  protocol: "tcp" | "udp";
}

/** One replacement made in the test's text. */
export interface Rewrite {
  from: string;
  to: string;
}

/** The redirected test, the ports its sinks should listen on, and what was replaced. */
export interface Redirection {
  test: ResolvedTest;
  /** Deduplicated, sorted by port then protocol; always includes the common service ports. */
  endpoints: Endpoint[];
  rewrites: Rewrite[];
}

const DEFAULT_TCP = [21, 22, 23, 25, 80, 443, 445, 4444, 8080, 8443];
const DEFAULT_UDP = [53];
const URL_OR_IP =
  /\b(?:https?|ftp):\/\/[^\s"'`<>()\\{}|^]+|(?<![\w.])\d{1,3}(?:\.\d{1,3}){3}(?!\w|\.\d)|\0\d+\0/gi;
const HOSTISH = /\b(host(name)?s?|domain|server|remote|target|ip|address|fqdn)\b/;
const NOT_HOST_TOKEN =
  /^(file(name)?|path|dir(ectory)?|folder|user(name)?|pass(word|wd)?|process|port|cmd|command|script|binary|exe|output|input|key)$/;
const FILE_EXTENSION =
  /\.(txt|sh|py|ps1|exe|dll|so|c|cc|go|json|xml|ya?ml|csv|log|conf|cfg|ini|tar|gz|tgz|zip|bz2|xz|7z|rar|jpe?g|png|gif|pdf|docx?|xlsx?|html?|js|php|pl|rb|key|pem|crt|cer|db|sqlite|bin|dat|out|tmp|bak|plist|service|timer|bat|vbs|hta|lnk|iso|img|md|elf|o|ko|rpm|deb|jar|pyc)$/i;

/**
 * Redirects `r` to `sinks`. Host-name arguments are replaced where their placeholder stood (by
 * re-substituting `r.test` with `r.args`), URLs and IPv4 literals wherever they appear.
 */
export function redirectRemote(r: ResolvedTest, sinks: RemoteSinks): Redirection {
  const rewrites = new Map<string, Rewrite>();
  const record = (from: string, to: string) => {
    if (from !== to) rewrites.set(`${from}\n${to}`, { from, to });
    return to;
  };
  const base = sinks.http.replace(/\/+$/, "");
  const hosts: string[] = [];
  const rewriteText = (text: string) =>
    text.replace(URL_OR_IP, (m) => {
      if (m.startsWith("\0")) return record(hosts[Number(m.slice(1, -1))] ?? m, sinks.address);
      if (!m.includes("://")) return remoteIpv4(m) ? record(m, sinks.address) : m;
      const [url, trail] = splitTrailing(m);
      const u = parseUrl(url);
      const host = u.host.startsWith("\0")
        ? (hosts[Number(u.host.slice(1, -1))] ?? u.host)
        : u.host;
      if (!u.host.startsWith("\0") && !remoteHost(host)) return m;
      return record(url.replace(u.host, host), `${base}/${host}${u.rest}`) + trail;
    });

  const args: Record<string, string> = {};
  const marked: Record<string, string> = { ...r.args };
  for (const [name, value] of Object.entries(r.args)) {
    const host = hostArgument(name, r.test.inputArguments[name]?.description ?? "", value);
    if (host === undefined) {
      args[name] = rewriteText(value);
      continue;
    }
    const port = value.slice(host.length);
    marked[name] = `\0${hosts.push(host) - 1}\0${port}`;
    args[name] = `${record(host, sinks.address)}${port}`;
  }
  const again = resolveTest(r.test, { atomicsDir: r.atomicsDir, overrides: marked });
  const test: ResolvedTest = {
    ...r,
    args,
    command: rewriteText(again.command),
    prereqs: again.prereqs.map((p) => ({
      ...p,
      check: rewriteText(p.check),
      get: rewriteText(p.get),
    })),
  };
  if (again.cleanup !== undefined) test.cleanup = rewriteText(again.cleanup);
  return { test, endpoints: endpointsOf(r), rewrites: [...rewrites.values()] };
}

/** The host and the rest (path, query) of a URL; the host lower-cased, without user or port. */
function parseUrl(url: string): { host: string; port?: number; rest: string } {
  const afterScheme = url.indexOf("://") + 3;
  const end = url.slice(afterScheme).search(/[/?#]/);
  const authority = end < 0 ? url.slice(afterScheme) : url.slice(afterScheme, afterScheme + end);
  const rest = end < 0 ? "" : url.slice(afterScheme + end);
  const hostPort = authority.slice(authority.lastIndexOf("@") + 1);
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(hostPort);
  const host = (m?.[1] ?? hostPort).toLowerCase();
  return m?.[2] ? { host, port: Number(m[2]), rest } : { host, rest };
}

/** A URL at the end of a sentence keeps its full stop outside. */
function splitTrailing(m: string): [string, string] {
  const t = /[.,;:!?]+$/.exec(m);
  return t ? [m.slice(0, t.index), t[0]] : [m, ""];
}

function octets(s: string): number[] | undefined {
  const parts = s.split(".").map(Number);
  return parts.length === 4 && parts.every((p) => p >= 0 && p <= 255) ? parts : undefined;
}

function loopback(host: string): boolean {
  if (host === "localhost" || host.endsWith(".localhost") || host === "[::1]") return true;
  const o = octets(host);
  return o !== undefined && (o[0] === 127 || o.every((x) => x === 0));
}

/** A dotted quad that names a remote host: not loopback, 0.0.0.0 or a netmask. */
function remoteIpv4(s: string): boolean {
  const o = octets(s);
  if (o === undefined || loopback(s)) return false;
  const n = o.reduce((a, x) => a * 256 + x, 0);
  const inverted = 0xffffffff - n;
  const netmask = o[0] === 255 && (inverted & (inverted + 1)) === 0;
  return !netmask;
}

/** A URL host worth redirecting: a real name or address, not loopback or a shell variable. */
function remoteHost(host: string): boolean {
  if (loopback(host) || !/^[a-z0-9.-]+$/.test(host)) return false;
  return octets(host) === undefined || remoteIpv4(host);
}

/**
 * The host part of an argument whose name or description says it is a host, when its value
 * looks like one. Single-label values ("adversary-host") count only when the name itself says
 * host or server, since a "domain" is often a Windows domain such as "CONTOSO".
 */
function hostArgument(name: string, description: string, value: string): string | undefined {
  const m = /^([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)*)(?::\d{1,5})?$/i.exec(value.trim());
  const host = m?.[1];
  if (host === undefined || value !== value.trim() || loopback(host.toLowerCase())) return;
  if (octets(host) !== undefined || /^[\d.]+$/.test(host)) return;
  const tokens = name
    .replace(/([a-z])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  if (tokens.some((t) => NOT_HOST_TOKEN.test(t))) return;
  if (host.includes(".")) {
    const tld = host.slice(host.lastIndexOf(".") + 1);
    if (!/^[a-z]{2,63}$/i.test(tld) || FILE_EXTENSION.test(host)) return;
    return HOSTISH.test(tokens.join(" ")) || HOSTISH.test(description.toLowerCase())
      ? host
      : undefined;
  }
  return tokens.some((t) => /^(r?host(name)?|server)$/.test(t)) ? host : undefined;
}

function portish(name: string, description: string): boolean {
  const tokens = name
    .replace(/([a-z])([A-Z])/g, "$1_$2")
    .toLowerCase()
    .split(/[^a-z0-9]+/);
  return tokens.some((t) => /^[lrsd]?ports?$/.test(t)) || /\bports?\b/i.test(description);
}

/** Ports the original (unredirected) test contacts, plus the common service ports. */
function endpointsOf(r: ResolvedTest): Endpoint[] {
  const tcp = new Set(DEFAULT_TCP);
  const udp = new Set(DEFAULT_UDP);
  const texts = [r.command, r.cleanup ?? "", ...r.prereqs.flatMap((p) => [p.check, p.get])];
  const all = [...texts, ...Object.values(r.args)].join("\n");
  const udpToo = /udp/i.test(all) || /\b(nc|ncat|netcat)\b[^\n;|&]*\s-\w*u/.test(all);
  const add = (port: number, protocol: "tcp" | "udp" = "tcp") => {
    if (!Number.isInteger(port) || port < 1 || port > 65535) return;
    (protocol === "udp" ? udp : tcp).add(port);
  };
  for (const [name, value] of Object.entries(r.args)) {
    if (!portish(name, r.test.inputArguments[name]?.description ?? "")) continue;
    for (const p of value.split(/[\s,]+/).filter((x) => /^\d{1,5}$/.test(x))) {
      add(Number(p));
      if (udpToo) add(Number(p), "udp");
    }
  }
  for (const m of all.matchAll(URL_OR_IP)) {
    if (m[0].includes("://")) {
      const u = parseUrl(splitTrailing(m[0])[0]);
      if (u.port !== undefined && remoteHost(u.host)) add(u.port);
    }
  }
  const hostPort = /(?<![\w.-])([a-z0-9-]+(?:\.[a-z0-9-]+)+):(\d{1,5})(?!\d)/gi;
  for (const m of all.matchAll(hostPort)) {
    if (/[a-z]/i.test(m[1] ?? "") ? remoteHost(m[1] as string) : remoteIpv4(m[1] as string)) {
      add(Number(m[2]));
    }
  }
  for (const m of all.matchAll(/\/dev\/(tcp|udp)\/[^/\s]+\/(\d{1,5})/g)) {
    add(Number(m[2]), m[1] as "tcp" | "udp");
  }
  for (const m of all.matchAll(/\b(tcp|udp)[46]?(?:-[a-z]+)?:(?:[^:\s,]+:)?(\d{1,5})\b/gi)) {
    add(Number(m[2]), (m[1] as string).toLowerCase() as "tcp" | "udp");
  }
  for (const m of all.matchAll(/\b(?:nc|ncat|netcat|telnet)\b([^\n;|&]*)/g)) {
    const words = (m[1] ?? "").trim().split(/\s+/);
    const viaUdp = words.some((w) => /^-\w*u/.test(w));
    // Timeouts and intervals (-w 3, -i 1, -q 0) are numbers too, but not ports.
    words.forEach((w, k) => {
      if (/^\d{1,5}$/.test(w) && !/^-[wiqW]$/.test(words[k - 1] ?? "")) {
        add(Number(w), viaUdp ? "udp" : "tcp");
      }
    });
  }
  const out: Endpoint[] = [
    ...[...tcp].map((port) => ({ port, protocol: "tcp" as const })),
    ...[...udp].map((port) => ({ port, protocol: "udp" as const })),
  ];
  return out.sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
}

const ART_FILE =
  /(?:^|\/)(?:raw\.githubusercontent\.com\/redcanaryco\/atomic-red-team\/(?:refs\/heads\/)?[^/]+|github\.com\/redcanaryco\/atomic-red-team\/(?:raw|blob)\/(?:refs\/heads\/)?[^/]+)\/atomics\/([^?#]+)/i;

/**
 * The local copy of a file of the Atomic Red Team repository itself, for its raw and GitHub
 * URLs, or for the path the HTTP sink receives after redirection (`/raw.githubusercontent.com/
 * redcanaryco/atomic-red-team/<branch>/atomics/...`). Undefined when not such a URL, when the
 * file is not in `atomicsDir`, or when the path would leave it.
 */
export function atomicsFileForUrl(url: string, atomicsDir: string): string | undefined {
  const m = ART_FILE.exec(url);
  if (!m?.[1]) return undefined;
  let rel: string;
  try {
    rel = decodeURIComponent(m[1]);
  } catch {
    return undefined;
  }
  const root = resolve(atomicsDir);
  const file = resolve(root, rel);
  if (!file.startsWith(root + sep)) return undefined;
  return existsSync(file) && statSync(file).isFile() ? file : undefined;
}

const HOST_NAME =
  /\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?\b/gi;
const BARE_HOST = /^[a-z0-9](?:[a-z0-9.-]{0,252}[a-z0-9])?$/i;

/**
 * The host names a test may look up: dotted names in its commands, and argument values that
 * could be a host. While the test runs, the evaluation's DNS responder answers these (and only
 * these) with the remote sink, so that no other process's lookups change.
 */
export function hostNames(r: ResolvedTest): string[] {
  const text = [r.command, r.cleanup ?? "", ...r.prereqs.flatMap((p) => [p.check, p.get])].join(
    "\n",
  );
  const names = new Set<string>();
  for (const m of text.matchAll(HOST_NAME)) names.add(m[0].toLowerCase());
  for (const v of Object.values(r.args))
    if (BARE_HOST.test(v) && /[a-z]/i.test(v)) names.add(v.toLowerCase());
  return [...names].sort();
}
