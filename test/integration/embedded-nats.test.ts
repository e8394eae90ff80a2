/**
 * EmbeddedNats against the real nats-server binary: start-up, loopback-only binding,
 * JetStream persistence across kill/restart, auth, and the start-up failures users will see.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { promisify } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { EmbeddedNats, type EmbeddedNatsOptions } from "../../src/bus/embedded-nats.js";
import { ErrorCodes, isVigilError } from "../../src/errors.js";

const run = promisify(execFile);
const TSX = import.meta.resolve("tsx");
const MODULE = import.meta.resolve("../../src/bus/embedded-nats.ts");

const dirs: string[] = [];
function storeDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "vigil-nats-"));
  dirs.push(dir);
  return join(dir, "store");
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Runs fn against a fresh server and always stops it, so a failed test leaks no process. */
async function withServer(
  options: Partial<EmbeddedNatsOptions>,
  fn: (nats: EmbeddedNats) => Promise<void>,
): Promise<void> {
  const nats = await EmbeddedNats.start({ storeDir: storeDir(), ...options });
  try {
    await fn(nats);
  } finally {
    await nats.stop();
  }
}

async function withClient(
  url: string,
  fn: (nc: NatsConnection) => Promise<void>,
  auth: { user?: string; pass?: string; token?: string } = {},
): Promise<void> {
  const nc = await connect({ servers: url, reconnect: false, ...auth });
  try {
    await fn(nc);
  } finally {
    await nc.close();
  }
}

async function publish(nc: NatsConnection, data: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "VIGIL_TEST", subjects: ["vigil.test.>"] });
  const ack = await jetstream(nc).publish("vigil.test.a", data);
  return ack.seq;
}

async function readFirst(nc: NatsConnection): Promise<string | undefined> {
  const consumer = await jetstream(nc).consumers.get("VIGIL_TEST");
  const msg = await consumer.next({ expires: 2000 });
  return msg?.string();
}

/** Listening addresses for a TCP port, as /proc/net/tcp{,6} hex (0100007F = 127.0.0.1). */
function listenAddresses(port: number): string[] {
  const found: string[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const row of readFileSync(file, "utf8").trim().split("\n").slice(1)) {
      const [, local, , state] = row.trim().split(/\s+/);
      const [address, hexPort] = (local ?? "").split(":");
      if (state === "0A" && address && hexPort && Number.parseInt(hexPort, 16) === port) {
        found.push(address);
      }
    }
  }
  return found;
}

/** A zombie counts as dead: its reaper here may be an init that reaps late. */
function alive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, "ENOENT");
    return false;
  }
  return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
}

