module engine-hybrid-go

go 1.25

require (
	example.com/pulumi-registry-mirrors/sdk/go v0.0.0
	github.com/pulumi/pulumi/sdk/v3 v3.248.0
)

// The SDK `pulumi package gen-sdk --language go --local --out sdks` writes beside the program (not committed).
replace example.com/pulumi-registry-mirrors/sdk/go => ./sdks/go
