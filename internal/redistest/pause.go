package redistest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Pause stops the server's process with SIGSTOP, as a stalled VM or a long
// swap storm would: it keeps its port and its connections, the kernel still
// accepts connections and buffers bytes for it, but it executes nothing and
// answers nothing until [Server.Resume]. On Linux Pause returns once the
// process is seen stopped. Kill, Stop and Restart work on a paused server.
// Pausing a paused or killed server does nothing.
func (s *Server) Pause(tb testing.TB) {
	tb.Helper()
	if err := s.signal(true); err != nil {
		tb.Fatalf("redistest: pause %s: %v", s.Addr(), err)
	}
}

// Resume continues a server paused by [Server.Pause] (SIGCONT); what it was
// sent meanwhile is then processed. Resuming a server that is not paused does
// nothing.
func (s *Server) Resume(tb testing.TB) {
	tb.Helper()
	if err := s.signal(false); err != nil {
		tb.Fatalf("redistest: resume %s: %v", s.Addr(), err)
	}
}

// signal sends SIGSTOP (stop) or SIGCONT to the process and waits until it
// is in the state asked for.
func (s *Server) signal(stop bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.paused == stop {
		return nil
	}
	sig := sigCont
	if stop {
		sig = sigStop
	}
	if sig == nil {
		return fmt.Errorf("process signals are not supported on this system")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		return err
	}
	s.paused = stop
	return waitStopped(s.cmd.Process.Pid, stop)
}

// waitStopped polls /proc until the process is stopped (or no longer
// stopped). Where there is no /proc it returns at once.
func waitStopped(pid int, stopped bool) error {
	stat := "/proc/" + strconv.Itoa(pid) + "/stat"
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(stat)
		if err != nil {
			return nil // no /proc, or the process is gone: nothing to wait for
		}
		// The state is the field after the command name, which is in
		// parentheses and may itself hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) {
			return fmt.Errorf("unexpected %s: %q", stat, b)
		}
		if st := b[i+2]; (st == 'T' || st == 't') == stopped {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d not in the state asked for after 5s (%s)", pid, b)
		}
		time.Sleep(time.Millisecond)
	}
}
