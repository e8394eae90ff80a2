/**
 * Loopback sinks that stand in for the remote hosts of redirected tests (see redirect.ts): an
 * HTTP server that answers everything (with the library's own file when the path names one),
 * TCP and UDP listeners that only count what arrives, and an optional DNS responder. They bind
 * to one loopback address and never to anything else, so a test's traffic stays on the host.
 */
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createReadStream, statSync } from "node:fs";
import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import {
  createServer as createTcpServer,
  isIPv4,
  isIPv6,
  type Server,
  type Socket,
} from "node:net";
import dnsPacket from "dns-packet";
import { ErrorCodes, VigilError } from "../../src/errors.js";
import { atomicsFileForUrl, type Endpoint } from "./redirect.js";

/** What reached the sinks since the last `reset()`; ports nobody contacted are left out. */
export interface SinkTraffic {
  http: { method: string; path: string; bytes: number }[];
  tcp: { port: number; bytes: number; connections: number }[];
  udp: { port: number; bytes: number; datagrams: number }[];
  /** Names asked of the DNS responder, in order. */
  dns: string[];
}

/** The outcome of `listen`: a port that is taken (or privileged) is reported, not thrown. */
export interface ListenResult {
  listening: Endpoint[];
  failed: (Endpoint & { message: string })[];
}

/** Running sinks. `close()` releases every socket. */
export interface Sinks {
  /** Base URL of the HTTP sink, e.g. "http://127.0.0.2:8080". */
  readonly http: string;
  readonly address: string;
  /** The DNS responder's port once `startDns` ran, else undefined. */
  readonly dnsPort: number | undefined;
  /** While `answering` (true until set otherwise), every A query gets the answer address;
   * otherwise every query gets NXDOMAIN. */
  readonly dns: {
    answering: boolean;
    /** Names answered even when not `answering` (and their subdomains), with a use count. */
    hosts: Map<string, number>;
  };
  /** Opens TCP/UDP listeners on the address for these ports; already open ones are kept. */
  listen(endpoints: readonly Endpoint[]): Promise<ListenResult>;
  /** Starts the DNS responder on the loopback `address:port` (port 0 picks one); its answer is
   * `answerAddress`, by default the sinks' address. A second call does nothing. */
  startDns(o: { port: number; address: string; answerAddress?: string }): Promise<void>;
  received(): SinkTraffic;
  /** Clears what was received (between tests); listeners stay open. */
  reset(): void;
  close(): Promise<void>;
}

const IDLE_MS = 5000;
/** A test that loops (a DGA, a scan) must not grow the record without bound. */
const MAX_RECORDS = 10_000;
const BODY = "vigil sink\n";

/**
 * Starts the HTTP sink on `address`, port `httpPort` (default 8080; when that is taken, a free
 * one: use `http` for the URL). TCP connections close after `idleMs` without data (5 s).
 */
