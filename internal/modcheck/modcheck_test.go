package modcheck

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// release is the version that the modules of this repository carry at their
// next release (or carried at the latest, between a release and the next
// one's planning). The nested modules require each other at it, and the
// check serves the local tree at it. Keep it in step with RELEASING.md.
const release = "v0.1.0"

// released are the modules that are tagged and published (RELEASING.md), by
// directory from the root of the repository. examples/blog and bench are
// never published: they are only built and checked.
var released = []string{".", "contrib/gorm", "contrib/otel", "contrib/pgcdc", "contrib/prometheus"}

// ownPrefix starts the path of every module of this repository.
const ownPrefix = "github.com/matroska-go/"

// TestNestedModulesBuildOutsideWorkspace copies every nested module to a
// temporary directory, drops its replace directives, and builds and vets
// it with GOWORK=off against a file module proxy that serves this checkout
// as the released modules at [release]. The other dependencies come from
// the module cache (else from $GOPROXY). A go.mod that requires a version
// of this repository's modules that no release will have fails here: the
// go command cannot find it.
func TestNestedModulesBuildOutsideWorkspace(t *testing.T) {
	if testing.Short() {
		t.Skip("modcheck: builds every nested module outside the workspace (up to a few minutes when the build cache is cold); skipped with -short")
	}
	goBin := goCommand(t)
	root := repoRoot(t)
	files, modules := repoFiles(t, root)
	tmp := t.TempDir()

	proxyDir := filepath.Join(tmp, "proxy")
	var ownPaths []string
	for _, dir := range released {
		path := modulePath(t, filepath.Join(root, dir, "go.mod"))
		if !strings.HasPrefix(path, ownPrefix) {
			t.Fatalf("module %s in %s is not under %s", path, dir, ownPrefix)
		}
		ownPaths = append(ownPaths, path)
		if err := writeProxyVersion(proxyDir, path, release, filepath.Join(root, dir), files[dir], filepath.Join(root, "LICENSE")); err != nil {
			t.Fatal(err)
		}
	}

	// A private module cache, so that the local tree served as release
	// never lands in the real one (where it would shadow the published
	// module later); every other module is linked from the real cache, and
	// -trimpath lets the build cache reuse what was compiled from it.
	modCache := filepath.Join(tmp, "modcache")
	realCache := goEnv(t, goBin, "GOMODCACHE")
	if err := mirror(realCache, modCache, []string{
		"github.com/matroska-go", "cache/download/github.com/matroska-go",
	}); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"GOWORK=off",
		"GOFLAGS=-mod=mod -modcacherw -trimpath -buildvcs=false", // -modcacherw: the temporary cache can be removed
		"GOMODCACHE="+modCache,
		"GOPROXY="+fileURL(proxyDir)+","+goEnv(t, goBin, "GOPROXY"),
		"GONOPROXY=", "GOPRIVATE=",
		"GONOSUMDB="+strings.TrimSuffix(ownPrefix, "/"), // the local tree has no checksum in the database
		"GOTOOLCHAIN=local",
	)

	for _, dir := range modules {
		if dir == "." {
			continue
		}
		t.Run(dir, func(t *testing.T) {
			work := filepath.Join(tmp, "work", filepath.FromSlash(dir))
			if err := copyFiles(filepath.Join(root, dir), work, files[dir]); err != nil {
				t.Fatal(err)
			}
			run := func(args ...string) (stdout, stderr string, err error) {
				var o, e bytes.Buffer
				cmd := exec.Command(goBin, args...)
				cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = work, env, &o, &e
				err = cmd.Run()
				return o.String(), e.String(), err
			}
			must := func(args ...string) string {
				t.Helper()
				out, errOut, err := run(args...)
				if err != nil {
					t.Fatalf("go %s in a copy of %s (GOWORK=off, no replace): %v\n%s%s", strings.Join(args, " "), dir, err, out, errOut)
				}
				return out
			}

			// Outside this repository a replace directive of a dependency
			// is ignored: build as if there were none.
			var gomod struct {
				Replace []struct {
					Old struct{ Path, Version string }
				}
			}
			if err := json.Unmarshal([]byte(must("mod", "edit", "-json")), &gomod); err != nil {
				t.Fatal(err)
			}
			for _, r := range gomod.Replace {
				old := r.Old.Path
				if r.Old.Version != "" {
					old += "@" + r.Old.Version
				}
				must("mod", "edit", "-dropreplace="+old)
			}
			// The checksums of this repository's modules at release are
			// those of the tagged tree, not of this checkout.
			if err := dropSums(filepath.Join(work, "go.sum"), ownPaths, release); err != nil {
				t.Fatal(err)
			}

			// go.mod and go.sum are tidy, apart from this repository's
			// own lines.
			diff, errOut, err := run("mod", "tidy", "-diff")
			if err != nil && diff == "" {
				t.Fatalf("go mod tidy -diff in a copy of %s: %v\n%s", dir, err, errOut)
			}
			if extra := foreignChanges(diff); len(extra) > 0 {
				t.Errorf("%s: go.mod or go.sum is not tidy; go mod tidy would change:\n%s\n(full diff:\n%s)", dir, strings.Join(extra, "\n"), diff)
			}

			must("build", "./...")
			must("vet", "./...")
		})
	}
}

// foreignChanges returns the added and removed lines of a unified diff
// that do not name a module of this repository.
func foreignChanges(diff string) []string {
	var out []string
	for _, l := range strings.Split(diff, "\n") {
		if strings.HasPrefix(l, "+++ ") || strings.HasPrefix(l, "--- ") {
			continue
		}
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && !strings.Contains(l, ownPrefix) {
			out = append(out, l)
		}
	}
	return out
}

func TestForeignChanges(t *testing.T) {
	diff := `diff current/go.sum tidy/go.sum
--- current/go.sum
+++ tidy/go.sum
@@ -1,2 +1,4 @@
 github.com/glebarez/sqlite v1.11.0 h1:x=
+github.com/matroska-go/matroska v0.1.0 h1:y=
+github.com/matroska-go/matroska v0.1.0/go.mod h1:z=
-golang.org/x/text v0.29.0/go.mod h1:w=
`
	got := foreignChanges(diff)
	if len(got) != 1 || got[0] != "-golang.org/x/text v0.29.0/go.mod h1:w=" {
		t.Fatalf("foreignChanges = %q", got)
	}
}

// goCommand returns the go command of the toolchain running the test.
func goCommand(t *testing.T) string {
	t.Helper()
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	p, err := exec.LookPath("go")
	if err != nil {
		t.Skip("modcheck: no go command found")
	}
	return p
}

func goEnv(t *testing.T, goBin, name string) string {
	t.Helper()
	out, err := exec.Command(goBin, "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// repoRoot returns the directory of the library's go.mod, above the test's
// working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		gm := filepath.Join(dir, "go.mod")
		if fileExists(gm) && modulePath(t, gm) == ownPrefix+"matroska" {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("modcheck: the repository's root (module github.com/matroska-go/matroska) is not above the working directory")
		}
		dir = parent
	}
}

// modulePath reads the module path of a go.mod file.
func modulePath(t *testing.T, gomod string) string {
	t.Helper()
	b, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(l), "module "); ok {
			return strings.Trim(strings.TrimSpace(p), `"`)
		}
	}
	t.Fatalf("%s has no module line", gomod)
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