describe("embedded-nats", () => {
  test("embedded-nats - starts on a free loopback port with JetStream; a client round-trips a message", async () => {
    await withServer({}, async (nats) => {
      assert.ok(nats.port > 0);
      assert.equal(nats.url, `nats://127.0.0.1:${nats.port}`);
      assert.ok(alive(nats.pid));
      await withClient(nats.url, async (nc) => {
        assert.equal(nc.info?.jetstream, true);
        assert.equal(nc.info?.max_payload, 8 * 1024 * 1024);
        assert.equal(await publish(nc, "hello"), 1);
        assert.equal(await readFirst(nc), "hello");
      });
    });
  });

  test("embedded-nats - binds 127.0.0.1 only", async () => {
    await withServer({ maxPayload: 1024 * 1024 }, async (nats) => {
      assert.deepEqual(listenAddresses(nats.port), ["0100007F"]);
      await withClient(nats.url, async (nc) => {
        assert.equal(nc.info?.max_payload, 1024 * 1024);
      });
    });
  });

  test("embedded-nats - kill then restart keeps the port and the JetStream data", async () => {
    await withServer({}, async (nats) => {
      const { port, pid } = nats;
      await withClient(nats.url, async (nc) => {
        await publish(nc, "before the crash");
      });
      await nats.kill();
      assert.equal(alive(pid), false);
      await nats.restart();
      assert.equal(nats.port, port);
      assert.notEqual(nats.pid, pid);
      assert.ok(alive(nats.pid));
      await withClient(nats.url, async (nc) => {
        assert.equal(await readFirst(nc), "before the crash");
      });
    });
  });

  test("embedded-nats - an unexpected exit is reported; stop and kill are not", async () => {
    await withServer({}, async (nats) => {
      const exits: Array<[number | null, NodeJS.Signals | null]> = [];
      const reported = new Promise<void>((res) => {
        nats.onExit((code, signal) => {
          exits.push([code, signal]);
          res();
        });
      });
      process.kill(nats.pid, "SIGKILL");
      await reported;
      assert.deepEqual(exits, [[null, "SIGKILL"]]);
      await nats.restart();
      await nats.kill();
      await nats.restart();
      await nats.stop();
      assert.equal(exits.length, 1);
    });
  });

  test("embedded-nats - a missing binary gives NATS_MISSING with an apt-get hint", async () => {
    for (const binary of ["vigil-no-such-nats-server", "/nonexistent/nats-server"]) {
      await assert.rejects(EmbeddedNats.start({ storeDir: storeDir(), binary }), (e) => {
        assert.ok(isVigilError(e, ErrorCodes.NATS_MISSING), String(e));
        assert.match(e.hint ?? "", /apt-get install nats-server/);
        return true;
      });
    }
  });

  test("embedded-nats - a taken fixed port gives NATS_START with the server's output", async () => {
    const blocker = createServer();
    await new Promise<void>((res) => blocker.listen(0, "127.0.0.1", res));
    const { port } = blocker.address() as AddressInfo;
    try {
      await assert.rejects(EmbeddedNats.start({ storeDir: storeDir(), port }), (e) => {
        assert.ok(isVigilError(e, ErrorCodes.NATS_START), String(e));
        assert.match(e.message, /address already in use/);
        assert.match(e.hint ?? "", new RegExp(`port ${port}`));
        return true;
      });
    } finally {
      await new Promise<void>((res) => blocker.close(() => res()));
    }
  });

  test("embedded-nats - with user and password, anonymous connects fail and credentials work", async () => {
    // Quotes, a backslash and $ check that the config file quotes values, not expands them.
    const auth = { user: "vigil", password: 'pa$$ "w\\ord"' };
    await withServer({ auth }, async (nats) => {
      await assert.rejects(connect({ servers: nats.url, reconnect: false }), /authorization/i);
      await assert.rejects(
        connect({ servers: nats.url, reconnect: false, user: "vigil", pass: "wrong" }),
        /authorization/i,
      );
      await withClient(
        nats.url,
        async (nc) => {
          assert.equal(await publish(nc, "authed"), 1);
        },
        { user: auth.user, pass: auth.password },
      );
    });
    await withServer({ auth: { token: "t0ken" } }, async (nats) => {
      await assert.rejects(connect({ servers: nats.url, reconnect: false }), /authorization/i);
      await withClient(nats.url, async (nc) => assert.ok(nc.info?.jetstream), { token: "t0ken" });
    });
  });

  test("embedded-nats - stop is idempotent, the process is gone and the exit handler removed", async () => {
    const exitListeners = process.listenerCount("exit");
    const nats = await EmbeddedNats.start({ storeDir: storeDir() });
    assert.equal(process.listenerCount("exit"), exitListeners + 1);
    const { pid } = nats;
    const started = Date.now();
    await Promise.all([nats.stop(), nats.stop()]);
    // Well under the 5 s SIGKILL fallback: SIGTERM itself stopped it.
    assert.ok(Date.now() - started < 3000, `stop took ${Date.now() - started} ms`);
    await nats.stop();
    assert.equal(alive(pid), false);
    assert.equal(process.listenerCount("exit"), exitListeners);
  });

  test("embedded-nats - the server does not outlive the Node process", async () => {
    const script = `
      import { EmbeddedNats } from ${JSON.stringify(MODULE)};
      const nats = await EmbeddedNats.start({ storeDir: ${JSON.stringify(storeDir())} });
      console.log(nats.pid);
      process.exit(0);`;
    const { stdout } = await run(process.execPath, [
      "--import",
      TSX,
      "--input-type=module",
      "-e",
      script,
    ]);
    const pid = Number(stdout.trim());
    assert.ok(pid > 0, stdout);
    assert.equal(alive(pid), false);
  });
});