export async function startSinks(o: {
  address: string;
  atomicsDir: string;
  httpPort?: number;
  idleMs?: number;
}): Promise<Sinks> {
  const address = loopbackOnly(o.address, "sink");
  const host = isIPv6(address) ? `[${address}]` : address;
  const requests: SinkTraffic["http"] = [];
  const tcp = new Map<number, { bytes: number; connections: number }>();
  const udp = new Map<number, { bytes: number; datagrams: number }>();
  const names: string[] = [];
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const udpSockets: UdpSocket[] = [];
  const opened = new Set<string>();

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const entry = { method: req.method ?? "GET", path: req.url ?? "/", bytes: 0 };
    if (requests.length < MAX_RECORDS) requests.push(entry);
    req.on("data", (chunk: Buffer) => {
      entry.bytes += chunk.length;
    });
    req.on("end", () => {
      const file = atomicsFileForUrl(entry.path, o.atomicsDir);
      if (file === undefined) {
        res.writeHead(200, { "content-type": "text/plain", "content-length": BODY.length });
        res.end(entry.method === "HEAD" ? undefined : BODY);
        return;
      }
      const size = statSync(file).size;
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size });
      if (entry.method === "HEAD") res.end();
      else
        createReadStream(file)
          .on("error", () => res.destroy())
          .pipe(res);
    });
  };
  const http = createHttpServer(handle);
  const httpPort = await listenHttp(http, address, o.httpPort ?? 8080, o.httpPort === undefined);
  opened.add(`tcp/${httpPort}`);

  const openTcp = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const counter = { bytes: 0, connections: 0 };
      // Port 80 speaks HTTP too: a URL whose host resolves to the sink gets an answer.
      const server: Server =
        port === 80
          ? createHttpServer(handle)
          : createTcpServer((socket) => {
              counter.connections++;
              sockets.add(socket);
              socket.setTimeout(o.idleMs ?? IDLE_MS, () => socket.destroy());
              socket.on("data", (b: Buffer) => {
                counter.bytes += b.length;
              });
              socket.on("error", () => socket.destroy());
              socket.on("close", () => sockets.delete(socket));
            });
      server.once("error", reject);
      server.listen(port, address, () => {
        server.on("error", () => undefined); // a failed accept must not end the evaluation
        servers.push(server);
        tcp.set(port, counter);
        resolve();
      });
    });
  const openUdp = (port: number) =>
    new Promise<void>((resolve, reject) => {
      const counter = { bytes: 0, datagrams: 0 };
      const socket = createSocket(isIPv6(address) ? "udp6" : "udp4");
      socket.on("message", (msg) => {
        counter.datagrams++;
        counter.bytes += msg.length;
      });
      socket.once("error", (err) => {
        socket.close();
        reject(err);
      });
      socket.bind(port, address, () => {
        socket.on("error", () => undefined);
        udpSockets.push(socket);
        udp.set(port, counter);
        resolve();
      });
    });

  let dnsPort: number | undefined;
  const dns = { answering: true, hosts: new Map<string, number>() };
  return {
    http: `http://${host}:${httpPort}`,
    address,
    get dnsPort() {
      return dnsPort;
    },
    dns,
    async listen(endpoints) {
      const result: ListenResult = { listening: [], failed: [] };
      for (const e of endpoints) {
        const key = `${e.protocol}/${e.port}`;
        try {
          if (!opened.has(key)) await (e.protocol === "tcp" ? openTcp(e.port) : openUdp(e.port));
          opened.add(key);
          result.listening.push({ port: e.port, protocol: e.protocol });
        } catch (err) {
          result.failed.push({
            port: e.port,
            protocol: e.protocol,
            message: (err as Error).message,
          });
        }
      }
      return result;
    },
    async startDns(d) {
      if (dnsPort !== undefined) return;
      const listenOn = loopbackOnly(d.address, "DNS responder");
      const answer = d.answerAddress ?? address;
      const socket = createSocket(isIPv6(listenOn) ? "udp6" : "udp4");
      socket.on("message", (msg, from) => {
        const allow = (name: string) =>
          dns.answering ||
          [...dns.hosts.keys()].some(
            (h) => name.toLowerCase() === h || name.toLowerCase().endsWith(`.${h}`),
          );
        const reply = dnsReply(msg, answer, allow, names);
        if (reply) socket.send(reply, from.port, from.address, () => undefined);
      });
      dnsPort = await new Promise<number>((resolve, reject) => {
        socket.once("error", (err) => {
          socket.close();
          reject(err);
        });
        socket.bind(d.port, listenOn, () => {
          socket.on("error", () => undefined);
          resolve(socket.address().port);
        });
      });
      udpSockets.push(socket);
    },
    received: () => ({
      http: requests.map((r) => ({ ...r })),
      tcp: [...tcp].filter(([, c]) => c.connections > 0).map(([port, c]) => ({ port, ...c })),
      udp: [...udp].filter(([, c]) => c.datagrams > 0).map(([port, c]) => ({ port, ...c })),
      dns: [...names],
    }),
    reset() {
      requests.length = 0;
      names.length = 0;
      for (const c of tcp.values()) Object.assign(c, { bytes: 0, connections: 0 });
      for (const c of udp.values()) Object.assign(c, { bytes: 0, datagrams: 0 });
    },
    async close() {
      for (const s of sockets) s.destroy();
      http.closeAllConnections();
      await Promise.all([
        new Promise<void>((r) => http.close(() => r())),
        ...servers.map((s) => new Promise<void>((r) => s.close(() => r()))),
        ...udpSockets.map((s) => new Promise<void>((r) => s.close(() => r()))),
      ]);
    },
  };
}

function loopbackOnly(address: string, what: string): string {
  const loopback = (isIPv4(address) && address.startsWith("127.")) || address === "::1";
  if (!loopback) {
    throw new VigilError(
      ErrorCodes.USAGE,
      `the ${what} may only listen on loopback, not ${address}`,
      {
        hint: "use a 127.0.0.0/8 address such as 127.0.0.2",
      },
    );
  }
  return address;
}

/** Listens on `port`; when that is the default and taken, on a free port instead. */
function listenHttp(server: HttpServer, address: string, port: number, fallback: boolean) {
  return new Promise<number>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      if (fallback && err.code === "EADDRINUSE") server.listen(0, address);
      else reject(err);
      fallback = false;
    };
    server.on("error", onError);
    server.on("listening", () => {
      server.off("error", onError);
      const a = server.address();
      resolve(typeof a === "object" && a ? a.port : port);
    });
    server.listen(port, address);
  });
}

/** The answer to one DNS query (undefined for a message that is not one). */
function dnsReply(msg: Buffer, answer: string, allow: (name: string) => boolean, names: string[]) {
  let query: dnsPacket.DecodedPacket;
  try {
    query = dnsPacket.decode(msg);
  } catch {
    return undefined;
  }
  if (query.type !== "query") return undefined;
  const questions = query.questions ?? [];
  for (const q of questions) if (names.length < MAX_RECORDS) names.push(q.name);
  // AAAA and other types get an empty answer, so that clients fall back to A.
  const type = isIPv6(answer) ? "AAAA" : "A";
  const answering = questions.some((q) => allow(q.name));
  const answers: dnsPacket.Answer[] = questions
    .filter((q) => q.type === type && allow(q.name))
    .map((q) => ({ type, class: "IN", name: q.name, ttl: 5, data: answer }));
  const NXDOMAIN = 3;
  return dnsPacket.encode({
    type: "response",
    id: query.id ?? 0,
    flags:
      dnsPacket.AUTHORITATIVE_ANSWER |
      (query.flag_rd ? dnsPacket.RECURSION_DESIRED : 0) |
      (answering ? 0 : NXDOMAIN),
    questions,
    answers,
  });
}
