// Command langhost-bridge stands in for pulumi-language-nodejs, -python and -go (by the name it is installed
// under) where the language hosts of the pinned Pulumi version cannot be built: the Go module proxy refuses their
// modules, and the newest hosts it serves (in github.com/pulumi/pulumi/sdk/v3@v3.68.0, Go's in v3.66.0) predate
// component packages. It starts that older host (installed beside it as <name>-base) and forwards to it the calls
// that host implements (filling the older request fields it reads); it answers two that host lacks and a component
// package needs itself, and leaves the rest unimplemented, as the older host would (the engine falls back):
//
//   - RunPlugin (nodejs): runs a PulumiPlugin.yaml package through its own @pulumi/pulumi's cmd/run-plugin, the
//     script that serves the exported components with componentProviderHost.
//   - GeneratePackage (python, go): writes an SDK with the code generators of the pinned CLI's own module
//     (github.com/pulumi/pulumi/pkg/v3), the same generators the pinned hosts call.
//   - Link (python, go), the step of `pulumi package add` after GeneratePackage: records the generated SDK in the
//     program's own dependency file, as the pinned hosts do. Python: the SDK folder as a requirement, through the
//     pinned SDK module's toolchain code (requirements.txt with pip; pyproject.toml with poetry or uv). Go: a
//     replace directive in go.mod from the SDK's module path to its folder. It returns the import lines the CLI
//     prints.
//   - InstallDependencies (python programs): installs the requirements with the pinned SDK module's toolchain code,
//     honouring the runtime options (`virtualenv`, `toolchain`); the base host serves every other install.
//
// scripts/build-pulumi.sh builds it; an installed Pulumi CLI with its own hosts needs none of this.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/blang/semver"
	gogen "github.com/pulumi/pulumi/pkg/v3/codegen/go"
	pygen "github.com/pulumi/pulumi/pkg/v3/codegen/python"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"golang.org/x/mod/modfile"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

type bridge struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	lang string
	base pulumirpc.LanguageRuntimeClient
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "langhost-bridge: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	name := filepath.Base(os.Args[0])
	lang := strings.TrimPrefix(name, "pulumi-language-")
	if lang == name {
		return fmt.Errorf("install this program as pulumi-language-<nodejs|python|go>, not %s", name)
	}
	basePath := filepath.Join(filepath.Dir(self), name+"-base")

	// The base host gets the same arguments (engine address, -root, tracing) and prints its port first.
	cmd := exec.Command(basePath, os.Args[1:]...)
	cmd.Stderr = os.Stderr
	// The engine ends a host by killing it; the base host must go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", basePath, err)
	}
	lines := bufio.NewReader(out)
	port, err := lines.ReadString('\n')
	if err != nil {
		return fmt.Errorf("%s printed no port: %w", basePath, err)
	}
	go func() { _, _ = io.Copy(os.Stdout, lines) }()
	conn, err := grpc.NewClient("127.0.0.1:"+strings.TrimSpace(port),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(400*1024*1024)))
	if err != nil {
		return err
	}

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	server := grpc.NewServer(grpc.MaxRecvMsgSize(400 * 1024 * 1024))
	pulumirpc.RegisterLanguageRuntimeServer(server, &bridge{lang: lang, base: pulumirpc.NewLanguageRuntimeClient(conn)})
	fmt.Printf("%d\n", lis.Addr().(*net.TCPAddr).Port)
	go func() {
		_ = cmd.Wait()
		server.Stop()
	}()
	return server.Serve(lis)
}

// Forwarded to the base host.

func (b *bridge) GetRequiredPlugins(
	ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	legacyProgram(req.Info, &req.Program, &req.Pwd) //nolint:staticcheck
	return b.base.GetRequiredPlugins(ctx, req)
}

// legacyProgram fills the older program and pwd fields, which the base hosts read and the engine now leaves empty
// (a base host then searches its own working folder instead of the program's).
func legacyProgram(info *pulumirpc.ProgramInfo, program, pwd *string) {
	if info == nil {
		return
	}
	if *program == "" {
		*program = info.ProgramDirectory
	}
	if *pwd == "" {
		*pwd = info.ProgramDirectory
	}
}

func (b *bridge) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	return b.base.Run(ctx, req)
}

