/**
 * The DaemonSet delivery under the real engine with the real Kubernetes provider (built by
 * scripts/build-pulumi.sh) in `renderYamlToDirectory` mode: the provider writes the manifests it would apply,
 * and kubernetes-models validates each against the Kubernetes OpenAPI schema.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import { assertNoCredential, EngineStack, EngineWorkspace, PROGRAMS } from "./harness";

const TOKEN = "tok-9Kd4-engine-daemonset-credential";

const MODELS: Record<string, (o: any) => { validate(): void }> = {
  DaemonSet: (o) => new DaemonSet(o),
  ConfigMap: (o) => new ConfigMap(o),
  Secret: (o) => new Secret(o),
};

function readManifests(dir: string): Array<Record<string, any>> {
  const manifests = join(dir, "1-manifest");
  if (!existsSync(manifests)) return [];
  return readdirSync(manifests)
    .sort()
    .flatMap((f) => YAML.parseAllDocuments(readFileSync(join(manifests, f), "utf8")).map((d) => d.toJSON()));
}

describe("the DaemonSet path with a YAML-rendering Kubernetes provider", () => {
  let ws: EngineWorkspace;
  let stack: EngineStack;
  let renderDir: string;

  beforeAll(() => {
    ws = new EngineWorkspace();
    renderDir = join(ws.dir, "manifests");
    stack = new EngineStack(ws, join(PROGRAMS, "daemonset"), "engine-daemonset");
    stack.setConfig("renderDir", renderDir);
    stack.setConfig("mirrorToken", TOKEN, { secret: true });
  });
  afterAll(() => ws?.dispose());

  it("up writes a ConfigMap, a Secret and two DaemonSets that validate against the Kubernetes schema", () => {
    stack.must(["up", "--yes", "--skip-preview"]);
    const docs = readManifests(renderDir);
    const outputs = stack.outputs() as Record<string, string>;
    // The script holders are named after the script's checksum, so a changed script is a new object.
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual([
      `ConfigMap/nodes-node-config-engine-daemonset-${outputs.checksum.slice(0, 10)}`,
      // Default DaemonSet names carry the stack, so two stacks of one program share nothing in a cluster.
      "DaemonSet/nodes-node-config-engine-daemonset",
      "DaemonSet/private-node-config-engine-daemonset",
      `Secret/private-node-config-engine-daemonset-${outputs.privateChecksum.slice(0, 10)}`,
    ]);
    for (const doc of docs) {
      expect(doc.metadata.namespace).toBe("kube-system");
      MODELS[doc.kind](doc).validate();
    }
    const find = (kind: string, prefix: string) =>
      docs.find((d) => d.kind === kind && d.metadata.name.startsWith(prefix)) as Record<string, any>;

    for (const [name, checksum, holder] of [
      ["nodes", outputs.checksum, { configMap: { name: find("ConfigMap", "nodes-").metadata.name } }],
      ["private", outputs.privateChecksum, { secret: { secretName: find("Secret", "private-").metadata.name } }],
    ] as const) {
      const pod = find("DaemonSet", `${name}-`).spec.template;
      // The pods roll when the script changes: the checksum annotation is the component's checksum.
      expect(Object.values(pod.metadata.annotations)).toContain(checksum);
      // The script is mounted from the holder the engine named.
      expect(pod.spec.volumes).toContainEqual(
        expect.objectContaining(
          Object.fromEntries(Object.entries(holder).map(([k, v]) => [k, expect.objectContaining(v)])),
        ),
      );
    }
    const secret = docs.find((d) => d.kind === "Secret");
    expect(Buffer.from(Object.values(secret?.data ?? {})[0] as string, "base64").toString()).toContain(TOKEN);
    expect(JSON.stringify(docs.find((d) => d.kind === "ConfigMap"))).not.toContain(TOKEN);
    assertNoCredential(stack.backendFiles(), [TOKEN], "the backend's files");
  });

  it("destroy removes the manifests", () => {
    stack.must(["destroy", "--yes", "--skip-preview"]);
    expect(readManifests(renderDir)).toEqual([]);
  });
});
