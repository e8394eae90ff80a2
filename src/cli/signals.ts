/**
 * For commands that start children and temporary files (eval scenarios, demo): Ctrl-C or SIGTERM
 * exits through process.exit, so the 'exit' hooks run that stop `vigil run` (and with it the
 * sensor and NATS), stop Alertmanager and remove the sandbox. Without this, a signal ends the
 * process at once and leaves all of them behind.
 */
export function exitOnSignals(what: string): void {
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    process.once(signal, () => {
      process.stderr.write(`vigil ${what}: ${signal}, stopping and cleaning up\n`);
      process.exit(code);
    });
  }
}
