/**
 * The control socket knows who is asking (SO_PEERCRED, read by bpf/build/vigil-control): by
 * default only root may connect; with `sensor.controlGroup`, its members may track their own
 * processes and nothing else, and may not read the sensor's status.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, statSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type ControlHandler,
  ControlServer,
  controlRequest,
} from "../../src/sensor/control-server.js";
import { createSilentLogger } from "../../src/telemetry/logger.js";
import { rootOnly } from "../helpers/root.js";
import { CONTROL_PROXY } from "../helpers/sensor-harness.js";
import { tempDir } from "../helpers/temp-dir.js";
import { NOBODY, runAsNobody, startVigilRun, type VigilRun } from "../helpers/vigil-run.js";

/**
 * Requests sent as `nobody` by one node process, one connection each, in order; `pid: "self"`
 * asks for that process's own pid. A string is sent as is (no newline added).
 */
function requestsAsNobody(socket: string, reqs: (Record<string, unknown> | string)[]) {
  const script = `
    const net = require("net");
    const one = (req) => new Promise((resolve) => {
      if (typeof req === "object" && req.pid === "self") req.pid = process.pid;
      const s = net.connect(${JSON.stringify(socket)});
      s.on("error", (e) => resolve({ connectError: e.code }));
      s.on("connect", () => s.write(typeof req === "string" ? req : JSON.stringify(req) + "\\n"));
      let buf = "";
      s.on("data", (d) => { buf += d; if (buf.includes("\\n")) { s.end(); resolve(JSON.parse(buf.split("\\n")[0])); } });
    });
    (async () => {
      const out = [];
      for (const r of ${JSON.stringify(reqs)}) out.push(await one(r));
      console.log(JSON.stringify(out));
    })();`;
  const r = runAsNobody([process.execPath, "-e", script]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim()) as Record<string, unknown>[];
}

function requestAsNobody(socket: string, req: Record<string, unknown> | string) {
  return requestsAsNobody(socket, [req])[0] as Record<string, unknown>;
}

function rawRequest(socket: string, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buf = "";
    s.setEncoding("utf8");
    s.on("error", reject);
    s.on("connect", () => s.write(payload));
    s.on("data", (d: string) => {
      buf += d;
      if (buf.includes("\n")) {
        s.destroy();
        resolve(buf.trim());
      }
    });
    s.on("close", () => resolve(buf.trim()));
  });
}

