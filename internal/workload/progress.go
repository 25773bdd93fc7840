package workload

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress shows which step of a run is going on. On a terminal it redraws
// one status line (step count, elapsed time, workload, adapter) several
// times a second; elsewhere it prints one line per step. A nil *Progress
// shows nothing.
type Progress struct {
	w   io.Writer
	tty bool

	mu    sync.Mutex // guards the fields below and writes to w
	total int
	step  int
	label string
	start time.Time
	stop  chan struct{}
	done  chan struct{}
}

// NewProgress returns a display writing to w; tty says whether w is a
// terminal that understands carriage returns and ANSI line clearing.
func NewProgress(w io.Writer, tty bool) *Progress { return &Progress{w: w, tty: tty} }

// Begin starts a run of total steps.
func (p *Progress) Begin(total int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.total, p.step, p.start = total, 0, time.Now()
	if p.tty && p.stop == nil {
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		go p.tick(p.stop, p.done)
	}
	p.mu.Unlock()
}

// Step says that the next step, workload for adapter, has begun.
func (p *Progress) Step(workload, adapter string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.step++
	p.label = fmt.Sprintf("%-28s %s", workload, adapter)
	if p.tty {
		p.draw()
		return
	}
	fmt.Fprintf(p.w, "[%3d/%d] %6s  %s\n", p.step, p.total, p.elapsed(), p.label)
}

// End stops the display and ends its status line.
func (p *Progress) End() {
	if p == nil {
		return
	}
	p.mu.Lock()
	stop, done := p.stop, p.done
	p.stop, p.done = nil, nil
	p.mu.Unlock()
	if stop == nil {
		fmt.Fprintf(p.w, "done in %s\n", p.elapsed())
		return
	}
	close(stop)
	<-done
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\033[Kdone: %d steps in %s\n", p.step, p.elapsed())
}

func (p *Progress) tick(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.draw()
			p.mu.Unlock()
		}
	}
}

// draw rewrites the status line; p.mu is held.
func (p *Progress) draw() {
	bar := ""
	if p.total > 0 {
		const width = 20
		n := p.step * width / p.total
		for i := 0; i < width; i++ {
			if i < n {
				bar += "#"
			} else {
				bar += "."
			}
		}
	}
	fmt.Fprintf(p.w, "\r\033[K[%s] %3d/%d %6s  %s", bar, p.step, p.total, p.elapsed(), p.label)
}

func (p *Progress) elapsed() string {
	d := time.Since(p.start).Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}
