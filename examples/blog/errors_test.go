package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/tiered"
)

// syncBuffer is a bytes.Buffer that the server's goroutines write to and
// the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// raw sends a request and returns the status and the body.
func (c *client) raw(method, path string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestErrorsReachClientsGeneric checks that a failed request gets a status
// and a generic message, never the text of the library's or the
// database's error, and that the log keeps that text.
func TestErrorsReachClientsGeneric(t *testing.T) {
	var logged syncBuffer
	c := startLogged(t, tiered.Config{Namespace: "blog"}, slog.New(slog.NewTextHandler(&logged, nil)))
	for _, r := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/articles/7", http.StatusNotFound, `{"error":"not found"}`},
		{"GET", "/articles/7", http.StatusNotFound, `{"error":"not found"}`}, // the cached not-found entry
		{"DELETE", "/articles/7", http.StatusNotFound, `{"error":"not found"}`},
		{"GET", "/articles/abc", http.StatusBadRequest, `{"error":"the id must be a positive integer"}`},
	} {
		if code, body := c.raw(r.method, r.path); code != r.code || body != r.body {
			t.Errorf("%s %s = %d %s, want %d %s", r.method, r.path, code, body, r.code, r.body)
		}
	}

	// A database that fails: a 500 that says nothing of it.
	sqlDB, err := c.db.DB()
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlDB.Close(); err != nil {
		t.Fatal(err)
	}
	if code, body := c.raw("GET", "/articles?category=go"); code != http.StatusInternalServerError || body != `{"error":"internal error"}` {
		t.Errorf("GET with the database closed = %d %s", code, body)
	}
	log := logged.String()
	for _, want := range []string{"database is closed", "status=500", "path=/articles", "status=404"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
}

func TestStatusOf(t *testing.T) {
	for _, c := range []struct {
		err  error
		code int
		msg  string
	}{
		{fmt.Errorf("load: %w", matroska.ErrNotFound), http.StatusNotFound, "not found"},
		{gorm.ErrRecordNotFound, http.StatusNotFound, "not found"},
		{badRequest("want a title"), http.StatusBadRequest, "want a title"},
		{fmt.Errorf("invalidate: %w", matroska.ErrUnavailable), http.StatusServiceUnavailable, "temporarily unavailable, try again"},
		{matroska.ErrClosed, http.StatusServiceUnavailable, "temporarily unavailable, try again"},
		{context.DeadlineExceeded, http.StatusGatewayTimeout, "timed out"},
		{matroska.ErrLoaderPanic, http.StatusInternalServerError, "internal error"},
		{errors.New("pq: relation \"articles\" does not exist"), http.StatusInternalServerError, "internal error"},
	} {
		if code, msg := statusOf(c.err); code != c.code || msg != c.msg {
			t.Errorf("statusOf(%v) = %d %q, want %d %q", c.err, code, msg, c.code, c.msg)
		}
	}
}
