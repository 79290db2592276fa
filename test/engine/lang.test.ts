/**
 * The multi-language package (provider/) under the real engine: `pulumi package get-schema` serves the schema
 * componentProviderHost infers (descriptions from the TSDoc), `pulumi package gen-sdk` writes the Python and Go
 * SDKs, and `pulumi package add` generates and links them into a Python and a Go program that configure the seed's
 * hybrid fleet. The node files they record in the state must be byte for byte the TypeScript example's
 * (examples/hybrid-multi-region/rendered).
 *
 * The package is installed as a user installs it: the library packed (`npm pack`, of the built dist) and the
 * package folder's dependencies installed by the CLI from its package.json. Python runs in a virtualenv with the
 * `pulumi` package at the pinned version; Go resolves github.com/pulumi/pulumi/sdk/v3 from the module proxy.
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type CheckpointResource,
  EngineStack,
  EngineWorkspace,
  packageFolder,
  pinnedPulumiVersion,
  programCopy,
  pythonVenv,
  REPO_ROOT,
} from "./harness";

const RENDERED = join(REPO_ROOT, "examples/hybrid-multi-region/rendered");
// The example's TEST_CONFIG value (scripts/example-runner.ts); usWest2Proxy keeps its default in both projects.
const ACCELERATOR_ID = "a1b2c3d4";
const POOLS = ["us-west-2", "cn-north-1", "cn-hangzhou"];
const SELECTOR = "registry-mirrors:index:RegionalMirrorSelector";
const DAEMON = "registry-mirrors:index:MirrorDaemonConfig";
const CREDENTIALS = "registry-mirrors:index:RegistryCredentialSecret";

interface SchemaProperty {
  type?: string;
  $ref?: string;
  description?: string;
  items?: SchemaProperty;
  additionalProperties?: SchemaProperty;
}
interface Schema {
  name: string;
  resources: Record<
    string,
    {
      isComponent: boolean;
      description: string;
      inputProperties: Record<string, SchemaProperty>;
      properties: Record<string, SchemaProperty>;
      requiredInputs?: string[];
    }
  >;
  types: Record<string, { properties: Record<string, SchemaProperty> }>;
}

/** The example's node files and apply scripts (its user data needs the cloud providers, so it is not compared). */
function typescriptNodeFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const pool of POOLS) {
    files[`${pool}/apply-node-config.sh`] = readFileSync(join(RENDERED, pool, "apply-node-config.sh"), "utf8");
    files[`${pool}/node/etc/docker/daemon.json`] = readFileSync(
      join(RENDERED, pool, "node/etc/docker/daemon.json"),
      "utf8",
    );
  }
  return files;
}

