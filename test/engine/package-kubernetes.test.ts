/**
 * The Kubernetes side of the multi-language package (provider/) under the real engine, with the real Kubernetes
 * provider in `renderYamlToDirectory` mode: a Python program (test/engine/programs/kubernetes-python) gets the
 * DaemonSet delivery of MirrorDaemonConfig byte for byte as the TypeScript program test/engine/programs/daemonset
 * with the same inputs, and a RegistryCredentialSecret whose pull secrets hold the given credentials while the
 * state holds none of them in the clear.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Secret } from "kubernetes-models/v1/Secret";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import YAML from "yaml";
import {
  assertNoCredential,
  EngineStack,
  EngineWorkspace,
  PROGRAMS,
  packageFolder,
  programWithPackage,
  pythonVenv,
  REPO_ROOT,
} from "./harness";

// One stack name for both programs: the DaemonSets' default names carry it.
const STACK = "engine-k8s";
const MIRROR_TOKEN = "tok-7Qx2-package-daemonset-credential";
const GHCR_PASSWORD = "ghp-5Rt8-package-pull-credential";
const REGISTRY_USER = "deployer";
const REGISTRY_PASSWORD = "pw-3Lm9-package-auth-credential";
const REGISTRY_AUTH = Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString("base64");
const CREDENTIAL_TYPE = "registry-mirrors:index:RegistryCredentialSecret";

/** The manifests the provider wrote, by file name (parsed), and their text. */
function manifests(dir: string): Map<string, { text: string; doc: Record<string, any> }> {
  const folder = join(dir, "1-manifest");
  const files = existsSync(folder) ? readdirSync(folder).sort() : [];
  return new Map(
    files.map((f) => {
      const text = readFileSync(join(folder, f), "utf8");
      return [f, { text, doc: YAML.parse(text) }];
    }),
  );
}

const isPullSecret = (doc: Record<string, any>) => doc.type === "kubernetes.io/dockerconfigjson";

describe("the package's Kubernetes resources from Python under the real engine", () => {
  let ws: EngineWorkspace;
  let typescript: EngineStack;
  let python: EngineStack;
  const tsDir = () => join(ws.dir, "ts-manifests");
  const pyDir = () => join(ws.dir, "py-manifests");

  beforeAll(() => {
    ws = new EngineWorkspace();
    const pluginDir = packageFolder(ws);
    const schema = join(ws.dir, "schema.json");
    writeFileSync(schema, ws.must(["package", "get-schema", pluginDir], ws.dir).stdout);
    ws.must(["package", "gen-sdk", schema, "--language", "python", "--out", join(ws.dir, "sdks")], ws.dir);
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, "package-lock.json"), "utf8"));
    const k8sVersion = lock.packages["node_modules/@pulumi/kubernetes"].version;
    pythonVenv(ws, [`pulumi-kubernetes==${k8sVersion}`, join(ws.dir, "sdks/python")]);

    typescript = new EngineStack(ws, join(PROGRAMS, "daemonset"), STACK);
    typescript.setConfig("renderDir", tsDir());
    typescript.setConfig("mirrorToken", MIRROR_TOKEN, { secret: true });
    python = new EngineStack(ws, programWithPackage(ws, "kubernetes-python", pluginDir), STACK);
    python.setConfig("renderDir", pyDir());
    python.setConfig("mirrorToken", MIRROR_TOKEN, { secret: true });
    python.setConfig("ghcrPassword", GHCR_PASSWORD, { secret: true });
    python.setConfig("registryAuth", REGISTRY_AUTH, { secret: true });
  });
  afterAll(() => ws?.dispose());

  it("MirrorDaemonConfig's DaemonSet delivery writes the TypeScript program's manifests, byte for byte", () => {
    typescript.must(["up", "--yes", "--skip-preview"]);
    python.must(["up", "--yes", "--skip-preview"]);
    const fromTs = manifests(tsDir());
    const fromPy = manifests(pyDir());
    const kinds = [...fromTs.values()].map(({ doc }) => doc.kind).sort();
    expect(kinds).toEqual(["ConfigMap", "DaemonSet", "DaemonSet", "Secret"]);
    const nodeConfig = new Map([...fromPy].filter(([, { doc }]) => !isPullSecret(doc)));
    expect([...nodeConfig.keys()]).toEqual([...fromTs.keys()]);
    for (const [file, { text }] of fromTs) expect(nodeConfig.get(file)?.text, file).toBe(text);
    const tsOut = typescript.outputs();
    const pyOut = python.outputs();
    expect([pyOut.checksum, pyOut.privateChecksum]).toEqual([tsOut.checksum, tsOut.privateChecksum]);
    assertNoCredential(python.backendFiles(), [MIRROR_TOKEN], "the backend's files");
  });

  it("RegistryCredentialSecret writes a pull secret per namespace with the given auths, none of them in the state", () => {
    const secrets = [...manifests(pyDir()).values()].map(({ doc }) => doc).filter(isPullSecret);
    const name = `pull-${STACK}`;
    expect(secrets.map((s) => `${s.metadata.namespace}/${s.metadata.name}`).sort()).toEqual([
      `default/${name}`,
      `team-a/${name}`,
    ]);
    const auth = (user: string, password: string) => ({
      username: user,
      password,
      auth: Buffer.from(`${user}:${password}`).toString("base64"),
    });
    for (const secret of secrets) {
      new Secret(secret as any).validate();
      expect(Object.keys(secret.data)).toEqual([".dockerconfigjson"]);
      expect(JSON.parse(Buffer.from(secret.data[".dockerconfigjson"], "base64").toString("utf8"))).toEqual({
        auths: {
          "ghcr.io": auth("ci-bot", GHCR_PASSWORD),
          "registry.example.com:5000": auth(REGISTRY_USER, REGISTRY_PASSWORD),
        },
      });
    }
    const out = python.outputs();
    expect([out.secretName, out.registries, out.namespaces]).toEqual([
      name,
      ["ghcr.io", "registry.example.com:5000"],
      ["default", "team-a"],
    ]);

    assertNoCredential(
      python.backendFiles(),
      [GHCR_PASSWORD, `ci-bot:${GHCR_PASSWORD}`, REGISTRY_PASSWORD, REGISTRY_AUTH],
      "the backend's files",
    );
    const state = python.exportState().deployment.resources ?? [];
    const component = state.find((r) => r.type === CREDENTIAL_TYPE && r.urn.endsWith(`::${CREDENTIAL_TYPE}::pull`));
    // The document is an output of the component, recorded encrypted.
    expect(component?.outputs?.dockerConfigJson).toMatchObject({ ciphertext: expect.any(String) });
    const k8sSecrets = state.filter((r) => r.type === "kubernetes:core/v1:Secret" && r.urn.endsWith(`::pull-default`));
    expect(k8sSecrets).toHaveLength(1);
  });

  it("destroy removes every manifest", () => {
    python.must(["destroy", "--yes", "--skip-preview"]);
    typescript.must(["destroy", "--yes", "--skip-preview"]);
    expect([...manifests(pyDir()).keys(), ...manifests(tsDir()).keys()]).toEqual([]);
  });
});
