/**
 * The root platform stack (Pulumi.yaml + platform/index.ts) under the real engine, with the config the examples
 * test uses. Without `configureCluster` it creates component resources only, so it needs no provider plugin.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { diffTrees, readTree, TEST_CONFIG } from "../../scripts/example-runner";
import { EngineStack, EngineWorkspace, REPO_ROOT } from "./harness";

describe("the platform stack under the real engine", () => {
  let ws: EngineWorkspace;
  let stack: EngineStack;

  beforeAll(() => {
    ws = new EngineWorkspace();
    stack = new EngineStack(ws, REPO_ROOT, "engine-platform");
    for (const [key, value] of Object.entries(TEST_CONFIG.platform)) stack.setConfig(key, value);
  });
  afterAll(() => ws?.dispose());

  it("up renders the committed platform/rendered files byte for byte", () => {
    stack.must(["up", "--yes", "--skip-preview"]);
    const nodeFiles = stack.outputs().nodeFiles as Record<string, string>;
    expect(diffTrees("platform/rendered", readTree(join(REPO_ROOT, "platform/rendered")), nodeFiles)).toBe("");
    const types = (stack.exportState().deployment.resources ?? []).map((r) => r.type).sort();
    expect(types).toEqual([
      "pulumi:pulumi:Stack",
      "registry-mirrors:index:MirrorDaemonConfig",
      "registry-mirrors:index:RegionalMirrorSelector",
    ]);
  });

  it("destroy removes the stack's resources", () => {
    stack.must(["destroy", "--yes", "--skip-preview"]);
    expect(stack.exportState().deployment.resources ?? []).toEqual([]);
  });
});
