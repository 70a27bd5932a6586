package release_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harborha/helm-harborha/internal/release"
	"github.com/harborha/helm-harborha/internal/testutil"
)

// One recipe builds the plugin's binaries: scripts/build.sh. make build,
// make dist and the install hook's build from source all run it, so the
// three give the same bytes for the same commit and Go; these tests hold
// them to it (the hook's in TestHookBuildsFromSourceWithGo).

// TestMakeBuildIsTheRelease: `make build` writes the host archive's
// binaries, byte for byte.
func TestMakeBuildIsTheRelease(t *testing.T) {
	d := signedDist(t)
	bin := t.TempDir()
	cmd := exec.Command(lookPath(t, "make"), "-s", "build", "BIN="+bin)
	cmd.Dir = testutil.RepoRoot()
	cmd.Env = environWithout("MAKEFLAGS", "MFLAGS", "MAKELEVEL")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	assertSameBinaries(t, "make build", hostArchiveFiles(t, d), bin)
}

// TestBuildRecipeIsTheOnlyOne: no other go build of the plugin's commands
// (./cmd/harborha, ./cmd/harborha-post-render) is spelled
// out where the three builds are written, so the flags cannot drift apart
// again (the hook once built without CGO_ENABLED=0: dynamically linked,
// 76 MB against 58).
func TestBuildRecipeIsTheOnlyOne(t *testing.T) {
	root := testutil.RepoRoot()
	for _, file := range []string{"Makefile", "scripts/install-binary.sh", "internal/release/dist/main.go"} {
		text := string(testutil.ReadFile(t, filepath.Join(root, file)))
		if !strings.Contains(text, "build.sh") {
			t.Errorf("%s does not run %s", file, release.BuildScript)
		}
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, "./cmd/harborha") || strings.Contains(line, "-X main.version") {
				t.Errorf("%s builds the binaries itself, beside %s: %s", file, release.BuildScript, strings.TrimSpace(line))
			}
		}
	}
}

// assertSameBinaries: dir holds every command's binary of the host
// archive (files: the archive's entries by name), byte for byte.
func assertSameBinaries(t *testing.T, what string, files map[string][]byte, dir string) {
	t.Helper()
	host := release.Platform{OS: runtime.GOOS, Arch: runtime.GOARCH}
	for _, c := range release.Commands {
		name := host.Binary(c)
		got, err := os.ReadFile(filepath.Join(dir, filepath.Base(name)))
		if err != nil {
			t.Errorf("%s left no %s: %v", what, name, err)
			continue
		}
		if !bytes.Equal(got, files[name]) {
			t.Errorf("%s: %s differs from the release's (%d against %d bytes): every build must run %s", what, name, len(got), len(files[name]), release.BuildScript)
		}
	}
}

// BenchmarkStaticBuild: what CGO_ENABLED=0 in scripts/build.sh buys, as a
// user runs the plugin: `helm harborha template --no-discover` against
// plain `helm template` (same chart and values), with the plugin's
// binaries built by the recipe ("static") and by the recipe with cgo on
// ("cgo": dynamically linked, what the install hook's build from source
// gave before it ran the recipe), each plugin in a Helm home of its own.
// Every iteration runs the three back to back, in an order that rotates;
// the *-ratio metrics are ratios of medians, paired-* the median of each
// iteration's own ratio, which cancels what slows the machine for a while.
// cpu-* are the same for the CPU time of helm and every process it ran
// (user + system), which waiting for a busy machine's cores does not add
// to.
func BenchmarkStaticBuild(b *testing.B) {
	chart := testutil.Chart(b, "harbor-1.19.1.tgz")
	values := filepath.Join(testutil.RepoRoot(), "testdata", "external-defaults", "values.yaml")
	common := []string{"myharbor", chart, "-n", "harbor", "--kube-version", testutil.KubeVersion, "-f", values}
	static, cgo := recipeBuilds(b)
	for _, major := range []int{3, 4} {
		b.Run(fmt.Sprintf("helm%d", major), func(b *testing.B) {
			withStatic := installBuild(b, major, static)
			withCgo := installBuild(b, major, cgo)
			runs := []struct {
				home *pluginHome
				args []string
			}{
				{withStatic, append([]string{"template"}, common...)},
				{withStatic, append([]string{"harborha", "template", "--no-discover"}, common...)},
				{withCgo, append([]string{"harborha", "template", "--no-discover"}, common...)},
			}
			wall := make([][]time.Duration, len(runs))
			cpu := make([][]time.Duration, len(runs))
			i := 0
			for b.Loop() {
				for k := range runs {
					r := (i + k) % len(runs)
					w, c := runs[r].home.time(b, runs[r].args)
					wall[r], cpu[r] = append(wall[r], w), append(cpu[r], c)
				}
				i++
			}
			report(b, "", wall)
			report(b, "cpu-", cpu)
		})
	}
}

