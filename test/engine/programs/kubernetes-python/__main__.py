"""The DaemonSet delivery of test/engine/programs/daemonset (same inputs, same names) and a pull secret, from
Python, with the Kubernetes provider passed as a resource option."""

import pulumi
import pulumi_kubernetes as k8s
import pulumi_registry_mirrors as mirrors

config = pulumi.Config()
provider = k8s.Provider("render", render_yaml_to_directory=config.require("renderDir"))
in_cluster = pulumi.ResourceOptions(providers=[provider])

# Public mirrors, known when the program runs: the apply script goes in a ConfigMap.
nodes = mirrors.MirrorDaemonConfig(
    "nodes",
    mirrors=["https://mirror.gcr.io"],
    runtimes=["docker", "containerd"],
    kubernetes=mirrors.KubernetesDeliveryArgs(namespace="kube-system"),
    opts=in_cluster,
)

# A mirror that wants a token: the apply script goes in a Secret.
private_nodes = mirrors.MirrorDaemonConfig(
    "private",
    policy=config.require_secret("mirrorToken").apply(
        lambda token: mirrors.MirrorPolicyArgs(
            registries={
                "docker.io": mirrors.RegistryMirrorsArgs(
                    mirrors=[
                        mirrors.MirrorEndpointArgs(
                            url="https://mirror.internal.example", headers={"Authorization": f"Bearer {token}"}
                        )
                    ]
                )
            }
        )
    ),
    runtimes=["containerd"],
    kubernetes=mirrors.KubernetesDeliveryArgs(namespace="kube-system"),
    opts=in_cluster,
)

pull = mirrors.RegistryCredentialSecret(
    "pull",
    registries={
        "ghcr.io": mirrors.RegistryCredentialArgs(username="ci-bot", password=config.require_secret("ghcrPassword")),
        "registry.example.com:5000": mirrors.RegistryCredentialArgs(auth=config.require_secret("registryAuth")),
    },
    namespaces=["default", "team-a"],
    opts=in_cluster,
)

pulumi.export("checksum", nodes.checksum)
pulumi.export("privateChecksum", private_nodes.checksum)
pulumi.export("secretName", pull.secret_name)
pulumi.export("registries", pull.registries)
pulumi.export("namespaces", pull.namespaces)
