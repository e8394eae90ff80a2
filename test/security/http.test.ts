/**
 * A local user who binds the scorer's HTTP port first: vigil run still starts and detects, says
 * who holds the port, and takes it once it is free; `vigil status` will not hand the squatter
 * the bus's credentials. /status itself needs the bus reader's password.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { statusHeaders } from "../../src/cli/status-command.js";
import { freePort } from "../../src/free-port.js";
import { rootOnly } from "../helpers/root.js";
import { waitFor } from "../helpers/sensor-harness.js";
import { CLI, NOBODY, startVigilRun, TSX, type VigilRun } from "../helpers/vigil-run.js";

const execFileAsync = promisify(execFile);

/** A listener owned by nobody that prints every request's authorization header. */
async function squat(port: number): Promise<{ child: ChildProcess; seen: () => string }> {
  const script = `
    require("http").createServer((req, res) => {
      console.log("request " + req.url + " auth=" + (req.headers.authorization || "-"));
      res.end("{}");
    }).listen(${port}, "127.0.0.1", () => console.log("listening"));`;
  const child = spawn(
    "setpriv",
    [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      "--clear-groups",
      "--",
      process.execPath,
      "-e",
      script,
    ],
    { stdio: ["ignore", "pipe", "inherit"], cwd: "/" },
  );
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  await waitFor(() => out.includes("listening"), 10_000, "the squatter to listen");
  return { child, seen: () => out };
}

describe("security: the scorer's HTTP port", rootOnly(), () => {
  let run: VigilRun;
  let squatter: Awaited<ReturnType<typeof squat>>;
  let listen: string;
  before(async () => {
    const port = await freePort();
    listen = `127.0.0.1:${port}`;
    squatter = await squat(port);
    run = await startVigilRun({ env: { VIGIL_SCORER_HTTP_LISTEN: listen } });
  });
  after(async () => {
    squatter?.child.kill();
    await run?.stop();
  });

  test("http - a squatted port does not stop vigil run, and vigil status does not send it credentials", async () => {
    assert.ok(run.url, `vigil run started despite the squatter: ${run.stderr()}`);
    await waitFor(
      () => /held by uid 65534/.test(run.stderr()),
      10_000,
      `vigil run to name the squatter: ${run.stderr()}`,
    );
    assert.match(run.stderr(), /detection goes on/);
    assert.equal(run.child.exitCode, null, "vigil run is still running");

    // Asynchronously, so the squatter's output is read while vigil status runs.
    const st = await execFileAsync(process.execPath, ["--import", TSX, CLI, "status", "--json"], {
      env: { ...run.env, VIGIL_SCORER_HTTP_LISTEN: listen },
      encoding: "utf8",
      timeout: 30_000,
    }).then(
      () => ({ status: 0, stderr: "" }),
      (e: { code?: number; stderr?: string }) => ({ status: e.code ?? 1, stderr: e.stderr ?? "" }),
    );
    assert.notEqual(st.status, 0);
    assert.match(st.stderr, /held by uid 65534, not by Vigil's uid 0/);
    assert.match(st.stderr, /not sending credentials/);
    assert.doesNotMatch(squatter.seen(), /auth=Bearer/, "the squatter never saw a token");

    squatter.child.kill();
    await once(squatter.child, "exit");
    const deadline = Date.now() + 20_000;
    let health = 0;
    while (Date.now() < deadline && health !== 200) {
      health = await fetch(`http://${listen}/healthz`).then(
        (r) => r.status,
        () => 0,
      );
      if (health !== 200) await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(health, 200, `vigil run took the port once it was free: ${run.stderr()}`);
    assert.match(run.stderr(), /port is free again/);
  });

  test("http - /status needs the bus reader's password; metrics and health do not", async () => {
    await waitFor(() => /port is free again/.test(run.stderr()), 30_000, "the port");
    const anonymous = await fetch(`http://${listen}/status`);
    assert.equal(anonymous.status, 401);
    assert.match(await anonymous.text(), /bearer token/);
    const right = statusHeaders(run.dataDir, listen).authorization ?? "";
    assert.match(right, /^Bearer ./);
    // The same length, one character off: the comparison itself must refuse it.
    const off = `${right.slice(0, -1)}${right.endsWith("x") ? "y" : "x"}`;
    const wrong = await fetch(`http://${listen}/status`, { headers: { authorization: off } });
    assert.equal(wrong.status, 401);
    const ok = await fetch(`http://${listen}/status`, {
      headers: statusHeaders(run.dataDir, listen),
    });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { host: string }).host, "sec-host");
    assert.equal((await fetch(`http://${listen}/metrics`)).status, 200);
    const st = spawnSync(process.execPath, ["--import", TSX, CLI, "status", "--json"], {
      env: { ...run.env, VIGIL_SCORER_HTTP_LISTEN: listen },
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(st.status, 0, st.stderr);
    assert.equal((JSON.parse(st.stdout) as { host: string }).host, "sec-host");
  });
});
