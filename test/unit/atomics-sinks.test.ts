/**
 * The sinks against real sockets on 127.0.0.2 and a real DNS lookup through node:dns.
 */
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { Resolver } from "node:dns/promises";
import { mkdirSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ErrorCodes, isVigilError } from "../../src/errors.js";
import { type Sinks, startSinks } from "../../training/atomics/sinks.js";
import { tempDir } from "../helpers/temp-dir.js";

const ADDRESS = "127.0.0.2";
const ART = "/raw.githubusercontent.com/redcanaryco/atomic-red-team/master/atomics";

/** A port free on ADDRESS right now (the OS picks it). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, ADDRESS, r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Connects, writes `data`, and resolves when the sink closes the connection. */
function sendTcp(port: number, data: string): Promise<{ got: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let got = "";
    const c = connect(port, ADDRESS, () => c.write(data));
    c.on("data", (b) => {
      got += b.toString();
    });
    c.on("error", reject);
    c.on("close", () => resolve({ got, closedAfterMs: Date.now() - started }));
  });
}

describe("atomics sinks", () => {
  let sinks: Sinks;
  const atomicsDir = tempDir("vigil-atomics-sinks-");

  before(async () => {
    mkdirSync(join(atomicsDir, "T1105", "src"), { recursive: true });
    writeFileSync(join(atomicsDir, "T1105", "src", "atomic.sh"), "echo from the library\n");
    sinks = await startSinks({ address: ADDRESS, atomicsDir, httpPort: 0, idleMs: 300 });
  });
  after(() => sinks.close());

  test("atomics - the HTTP sink serves library files and a harmless body, and records requests", async () => {
    sinks.reset();
    assert.match(sinks.http, /^http:\/\/127\.0\.0\.2:\d+$/);
    const file = await fetch(`${sinks.http}${ART}/T1105/src/atomic.sh`);
    assert.equal(file.status, 200);
    assert.equal(await file.text(), "echo from the library\n");
    const other = await fetch(`${sinks.http}/paste.rs/`, {
      method: "POST",
      body: "x".repeat(1234),
    });
    assert.equal(other.status, 200);
    assert.equal(await other.text(), "vigil sink\n");
    const missing = await fetch(`${sinks.http}${ART}/T1105/src/none.sh`);
    assert.equal(await missing.text(), "vigil sink\n");
    assert.deepEqual(sinks.received().http, [
      { method: "GET", path: `${ART}/T1105/src/atomic.sh`, bytes: 0 },
      { method: "POST", path: "/paste.rs/", bytes: 1234 },
      { method: "GET", path: `${ART}/T1105/src/none.sh`, bytes: 0 },
    ]);
  });

  test("atomics - TCP and UDP listeners count what arrives, send nothing, close when idle", async () => {
    sinks.reset();
    const [tcpPort, udpPort] = [await freePort(), await freePort()];
    const r = await sinks.listen([
      { port: tcpPort, protocol: "tcp" },
      { port: udpPort, protocol: "udp" },
    ]);
    assert.deepEqual(r, {
      listening: [
        { port: tcpPort, protocol: "tcp" },
        { port: udpPort, protocol: "udp" },
      ],
      failed: [],
    });
    const a = await sendTcp(tcpPort, "hello");
    assert.equal(a.got, "", "the sink sends nothing");
    assert.ok(a.closedAfterMs >= 250, `closed after ${a.closedAfterMs} ms of idleness`);
    await sendTcp(tcpPort, "world!");
    const u = createSocket("udp4");
    await new Promise<void>((res) => u.send("ping", udpPort, ADDRESS, () => res()));
    await new Promise<void>((res) => u.send("pong!", udpPort, ADDRESS, () => res()));
    u.close();
    await sleep(100);
    const got = sinks.received();
    assert.deepEqual(got.tcp, [{ port: tcpPort, bytes: 11, connections: 2 }]);
    assert.deepEqual(got.udp, [{ port: udpPort, bytes: 9, datagrams: 2 }]);

    sinks.reset();
    assert.deepEqual(sinks.received(), { http: [], tcp: [], udp: [], dns: [] });
  });

  test("atomics - listen is idempotent and reports a port in use instead of throwing", async () => {
    const taken: Server = createServer();
    const port = await freePort();
    await new Promise<void>((r) => taken.listen(port, ADDRESS, r));
    try {
      const httpPort = Number(new URL(sinks.http).port);
      const r = await sinks.listen([
        { port, protocol: "tcp" },
        { port: httpPort, protocol: "tcp" },
      ]);
      assert.deepEqual(r.listening, [{ port: httpPort, protocol: "tcp" }]);
      assert.equal(r.failed.length, 1);
      assert.equal(r.failed[0]?.port, port);
      assert.match(r.failed[0]?.message ?? "", /EADDRINUSE/);
      const again = await sinks.listen([{ port: httpPort, protocol: "tcp" }]);
      assert.deepEqual(again.failed, []);
    } finally {
      await new Promise<void>((r) => taken.close(() => r()));
    }
  });

  test("atomics - DNS answers every A query while answering, NXDOMAIN otherwise", async () => {
    sinks.reset();
    assert.equal(sinks.dnsPort, undefined);
    await sinks.startDns({ port: 0, address: "127.0.0.1" });
    assert.ok(sinks.dnsPort !== undefined && sinks.dnsPort > 0);
    const resolver = new Resolver({ timeout: 2000, tries: 1 });
    resolver.setServers([`127.0.0.1:${sinks.dnsPort}`]);
    sinks.dns.answering = true;
    assert.deepEqual(await resolver.resolve4("c2.evil.example"), [ADDRESS]);
    sinks.dns.answering = false;
    await assert.rejects(resolver.resolve4("exfil.example.org"), { code: "ENOTFOUND" });
    sinks.dns.answering = true;
    assert.deepEqual(sinks.received().dns, ["c2.evil.example", "exfil.example.org"]);
  });

  test("atomics - sinks refuse any address that is not loopback", async () => {
    await assert.rejects(
      startSinks({ address: "10.1.2.3", atomicsDir }),
      (e: unknown) => isVigilError(e, ErrorCodes.USAGE) && e.hint !== undefined,
    );
    await assert.rejects(startSinks({ address: "0.0.0.0", atomicsDir }), (e: unknown) =>
      isVigilError(e, ErrorCodes.USAGE),
    );
    const other = await startSinks({ address: "127.0.0.3", atomicsDir, httpPort: 0 });
    try {
      await assert.rejects(other.startDns({ port: 0, address: "0.0.0.0" }), (e: unknown) =>
        isVigilError(e, ErrorCodes.USAGE),
      );
    } finally {
      await other.close();
    }
  });
});