func (b *bridge) GetPluginInfo(ctx context.Context, req *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return b.base.GetPluginInfo(ctx, req)
}

func (b *bridge) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	return b.base.About(ctx, req)
}

func (b *bridge) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	legacyProgram(req.Info, &req.Program, &req.Pwd) //nolint:staticcheck
	return b.base.GetProgramDependencies(ctx, req)
}

func (b *bridge) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, stream grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	if b.lang == "python" && !req.IsPlugin && req.Info != nil {
		return installPython(req, stream)
	}
	// The base hosts read the folder from the older `directory` field.
	if req.Directory == "" && req.Info != nil {
		req.Directory = req.Info.ProgramDirectory
	}
	from, err := b.base.InstallDependencies(stream.Context(), req)
	if err != nil {
		return err
	}
	for {
		msg, err := from.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
}

// RunPlugin runs a Node.js plugin package the way the pinned host does: the package's own
// @pulumi/pulumi/cmd/run-plugin, with the package folder as the program, streaming its output.
func (b *bridge) RunPlugin(
	req *pulumirpc.RunPluginRequest, stream grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	if b.lang != "nodejs" {
		return status.Errorf(codes.Unimplemented, "RunPlugin is bridged for nodejs only, not %s", b.lang)
	}
	dir, entry := req.Pwd, req.Program //nolint:staticcheck // the older field, when Info is not sent
	if req.Info != nil {
		dir, entry = req.Info.ProgramDirectory, req.Info.EntryPoint
	}
	if entry == "" {
		entry = "."
	}
	resolve := exec.Command("node", "-p", `require.resolve("@pulumi/pulumi/cmd/run-plugin", { paths: [process.argv[1]] })`, dir)
	resolved, err := resolve.Output()
	if err != nil {
		return fmt.Errorf("the plugin at %s has no @pulumi/pulumi (cmd/run-plugin) to run it: %w", dir, err)
	}
	args := append([]string{strings.TrimSpace(string(resolved)), entry}, req.Args...)
	cmd := exec.CommandContext(stream.Context(), "node", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), req.Env...)
	var mu sync.Mutex
	send := func(stdout bool) io.Writer {
		return writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			chunk := bytes.Clone(p)
			msg := &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: chunk}}
			if stdout {
				msg.Output = &pulumirpc.RunPluginResponse_Stdout{Stdout: chunk}
			}
			return len(p), stream.Send(msg)
		})
	}
	cmd.Stdout, cmd.Stderr = send(true), send(false)
	code := int32(0)
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return err
		}
		code = int32(exit.ExitCode())
	}
	mu.Lock()
	defer mu.Unlock()
	return stream.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// GeneratePackage writes a Python or Go SDK for a schema, binding it against the engine's schema loader.
func (b *bridge) GeneratePackage(
	ctx context.Context, req *pulumirpc.GeneratePackageRequest,
) (*pulumirpc.GeneratePackageResponse, error) {
	if b.lang != "python" && b.lang != "go" {
		return nil, status.Errorf(codes.Unimplemented, "GeneratePackage is bridged for python and go only, not %s", b.lang)
	}
	loader, err := schema.NewLoaderClient(req.LoaderTarget)
	if err != nil {
		return nil, err
	}
	defer loader.Close()
	var spec schema.PackageSpec
	if err := json.Unmarshal([]byte(req.Schema), &spec); err != nil {
		return nil, fmt.Errorf("the schema is not JSON: %w", err)
	}
	cached := schema.NewCachedLoader(loader)
	pkg, diags, err := schema.BindSpec(spec, cached, schema.ValidationOptions{})
	if err != nil {
		return nil, err
	}
	if diags.HasErrors() {
		return nil, fmt.Errorf("the schema does not bind: %v", diags)
	}
	if b.lang == "go" && req.Local {
		// A local SDK is a Go module of its own (with its go.mod), as `pulumi package add` makes it.
		pkg.SupportPack = true
	}
	var files map[string][]byte
	if b.lang == "python" {
		files, err = pygen.GeneratePackage("pulumi-language-python", pkg, req.ExtraFiles, cached)
	} else {
		files, err = gogen.GeneratePackage("pulumi-language-go", pkg, req.LocalDependencies)
		for name, content := range req.ExtraFiles {
			files[name] = content
		}
	}
	if err != nil {
		return nil, err
	}
	for name, content := range files {
		path := filepath.Join(req.Directory, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			return nil, err
		}
	}
	return &pulumirpc.GeneratePackageResponse{}, nil
}

