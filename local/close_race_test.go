package local

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestGetDuringClose: Gets that overlap Close miss or hit, and never panic
// (Ristretto's Close closes the channel its Get buffers drain into). Not run
// under the race detector, which reports Ristretto's unsynchronised close
// flag: Close is documented not to overlap other calls.
func TestGetDuringClose(t *testing.T) {
	if raceEnabled {
		t.Skip("Ristretto's Close is not synchronised with Get")
	}
	for round := range 20 {
		c, err := New(Config{BufferItems: 1})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 64 {
			c.Fill(strconv.Itoa(i), Item{Value: i}, c.Generation(), time.Minute, 1)
		}
		c.Wait()
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; !c.closed.Load() || i < 1000; i++ {
					c.Get(strconv.Itoa((i + g) % 64))
				}
			}()
		}
		close(start)
		time.Sleep(time.Duration(round%4) * 100 * time.Microsecond)
		c.Close()
		wg.Wait()
	}
}
