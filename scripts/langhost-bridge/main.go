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

	gogen "github.com/pulumi/pulumi/pkg/v3/codegen/go"
	pygen "github.com/pulumi/pulumi/pkg/v3/codegen/python"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
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