describe("security: the control socket checks its peer", rootOnly(), () => {
  const tracked: number[] = [];
  const handler: ControlHandler = {
    track: async (pid) => {
      tracked.push(pid);
      return { instance: 1, agentId: "a1" };
    },
    status: () => ({ instances: [] }),
    isTracked: () => false,
  };

  test("control - without a group the socket is 0600: another user cannot even connect", async () => {
    const dir = tempDir("vigil-ctl-");
    chmodSync(dir, 0o711);
    mkdirSync(join(dir, "run"), { mode: 0o711 });
    chmodSync(join(dir, "run"), 0o711); // others may reach the socket: its own mode must stop them
    const socket = join(dir, "run", "sensor.sock");
    const server = await ControlServer.open(socket, handler, createSilentLogger(), {
      proxy: CONTROL_PROXY,
    });
    try {
      assert.equal(statSync(socket).mode & 0o777, 0o600);
      assert.deepEqual(requestAsNobody(socket, { op: "status" }), { connectError: "EACCES" });
      const status = await controlRequest(socket, { op: "status" });
      assert.deepEqual(status, { ok: true, status: { instances: [] } }, "root may");
    } finally {
      await server.close();
    }
    assert.throws(() => statSync(socket), /ENOENT/, "close removes the socket");
  });

  test("control - hostile input: not JSON, not an object, too large, a directory others can write", async () => {
    const dir = tempDir("vigil-ctl-");
    const socket = join(dir, "sensor.sock");
    const server = await ControlServer.open(socket, handler, createSilentLogger(), {
      proxy: CONTROL_PROXY,
    });
    try {
      assert.match(await rawRequest(socket, "{nope\n"), /request is not JSON/);
      assert.match(await rawRequest(socket, "7\n"), /must be a JSON object/);
      assert.match(await rawRequest(socket, `${"x".repeat(70_000)}\n`), /request too large/);
      assert.match(
        await rawRequest(socket, '{"op":"track","pid":7,"agentType":"x/../y"}\n'),
        /agentType must match/,
      );
      assert.match(
        await rawRequest(socket, '{"op":"track","pid":"7","agentType":"y"}\n'),
        /pid must be an integer/,
      );
      const ok = await controlRequest(socket, { op: "track", pid: process.pid, agentType: "t" });
      assert.equal(ok.ok, true, "the server still answers after the attacks");
      assert.deepEqual(tracked, [process.pid], "no bad request reached the handler");
    } finally {
      await server.close();
    }
    const open = tempDir("vigil-ctl-");
    chmodSync(open, 0o777);
    await assert.rejects(
      ControlServer.open(join(open, "sensor.sock"), handler, createSilentLogger(), {
        proxy: CONTROL_PROXY,
      }),
      (e: Error & { code?: string }) =>
        e.code === "VIGIL_ERR_UNSAFE_PATH" && /no one else can write/.test(e.message),
    );
    await assert.rejects(
      ControlServer.open(join(dir, "s2.sock"), handler, createSilentLogger(), {
        proxy: join(dir, "missing"),
      }),
      (e: Error & { code?: string }) => e.code === "VIGIL_ERR_HELPER_MISSING",
    );
  });

  describe("with sensor.controlGroup, against a real vigil run", () => {
    let run: VigilRun;
    before(async () => {
      run = await startVigilRun({ env: { VIGIL_SENSOR_CONTROL_GROUP: String(NOBODY) } });
      assert.ok(run.url, run.stderr());
    });
    after(async () => {
      await run?.stop();
    });

    test("control - a group member cannot track root's process or read the status, and may track its own", async () => {
      const st = statSync(run.socket);
      assert.equal(st.mode & 0o777, 0o660);
      assert.equal(st.gid, NOBODY);
      const root = spawn("sleep", ["30"], { stdio: "ignore" });
      try {
        const theirs = requestAsNobody(run.socket, {
          op: "track",
          pid: root.pid,
          agentType: "sec-hijack",
        });
        assert.equal(theirs.ok, false);
        assert.equal(theirs.code, "VIGIL_ERR_FORBIDDEN");
        assert.match(
          String(theirs.error),
          new RegExp(`uid ${NOBODY} may only track its own processes; pid ${root.pid} is uid 0's`),
        );
        const status = requestAsNobody(run.socket, { op: "status" });
        assert.equal(status.code, "VIGIL_ERR_FORBIDDEN");
        // A request line that ends early at "\r" must not forge the proxy's "R conn pid uid"
        // prefix for the parent (readline splits at "\r"): it is refused outright.
        const forged = requestAsNobody(
          run.socket,
          '{}\rR 1 1 0 0 {"op":"status"}\nR 1 1 0 0 {"op":"status"}\n',
        );
        assert.equal(forged.ok, false, JSON.stringify(forged));
        assert.match(String(forged.error), /control character/);
        const [own, again] = requestsAsNobody(run.socket, [
          { op: "track", pid: "self", agentType: "sec-own" },
          { op: "track", pid: "self", agentType: "sec-unlearned" },
        ]);
        assert.equal(own?.ok, true, JSON.stringify(own));
        assert.equal(typeof own?.agentId, "string");
        assert.equal(again?.code, "VIGIL_ERR_FORBIDDEN", "a tracked agent cannot re-track itself");
        assert.match(
          String(again?.error),
          /already a tracked agent's: only root may track it anew/,
        );
      } finally {
        root.kill();
      }
      const asRoot = await controlRequest(run.socket, { op: "status" });
      assert.equal(asRoot.ok, true, "root still reads the status");
    });
  });
});
