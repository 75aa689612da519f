package httprange

import (
	"context"
	"fmt"
	"time"
)

// timeoutError is the cause of a read that its deadline cut short (see
// WithTimeout). It is a context.DeadlineExceeded, as errors.Is sees it,
// and a timeout as net.Error's Timeout method says.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string { return e.msg }
func (e *timeoutError) Unwrap() error { return context.DeadlineExceeded }
func (e *timeoutError) Timeout() bool { return true }

// budget returns how long a read of n bytes may take, retries included,
// or 0 for no limit (see WithTimeout).
func (c *config) budget(n int64) time.Duration {
	if c.timeout != autoTimeout {
		return c.timeout
	}
	return timeoutBase + transferTime(n, minThroughput)
}

// transferTime returns how long n bytes take at rate bytes per second,
// without overflowing for any n.
func transferTime(n, rate int64) time.Duration {
	secs := min(n/rate, 1<<32) // 136 years
	return time.Duration(secs)*time.Second + time.Duration(n%rate)*time.Second/time.Duration(rate)
}

// deadline returns ctx bounded by the budget of a read of n bytes, and
// the function that releases it.
func (c *config) deadline(ctx context.Context, n int64) (context.Context, context.CancelFunc) {
	d := c.budget(n)
	if d <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, d, &timeoutError{fmt.Sprintf("the read of %d bytes did not finish within its timeout of %v", n, d)})
}

// pacer enforces a minimum average throughput on a transfer of unknown
// length: it calls expire unless, at every moment after a grace period,
// the bytes done so far arrived at rate bytes per second or faster on
// average since the start. It is used by one goroutine.
type pacer struct {
	start time.Time
	grace time.Duration
	rate  int64
	due   time.Time
	t     *time.Timer
}

func newPacer(grace time.Duration, rate int64, expire func()) *pacer {
	p := &pacer{start: time.Now(), grace: grace, rate: rate}
	p.due = p.start.Add(grace)
	p.t = time.AfterFunc(grace, expire)
	return p
}

// progress moves the deadline for done bytes transferred in all.
func (p *pacer) progress(done int64) {
	p.due = p.start.Add(p.grace + transferTime(done, p.rate))
	// Once fired, a timer reset fires again: expire must be idempotent.
	p.t.Reset(time.Until(p.due))
}

func (p *pacer) deadline() time.Time { return p.due }

func (p *pacer) stop() { p.t.Stop() }
