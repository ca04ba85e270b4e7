package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/dangohq/dango/events"
	"github.com/dangohq/dango/humanize"
)

const rule = "──────────────────────────────────────────────"

// syncView prints a sync's events as the spec shows them: one block per source in
// sources.yml order, each printed live while it is the oldest unfinished one and buffered
// otherwise, then a summary. On a terminal a status line below shows every running source.
type syncView struct {
	out     io.Writer
	pal     palette
	tty     bool
	names   []string
	idx     map[string]int
	blocks  []*block
	cur     int
	mu      sync.Mutex
	stopped chan struct{}
	once    sync.Once
	status  bool // a status line is on screen
	spin    int
}

type block struct {
	lines    []string
	opened   bool
	done     bool
	ok       bool
	rows     int64
	started  time.Time
	lastStep string
	liveRows int64
	bytes    int64
	changed  bool // the load changed the raw schema
}

func newSyncView(out io.Writer, names []string, tty, color bool) *syncView {
	v := &syncView{out: out, pal: palette{on: color}, tty: tty, names: names, idx: map[string]int{}, stopped: make(chan struct{})}
	for i, n := range names {
		v.idx[n] = i
		v.blocks = append(v.blocks, &block{})
	}
	return v
}

func stamp(t time.Time) string { return "[" + t.Local().Format("15:04:05") + "]" }

func (v *syncView) begin() {
	now := time.Now()
	if len(v.names) == 1 {
		fmt.Fprintf(v.out, "%s Starting sync for %s\n", stamp(now), v.names[0])
	} else {
		fmt.Fprintf(v.out, "%s Starting sync for %d sources...\n\n", stamp(now), len(v.names))
	}
	if v.tty {
		go v.ticker()
	}
}

func (v *syncView) ticker() {
	t := time.NewTicker(120 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-v.stopped:
			return
		case <-t.C:
			v.mu.Lock()
			v.drawStatus()
			v.mu.Unlock()
		}
	}
}

func (v *syncView) stop() {
	v.once.Do(func() { close(v.stopped) })
	v.mu.Lock()
	v.clearStatus()
	v.mu.Unlock()
}

// handle renders one event.
func (v *syncView) handle(e events.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	i, ok := v.idx[e.Source]
	if !ok {
		return
	}
	b := v.blocks[i]
	if !b.opened {
		b.opened = true
		b.started = e.Time
		if len(v.names) > 1 {
			b.lines = append(b.lines, fmt.Sprintf("%s Syncing %s (%d/%d)", stamp(e.Time), e.Source, i+1, len(v.names)))
		}
	}
	switch e.Type {
	case events.SyncStarted:
	case events.SyncLog:
		// Continuation lines align under the message, as the spec's "Overriding default".
		b.lines = append(b.lines, stamp(e.Time)+" "+strings.ReplaceAll(e.Message, "\n", "\n           "))
		b.lastStep = e.Message
		if e.Rows > 0 {
			b.liveRows += e.Rows
		}
	case events.SyncProgress:
		if e.Message != "" {
			b.lastStep = e.Message // a phase without counts (DuckDB reading a file)
		} else {
			b.liveRows, b.bytes = e.Rows, e.Bytes
		}
	case events.SyncCompleted:
		b.done, b.ok, b.rows, b.changed = true, true, e.Rows, e.SchemaChanged
		b.lines = append(b.lines, fmt.Sprintf("%s %s (%s rows in %s)", stamp(e.Time), v.pal.green("✓ Sync complete"), humanize.Thousands(e.Rows), secs(e.DurationMS)))
	case events.SyncFailed:
		b.done = true
		b.lines = append(b.lines, fmt.Sprintf("%s %s", stamp(e.Time), v.pal.red("✗ Sync failed for "+e.Source)), e.Error)
	}
	v.flush()
}

