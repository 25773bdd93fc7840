// Package pgtest starts and stops a private PostgreSQL cluster for tests,
// as internal/redistest does for Redis: initdb and pg_ctl of the newest
// PostgreSQL under /usr/lib/postgresql/<version>/bin (or $PG_BIN), a
// temporary directory, a free loopback port, wal_level=logical with room for
// replication slots and WAL senders. It never talks to a server it did not
// start (the machine's own on 5432 included).
//
// initdb refuses to run as root: when the tests run as root (CI does), the
// directory is given to the "postgres" user and initdb and pg_ctl run as
// that user through runuser.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matroska-go/matroska/internal/redistest"
)

// Bin returns the directory of initdb, pg_ctl and postgres: $PG_BIN when
// set, else the newest /usr/lib/postgresql/<version>/bin that holds initdb.
func Bin() (string, error) {
	if p := os.Getenv("PG_BIN"); p != "" {
		return p, nil
	}
	entries, _ := os.ReadDir("/usr/lib/postgresql")
	var versions []int
	for _, e := range entries {
		if v, err := strconv.Atoi(e.Name()); err == nil {
			if _, err := os.Stat(filepath.Join("/usr/lib/postgresql", e.Name(), "bin", "initdb")); err == nil {
				versions = append(versions, v)
			}
		}
	}
	if len(versions) == 0 {
		return "", errors.New("pgtest: no PostgreSQL under /usr/lib/postgresql/<version>/bin (install the Debian package postgresql, or set PG_BIN to the directory of initdb and pg_ctl)")
	}
	return filepath.Join("/usr/lib/postgresql", strconv.Itoa(slices.Max(versions)), "bin"), nil
}

// Server is one private PostgreSQL cluster.
type Server struct {
	bin  string
	dir  string // the temporary directory: data/, the log and the socket
	port int
	as   string // the user initdb and pg_ctl run as, or "" for ourselves

	mu      sync.Mutex
	stopped bool
}

// Start starts a private cluster and stops and removes it when the test
// ends. It fails the test, saying why, when PostgreSQL is missing or does
// not come up.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := Launch()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Launch starts a private cluster outside a test (TestMain, a command).
// The caller stops it with Stop, which also removes its directory.
func Launch() (*Server, error) {
	bin, err := Bin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		if err := s.giveTo("postgres"); err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
	}
	if out, err := s.run("initdb", "-D", s.data(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	var lastErr error
	for range 5 {
		if s.port, err = redistest.FreePort(); err != nil {
			break
		}
		if lastErr = s.start(); lastErr == nil {
			return s, nil
		}
	}
	_ = os.RemoveAll(dir)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	return nil, fmt.Errorf("pgtest: PostgreSQL did not start: %w", lastErr)
}

// giveTo makes the directory the named user's, to run PostgreSQL as it.
func (s *Server) giveTo(name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("pgtest: running as root, and initdb refuses root: need the user %q (installed with the postgresql package): %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(s.dir, uid, gid); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		return fmt.Errorf("pgtest: running as root needs runuser (util-linux) to run initdb as %q: %w", name, err)
	}
	s.as = name
	return nil
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// run runs one of PostgreSQL's programs, as s.as when set.
func (s *Server) run(prog string, args ...string) ([]byte, error) {
	path := filepath.Join(s.bin, prog)
	var cmd *exec.Cmd
	if s.as != "" {
		cmd = exec.Command("runuser", append([]string{"-u", s.as, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = s.dir
	return cmd.CombinedOutput()
}

func (s *Server) start() error {
	opts := strings.Join([]string{
		"-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + s.dir,
		"-c", "wal_level=logical",
		"-c", "max_replication_slots=20",
		"-c", "max_wal_senders=20",
		"-c", "max_connections=100",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "wal_sender_timeout=60s",
	}, " ")
	out, err := s.run("pg_ctl", "start", "-w", "-t", "30", "-D", s.data(),
		"-l", filepath.Join(s.dir, "postgres.log"), "-o", opts)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
		return fmt.Errorf("pg_ctl start on port %d: %w\n%s\n%s", s.port, err, out, tail(log, 2000))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, err := s.psql(ctx, "postgres", "SELECT 1")
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			s.Stop()
			return fmt.Errorf("PostgreSQL on port %d does not answer: %w", s.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// psql runs sql on database db with the server's psql, as the superuser,
// and returns its output (unaligned, tuples only).
func (s *Server) psql(ctx context.Context, db, sql string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, "psql"), "-X", "-q", "-A", "-t",
		"-v", "ON_ERROR_STOP=1", "-d", s.DSN(db), "-c", sql)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("psql: %s: %w: %s", sql, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// ident quotes a name as an SQL identifier; literal quotes a string.
func ident(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }
func literal(v string) string  { return `'` + strings.ReplaceAll(v, `'`, `''`) + `'` }

// Stop stops the server (immediate shutdown) and removes its directory. It
// may be called more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	_, _ = s.run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", s.data())
	_ = os.RemoveAll(s.dir)
}

// Port is the server's port on 127.0.0.1.
func (s *Server) Port() int { return s.port }

// DSN is the URL of the database db as the superuser postgres.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable",
		net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)), db)
}

// CreateDB creates a fresh database and returns its DSN. The database and
// the replication slots in it are dropped when the test ends.
func (s *Server) CreateDB(tb testing.TB, name string) string {
	tb.Helper()
	dsn, err := s.CreateDatabase(name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.DropDatabase(name); err != nil {
			tb.Log(err)
		}
	})
	return dsn
}

// CreateDatabase creates a fresh database outside a test and returns its
// DSN; DropDatabase (or Stop) removes it.
func (s *Server) CreateDatabase(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.psql(ctx, "postgres", "CREATE DATABASE "+ident(name)); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return s.DSN(name), nil
}

// DropDatabase drops a database and its replication slots, ending its
// sessions first.
func (s *Server) DropDatabase(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	for {
		// A walsender may still hold a slot for a moment after its client
		// has gone: end it and retry until the slot is free.
		_, _ = s.psql(ctx, "postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "+literal(name)+" AND pid <> pg_backend_pid()")
		_, err = s.psql(ctx, "postgres", "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = "+literal(name))
		if err == nil {
			_, err = s.psql(ctx, "postgres", "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
		}
		if err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("pgtest: drop database %s: %w", name, err)
	}
	return nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
