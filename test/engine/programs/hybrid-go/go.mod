module engine-hybrid-go

go 1.25

require (
	example.com/pulumi-registry-mirrors/sdk/go v0.0.0
	github.com/pulumi/pulumi/sdk/v3 v3.248.0
)

// The SDK `pulumi package add <package folder>` writes beside the program (not committed), and this line, which it
// writes too.
replace example.com/pulumi-registry-mirrors/sdk/go => ./sdks/registry-mirrors
