/**
 * The bus's connection options against real servers: user/password and token auth, and mutual
 * TLS with certificates made here by openssl (a CA, a server and a client certificate).
 */

import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Registry } from "prom-client";
import { EmbeddedNats } from "../../src/bus/embedded-nats.js";
import { NatsBus, type NatsBusOptions } from "../../src/bus/nats-bus.js";
import { encodeMessage, windowsSubject } from "../../src/contracts/index.js";
import { freePort } from "../../src/free-port.js";
import { createSilentLogger } from "../../src/telemetry/logger.js";
import { createBusMetrics } from "../../src/telemetry/metrics.js";
import { makeWindow } from "../helpers/messages.js";
import { tempDir } from "../helpers/temp-dir.js";

const open = (o: NatsBusOptions) =>
  NatsBus.open(o, createBusMetrics(new Registry()), createSilentLogger());

/** Publishes one window and reads it back: the connection really works. */
async function roundTrip(bus: NatsBus): Promise<void> {
  await bus.publish("window", windowsSubject("auth-agent", "h"), encodeMessage(makeWindow(1)));
  const info = await bus.manager.streams.info("VIGIL_WINDOWS");
  assert.ok(info.state.messages >= 1);
}

describe("bus authentication", () => {
  test("bus - user/password and token authenticate; wrong or missing credentials are refused", async () => {
    for (const auth of [{ user: "vigil", password: "s3cret pw" }, { token: "t0ken" }] as const) {
      const server = await EmbeddedNats.start({
        storeDir: tempDir("vigil-auth-"),
        auth,
      });
      try {
        const good: NatsBusOptions =
          "token" in auth
            ? { servers: [server.url], token: auth.token }
            : { servers: [server.url], user: auth.user, password: auth.password };
        const bus = await open(good);
        await roundTrip(bus);
        await bus.close();
        const wrong: NatsBusOptions =
          "token" in auth
            ? { servers: [server.url], token: "nope" }
            : { servers: [server.url], user: auth.user, password: "nope" };
        await assert.rejects(open(wrong), (e: unknown) =>
          /VIGIL_ERR_NATS_CONNECT|Authorization/i.test(
            String((e as Error & { code?: string }).code ?? e),
          ),
        );
        await assert.rejects(open({ servers: [server.url] }));
      } finally {
        await server.stop();
      }
    }
  });

  test("bus - mutual TLS: a client certificate signed by the CA connects, none is refused", async () => {
    const dir = tempDir("vigil-tls-");
    const ossl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
    ossl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=vigil-test-ca",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
    );
    writeFileSync(join(dir, "san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    for (const who of ["server", "client"]) {
      ossl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        `/CN=vigil-${who}`,
        "-keyout",
        `${who}.key`,
        "-out",
        `${who}.csr`,
      );
      ossl(
        "x509",
        "-req",
        "-in",
        `${who}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        "-out",
        `${who}.pem`,
      );
    }
    const port = await freePort();
    const conf = join(dir, "nats.conf");
    writeFileSync(
      conf,
      [
        `listen: "127.0.0.1:${port}"`,
        `jetstream { store_dir: ${JSON.stringify(join(dir, "js"))} }`,
        `tls { cert_file: ${JSON.stringify(join(dir, "server.pem"))}, key_file: ${JSON.stringify(join(dir, "server.key"))}, ca_file: ${JSON.stringify(join(dir, "ca.pem"))}, verify: true }`,
      ].join("\n"),
    );
    const server: ChildProcess = spawn("nats-server", ["-c", conf], { stdio: "ignore" });
    try {
      const url = `tls://127.0.0.1:${port}`;
      const tls = {
        caFile: join(dir, "ca.pem"),
        certFile: join(dir, "client.pem"),
        keyFile: join(dir, "client.key"),
      };
      let bus: NatsBus | undefined;
      for (let i = 0; i < 50 && !bus; i++) {
        bus = await open({ servers: [url], tls }).catch(async () => {
          await new Promise((r) => setTimeout(r, 100));
          return undefined;
        });
      }
      assert.ok(bus, "connected with the client certificate");
      await roundTrip(bus);
      await bus.close();
      await assert.rejects(
        open({ servers: [url], tls: { caFile: tls.caFile } }),
        "no client certificate",
      );
    } finally {
      server.kill("SIGKILL");
    }
  });
});