// Link records the SDKs `pulumi package add` generated (each a folder relative to the program) in the program's
// dependency file and returns the import lines to show.
func (b *bridge) Link(ctx context.Context, req *pulumirpc.LinkRequest) (*pulumirpc.LinkResponse, error) {
	if b.lang != "python" && b.lang != "go" {
		return nil, status.Errorf(codes.Unimplemented, "Link is bridged for python and go only, not %s", b.lang)
	}
	if req.Info == nil {
		return nil, errors.New("Link needs the program's info")
	}
	loader, err := schema.NewLoaderClient(req.LoaderTarget)
	if err != nil {
		return nil, err
	}
	defer loader.Close()
	cached := schema.NewCachedLoader(loader)
	var imports strings.Builder
	// Package (Python distribution name or Go module path) to the folder that holds its SDK.
	links := map[string]string{}
	for _, dep := range req.Packages {
		if dep.Package == nil {
			return nil, errors.New("Link got a dependency without its package")
		}
		if dep.Package.Name == "pulumi" {
			if b.lang == "python" {
				links["pulumi"] = dep.Path
			} else {
				links["github.com/pulumi/pulumi/sdk/v3"] = goReplacePath(dep.Path)
			}
			continue
		}
		pkg, err := linkedPackage(ctx, cached, dep.Package)
		if err != nil {
			return nil, err
		}
		if b.lang == "python" {
			if err := pkg.ImportLanguages(map[string]schema.Language{"python": pygen.Importer}); err != nil {
				return nil, err
			}
			var name string
			if info, ok := pkg.Language["python"].(pygen.PackageInfo); ok {
				name = info.PackageName
			}
			module := name
			if module == "" {
				module = strings.ReplaceAll(pkg.Name, "-", "_")
				name = pygen.PyPack(pkg.Namespace, pkg.Name)
			}
			links[name] = dep.Path
			fmt.Fprintf(&imports, "  import %s as %s\n", name, module)
		} else {
			if err := pkg.ImportLanguages(map[string]schema.Language{"go": gogen.Importer}); err != nil {
				return nil, err
			}
			var module string
			if info, ok := pkg.Language["go"].(gogen.GoPackageInfo); ok {
				module = info.ModulePath
				if module == "" && info.ImportBasePath != "" {
					module = filepath.ToSlash(filepath.Dir(info.ImportBasePath))
				}
			}
			if module == "" {
				module = gogen.ExtractModulePath(pkg.Reference())
			}
			links[module] = goReplacePath(dep.Path)
			fmt.Fprintf(&imports, "    %q\n", gogen.ExtractImportBasePath(pkg.Reference()))
		}
	}
	sdks := "the SDK"
	if len(req.Packages) > 1 {
		sdks = "the SDKs"
	}
	if b.lang == "python" {
		if err := linkPython(ctx, req.Info, links); err != nil {
			return nil, err
		}
		return &pulumirpc.LinkResponse{
			ImportInstructions: fmt.Sprintf("You can import %s in your Python code with:\n\n%s", sdks, imports.String()),
		}, nil
	}
	if err := linkGo(req.Info.ProgramDirectory, links); err != nil {
		return nil, err
	}
	return &pulumirpc.LinkResponse{
		ImportInstructions: fmt.Sprintf("You can import %s in your Go code with:\n\n  import (\n%s  )\n", sdks, imports.String()),
	}, nil
}

// linkedPackage loads the schema of one package to link through the engine's loader.
func linkedPackage(ctx context.Context, loader schema.Loader, dep *pulumirpc.PackageDependency) (*schema.Package, error) {
	desc := &schema.PackageDescriptor{Name: dep.Name, DownloadURL: dep.Server}
	if v, err := semver.ParseTolerant(dep.Version); err == nil && dep.Version != "" {
		desc.Version = &v
	}
	if p := dep.Parameterization; p != nil {
		desc.Parameterization = &schema.ParameterizationDescriptor{Name: p.Name, Value: p.Value}
		if v, err := semver.ParseTolerant(p.Version); err == nil && p.Version != "" {
			desc.Parameterization.Version = v
		}
	}
	ref, err := schema.LoadPackageReferenceV2(ctx, loader, desc)
	if err != nil {
		return nil, fmt.Errorf("loading the schema of %s: %w", dep.Name, err)
	}
	return ref.Definition()
}

