/**
 * Compile-time check (tsc in `npm test`; never run): every argument a user passes may be an Output. A field that
 * stops accepting one fails the type check here.
 */
import * as pulumi from "@pulumi/pulumi";
import { MirrorDaemonConfig, RegionalMirrorSelector, RegistryCredentialSecret } from "registry-mirrors";
import { eksNodeUserData, launchTemplateUserData } from "registry-mirrors/aws";

declare const text: pulumi.Output<string>;
declare const flag: pulumi.Output<boolean>;

export function everyFieldTakesAnOutput(): void {
  const selector = new RegionalMirrorSelector("typed", {
    cloud: pulumi.output("aws" as const),
    region: text,
    registries: [text],
    fallbacks: { "docker.io": [text, { url: text, headers: { Authorization: pulumi.secret("t") } }] },
    alicloudAcceleratorId: text,
    awsAccountId: text,
  });
  const config = new MirrorDaemonConfig("typed", {
    mirrors: [text],
    policy: {
      registries: {
        "ghcr.io": {
          mirrors: [
            text,
            {
              url: text,
              insecure: flag,
              caFile: text,
              clientCertFile: text,
              clientKeyFile: text,
              capabilities: [pulumi.output("pull" as const)],
              overridePath: flag,
              dialTimeout: text,
              headers: { Authorization: pulumi.secret("Bearer t") },
              pullFromMirror: pulumi.output("digest-only" as const),
              auth: pulumi.output("ecr" as const),
            },
            pulumi.output({ url: "https://mirror.example.com" }),
          ],
          upstreamFallback: flag,
        },
        "quay.io": pulumi.output({ mirrors: ["https://quay.example.com"] }),
      },
      allowMirrorPaths: flag,
      allowDeprecatedMirrors: flag,
    },
    runtimeOptions: {
      containerd: pulumi.output({ certsDir: "/etc/containerd/certs.d" }),
      k3s: {
        auth: { "ghcr.io": { username: text, password: pulumi.secret("p") }, "quay.io": { auth: text } },
        defaultEndpointDisabled: flag,
      },
    },
    kubernetes: {
      namespace: text,
      image: text,
      nodeSelector: { pool: text },
      tolerations: [{ key: "gpu", operator: "Exists" }, pulumi.output({ operator: "Exists" as const })],
    },
  });
  new MirrorDaemonConfig("from-selector", { policy: selector.policy, kubernetes: { tolerations: pulumi.output([]) } });
  new MirrorDaemonConfig("whole-policy", {
    policy: pulumi.output({ registries: { "docker.io": { mirrors: [text] } } }),
  });
  new RegistryCredentialSecret("typed", {
    registries: pulumi.output({ "ghcr.io": { username: text, password: pulumi.secret("p") } }),
    namespaces: ["default", text],
  });
  new RegistryCredentialSecret("map-of-outputs", {
    registries: { "ghcr.io": pulumi.output({ auth: text }), "quay.io": { username: text, password: text } },
  });
  launchTemplateUserData({ applyScript: config.applyScript, userData: text });
  eksNodeUserData({ amiType: text, applyScript: config.applyScript });
}
