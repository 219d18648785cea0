package progress

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// IsTerminal says whether w is a terminal of known width, where progress
// bars make sense (a terminal of width 0, as under `script` without a
// terminal of its own, would cut every bar to nothing).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false
	}
	width, _, err := term.GetSize(int(f.Fd()))
	return err == nil && width > 0
}

// Bars draws a progress bar per running task on a terminal. It is also an
// io.Writer for other messages, which it prints above the bars so that
// they do not tear the display. Close it when the build is over.
type Bars struct {
	p       *mpb.Progress
	w       io.Writer
	verbose bool
	// refresh asks mpb to redraw; stop ends the ticker that feeds it.
	refresh chan any
	stop    chan struct{}
	// over is closed when mpb's drawing loop has ended.
	over   chan any
	ticker sync.WaitGroup
	mu     sync.Mutex
	closed bool
}

// refreshRate is how often the bars are redrawn.
const refreshRate = 150 * time.Millisecond

// NewBars draws bars on w, which should be a terminal (IsTerminal: on
// anything else every redraw piles up); with verbose set, every step is
// also printed as a line above the bars.
func NewBars(w io.Writer, verbose bool) *Bars {
	// Refreshed by hand, not by mpb's own timer, so that Close can ask
	// for one last redraw: it also flushes the messages written above.
	b := &Bars{w: w, verbose: verbose, refresh: make(chan any), stop: make(chan struct{}), over: make(chan any)}
	b.p = mpb.New(mpb.WithOutput(w), mpb.WithManualRefresh(b.refresh), mpb.WithShutdownNotifier(b.over))
	b.ticker.Add(1)
	go func() {
		defer b.ticker.Done()
		t := time.NewTicker(refreshRate)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				select {
				case b.refresh <- nil:
				case <-b.stop:
					return
				}
			case <-b.stop:
				return
			}
		}
	}()
	return b
}

// Start adds a bar for the task; one of unknown size shows its bytes only.
func (b *Bars) Start(kind Kind, name string, total int64) Task {
	verb := map[Kind]string{Pull: "pull", Unpack: "unpack"}[kind]
	if verb == "" {
		verb = string(kind)
	}
	// A task of unknown size has nothing to fill: it shows its bytes.
	counter, style := decor.Current(decor.SizeB1024(0), "% .1f"), mpb.NopStyle()
	if total > 0 {
		counter, style = decor.Counters(decor.SizeB1024(0), "% .1f / % .1f"), mpb.BarStyle()
	}
	bar := b.p.New(total, style,
		mpb.PrependDecorators(decor.Name(verb+" ", decor.WCSyncSpaceR), decor.Name(name, decor.WCSyncSpaceR)),
		mpb.AppendDecorators(counter, decor.Name(" "), decor.OnComplete(decor.Elapsed(decor.ET_STYLE_GO), "done")),
	)
	return &barTask{bar: bar}
}

// Step prints s above the bars when verbose.
func (b *Bars) Step(s Step) {
	if b.verbose {
		io.WriteString(b, s.String()+"\n")
	}
}

// Write prints p above the bars, or straight to the output once closed.
func (b *Bars) Write(p []byte) (int, error) {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if !closed {
		if n, err := b.p.Write(p); err == nil {
			return n, nil
		}
	}
	return b.w.Write(p)
}

// Close draws the bars and messages a last time and ends the display.
func (b *Bars) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.mu.Unlock()
	close(b.stop)
	b.ticker.Wait()
	// mpb hands this request to its drawing loop before it can see the
	// shutdown, so the last redraw happens (unless drawing has failed and
	// the loop is already over).
	select {
	case b.refresh <- nil:
	case <-b.over:
	}
	b.p.Shutdown()
}

type barTask struct {
	bar *mpb.Bar
}

func (t *barTask) Add(n int64) { t.bar.IncrInt64(n) }

func (t *barTask) Done(err error) {
	if err != nil {
		t.bar.Abort(false)
		return
	}
	// Complete the bar even when the total was unknown or the count
	// differs from it (a layer already cached is not fetched).
	t.bar.SetTotal(-1, true)
}
