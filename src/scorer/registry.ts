/**
 * The scorer's models: one active WindowModel per agent type, read from
 * <modelsDir>/<agentType>/<version>/ and reloaded when the directory changes.
 *
 * The active version of a type is the one named in <modelsDir>/<agentType>/current (one line)
 * if that file exists, else the greatest version directory name (default versions are UTC
 * times, so the newest). Directories named `*.partial-*` (a model being written) and
 * directories without manifest.json are not versions.
 *
 * Reloading: fs.watch on the models directory and each type directory is only a hint (it
 * misses edits inside a version directory and cannot watch a directory that does not exist
 * yet); a poll every reloadIntervalMs is the guarantee. Both schedule one debounced scan.
 * A scan loads a changed version completely before it replaces the old one, so scoring never
 * sees a half-loaded model; a version that fails to load marks only its own type "broken" and
 * the model that was scoring keeps scoring (`fallback`).
 *
 * Retiring a model: `acquire()` counts users, and a replaced model is closed once its last
 * user released it AND closeGraceMs passed since the swap. The grace covers callers that use
 * `get()` without acquiring (the scorer holds a model while a batch fills: at most
 * batch.maxDelayMs, which the config caps at 10 s, plus one inference).
 */
import { type FSWatcher, watch } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { AGENT_TYPE, isAgentType, VERSION } from "../contracts/index.js";
import { ErrorCodes, isVigilError, VigilError } from "../errors.js";
import { MODEL_FILE, MODEL_MANIFEST_FILE } from "../model/manifest.js";
import { WindowModel } from "../model/window-model.js";
import type { Logger } from "../telemetry/logger.js";
import { MODEL_STATES, type ScorerMetrics } from "../telemetry/metrics.js";
import type { ModelRegistryView, ModelState } from "./types.js";

export const CURRENT_FILE = "current";
const PARTIAL = /\.partial-/;

export interface ModelRegistryOptions {
  modelsDir: string;
  reloadIntervalMs: number;
  logger: Logger;
  metrics: Pick<ScorerMetrics, "modelStatus">;
  /** ONNX Runtime threads per inference (default: its own choice). */
  threads?: number;
  /** Watch events are gathered for this long before a scan (default 250 ms). */
  debounceMs?: number;
  /** A replaced model is closed no sooner than this after the swap (default 15 s). */
  closeGraceMs?: number;
}

/** A model lent to a caller; `release()` (idempotent) lets a replaced model close. */
export interface AcquiredModel {
  model: WindowModel;
  version: string;
  release(): void;
}

export type ModelStateListener = (agentType: string, state: ModelState) => void;

interface Loaded {
  version: string;
  model: WindowModel;
  loadedAt: string;
  users: number;
  retiredAt?: number;
  closed: boolean;
}

interface TypeEntry {
  active: Loaded | undefined;
  state: ModelState;
  /** What the last attempt looked at (version + file stats): unchanged = nothing to do. */
  attempted: string | undefined;
  watcher: FSWatcher | undefined;
}

/** The error as one line for /status and logs: message, then how to fix it. */
export function describeModelError(e: unknown): string {
  if (isVigilError(e)) return e.hint ? `${e.message} (fix: ${e.hint})` : e.message;
  return e instanceof Error ? e.message : String(e);
}

/**
 * Opens a version directory of `type`, and refuses a model trained for another type: a
 * manifest that says "codex" in models/claude-code/ was put there by mistake or by someone.
 */
async function openFor(
  type: string,
  dir: string,
  threads: { threads?: number },
): Promise<WindowModel> {
  const model = await WindowModel.open(dir, threads);
  const named = model.manifest.agentType;
  if (named !== type) {
    await model.close();
    throw new VigilError(
      ErrorCodes.MODEL_INVALID,
      `${join(dir, MODEL_MANIFEST_FILE)} is a model for "${named}", not for "${type}"`,
      { hint: `move it to ${join(dirname(dirname(dir)), named)}/, or train one for ${type}` },
    );
  }
  return model;
}

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() === true;
}

async function fileStamp(path: string): Promise<string> {
  const s = await stat(path).catch(() => undefined);
  return s ? `${s.size}:${s.mtimeMs}:${s.ino}` : "none";
}

export class ModelRegistry implements ModelRegistryView {
  private readonly types = new Map<string, TypeEntry>();
  private readonly listeners = new Set<ModelStateListener>();
  private readonly retired = new Set<Loaded>();
  private rootWatcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private rescan = false;
  private stopped = false;

  constructor(private readonly o: ModelRegistryOptions) {}

  /** Scans and loads every type's model, then keeps watching. Never throws for a bad model. */
  async start(): Promise<void> {
    await this.scan();
    this.pollTimer = setInterval(() => this.schedule(0), this.o.reloadIntervalMs);
    this.pollTimer.unref();
  }

