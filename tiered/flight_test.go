package tiered

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// goid returns the current goroutine's id, read from its stack header.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	id, _ := strconv.ParseUint(string(b[:bytes.IndexByte(b, ' ')]), 10, 64)
	return id
}

// The first step of a flight runs on the goroutine of the caller that
// started it; the rest does too when the caller's context cannot end, and
// on a goroutine of its own when it can.
func TestFlightsFirstStepRunsOnTheCaller(t *testing.T) {
	cancelable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tc := range []struct {
		name       string
		ctx        context.Context
		restInline bool
	}{
		{"background", context.Background(), true},
		{"cancelable", cancelable, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var g flights
			caller := goid()
			var firstOn, restOn uint64
			res, shared, err := g.do(tc.ctx, "k", func() (*result, func() *result) {
				firstOn = goid()
				return nil, func() *result {
					restOn = goid()
					return &result{val: 1}
				}
			})
			if err != nil || shared || res.val != 1 {
				t.Fatalf("do = %v, %v, %v", res, shared, err)
			}
			if firstOn != caller {
				t.Errorf("first step ran on goroutine %d, the caller is %d", firstOn, caller)
			}
			if (restOn == caller) != tc.restInline {
				t.Errorf("rest ran on goroutine %d, the caller is %d; want inline %v", restOn, caller, tc.restInline)
			}
			// A hit (no rest) ends the flight in the first step.
			res, _, err = g.do(tc.ctx, "k", func() (*result, func() *result) { return &result{val: 2}, nil })
			if err != nil || res.val != 2 {
				t.Fatalf("second flight = %v, %v: the first one did not end", res, err)
			}
		})
	}
}

// Callers that come while a flight runs share its result; one whose
// context ends leaves at once, and the flight goes on for the others.
func TestFlightsJoinersShareAndLeave(t *testing.T) {
	var g flights
	release := make(chan struct{})
	started := make(chan struct{})
	firsts := 0
	type out struct {
		res    *result
		shared bool
		err    error
	}
	leader := make(chan out, 1)
	go func() {
		res, shared, err := g.do(context.Background(), "k", func() (*result, func() *result) {
			firsts++
			close(started)
			<-release
			return &result{val: "v"}, nil
		})
		leader <- out{res, shared, err}
	}()
	<-started
	joiner := make(chan out, 1)
	go func() {
		res, shared, err := g.do(context.Background(), "k", func() (*result, func() *result) {
			firsts++
			return &result{val: "other"}, nil
		})
		joiner <- out{res, shared, err}
	}()
	gone, cancel := context.WithCancel(context.Background())
	left := make(chan error, 1)
	go func() {
		_, _, err := g.do(gone, "k", func() (*result, func() *result) {
			firsts++
			return &result{val: "other"}, nil
		})
		left <- err
	}()
	waitJoined(t, &g, "k", 2)
	cancel()
	if err := recv(t, left, "a caller whose context ended still waits for the flight"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller that gave up got %v", err)
	}
	close(release)
	for _, ch := range []chan out{leader, joiner} {
		o := <-ch
		if o.err != nil || o.res.val != "v" || !o.shared {
			t.Errorf("got %v, shared %v, %v; want the leader's value, shared", o.res.val, o.shared, o.err)
		}
	}
	if firsts != 1 {
		t.Errorf("%d flights ran, want 1", firsts)
	}
}

// A caller that started a flight and gives up during its rest leaves at
// once; the rest goes on and its result reaches the callers that joined.
func TestFlightsStarterLeavesDuringTheRest(t *testing.T) {
	var g flights
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	inRest := make(chan struct{})
	left := make(chan error, 1)
	go func() {
		_, _, err := g.do(ctx, "k", func() (*result, func() *result) {
			return nil, func() *result {
				close(inRest)
				<-release
				return &result{val: "v"}
			}
		})
		left <- err
	}()
	<-inRest
	joined := make(chan *result, 1)
	go func() {
		res, _, _ := g.do(context.Background(), "k", func() (*result, func() *result) {
			return &result{val: "other"}, nil
		})
		joined <- res
	}()
	waitJoined(t, &g, "k", 1)
	cancel()
	let := sync.OnceFunc(func() { close(release) })
	t.Cleanup(let) // if the test fails before
	if err := recv(t, left, "the starter still waits for the rest after its context ended"); !errors.Is(err, context.Canceled) {
		t.Fatalf("the starter got %v, want context.Canceled", err)
	}
	let()
	if res := <-joined; res.val != "v" {
		t.Fatalf("the joiner got %v, want the rest's value", res.val)
	}
}

// A panic in a step ends the flight with an error for the callers that
// joined (none waits forever) and goes on in the caller that ran it.
func TestFlightsPanicEndsTheFlight(t *testing.T) {
	var g flights
	started := make(chan struct{})
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var recovered any
	go func() {
		defer wg.Done()
		defer func() { recovered = recover() }()
		_, _, _ = g.do(context.Background(), "k", func() (*result, func() *result) {
			close(started)
			<-release
			panic("decoder bug")
		})
	}()
	<-started
	joined := make(chan *result, 1)
	go func() {
		res, _, _ := g.do(context.Background(), "k", nil)
		joined <- res
	}()
	waitJoined(t, &g, "k", 1)
	close(release)
	wg.Wait()
	if recovered != "decoder bug" {
		t.Fatalf("the caller recovered %v, want the panic", recovered)
	}
	if res := recv(t, joined, "the joiner of a flight that panicked waits forever"); res.err == nil {
		t.Fatal("the joiner got no error from a flight that panicked")
	}
	res, _, err := g.do(context.Background(), "k", func() (*result, func() *result) { return &result{val: 1}, nil })
	if err != nil || res.val != 1 {
		t.Fatalf("after the panic: %v, %v", res, err)
	}
}

// recv returns the next value from ch, or fails the test with what after
// 5 seconds.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal(what)
		var zero T
		return zero
	}
}

// waitJoined waits until n callers have joined key's flight.
func waitJoined(t *testing.T, g *flights, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		g.mu.Lock()
		f := g.m[key]
		ok := f != nil && f.dups >= n
		g.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers never joined the flight of %q", n, key)
		}
		time.Sleep(time.Millisecond)
	}
}
