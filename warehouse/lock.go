package warehouse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// Holder describes the process holding the writer lock.
type Holder struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Since   time.Time `json:"since"`
}

func (h Holder) String() string {
	if h.PID == 0 {
		return "a read-only command (dango query, dango source list or a dry run)"
	}
	return fmt.Sprintf("PID %d (%s, since %s)", h.PID, h.Command, h.Since.Local().Format("15:04:05"))
}

// BusyError means the lock was not free within the wait.
type BusyError struct {
	Holder Holder
	Waited time.Duration
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("the warehouse is busy: held by %s; gave up after %s (use --wait to wait longer)", e.Holder, e.Waited.Round(time.Second))
}

func (e *BusyError) Unwrap() error { return ErrLocked }

// FileLock is an advisory lock on "<warehouse>.lock". Writers hold it exclusively, readers
// shared. The kernel drops it when its process dies, so a killed holder never leaves a stale
// lock behind.
type FileLock struct{ f *os.File }

// LockOptions say how to wait for the lock.
type LockOptions struct {
	Exclusive bool
	Wait      time.Duration // how long to wait for a holder to finish; 0 fails at once
	Command   string        // recorded for others to see while we hold it
	OnWait    func(Holder)  // called once when the lock is taken by someone else
}

// AcquireLock takes the lock for the warehouse at path.
func AcquireLock(ctx context.Context, path string, o LockOptions) (*FileLock, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	how := syscall.LOCK_SH
	if o.Exclusive {
		how = syscall.LOCK_EX
	}
	start := time.Now()
	notified := false
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s.lock: %w", path, err)
		}
		holder := readHolder(path + ".lock")
		if time.Since(start) >= o.Wait {
			f.Close()
			return nil, &BusyError{Holder: holder, Waited: time.Since(start)}
		}
		if !notified && o.OnWait != nil {
			o.OnWait(holder)
			notified = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if o.Exclusive {
		h, _ := json.Marshal(Holder{PID: os.Getpid(), Command: o.Command, Since: time.Now()})
		f.Truncate(0)
		f.WriteAt(h, 0)
	}
	return &FileLock{f: f}, nil
}

// readHolder reads who holds an exclusive lock; a shared holder writes nothing.
func readHolder(path string) Holder {
	data, err := os.ReadFile(path)
	var h Holder
	if err != nil || json.Unmarshal(data, &h) != nil || !alive(h.PID) {
		return Holder{}
	}
	return h
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Release drops the lock, clearing the holder record of an exclusive one.
func (l *FileLock) Release() {
	if l == nil || l.f == nil {
		return
	}
	if st, err := l.f.Stat(); err == nil && st.Size() > 0 {
		l.f.Truncate(0)
	}
	syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	l.f.Close()
	l.f = nil
}

// CommandLine is how this process was started, for the holder record.
func CommandLine() string {
	args := append([]string{"dango"}, os.Args[1:]...)
	return strings.Join(args, " ")
}