// BenchmarkStaticStart: one start of each binary, static and cgo builds
// alternating (as BenchmarkStaticBuild builds them): `harborha-post-render
// --version`, which starts twice per render (front door, post-renderer),
// and `harborha version`. Reports medians of wall and CPU time and the
// paired ratios.
func BenchmarkStaticStart(b *testing.B) {
	static, cgo := recipeBuilds(b)
	for _, c := range []struct{ name, arg string }{{"harborha-post-render", "--version"}, {"harborha", "version"}} {
		b.Run(c.name, func(b *testing.B) {
			var wall, cpu [2][]time.Duration
			i := 0
			for b.Loop() {
				for k := range 2 {
					v := (i + k) % 2
					cmd := exec.Command(filepath.Join([]string{static, cgo}[v], c.name), c.arg)
					start := time.Now()
					if out, err := cmd.CombinedOutput(); err != nil {
						b.Fatalf("%s %s: %v\n%s", c.name, c.arg, err, out)
					}
					wall[v] = append(wall[v], time.Since(start))
					cpu[v] = append(cpu[v], cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
				}
				i++
			}
			for v, name := range []string{"static", "cgo"} {
				b.ReportMetric(ms(median(wall[v])), name+"-ms")
				b.ReportMetric(ms(median(cpu[v])), name+"-cpu-ms")
			}
			b.ReportMetric(pairedRatio(wall[1], wall[0]), "paired-cgo/static")
			b.ReportMetric(pairedRatio(cpu[1], cpu[0]), "cpu-paired-cgo/static")
		})
	}
}

var (
	recipeOnce        sync.Once
	recipeDir         string // removed by TestMain
	staticBin, cgoBin string
	recipeErr         error
)

// recipeBuilds builds both binaries twice with scripts/build.sh, once as
// it is and once through a go command that turns cgo back on, into
// directories kept for the test binary's life (benchmarks run again for
// -count).
func recipeBuilds(b *testing.B) (static, cgo string) {
	b.Helper()
	goCmd := lookPath(b, "go")
	lookPath(b, "gcc") // cgo needs a C compiler
	recipeOnce.Do(func() {
		if recipeDir, recipeErr = os.MkdirTemp("", "harborha-recipe-"); recipeErr != nil {
			return
		}
		staticBin, cgoBin = filepath.Join(recipeDir, "static"), filepath.Join(recipeDir, "cgo")
		cgoGo := filepath.Join(recipeDir, "go-with-cgo")
		if recipeErr = os.WriteFile(cgoGo, []byte("#!/bin/sh\nCGO_ENABLED=1 exec '"+goCmd+"' \"$@\"\n"), 0o755); recipeErr != nil {
			return
		}
		for out, goBin := range map[string]string{staticBin: goCmd, cgoBin: cgoGo} {
			cmd := exec.Command("sh", filepath.Join(testutil.RepoRoot(), release.BuildScript), out)
			cmd.Env = append(os.Environ(), "GO="+goBin)
			if o, err := cmd.CombinedOutput(); err != nil {
				recipeErr = fmt.Errorf("%s with GO=%s: %v\n%s", release.BuildScript, goBin, err, o)
				return
			}
		}
	})
	if recipeErr != nil {
		b.Fatal(recipeErr)
	}
	return staticBin, cgoBin
}

// pluginHome is a Helm home with the plugin installed from a checkout copy
// whose bin/ holds one build's binaries.
type pluginHome struct {
	helm string
	env  []string
}

func installBuild(b *testing.B, major int, bin string) *pluginHome {
	b.Helper()
	h := &pluginHome{helm: testutil.Helm3(b)}
	if major == 4 {
		h.helm = testutil.Helm4(b)
	}
	plugin := checkoutCopy(b)
	if err := os.MkdirAll(filepath.Join(plugin, "bin"), 0o755); err != nil {
		b.Fatal(err)
	}
	for _, c := range release.Commands {
		data := testutil.ReadFile(b, filepath.Join(bin, c))
		if err := os.WriteFile(filepath.Join(plugin, "bin", c), data, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	h.env = append(os.Environ(), testutil.IsolatedHelmEnv(b)...)
	h.env = append(h.env, "HELM_BIN=") // HELM_BIN from an outer helm must not leak in
	testutil.Exec(b, h.env, 0, h.helm, "plugin", "install", plugin)
	if major == 4 {
		testutil.Exec(b, h.env, 0, h.helm, "plugin", "install", filepath.Join(plugin, "plugins", release.PostRendererPlugin))
	}
	return h
}

// report reports the medians of plain helm template, the static and the
// cgo build (times in that order), their ratios and paired ratios.
func report(b *testing.B, prefix string, times [][]time.Duration) {
	plain := median(times[0])
	b.ReportMetric(ms(plain), prefix+"helm-template-ms")
	for r, name := range []string{"static", "cgo"} {
		t := times[r+1]
		b.ReportMetric(ms(median(t)), prefix+name+"-ms")
		b.ReportMetric(float64(median(t))/float64(plain), prefix+name+"-ratio")
		b.ReportMetric(pairedRatio(t, times[0]), prefix+"paired-"+name)
	}
	b.ReportMetric(pairedRatio(times[2], times[1]), prefix+"paired-cgo/static")
}

// time runs helm: its wall time, and the CPU time of it and every process
// it waited for (wait4's rusage counts the reaped descendants too).
func (h *pluginHome) time(b *testing.B, args []string) (wall, cpu time.Duration) {
	cmd := exec.Command(h.helm, args...)
	cmd.Env = h.env
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("helm %v: %v\n%.500s", args, err, out)
	}
	wall = time.Since(start)
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// pairedRatio is the median of a[i]/b[i].
func pairedRatio(a, b []time.Duration) float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = float64(a[i]) / float64(b[i])
	}
	slices.Sort(r)
	return r[len(r)/2]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
