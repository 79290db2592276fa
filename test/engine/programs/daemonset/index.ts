import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { MirrorDaemonConfig } from "registry-mirrors";

const config = new pulumi.Config();
const provider = new k8s.Provider("render", { renderYamlToDirectory: config.require("renderDir") });

// Public mirrors, known when the program runs: the apply script goes in a ConfigMap.
const nodes = new MirrorDaemonConfig("nodes", {
  mirrors: ["https://mirror.gcr.io"],
  runtimes: ["docker", "containerd"],
  kubernetes: { namespace: "kube-system", provider },
});

// A mirror that wants a token: the apply script goes in a Secret (the default for node files computed from Outputs).
const token = config.requireSecret("mirrorToken");
const privateNodes = new MirrorDaemonConfig("private", {
  policy: token.apply((t) => ({
    registries: {
      "docker.io": { mirrors: [{ url: "https://mirror.internal.example", headers: { Authorization: `Bearer ${t}` } }] },
    },
  })),
  runtimes: ["containerd"],
  kubernetes: { namespace: "kube-system", provider },
});

export const checksum = nodes.checksum;
export const privateChecksum = privateNodes.checksum;
