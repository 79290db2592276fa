// Docker node pools in AWS us-west-2, AWS China cn-north-1 and Alibaba Cloud cn-hangzhou, each with its region's
// Docker Hub mirrors and 10.0.0.0/8 as insecure registries: the node files of the TypeScript example
// examples/hybrid-multi-region, from Go.
package main

import (
	"fmt"

	"example.com/pulumi-registry-mirrors/sdk/go/registrymirrors"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		cfg := config.New(ctx, "")
		acceleratorID := cfg.Require("acceleratorId")
		accelerator := fmt.Sprintf("https://%s.mirror.aliyuncs.com", acceleratorID)

		// Which mirrors serve which region, in one place (merged over the library's built-in catalog).
		catalog := registrymirrors.CatalogRegionMap{
			// Every region: the private registries on the corporate network, reached over plain HTTP.
			"*": registrymirrors.CatalogRegionArgs{InsecureRegistries: []string{"10.0.0.0/8"}},
			// The company's pull-through proxy in Oregon, then Google's Docker Hub mirror.
			"us-west-2": registrymirrors.CatalogRegionArgs{
				Registries: map[string][]registrymirrors.MirrorEndpointArgs{
					"docker.io": {{Url: cfg.Require("usWest2Proxy")}, {Url: "https://mirror.gcr.io"}},
				},
			},
			// AWS China: the Alibaba Cloud accelerator is reachable from there.
			"cn-north-1": registrymirrors.CatalogRegionArgs{
				Registries: map[string][]registrymirrors.MirrorEndpointArgs{"docker.io": {{Url: accelerator}}},
			},
		}

		pools := []struct{ cloud, region string }{{"aws", "us-west-2"}, {"aws", "cn-north-1"}, {"alicloud", "cn-hangzhou"}}
		var perPool []interface{}
		reasons := pulumi.Map{}
		for _, pool := range pools {
			args := &registrymirrors.RegionalMirrorSelectorArgs{
				Cloud:       pulumi.String(pool.cloud),
				Region:      pulumi.String(pool.region),
				UserCatalog: catalog,
			}
			if pool.cloud == "alicloud" {
				args.AlicloudAcceleratorId = pulumi.StringPtr(acceleratorID)
			}
			selector, err := registrymirrors.NewRegionalMirrorSelector(ctx, pool.region+"-mirrors", args)
			if err != nil {
				return err
			}
			docker := selector.InsecureRegistries.ApplyT(func(insecure []string) registrymirrors.DockerSettings {
				logDriver := "json-file"
				return registrymirrors.DockerSettings{
					ExecOpts:           []string{"native.cgroupdriver=systemd"},
					LogDriver:          &logDriver,
					LogOpts:            map[string]string{"max-size": "100m"},
					InsecureRegistries: insecure,
				}
			}).(registrymirrors.DockerSettingsOutput)
			nodes, err := registrymirrors.NewMirrorDaemonConfig(ctx, pool.region+"-nodes", &registrymirrors.MirrorDaemonConfigArgs{
				Policy:   selector.Policy.ToMirrorPolicyPtrOutput(),
				Runtimes: pulumi.StringArray{pulumi.String("docker")},
				Docker:   docker.ToDockerSettingsPtrOutput(),
			})
			if err != nil {
				return err
			}
			region := pool.region
			reasons[region] = selector.Reasons
			perPool = append(perPool, pulumi.All(nodes.Files, nodes.ApplyScript).ApplyT(func(parts []interface{}) map[string]string {
				files := map[string]string{}
				for path, content := range parts[0].(map[string]string) {
					files[region+"/node"+path] = content
				}
				files[region+"/apply-node-config.sh"] = parts[1].(string)
				return files
			}))
		}

		ctx.Export("reasons", reasons)
		// Every pool's node files under `<region>/`, as the TypeScript example's rendered/ folder holds them.
		ctx.Export("nodeFiles", pulumi.All(perPool...).ApplyT(func(pools []interface{}) map[string]string {
			all := map[string]string{}
			for _, pool := range pools {
				for path, content := range pool.(map[string]string) {
					all[path] = content
				}
			}
			return all
		}))
		return nil
	})
}