  /** Stops watching and closes every model, including replaced ones still lent out. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.debounceTimer);
    await this.scanning?.catch(() => {});
    this.rootWatcher?.close();
    const all = [...this.retired];
    for (const e of this.types.values()) {
      e.watcher?.close();
      if (e.active) all.push(e.active);
    }
    this.types.clear();
    this.retired.clear();
    for (const l of all) await this.close(l);
  }

  get(agentType: string): WindowModel | undefined {
    return this.types.get(agentType)?.active?.model;
  }

  /** The active model, counted as in use until release(): a reload cannot close it. */
  acquire(agentType: string): AcquiredModel | undefined {
    const l = this.types.get(agentType)?.active;
    if (l === undefined) return undefined;
    l.users++;
    let released = false;
    return {
      model: l.model,
      version: l.version,
      release: () => {
        if (released) return;
        released = true;
        l.users--;
        this.closeIfIdle(l);
      },
    };
  }

  state(agentType: string): ModelState {
    return this.types.get(agentType)?.state ?? { state: "missing" };
  }

  states(): ReadonlyMap<string, ModelState> {
    return new Map([...this.types].map(([t, e]) => [t, e.state]));
  }

  /** Called with the type and its new state whenever a state changes; returns unsubscribe. */
  onChange(listener: ModelStateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private schedule(delay = this.o.debounceMs ?? 250): void {
    if (this.stopped) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.scan().catch((e: unknown) =>
        this.o.logger.limited("error", "registry:scan", "scanning the models directory failed", {
          error: (e as Error).message,
        }),
      );
    }, delay);
    this.debounceTimer.unref();
  }

  /** One scan at a time; a request during a scan runs one more afterwards. */
  private async scan(): Promise<void> {
    if (this.scanning) {
      this.rescan = true;
      return this.scanning;
    }
    this.scanning = (async () => {
      do {
        this.rescan = false;
        await this.scanOnce();
      } while (this.rescan && !this.stopped);
    })().finally(() => {
      this.scanning = undefined;
    });
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const root = this.o.modelsDir;
    const exists = await isDir(root);
    const names = exists ? await readdir(root).catch(() => []) : [];
    if (!exists) {
      // Watching a directory that was deleted sees nothing; the poll finds it again.
      this.rootWatcher?.close();
      this.rootWatcher = undefined;
    }
    this.watchRoot(exists);
    const seen = new Set<string>();
    for (const name of names.sort()) {
      if (this.stopped) return;
      if (name.startsWith(".") || PARTIAL.test(name) || !(await isDir(join(root, name)))) continue;
      if (!isAgentType(name)) {
        this.o.logger.limited(
          "warn",
          `registry:name:${name.slice(0, 64)}`,
          "ignoring a model directory that is not named like an agent type",
          {
            dir: join(root, name),
            expected: String(AGENT_TYPE),
          },
        );
        continue;
      }
      seen.add(name);
      await this.scanType(name);
    }
    for (const [type, e] of this.types) {
      if (seen.has(type)) continue;
      // models/<type>/ is gone: the model goes with it.
      e.watcher?.close();
      this.types.delete(type);
      if (e.active) this.retire(e.active);
      this.o.logger.info("model directory removed", { agentType: type });
      for (const state of MODEL_STATES) {
        this.o.metrics.modelStatus.remove({ agent_type: type, state });
      }
      this.notify(type, { state: "missing" });
    }
  }

  private entry(type: string): TypeEntry {
    let e = this.types.get(type);
    if (e === undefined) {
      e = {
        active: undefined,
        state: { state: "missing" },
        attempted: undefined,
        watcher: undefined,
      };
      this.types.set(type, e);
      e.watcher = this.watchDir(join(this.o.modelsDir, type));
      this.setState(type, e, e.state, true);
    }
    return e;
  }

  /** Version directories of a type (with manifest.json, not being written), sorted. */
  private async versions(dir: string): Promise<string[]> {
    const out: string[] = [];
    for (const name of await readdir(dir).catch(() => [])) {
      if (name.startsWith(".") || PARTIAL.test(name) || name === CURRENT_FILE) continue;
      if (!VERSION.test(name)) continue;
      const m = await stat(join(dir, name, MODEL_MANIFEST_FILE)).catch(() => undefined);
      if (m?.isFile()) out.push(name);
    }
    return out.sort();
  }

  private async scanType(type: string): Promise<void> {
    const e = this.entry(type);
    const dir = join(this.o.modelsDir, type);
    const versions = await this.versions(dir);
    const pinned = await readFile(join(dir, CURRENT_FILE), "utf8").then(
      (s) => s.trim(),
      () => undefined,
    );
    const target = pinned ?? versions[versions.length - 1];
    if (target === undefined) {
      if (e.active) {
        this.o.logger.warn("no model version left; the type is unscored", { agentType: type });
        this.retire(e.active);
        e.active = undefined;
      }
      e.attempted = undefined;
      this.setState(type, e, { state: "missing" });
      return;
    }
    const vdir = join(dir, target);
    const stamp = [
      `current=${pinned ?? ""}`,
      target,
      await fileStamp(join(vdir, MODEL_MANIFEST_FILE)),
      await fileStamp(join(vdir, MODEL_FILE)),
    ].join("|");
    if (stamp === e.attempted) return;
    e.attempted = stamp;

    let error: string;
    if (pinned !== undefined && !versions.includes(pinned)) {
      error = `${join(dir, CURRENT_FILE)} names version "${pinned}", which is not a model directory in ${dir} (fix: write an existing version into it, or delete it to use the newest)`;
    } else {
      try {
        const model = await openFor(type, vdir, this.threads());
        if (this.stopped) {
          await model.close();
          return;
        }
        this.activate(type, e, target, model);
        return;
      } catch (err) {
        error = describeModelError(err);
      }
    }
    // The target cannot be used. Keep what scores; with nothing scoring, fall back to the
    // newest older version that loads (it was most likely active before a restart).
    if (e.active === undefined) {
      for (const v of versions.filter((v) => v < target).reverse()) {
        try {
          const model = await openFor(type, join(dir, v), this.threads());
          e.active = this.loaded(v, model);
          break;
        } catch {
          // try the next older one
        }
      }
    }
    this.o.logger.error("model cannot be used", {
      agentType: type,
      version: target,
      error,
      ...(e.active ? { fallback: e.active.version } : {}),
    });
    this.setState(type, e, {
      state: "broken",
      version: target,
      error,
      ...(e.active ? { fallback: e.active.version } : {}),
    });
  }

  private threads(): { threads?: number } {
    return this.o.threads === undefined ? {} : { threads: this.o.threads };
  }

  private loaded(version: string, model: WindowModel): Loaded {
    return { version, model, loadedAt: new Date().toISOString(), users: 0, closed: false };
  }

  private activate(type: string, e: TypeEntry, version: string, model: WindowModel): void {
    const old = e.active;
    const l = this.loaded(version, model);
    e.active = l;
    if (old) this.retire(old);
    this.o.logger.info(old ? "model swapped" : "model loaded", {
      agentType: type,
      version,
      family: model.family,
      ...(old ? { previous: old.version } : {}),
    });
    this.setState(type, e, {
      state: "active",
      version,
      family: model.family,
      loadedAt: l.loadedAt,
    });
  }

  private retire(l: Loaded): void {
    l.retiredAt = Date.now();
    this.retired.add(l);
    const grace = this.o.closeGraceMs ?? 15_000;
    if (grace > 0) setTimeout(() => this.closeIfIdle(l), grace).unref();
    this.closeIfIdle(l);
  }

  private closeIfIdle(l: Loaded): void {
    if (l.retiredAt === undefined || l.users > 0 || l.closed) return;
    if (Date.now() - l.retiredAt < (this.o.closeGraceMs ?? 15_000)) return;
    this.retired.delete(l);
    this.close(l).catch(() => {});
  }

  private async close(l: Loaded): Promise<void> {
    if (l.closed) return;
    l.closed = true;
    try {
      await l.model.close();
      this.o.logger.debug("model closed", { version: l.version });
    } catch (err) {
      this.o.logger.warn("closing a model failed", { version: l.version, error: String(err) });
    }
  }

  private setState(type: string, e: TypeEntry, state: ModelState, force = false): void {
    const before = JSON.stringify(e.state);
    e.state = state;
    this.publish(type, state);
    if (force || JSON.stringify(state) !== before) this.notify(type, state);
  }

  /** Exactly one state label is 1 per agent type. */
  private publish(type: string, state: ModelState): void {
    for (const s of MODEL_STATES) {
      this.o.metrics.modelStatus.set({ agent_type: type, state: s }, s === state.state ? 1 : 0);
    }
  }

  private notify(type: string, state: ModelState): void {
    for (const l of this.listeners) {
      try {
        l(type, state);
      } catch (err) {
        this.o.logger.warn("a model state listener threw", { error: String(err) });
      }
    }
  }

  private watchRoot(exists: boolean): void {
    if (this.rootWatcher || !exists || this.stopped) return;
    this.rootWatcher = this.watchDir(this.o.modelsDir, () => {
      this.rootWatcher = undefined;
    });
  }

  /** A watcher that schedules a scan; undefined when watching is not possible (the poll runs). */
  private watchDir(dir: string, onGone?: () => void): FSWatcher | undefined {
    if (this.stopped) return undefined;
    try {
      const w = watch(dir, { persistent: false }, () => this.schedule());
      w.on("error", () => {
        w.close();
        onGone?.();
      });
      return w;
    } catch {
      return undefined;
    }
  }
}