// pythonOptions reads a Python program's runtime options (virtualenv, toolchain, typechecker).
func pythonOptions(info *pulumirpc.ProgramInfo) (toolchain.PythonOptions, error) {
	opts := toolchain.PythonOptions{Root: info.RootDirectory, ProgramDir: info.ProgramDirectory}
	for key, value := range info.Options.AsMap() {
		text, ok := value.(string)
		if !ok && (key == "virtualenv" || key == "toolchain" || key == "typechecker") {
			return opts, fmt.Errorf("the runtime option %s must be a string", key)
		}
		switch key {
		case "virtualenv":
			opts.Virtualenv = text
		case "toolchain":
			switch text {
			case "pip":
				opts.Toolchain = toolchain.Pip
			case "poetry":
				opts.Toolchain = toolchain.Poetry
			case "uv":
				opts.Toolchain = toolchain.Uv
			default:
				return opts, fmt.Errorf("unsupported toolchain option: %s", text)
			}
		case "typechecker":
			switch text {
			case "mypy":
				opts.Typechecker = toolchain.TypeCheckerMypy
			case "pyright":
				opts.Typechecker = toolchain.TypeCheckerPyright
			default:
				return opts, fmt.Errorf("unsupported typechecker option: %s", text)
			}
		}
	}
	return opts, nil
}

// linkPython adds the SDK folders to the program's requirements with the toolchain its options name.
func linkPython(ctx context.Context, info *pulumirpc.ProgramInfo, packages map[string]string) error {
	opts, err := pythonOptions(info)
	if err != nil {
		return err
	}
	if opts.Toolchain != toolchain.Pip && !exists(filepath.Join(info.ProgramDirectory, "pyproject.toml")) {
		// Without a pyproject.toml the requirements live in requirements.txt, as with pip (the other toolchains
		// convert it on `pulumi install`).
		if !exists(filepath.Join(info.ProgramDirectory, "requirements.txt")) {
			return fmt.Errorf("no pyproject.toml or requirements.txt found in %s", info.ProgramDirectory)
		}
		opts.Toolchain = toolchain.Pip
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return err
	}
	if err := tc.LinkPackages(ctx, packages); err != nil {
		return fmt.Errorf("linking packages: %w", err)
	}
	return nil
}

// installPython installs a Python program's dependencies with the pinned SDK module's toolchain code, which reads
// the runtime options from the request (the base host reads them from flags the engine no longer passes, and so
// always made a virtualenv in the program folder itself).
func installPython(
	req *pulumirpc.InstallDependenciesRequest, stream grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	opts, err := pythonOptions(req.Info)
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(stream, req.IsTerminal)
	if err != nil {
		return err
	}
	defer closer.Close()
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Installing dependencies...\n\n")
	if err := tc.InstallDependencies(stream.Context(), req.Info.ProgramDirectory, req.UseLanguageVersionTools,
		true, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Finished installing dependencies\n\n")
	return closer.Close()
}

// goReplacePath is a replace directive's local path: Go takes a relative one only when it starts with ./ or ../.
func goReplacePath(path string) string {
	path = filepath.ToSlash(path)
	if filepath.IsAbs(path) || strings.HasPrefix(path, "./") || strings.HasPrefix(path, "../") {
		return path
	}
	return "./" + path
}

// linkGo adds a replace directive per module to the program's go.mod.
func linkGo(dir string, modules map[string]string) error {
	file := filepath.Join(dir, "go.mod")
	stat, err := os.Stat(file)
	if err != nil {
		return err
	}
	content, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	gomod, err := modfile.Parse(file, content, nil)
	if err != nil {
		return fmt.Errorf("parsing %s: %w", file, err)
	}
	for module, path := range modules {
		if err := gomod.AddReplace(module, "", path, ""); err != nil {
			return fmt.Errorf("adding the replace directive for %s: %w", module, err)
		}
	}
	data, err := gomod.Format()
	if err != nil {
		return err
	}
	return os.WriteFile(file, data, stat.Mode().Perm())
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
