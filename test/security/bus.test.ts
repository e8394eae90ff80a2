/**
 * Attacks on the bus of a real `vigil run`: a local user without credentials, a stolen sensor
 * or scorer user, a forged window whose agent type is a path, planted credential files. Each
 * must fail, and say so in the words a defender would want.
 */
import assert from "node:assert/strict";
import { lstatSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { Registry } from "prom-client";
import { credentialsPath, readRoleCredentials } from "../../src/bus/bus-credentials.js";
import { inboxPrefix } from "../../src/bus/bus-roles.js";
import { NatsBus, STREAMS } from "../../src/bus/nats-bus.js";
import { natsOptionsFromFlags } from "../../src/cli/nats-flags.js";
import { alertsSubject, encodeMessage, windowsSubject } from "../../src/contracts/index.js";
import { createSilentLogger } from "../../src/telemetry/logger.js";
import { createBusMetrics } from "../../src/telemetry/metrics.js";
import { REPO } from "../helpers/build-fixture.js";
import { makeAlert, makeWindow } from "../helpers/messages.js";
import { rootOnly } from "../helpers/root.js";
import { waitFor } from "../helpers/sensor-harness.js";
import { CLI, runAsNobody, startVigilRun, TSX, type VigilRun } from "../helpers/vigil-run.js";

const enc = new TextEncoder();

/** A raw client for a role, as an attacker who stole that role's password would use it. */
async function asRole(run: VigilRun, role: "sensor" | "scorer" | "reader") {
  const c = readRoleCredentials(run.dataDir, role);
  assert.ok(c, "credentials exist");
  return connect({
    servers: [run.url],
    user: c.user,
    pass: c.password,
    inboxPrefix: inboxPrefix(role),
    maxReconnectAttempts: 0,
  });
}

/** The admin role's bus, as vigil run's own tools open it. */
function asAdmin(run: VigilRun): Promise<NatsBus> {
  return NatsBus.open(
    natsOptionsFromFlags({}, { dataDir: run.dataDir, role: "admin" }),
    createBusMetrics(new Registry()),
    createSilentLogger(),
  );
}

/** The permissions error the server sends for a publish, or undefined if none came. */
async function publishError(
  nc: Awaited<ReturnType<typeof connect>>,
  subject: string,
  data: Uint8Array = enc.encode("{}"),
): Promise<string | undefined> {
  const errors: string[] = [];
  const watcher = (async () => {
    for await (const s of nc.status()) if (s.type === "error") errors.push(String(s.error));
  })();
  try {
    await nc.request(subject, data, { timeout: 1500 });
  } catch (e) {
    errors.push(String((e as Error).message));
  }
  await nc.flush();
  void watcher;
  return errors.find((e) => /permission/i.test(e)) ?? errors[0];
}

describe("security: the bus of vigil run", rootOnly(), () => {
  let run: VigilRun;
  before(async () => {
    run = await startVigilRun();
    assert.ok(run.url, `vigil run started: ${run.stderr()}`);
  });
  after(async () => {
    await run?.stop();
  });

  test("bus - credentials are its owner's only: 0600 in a 0700 directory", () => {
    const file = lstatSync(credentialsPath(run.dataDir));
    assert.equal(file.mode & 0o777, 0o600);
    assert.equal(file.uid, 0);
    assert.equal(lstatSync(join(run.dataDir, "nats")).mode & 0o777, 0o700);
  });

  test("bus - an unprivileged local user cannot connect, read the credentials, or use vigil tail", () => {
    const script = join(run.root, "anonymous.mjs");
    const natsPath = join(REPO, "node_modules/@nats-io/transport-node/index.js");
    writeFileSync(
      script,
      `import { connect } from ${JSON.stringify(natsPath)};
try {
  const nc = await connect({ servers: [process.argv[2]], maxReconnectAttempts: 0 });
  await nc.request("$JS.API.STREAM.DELETE.VIGIL_WINDOWS", new Uint8Array(), { timeout: 2000 });
  console.log("CONNECTED");
} catch (e) { console.log("REFUSED " + e.message); }
`,
      { mode: 0o644 },
    );
    const anon = runAsNobody([process.execPath, script, run.url]);
    assert.match(anon.stdout, /REFUSED .*Authorization Violation/i, anon.stdout + anon.stderr);

    const read = runAsNobody(["cat", credentialsPath(run.dataDir)]);
    assert.notEqual(read.status, 0);
    assert.match(read.stderr, /Permission denied/);

    const tail = runAsNobody(
      [process.execPath, "--import", TSX, CLI, "tail", "--data-dir", run.dataDir],
      { env: { VIGIL_LOG_LEVEL: "error" } },
    );
    assert.notEqual(tail.status, 0);
    assert.match(
      tail.stdout + tail.stderr,
      /cannot read .*\/nats\/url: permission denied.*as the user that runs 'vigil run'/s,
      tail.stderr,
    );
  });

  test("bus - a stolen sensor user can publish windows only: no stream API, no alerts, no reading", async () => {
    const nc = await asRole(run, "sensor");
    try {
      assert.match(
        (await publishError(nc, "$JS.API.STREAM.DELETE.VIGIL_WINDOWS")) ?? "",
        /Permissions Violation for Publish to "\$JS\.API\.STREAM\.DELETE\.VIGIL_WINDOWS"/,
      );
      assert.match(
        (await publishError(nc, alertsSubject("claude-code"), encodeMessage(makeAlert(1)))) ?? "",
        /Permissions Violation for Publish to "vigil\.v1\.alerts\.claude-code"/,
      );
      const errors: string[] = [];
      const w = (async () => {
        for await (const s of nc.status()) if (s.type === "error") errors.push(String(s.error));
      })();
      nc.subscribe("vigil.v1.windows.>");
      nc.subscribe("_INBOX.>");
      await nc.flush();
      await waitFor(() => errors.length >= 2, 5000, "subscription refusals");
      void w;
      assert.match(
        errors.join("\n"),
        /Permissions Violation for Subscription to "vigil\.v1\.windows\.>"/,
      );
      assert.match(errors.join("\n"), /Permissions Violation for Subscription to "_INBOX\.>"/);
    } finally {
      await nc.close();
    }
    // The streams are all there.
    const admin = await asAdmin(run);
    try {
      for (const s of Object.values(STREAMS)) assert.ok(await admin.manager.streams.info(s));
    } finally {
      await admin.close();
    }
  });

  test("bus - a stolen scorer or reader user cannot delete streams or forge windows", async () => {
    for (const role of ["scorer", "reader"] as const) {
      const nc = await asRole(run, role);
      try {
        assert.match(
          (await publishError(nc, "$JS.API.STREAM.DELETE.VIGIL_ALERTS")) ?? "",
          /Permissions Violation for Publish/,
          role,
        );
        assert.match(
          (await publishError(
            nc,
            windowsSubject("claude-code", "h"),
            encodeMessage(makeWindow(1)),
          )) ?? "",
          /Permissions Violation for Publish to "vigil\.v1\.windows\.claude-code\.h"/,
          role,
        );
      } finally {
        await nc.close();
      }
    }
  });

  test("bus - a forged window whose agent type is a path is dead-lettered; nothing is written for it", async () => {
    // The admin user, to show that the contract holds whoever publishes.
    const admin = await asAdmin(run);
    try {
      // A type no real agent on this host has: a claude-code directory may be a real agent's.
      const forged = { ...makeWindow(1), agentType: "x/../sec-forged" };
      await admin.publish("window", windowsSubject("x", "h"), encodeMessage(forged));
      let dead = 0;
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        dead = (await admin.manager.streams.info(STREAMS.dlq)).state.messages;
        if (dead > 0) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(dead >= 1, "the forged window is in the dead-letter queue");
      const m = await admin.manager.streams.getMessage(STREAMS.dlq, {
        last_by_subj: "vigil.v1.dlq",
      });
      assert.equal(m?.header.get("Vigil-Reason"), "schema");
      assert.match(m?.header.get("Vigil-Detail") ?? "", /agentType: expected an agent type/);
    } finally {
      await admin.close();
    }
    const learning = join(run.dataDir, "learning");
    const types = (() => {
      try {
        return readdirSync(learning);
      } catch {
        return [];
      }
    })();
    assert.ok(!types.includes("x"), `nothing under ${learning}/x: ${types.join(", ")}`);
    assert.ok(!types.includes("sec-forged"), "nothing learned for the type it names");
  });

  test("bus - every stream is bounded in bytes and age: a flood of alerts or bad messages cannot fill the disk", async () => {
    const admin = await asAdmin(run);
    try {
      for (const name of Object.values(STREAMS)) {
        const { config } = await admin.manager.streams.info(name);
        assert.ok(config.max_bytes > 0, `${name} has max_bytes (${config.max_bytes})`);
        assert.ok(config.max_age > 0, `${name} has max_age`);
        assert.equal(config.discard, "old", `${name} drops its oldest when full`);
      }
    } finally {
      await admin.close();
    }
  });
});

describe("security: planted credential files", rootOnly(), () => {
  test("bus - vigil run refuses credentials others can read, and a symlink in their place", async () => {
    for (const [what, plant, message] of [
      [
        "world-readable",
        (dataDir: string) => {
          mkdirSync(join(dataDir, "nats"), { recursive: true });
          writeFileSync(credentialsPath(dataDir), "{}", { mode: 0o644 });
        },
        /is readable by others \(mode 644\).*chmod 600/s,
      ],
      [
        "symlink",
        (dataDir: string) => {
          mkdirSync(join(dataDir, "nats"), { recursive: true });
          symlinkSync("/etc/passwd", credentialsPath(dataDir));
        },
        /is not a regular file.*never followed/s,
      ],
    ] as const) {
      const run = await startVigilRun({ prepare: plant });
      const code = await run.stop();
      assert.notEqual(code, 0, `${what}: vigil run must not start`);
      assert.match(run.stderr(), message, `${what}: ${run.stderr()}`);
    }
  });
});
