/**
 * A small npm registry on loopback, so that benign sessions install packages as agents do
 * (`npm install`, `npm view`) without leaving the machine: a few made-up packages, each a real
 * tarball with a packument (`GET /<name>`) that carries its sha512 integrity, served at
 * `GET /<name>/-/<name>-<version>.tgz`. Everything else is 404, as a registry answers.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The packages and the function each exports (name -> source of index.js). */
export const REGISTRY_PACKAGES: Record<string, string> = {
  "tiny-slug": "module.exports = (s) => String(s).toLowerCase().replace(/[^a-z0-9]+/g, '-');\n",
  "pad-start-lite": "module.exports = (s, n, c = ' ') => String(s).padStart(n, c);\n",
  "kv-memo":
    "module.exports = (f) => { const m = new Map(); return (k) => m.has(k) ? m.get(k) : (m.set(k, f(k)), m.get(k)); };\n",
  "csv-split": "module.exports = (line) => line.split(',').map((c) => c.trim());\n",
};

export interface NpmRegistry {
  /** The registry URL, with its trailing slash (as npm's `registry` setting wants it). */
  url: string;
  /** Tarball downloads served. */
  downloads(): number;
  close(): Promise<void>;
}

export async function startNpmRegistry(): Promise<NpmRegistry> {
  const build = mkdtempSync(join(tmpdir(), "vigil-registry-"));
  const tarballs = new Map<string, Buffer>();
  const packuments = new Map<string, (base: string) => object>();
  try {
    for (const [name, source] of Object.entries(REGISTRY_PACKAGES)) {
      const version = "1.0.0";
      const dir = join(build, name, "package");
      mkdirSync(dir, { recursive: true });
      const manifest = {
        name,
        version,
        main: "index.js",
        license: "MIT",
        description: `${name}: a small helper`,
      };
      writeFileSync(join(dir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
      writeFileSync(join(dir, "index.js"), source);
      const file = join(build, `${name}.tgz`);
      execFileSync("tar", ["-C", join(build, name), "-czf", file, "package"]);
      const tgz = readFileSync(file);
      const tarball = `${name}-${version}.tgz`;
      tarballs.set(`/${name}/-/${tarball}`, tgz);
      const integrity = `sha512-${createHash("sha512").update(tgz).digest("base64")}`;
      const shasum = createHash("sha1").update(tgz).digest("hex");
      packuments.set(`/${name}`, (base) => ({
        name,
        "dist-tags": { latest: version },
        versions: {
          [version]: {
            ...manifest,
            dist: { tarball: `${base}${name}/-/${tarball}`, integrity, shasum },
          },
        },
        time: { [version]: "2026-10-01T00:00:00.000Z" },
      }));
    }
  } finally {
    rmSync(build, { recursive: true, force: true });
  }
  let downloads = 0;
  let base = "";
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://127.0.0.1").pathname);
    const tgz = tarballs.get(path);
    if (tgz) {
      downloads++;
      res.writeHead(200, {
        "content-type": "application/octet-stream",
        "content-length": tgz.length,
      });
      res.end(tgz);
      return;
    }
    const doc = packuments.get(path);
    const body = JSON.stringify(doc ? doc(base) : { error: "Not found" });
    res.writeHead(doc ? 200 : 404, { "content-type": "application/json" });
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url: base,
    downloads: () => downloads,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
