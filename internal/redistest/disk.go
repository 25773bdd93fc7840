package redistest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Save makes the server write its dataset to dump.rdb in its directory now
// (the SAVE command), so that a later [Server.Restart] loads that state even
// if the server persists nothing by itself. It fails the test if SAVE does.
func (s *Server) Save(tb testing.TB) {
	tb.Helper()
	c := s.Client(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Do(ctx, "SAVE").Err(); err != nil {
		tb.Fatalf("redistest: SAVE on %s: %v", s.Addr(), err)
	}
}

// CopyDir copies the server's directory as it is on disk now (dump.rdb,
// the AOF directory, nodes.conf...) into a new temporary directory of the
// test and returns its path, for [Server.RestartFrom]. The server keeps
// running. Files are read from the page cache, so the copy holds everything
// the server has written, fsynced or not: it stands for the disk at a moment
// when all of it had reached the platters.
func (s *Server) CopyDir(tb testing.TB) string {
	tb.Helper()
	dst := tb.TempDir()
	if err := copyTree(dst, s.dir); err != nil {
		tb.Fatalf("redistest: copy %s: %v", s.dir, err)
	}
	return dst
}

// RestartFrom kills the server, replaces the contents of its directory with
// those of dir (a [Server.CopyDir] taken earlier) and restarts it on the same
// port: it comes back with the state it had on disk then, as after a machine
// crash that lost what was written since (the tail of an AOF written with
// "--appendfsync", "everysec" and not yet fsynced, say). A plain Kill loses
// no acknowledged write of an AOF server: Redis writes the AOF before it
// answers, and the kernel keeps what was written when a process dies.
func (s *Server) RestartFrom(tb testing.TB, dir string) {
	tb.Helper()
	s.Kill()
	entries, err := os.ReadDir(s.dir)
	if err == nil {
		for _, e := range entries {
			if err = os.RemoveAll(filepath.Join(s.dir, e.Name())); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = copyTree(s.dir, dir)
	}
	if err != nil {
		tb.Fatalf("redistest: restore %s from %s: %v", s.dir, dir, err)
	}
	s.Restart(tb)
}

// copyTree copies the directories and regular files under src into dst.
func copyTree(dst, src string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed meanwhile (a temporary file of a rewrite)
		}
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case d.Type().IsRegular():
			if err := copyFile(to, path); !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		default:
			return nil // sockets and the like: nothing Redis reads back
		}
	})
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}
