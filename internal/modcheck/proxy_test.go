package modcheck

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode"
)

// repoFiles lists the files of the checkout (tracked, and untracked ones
// that .gitignore does not cover; every file but .git when git is not
// there), grouped by the module that holds them: the map's keys are module
// directories relative to root ("." for the root), its values paths
// relative to the module's directory. The second result lists the module
// directories.
func repoFiles(t *testing.T, root string) (map[string][]string, []string) {
	t.Helper()
	var all []string
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		for _, p := range strings.Split(string(out), "\x00") {
			if p != "" && fileExists(filepath.Join(root, filepath.FromSlash(p))) { // deleted but still tracked
				all = append(all, p)
			}
		}
	} else {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Name() == ".git" {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				rel, _ := filepath.Rel(root, p)
				all = append(all, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var modules []string
	for _, p := range all {
		if path.Base(p) == "go.mod" {
			modules = append(modules, path.Dir(p))
		}
	}
	if !slices.Contains(modules, ".") {
		t.Fatalf("no go.mod at the root %s", root)
	}
	sort.Strings(modules)
	files := map[string][]string{}
	for _, p := range all {
		mod := "."
		for _, m := range modules {
			if m != "." && strings.HasPrefix(p, m+"/") && len(m) > len(mod) {
				mod = m
			}
		}
		rel := p
		if mod != "." {
			rel = strings.TrimPrefix(p, mod+"/")
		}
		files[mod] = append(files[mod], rel)
	}
	return files, modules
}

// writeProxyVersion lays out version of the module at dir (its files
// listed in files, relative to dir) in a file module proxy at proxyDir:
// @v/list, .info, .mod and .zip, as GOPROXY=file://... reads them. A
// module without a LICENSE gets licence, when not empty, as the go command
// gives a nested module the LICENSE of the repository's root.
func writeProxyVersion(proxyDir, modPath, version, dir string, files []string, licence string) error {
	vdir := filepath.Join(proxyDir, filepath.FromSlash(escapePath(modPath)), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}
	list, err := os.OpenFile(filepath.Join(vdir, "list"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(list, version+"\n"); err != nil {
		_ = list.Close()
		return err
	}
	if err := list.Close(); err != nil {
		return err
	}
	info, err := json.Marshal(map[string]string{"Version": version, "Time": "2026-01-01T00:00:00Z"})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(vdir, version+".info"), info, 0o644); err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(vdir, version+".mod"), gomod, 0o644); err != nil {
		return err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
		if err != nil {
			return err
		}
		w, err := zw.Create(modPath + "@" + version + "/" + f)
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	if licence != "" && !slices.Contains(files, "LICENSE") {
		b, err := os.ReadFile(licence)
		if err != nil {
			return err
		}
		w, err := zw.Create(modPath + "@" + version + "/LICENSE")
		if err != nil {
			return err
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(vdir, version+".zip"), buf.Bytes(), 0o644)
}

// escapePath is a module path as the module proxy protocol spells it: an
// upper-case letter becomes '!' and its lower case.
func escapePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func fileURL(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	abs = filepath.ToSlash(abs)
	if !strings.HasPrefix(abs, "/") {
		abs = "/" + abs // a Windows drive letter
	}
	return "file://" + abs
}

// mirror makes dst a module cache that holds what src holds, by symbolic
// links, except the paths in excluded (slash-separated, relative to src).
func mirror(src, dst string, excluded []string) error {
	return mirrorDir(src, dst, ".", excluded)
}

func mirrorDir(src, dst, rel string, excluded []string) error {
	if err := os.MkdirAll(filepath.Join(dst, filepath.FromSlash(rel)), 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(src, filepath.FromSlash(rel)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		r := path.Join(rel, e.Name())
		if slices.Contains(excluded, r) {
			continue
		}
		above := slices.ContainsFunc(excluded, func(x string) bool { return strings.HasPrefix(x, r+"/") })
		if above && e.IsDir() {
			if err := mirrorDir(src, dst, r, excluded); err != nil {
				return err
			}
			continue
		}
		if err := os.Symlink(filepath.Join(src, filepath.FromSlash(r)), filepath.Join(dst, filepath.FromSlash(r))); err != nil {
			return err
		}
	}
	return nil
}

// copyFiles copies files (relative to src) from src to dst.
func copyFiles(src, dst string, files []string) error {
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(f)))
		if err != nil {
			return err
		}
		to := filepath.Join(dst, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// dropSums removes from a go.sum the lines of the modules paths at version.
func dropSums(gosum string, paths []string, version string) error {
	b, err := os.ReadFile(gosum)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var kept []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && slices.Contains(paths, f[0]) && (f[1] == version || f[1] == version+"/go.mod") {
			continue
		}
		kept = append(kept, l)
	}
	return os.WriteFile(gosum, []byte(strings.Join(kept, "")), 0o644)
}
