import * as pulumi from "@pulumi/pulumi";
import { type CloudName, MirrorDaemonConfig, RegionalMirrorSelector } from "registry-mirrors";

const config = new pulumi.Config();

interface PoolArgs {
  cloud: CloudName;
  region: string;
  acceleratorId?: string;
  ownMirrors?: string[];
}

/** One node pool: its region's mirrors and the node files rendered from them. */
class Pool extends pulumi.ComponentResource {
  readonly checksum: pulumi.Output<string>;
  readonly hostsToml: pulumi.Output<string>;

  constructor(name: string, args: PoolArgs, opts?: pulumi.ComponentResourceOptions) {
    super("engine:index:Pool", name, {}, opts);
    const selector = new RegionalMirrorSelector(
      name,
      {
        cloud: args.cloud,
        region: args.region,
        registries: ["docker.io"],
        alicloudAcceleratorId: args.acceleratorId,
        fallbacks: args.ownMirrors ? { "docker.io": args.ownMirrors } : undefined,
      },
      { parent: this },
    );
    const nodes = new MirrorDaemonConfig(
      name,
      { policy: selector.policy, runtimes: ["docker", "containerd"] },
      { parent: this },
    );
    this.checksum = nodes.checksum;
    this.hostsToml = nodes.containerdHosts.apply((h) => h["/etc/containerd/certs.d/docker.io/hosts.toml"]);
    this.registerOutputs({ checksum: this.checksum });
  }
}

const hangzhou = new Pool("hangzhou", { cloud: "alicloud", region: "cn-hangzhou", acceleratorId: "a1b2c3d4" });
const usWest2 = new Pool("us-west-2", {
  cloud: "aws",
  region: "us-west-2",
  ownMirrors: [config.require("usWest2Proxy")],
});

// A private mirror that wants a bearer token (containerd sends it as a header), and k3s nodes that log in to
// the same mirror with basic auth.
const token = config.requireSecret("mirrorToken");
const privateMirror = new MirrorDaemonConfig("private", {
  policy: token.apply((t) => ({
    registries: {
      "docker.io": { mirrors: [{ url: "https://mirror.internal.example", headers: { Authorization: `Bearer ${t}` } }] },
    },
  })),
  runtimes: ["containerd"],
});
const k3s = new MirrorDaemonConfig("k3s", {
  mirrors: ["https://mirror.internal.example"],
  runtimes: ["k3s"],
  runtimeOptions: token.apply((t) => ({
    k3s: { auth: { "mirror.internal.example": { username: "ci", password: t } } },
  })),
});

// The same mirror with its token as a plain string, against the policy's advice: the component still records
// every file that holds a header as a secret. (Not from plain config: the backend keeps each update's config in
// its history, so a plain config value is in the state folder whatever the program does.)
const plainToken = "tok-Vb81-plain-string-in-the-program";
const plainHeader = new MirrorDaemonConfig("plain-header", {
  policy: {
    registries: {
      "docker.io": {
        mirrors: [
          {
            url: "https://mirror.internal.example",
            headers: { Authorization: `Bearer ${plainToken}` },
          },
        ],
      },
    },
  },
  runtimes: ["containerd"],
});

export const checksums = { hangzhou: hangzhou.checksum, usWest2: usWest2.checksum, private: privateMirror.checksum };
export const usWest2HostsToml = usWest2.hostsToml;
export const hangzhouHostsToml = hangzhou.hostsToml;
export const privateFiles = privateMirror.files;
export const k3sFiles = k3s.files;
export const plainHeaderFiles = plainHeader.files;
// Test of the test only: with leakToken the files are unwrapped into a plain output, the mistake the
// checkpoint secret check must catch.
export const debugFiles = config.getBoolean("leakToken") ? pulumi.unsecret(privateMirror.files) : privateMirror.files;
