package tiered_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

// Redis AUTH, ACL users and TLS are go-redis options: the cache passes the
// client through, for its commands and for the bus subscription alike.
// These tests run two nodes through each and check that an invalidation
// crosses them.

func TestRedisPassword(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret")
	opts := srv.Options() // carries Password
	twoNodes(t, func() redis.UniversalClient { return redis.NewClient(opts) })

	// A wrong password is New's error; started degraded, the cache still
	// answers (from the loader) and never trusts L1 or Redis.
	bad := *opts
	bad.Password = "wrong"
	badClient := redis.NewClient(&bad)
	t.Cleanup(func() { _ = badClient.Close() })
	if _, err := tiered.New(tiered.Config{Redis: badClient}); !errors.Is(err, tiered.ErrUnavailable) || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("New with a wrong password: %v, want ErrUnavailable with Redis's WRONGPASS", err)
	}
	c := newNode(t, nil, func(cfg *tiered.Config) {
		cfg.Redis = badClient
		cfg.StartTimeout = 200 * time.Millisecond
		cfg.StartDegraded = true
	})
	calls := 0
	for range 3 {
		v, err := matroska.GetOrLoad(bg(), c, "k", func(context.Context, *matroska.Recorder) (int, error) {
			calls++
			return 7, nil
		})
		if err != nil || v != 7 {
			t.Fatalf("wrong password: GetOrLoad = %v, %v", v, err)
		}
	}
	if calls != 3 {
		t.Fatalf("wrong password: loader called %d times, want 3 (nothing may be cached)", calls)
	}
	if st := c.Stats(); st.L1Hits+st.L2Hits != 0 || st.Degraded == 0 {
		t.Fatalf("wrong password: stats %+v", st)
	}
}

func TestRedisACLUser(t *testing.T) {
	srv := redistest.Start(t)
	admin := srv.Client(t)
	// The user may touch the cache's keys and channel, and nothing else.
	err := admin.Do(bg(), "ACL", "SETUSER", "app", "on", ">app-pw",
		"~t:*", "&t:*", "+@all", "-@dangerous", "+info").Err()
	if err != nil {
		t.Fatal(err)
	}
	opts := srv.Options()
	opts.Username, opts.Password = "app", "app-pw"
	twoNodes(t, func() redis.UniversalClient { return redis.NewClient(opts) })
	if err := owned(t, redis.NewClient(opts)).Set(bg(), "other:key", 1, 0).Err(); err == nil {
		t.Fatal("the ACL does not restrict the user; the test proves nothing")
	}
}

func TestRedisTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	port := freePort(t)
	srv := redistest.Start(t,
		"--tls-port", strconv.Itoa(port),
		"--tls-cert-file", certFile,
		"--tls-key-file", keyFile,
		"--tls-ca-cert-file", certFile,
		"--tls-auth-clients", "no")
	opts := srv.Options()
	opts.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	opts.TLSConfig = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	twoNodes(t, func() redis.UniversalClient { return redis.NewClient(opts) })

	// Without TLS the TLS port does not answer: the test really used TLS.
	plain := *opts
	plain.TLSConfig = nil
	rdb := redis.NewClient(&plain)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(bg(), time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("the TLS port answered a plain-text PING")
	}
}

// twoNodes runs two caches on clients made by newClient: B reads a value,
// A invalidates it, and B must drop it (through the bus).
func twoNodes(t *testing.T, newClient func() redis.UniversalClient) {
	t.Helper()
	a := newNode(t, owned(t, newClient()))
	b := newNode(t, owned(t, newClient()))
	version := 1
	load := func(context.Context, *matroska.Recorder) (int, error) { return version, nil }
	dep := matroska.Depend(deps.Id("row", 1))
	if v, err := matroska.GetOrLoad(bg(), b, "row:1", load, dep); err != nil || v != 1 {
		t.Fatalf("B: %v, %v", v, err)
	}
	if v, err := matroska.GetOrLoad(bg(), b, "row:1", load, dep); err != nil || v != 1 || b.Stats().L1Hits != 1 {
		t.Fatalf("B second read: %v, %v, stats %+v", v, err, b.Stats())
	}
	version = 2
	if err := a.Invalidate(bg(), deps.Id("row", 1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "B applies A's invalidation", func() bool {
		v, err := matroska.GetOrLoad(bg(), b, "row:1", load, dep)
		return err == nil && v == 2
	})
}

func owned(t *testing.T, rdb redis.UniversalClient) redis.UniversalClient {
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// selfSignedCert writes a self-signed certificate for 127.0.0.1 and its key
// into dir, and returns their paths and a pool that trusts it.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "redis.crt"), filepath.Join(dir, "redis.key")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return certFile, keyFile, pool
}
