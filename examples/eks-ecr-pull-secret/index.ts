/**
 * An EKS cluster: every node gets a Docker Hub mirror through the node-config DaemonSet, and the pods of the listed
 * namespaces get a pull secret for a private ECR registry. ECR tokens last 12 hours; instead of a scheduled
 * `pulumi up`, the secret's refresher (a CronJob in the cluster) renews the token every 3 hours with its own IAM
 * role (IRSA, or EKS Pod Identity), and patches only this secret. The token never enters the Pulumi state.
 */
import * as pulumi from "@pulumi/pulumi";
import { MirrorDaemonConfig, RegistryCredentialSecret, type RefresherAwsIdentity } from "registry-mirrors";

const config = new pulumi.Config();
const oidcProviderArn = config.get("oidcProviderArn");
const clusterName = config.get("eksClusterName");
const namespaces = config.getObject<string[]>("namespaces") ?? ["apps"];

const identity: RefresherAwsIdentity = oidcProviderArn
  ? { irsa: { oidcProviderArn } }
  : clusterName
    ? { podIdentity: { clusterName } }
    : (() => {
        throw new Error("set oidcProviderArn (IRSA) or eksClusterName (EKS Pod Identity)");
      })();

const mirrors = new MirrorDaemonConfig("cluster-mirrors", {
  policy: { registries: { "docker.io": { mirrors: ["https://mirror.gcr.io"] } } },
  runtimes: ["containerd"],
  restartPolicy: "never",
  kubernetes: { namespace: "kube-system", maxUnavailable: 1 },
});

const pullSecret = new RegistryCredentialSecret("ecr-pull", {
  // The account and region come from the host; the refresher's role may pull from this registry only.
  registries: { [config.require("ecrRegistry")]: { ecr: {} } },
  namespaces,
  serviceAccounts: ["default"],
  refresher: {
    aws: identity,
    image: config.get("refresherImage") || undefined,
  },
});

export const pullSecretName = pullSecret.secretName;
export const refresherSchedule = pullSecret.refresher?.schedule;
export const refresherRoleArn = pullSecret.refresher?.awsRoleArn;

/** Every file the DaemonSet writes on a node, plus its apply script, by path under rendered/. */
export const nodeFiles = pulumi.all([mirrors.files, mirrors.applyScript]).apply(([files, applyScript]) => ({
  ...Object.fromEntries(Object.entries(files).map(([path, content]) => [`node${path}`, content])),
  "apply-node-config.sh": applyScript,
}));
