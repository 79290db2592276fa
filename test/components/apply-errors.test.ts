/**
 * A bad value that arrives as an Output fails as a clean Pulumi error on the component: one `ResourceError` (printed
 * by `pulumi up` as `error: <text>` on the resource, without a stack trace) with the same text the constructor throws
 * for the value known now, nothing else reaching the process's error hooks, and no child resource registered.
 *
 * The program runs in a process of its own (fixtures/apply-errors.ts): a failed Pulumi program fails through those
 * hooks — the SDK re-raises a failed registration on purpose so its run loop reports it — and this process's hooks
 * belong to the test runner.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

interface Line {
  scenario: string;
  knownError: { name: string; message: string } | null;
  reported: Array<{ resourceError: boolean; hideStack: boolean; message: string }> | string[];
  custom: string[];
}

function run(): Line[] {
  // The exit status is not the program's verdict: the SDK's exit hook flags the promises of the failed registrations
  // as still pending. The JSON lines are.
  const { stdout, stderr } = spawnSync(
    process.execPath,
    ["--import", "tsx", join(__dirname, "fixtures", "apply-errors.ts")],
    { encoding: "utf8", timeout: 120_000 },
  );
  if (!stdout.includes('"scenario":"(other)"')) throw new Error(`the program did not finish:\n${stderr}`);
  return stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Line);
}

describe("errors inside an apply", () => {
  const lines = run();
  const scenarios = lines.filter((l) => l.scenario !== "(other)");

  it("covers the policy, the DaemonSet arguments, the ConfigMap refusal, the pull secret and the selector", () => {
    expect(scenarios.map((l) => l.scenario)).toEqual([
      "policy",
      "namespace",
      "configmap",
      "registries",
      "namespaces",
      "selector",
    ]);
  });

  it.each(["policy", "namespace", "configmap", "registries", "namespaces", "selector"])(
    "%s: one ResourceError on the component, with the constructor's text, and no child resource",
    (name) => {
      const line = scenarios.find((l) => l.scenario === name) as Line;
      expect(line.knownError?.name).toBe("PolicyError");
      expect(line.reported).toEqual([{ resourceError: true, hideStack: true, message: line.knownError?.message }]);
      expect(line.custom).toEqual([]);
    },
  );

  it("no other error (a raw PolicyError, a TypeError) reaches the process's error hooks", () => {
    expect(lines.find((l) => l.scenario === "(other)")?.reported).toEqual([]);
  });
});