describe("the multi-language package under the real engine", () => {
  let ws: EngineWorkspace;
  let pluginDir: string;
  let schemaFile: string;
  let schema: Schema;
  const sdks = () => join(ws.dir, "sdks");

  beforeAll(() => {
    ws = new EngineWorkspace();
    pluginDir = packageFolder(ws);
  });
  afterAll(() => ws?.dispose());

  function checkFleet(stack: EngineStack, project: string): void {
    const state = stack.exportState().deployment.resources ?? [];
    const stackUrn = `urn:pulumi:${stack.name}::${project}::pulumi:pulumi:Stack::${project}-${stack.name}`;
    const components = state
      .filter((r) => r.type === SELECTOR || r.type === DAEMON)
      .map((r) => [r.urn, r.parent])
      .sort();
    const urn = (type: string, name: string) => `urn:pulumi:${stack.name}::${project}::${type}::${name}`;
    expect(components).toEqual(
      POOLS.flatMap((pool) => [
        [urn(SELECTOR, `${pool}-mirrors`), stackUrn],
        [urn(DAEMON, `${pool}-nodes`), stackUrn],
      ]).sort(),
    );
    const byUrn = new Map<string, CheckpointResource>(state.map((r) => [r.urn, r]));
    const expected = typescriptNodeFiles();
    // What the stack exported, as recorded in the checkpoint.
    expect(byUrn.get(stackUrn)?.outputs?.nodeFiles).toEqual(expected);
    // What each component recorded: its node files as its inputs, the apply script's sha256 as its output.
    for (const pool of POOLS) {
      const daemon = byUrn.get(urn(DAEMON, `${pool}-nodes`));
      const script = expected[`${pool}/apply-node-config.sh`];
      expect(daemon?.outputs).toEqual({ checksum: createHash("sha256").update(script).digest("hex") });
      expect(daemon?.inputs?.nodeFiles).toEqual({
        "/etc/docker/daemon.json": expected[`${pool}/node/etc/docker/daemon.json`],
      });
      expect(byUrn.get(urn(SELECTOR, `${pool}-mirrors`))?.outputs?.region).toBe(pool);
    }
  }

  it("get-schema infers every component and input, with the TSDoc as descriptions", () => {
    const out = ws.must(["package", "get-schema", pluginDir], ws.dir).stdout;
    schemaFile = join(ws.dir, "schema.json");
    writeFileSync(schemaFile, out);
    schema = JSON.parse(out) as Schema;
    expect(schema.name).toBe("registry-mirrors");
    expect(Object.keys(schema.resources).sort()).toEqual([DAEMON, SELECTOR, CREDENTIALS]);
    const selector = schema.resources[SELECTOR];
    expect(selector.isComponent).toBe(true);
    expect(selector.inputProperties.cloud).toEqual({
      type: "string",
      description: "The cloud the nodes run in: `aws` or `alicloud`.",
    });
    expect(selector.properties.policy.$ref).toBe("#/types/registry-mirrors:index:MirrorPolicy");
    const daemon = schema.resources[DAEMON];
    expect(daemon.description).toMatch(/^Renders one mirror policy into every selected runtime's node files/);
    expect(daemon.inputProperties.restartPolicy.description).toMatch(/^`never` \(default\)/);
    expect(schema.types["registry-mirrors:index:MirrorEndpoint"].properties.pullFromMirror.description).toBe(
      "Which pulls CRI-O/podman send to this mirror: `all` (default), `digest-only` or `tag-only`.",
    );
    const credentials = schema.resources[CREDENTIALS];
    expect(credentials.isComponent).toBe(true);
    expect(credentials.description).toMatch(/^A `kubernetes\.io\/dockerconfigjson` pull secret/);
    expect(credentials.requiredInputs).toEqual(["registries"]);
    expect(credentials.inputProperties.registries.additionalProperties).toEqual({
      $ref: "#/types/registry-mirrors:index:RegistryCredential",
    });
    expect(credentials.inputProperties.namespaces.items).toEqual({ type: "string" });
    expect(Object.keys(credentials.properties).sort()).toEqual([
      "dockerConfigJson",
      "namespaces",
      "registries",
      "secretName",
    ]);
    const credential = schema.types["registry-mirrors:index:RegistryCredential"].properties;
    expect(Object.keys(credential).sort()).toEqual(["acr", "auth", "ecr", "password", "username"]);
    // Credentials are inputs (a secret Output is accepted as is), not plain values.
    expect(credential.password).toEqual({
      type: "string",
      description:
        "Password or access token (with `username`). Pass it as a Pulumi secret (e.g. a secret config value).",
    });
    expect(credential.ecr.$ref).toBe("#/types/registry-mirrors:index:EcrToken");
    // Every property of every component and type has its description.
    const undocumented = [
      ...Object.entries(schema.resources).flatMap(([name, r]) =>
        [...Object.entries(r.inputProperties), ...Object.entries(r.properties)].map(([p, d]) => [`${name}.${p}`, d]),
      ),
      ...Object.entries(schema.types).flatMap(([name, t]) =>
        Object.entries(t.properties).map(([p, d]) => [`${name}.${p}`, d]),
      ),
    ]
      .filter(([, d]) => !(d as SchemaProperty).description)
      .map(([p]) => p);
    expect(undocumented).toEqual([]);
  });

  it("gen-sdk writes the Python and Go SDKs", () => {
    ws.must(["package", "gen-sdk", schemaFile, "--language", "python", "--out", sdks()], ws.dir);
    ws.must(["package", "gen-sdk", schemaFile, "--language", "go", "--local", "--out", sdks()], ws.dir);
    const python = join(sdks(), "python/pulumi_registry_mirrors");
    expect(readFileSync(join(python, "regional_mirror_selector.py"), "utf8")).toContain(
      ":param pulumi.Input[_builtins.str] cloud: The cloud the nodes run in: `aws` or `alicloud`.",
    );
    expect(readFileSync(join(python, "registry_credential_secret.py"), "utf8")).toContain(
      ":param pulumi.Input[Mapping[str, pulumi.Input['RegistryCredentialArgs']]] registries: Credentials by registry host",
    );
    // A credential field takes an Output, so a secret config value goes in as is.
    expect(readFileSync(join(python, "_inputs.py"), "utf8")).toContain(
      "        :param pulumi.Input[_builtins.str] password: Password or access token (with `username`).",
    );
    expect(readFileSync(join(sdks(), "go/go.mod"), "utf8")).toMatch(
      /^module example\.com\/pulumi-registry-mirrors\/sdk\/go$/m,
    );
    expect(readFileSync(join(sdks(), "go/registrymirrors/regionalMirrorSelector.go"), "utf8")).toContain(
      "\t// The cloud the nodes run in: `aws` or `alicloud`.\n\tCloud pulumi.StringInput",
    );
  });

  it("`pulumi package add` links the SDK into a Python program, which renders the TypeScript example's node files", () => {
    pythonVenv(ws, []);
    const dir = programCopy(ws, "hybrid-python");
    const requirements = join(dir, "requirements.txt");
    expect(readFileSync(requirements, "utf8")).toBe(`pulumi==${pinnedPulumiVersion()}\n`);
    const added = ws.must(["package", "add", pluginDir], dir).stdout;
    expect(added).toContain("import pulumi_registry_mirrors as registry_mirrors");
    // The SDK in the program's sdks/ folder, as a requirement installed into the program's Python.
    expect(readFileSync(requirements, "utf8")).toBe(`pulumi==${pinnedPulumiVersion()}\nsdks/registry-mirrors\n`);
    expect(readFileSync(join(dir, "Pulumi.yaml"), "utf8")).toContain(`packages:\n  registry-mirrors: ${pluginDir}\n`);
    const stack = new EngineStack(ws, dir, "py");
    stack.setConfig("acceleratorId", ACCELERATOR_ID);
    expect(stack.must(["up", "--yes", "--skip-preview"]).stdout).toContain("+ 7 created");
    checkFleet(stack, "engine-hybrid-python");
    expect(stack.must(["destroy", "--yes", "--skip-preview"]).stdout).toContain("- 7 deleted");
  });

  it("`pulumi package add` links the SDK into a Go program, which renders the TypeScript example's node files", () => {
    const dir = programCopy(ws, "hybrid-go");
    const gomod = join(dir, "go.mod");
    expect(readFileSync(gomod, "utf8")).toContain(`github.com/pulumi/pulumi/sdk/v3 v${pinnedPulumiVersion()}`);
    const added = ws.must(["package", "add", pluginDir], dir).stdout;
    expect(added).toContain('"example.com/pulumi-registry-mirrors/sdk/go/registrymirrors"');
    expect(readFileSync(gomod, "utf8")).toMatch(
      /^replace example\.com\/pulumi-registry-mirrors\/sdk\/go => \.\/sdks\/registry-mirrors$/m,
    );
    const stack = new EngineStack(ws, dir, "go");
    stack.setConfig("acceleratorId", ACCELERATOR_ID);
    expect(stack.must(["up", "--yes", "--skip-preview"]).stdout).toContain("+ 7 created");
    checkFleet(stack, "engine-hybrid-go");
    expect(stack.must(["destroy", "--yes", "--skip-preview"]).stdout).toContain("- 7 deleted");
  });
});
