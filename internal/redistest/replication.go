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

// poll calls check every pollEvery until it returns nil, or until ctx ends:
// then it returns ctx's error with the last failure check reported before
// (a failure caused by ctx ending says less).
func poll(ctx context.Context, check func() error) error {
	var last error
	for {
		err := check()
		if err == nil {
			return nil
		}
		if last == nil || ctx.Err() == nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-time.After(pollEvery):
		}
	}
}

// waitReplicaOf polls until the server replicates from addr (host:port as
// the server dials it) with its link up.
func (s *Server) waitReplicaOf(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	return poll(ctx, func() error {
		r, err := s.replication(ctx)
		if err != nil {
			return err
		}
		if r["role"] == "slave" && r["master_host"] == host && r["master_port"] == port &&
			r["master_link_status"] == "up" && r["master_sync_in_progress"] == "0" {
			return nil
		}
		return fmt.Errorf("role %s, master %s:%s, link %s", r["role"], r["master_host"], r["master_port"], r["master_link_status"])
	})
}

// waitMasterRole polls until the server answers INFO with role:master.
func (s *Server) waitMasterRole(ctx context.Context) error {
	return poll(ctx, func() error {
		r, err := s.replication(ctx)
		if err != nil {
			return err
		}
		if r["role"] != "master" {
			return fmt.Errorf("%s has role %s", s.Addr(), r["role"])
		}
		return nil
	})
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
