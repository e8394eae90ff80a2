/** Compiles a C fixture from test/fixtures into a temp dir, once per process. */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./temp-dir.js";

const built = new Map<string, string>();
export const FIXTURES = fileURLToPath(new URL("../fixtures/", import.meta.url));
export const REPO = fileURLToPath(new URL("../../", import.meta.url));

export function buildFixture(name: string): string {
  const done = built.get(name);
  if (done) return done;
  const out = join(tempDir("vigil-fixture-"), name);
  execFileSync("cc", ["-O1", "-Wall", "-o", out, join(FIXTURES, `${name}.c`)]);
  built.set(name, out);
  return out;
}
