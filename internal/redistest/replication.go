package redistest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// waitTimeout bounds the waits of this package for a topology to settle.
const waitTimeout = 30 * time.Second

// pollEvery is how often the waits of this package look again.
const pollEvery = 20 * time.Millisecond

// info returns the fields of one INFO section of the server at addr.
func info(ctx context.Context, addr, password, section string) (map[string]string, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	s, err := c.Info(ctx, section).Result()
	if err != nil {
		return nil, err
	}
	m := make(map[string]string)
	for _, line := range strings.Split(s, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(k, "#") {
			m[k] = v
		}
	}
	return m, nil
}

// replication returns the server's INFO replication fields.
func (s *Server) replication(ctx context.Context) (map[string]string, error) {
	return info(ctx, s.Addr(), s.password(), "replication")
}

// WaitReplicaOf waits until the server is a replica of m with its link up
// and its initial sync done (role:slave, master_host and master_port those
// of m, master_link_status:up), and fails the test if that takes more than
// 30 s. After a failover it is how a test sees the old master demoted: once
// it has resynchronised, it holds its new master's data and nothing of the
// writes only it had.
func (s *Server) WaitReplicaOf(tb testing.TB, m *Server) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := s.waitReplicaOf(ctx, m.Addr()); err != nil {
		tb.Fatalf("redistest: %s replica of %s: %v", s.Addr(), m.Addr(), err)
	}
}

// waitReplicaOf polls until the server replicates from addr (host:port as
// the server dials it) with its link up.
func (s *Server) waitReplicaOf(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	var last map[string]string
	for {
		r, err := s.replication(ctx)
		if err == nil {
			last = r
			if r["role"] == "slave" && r["master_host"] == host && r["master_port"] == port &&
				r["master_link_status"] == "up" && r["master_sync_in_progress"] == "0" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last INFO replication: role=%s master=%s:%s link=%s, err=%v)", ctx.Err(),
				last["role"], last["master_host"], last["master_port"], last["master_link_status"], err)
		case <-time.After(pollEvery):
		}
	}
}

// waitMasterRole polls until the server answers INFO with role:master.
func (s *Server) waitMasterRole(ctx context.Context) error {
	var last string
	for {
		r, err := s.replication(ctx)
		if err == nil {
			last = r["role"]
			if last == "master" {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not master: %w (last role %q, err=%v)", s.Addr(), ctx.Err(), last, err)
		case <-time.After(pollEvery):
		}
	}
}

// portOf is the port of a "host:port" address, or 0.
func portOf(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}
