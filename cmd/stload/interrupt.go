package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// interrupted is the cause of a context cancelled by a signal. It wraps
// context.Canceled, so that its kind is "Canceled".
type interrupted struct{ sig syscall.Signal }

func (e interrupted) Error() string { return "interrupted (" + e.sig.String() + ")" }
func (e interrupted) Unwrap() error { return context.Canceled }

// sameInterrupt is how long after the first signal another one counts as
// the same interrupt. GNU timeout -s INT, and shells that forward SIGINT
// to a child already in the terminal's foreground process group, deliver
// SIGINT twice within microseconds; a person pressing Ctrl-C again takes
// far longer than this.
const sameInterrupt = 500 * time.Millisecond

// interruptContext returns a context that the first SIGINT or SIGTERM
// cancels, so that the command stops, cleans up (temporary files
// removed, device memory freed) and exits 128+signal: 130 for Ctrl-C. A
// second signal, sameInterrupt or more after the first, exits at once.
// stop ends the watch, for a process about to exit: the signals stay
// caught, so that the second of a pair delivered twice, arriving as the
// command returns, cannot kill the process with another status than the
// command's (130).
func interruptContext(stderr io.Writer) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var first os.Signal
		select {
		case first = <-sigs:
		case <-done:
			return
		}
		at := time.Now()
		cancel(interrupted{first.(syscall.Signal)})
		for {
			select {
			case s := <-sigs:
				if time.Since(at) < sameInterrupt {
					continue // the same interrupt, delivered twice
				}
				fmt.Fprintf(stderr, "\nstload: %v again: exiting without cleaning up\n", s)
				os.Exit(128 + int(s.(syscall.Signal)))
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		close(done)
		cancel(nil)
	}
}

// interruptStatus returns the exit status of a command whose context a
// signal cancelled: 128 + the signal's number.
func interruptStatus(ctx context.Context) (int, bool) {
	var e interrupted
	if errors.As(context.Cause(ctx), &e) {
		return 128 + int(e.sig), true
	}
	return 0, false
}