// flush prints the current block's new lines, moving on past finished blocks.
func (v *syncView) flush() {
	for v.cur < len(v.blocks) {
		b := v.blocks[v.cur]
		if len(b.lines) > 0 {
			v.clearStatus()
			for _, l := range b.lines {
				fmt.Fprintln(v.out, l)
			}
			b.lines = nil
		}
		if !b.done {
			break
		}
		v.cur++
		if v.cur < len(v.blocks) && len(v.names) > 1 {
			fmt.Fprintln(v.out)
		}
	}
	v.drawStatus()
}

func (v *syncView) clearStatus() {
	if v.status {
		fmt.Fprint(v.out, "\r\x1b[K")
		v.status = false
	}
}

// drawStatus shows running sources on a terminal: step, rows and bytes so far, rate.
func (v *syncView) drawStatus() {
	if !v.tty {
		return
	}
	var parts []string
	for i, b := range v.blocks {
		if !b.opened || b.done {
			continue
		}
		el := time.Since(b.started)
		p := v.names[i] + ": "
		if b.liveRows > 0 || b.bytes > 0 {
			p += humanize.Thousands(b.liveRows) + " rows"
			if b.bytes > 0 {
				p += " · " + humanize.Bytes(b.bytes)
			}
			if s := el.Seconds(); s > 0.5 {
				p += fmt.Sprintf(" · %s rows/s", humanize.Thousands(int64(float64(b.liveRows)/s)))
			}
		} else {
			p += strings.TrimSuffix(b.lastStep, ".")
		}
		p += fmt.Sprintf(" · %.0fs", el.Seconds())
		parts = append(parts, p)
	}
	v.clearStatus()
	if len(parts) == 0 {
		return
	}
	frames := []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}
	v.spin++
	line := frames[v.spin%len(frames)] + " " + strings.Join(parts, "  │  ")
	if r := []rune(line); len(r) > 118 {
		line = string(r[:117]) + "…"
	}
	fmt.Fprint(v.out, v.pal.dim(line))
	v.status = true
}

// summary prints the closing box (for more than one source) and reports overall success.
func (v *syncView) summary(total time.Duration) bool {
	okN, rows := 0, int64(0)
	var failedNames []string
	for i, b := range v.blocks {
		if b.ok {
			okN++
			rows += b.rows
		} else {
			failedNames = append(failedNames, v.names[i])
		}
	}
	n := len(v.blocks)
	if n == 1 {
		return okN == 1
	}
	fmt.Fprintln(v.out)
	fmt.Fprintln(v.out, rule)
	if okN == n {
		fmt.Fprintln(v.out, v.pal.green("✓ All syncs complete!"))
	} else {
		fmt.Fprintln(v.out, v.pal.red(fmt.Sprintf("✗ %d of %d syncs failed: %s", n-okN, n, strings.Join(failedNames, ", "))))
	}
	fmt.Fprintln(v.out)
	fmt.Fprintf(v.out, "Total rows: %s\n", humanize.Thousands(rows))
	fmt.Fprintf(v.out, "Total duration: %s\n", secs(total.Milliseconds()))
	fmt.Fprintf(v.out, "Success: %d/%d sources\n", okN, n)
	fmt.Fprintf(v.out, "Failed: %d/%d sources\n", n-okN, n)
	fmt.Fprintln(v.out, rule)
	return okN == n
}

func (v *syncView) interrupted() {
	var kept []string
	for i, b := range v.blocks {
		if b.ok {
			kept = append(kept, v.names[i])
		}
	}
	fmt.Fprintln(v.out)
	msg := "✗ Sync interrupted: unfinished loads were rolled back, nothing of them was written."
	fmt.Fprintln(v.out, v.pal.red(msg))
	if len(kept) > 0 {
		fmt.Fprintf(v.out, "Completed before the interrupt (kept): %s\n", strings.Join(kept, ", "))
	}
}

// schemaChanged lists the sources whose load changed the raw schema.
func (v *syncView) schemaChanged() []string {
	var out []string
	for i, b := range v.blocks {
		if b.changed {
			out = append(out, v.names[i])
		}
	}
	return out
}

func secs(ms int64) string { return fmt.Sprintf("%.1fs", float64(ms)/1000) }
