"""Docker node pools in AWS us-west-2, AWS China cn-north-1 and Alibaba Cloud cn-hangzhou, each with its
region's Docker Hub mirrors and 10.0.0.0/8 as insecure registries: the node files of the TypeScript example
examples/hybrid-multi-region, from Python."""

import pulumi
import pulumi_registry_mirrors as mirrors

config = pulumi.Config()
accelerator = f"https://{config.require('acceleratorId')}.mirror.aliyuncs.com"


def endpoints(*urls: str) -> list:
    return [mirrors.MirrorEndpointArgs(url=url) for url in urls]


# Which mirrors serve which region, in one place (merged over the library's built-in catalog).
catalog = {
    # Every region: the private registries on the corporate network, reached over plain HTTP.
    "*": mirrors.CatalogRegionArgs(insecure_registries=["10.0.0.0/8"]),
    # The company's pull-through proxy in Oregon, then Google's Docker Hub mirror.
    "us-west-2": mirrors.CatalogRegionArgs(
        registries={"docker.io": endpoints(config.require("usWest2Proxy"), "https://mirror.gcr.io")}
    ),
    # AWS China: the Alibaba Cloud accelerator is reachable from there.
    "cn-north-1": mirrors.CatalogRegionArgs(registries={"docker.io": endpoints(accelerator)}),
}

pools = [("aws", "us-west-2"), ("aws", "cn-north-1"), ("alicloud", "cn-hangzhou")]

node_files = {}
reasons = {}
for cloud, region in pools:
    selector = mirrors.RegionalMirrorSelector(
        f"{region}-mirrors",
        cloud=cloud,
        region=region,
        user_catalog=catalog,
        alicloud_accelerator_id=config.require("acceleratorId") if cloud == "alicloud" else None,
    )
    nodes = mirrors.MirrorDaemonConfig(
        f"{region}-nodes",
        policy=selector.policy,
        runtimes=["docker"],
        docker=selector.insecure_registries.apply(
            lambda insecure: mirrors.DockerSettingsArgs(
                exec_opts=["native.cgroupdriver=systemd"],
                log_driver="json-file",
                log_opts={"max-size": "100m"},
                insecure_registries=insecure,
            )
        ),
    )
    reasons[region] = selector.reasons
    node_files[region] = pulumi.Output.all(nodes.files, nodes.apply_script).apply(
        lambda parts, region=region: {
            **{f"{region}/node{path}": content for path, content in parts[0].items()},
            f"{region}/apply-node-config.sh": parts[1],
        }
    )

pulumi.export("reasons", reasons)
# Every pool's node files under `<region>/`, as the TypeScript example's rendered/ folder holds them.
pulumi.export("nodeFiles", pulumi.Output.all(*node_files.values()).apply(lambda per_pool: {k: v for pool in per_pool for k, v in pool.items()}))
