package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"sort"
	"sync"
	"time"

	"github.com/stload/stload/loader/httprange"
)

// durationFlag is a flag.Value holding a duration, and whether it was
// given: --timeout's default is httprange's, which adapts to the size of
// each read and is not a duration.
type durationFlag struct {
	d   time.Duration
	set bool
}

func (f *durationFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return f.d.String()
}

func (f *durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return fmt.Errorf("%q: want a duration such as 90s or 10m (0: no limit)", s)
	}
	f.d, f.set = d, true
	return nil
}

// remoteHelp describes the flags of every reading command that concern
// URLs, for their help.
const remoteHelp = `For a URL:
  --timeout DURATION   the longest one read may take, retries included
                       (90s, 10m; 0: no limit). The default adapts to the
                       read: 2 minutes plus the time its bytes take at
                       64 KiB/s (2m1s for 64 KiB, 4m8s for an 8 MiB part),
                       and a whole download must average 64 KiB/s after its
                       first 2 minutes. A read past it fails with kind
                       DeadlineExceeded.
  --require-validators fail (kind NoValidators) when the server sends
                       neither an ETag nor a Last-Modified date: without
                       one, a file replaced while stload reads it cannot be
                       detected. By default stload warns and goes on.
  --download-dir DIR   where a file is downloaded whole when its server
                       does not support range requests (default: the
                       system's temporary directory, $TMPDIR). The file is
                       unlinked as soon as it is open, so nothing is left
                       behind; the directory must have room for it.
`

// remoteWatch follows what the servers of a remote input answer, for the
// notices stload gives about them: a server that sends no validator with
// a file it serves in ranges, and the downloads of files whose server
// does not serve ranges, with their progress. Its methods may be called
// from any goroutine.
type remoteWatch struct {
	env  *env // its stderr, for the notices; its freeSpace, for the room in dir
	bar  *progressBar
	dir  string                  // where downloads go
	stop context.CancelCauseFunc // cancels the opening, for want of room

	mu          sync.Mutex
	noValidator []string             // files served without a validator, in the order seen
	seen        map[string]bool      // files whose first range response was seen
	downloads   map[string]*[2]int64 // per file, bytes done and total (-1: unknown)
	drawn       time.Time            // when the bar was last drawn
}

// response records the first response to a range request for each file:
// whether it carried a validator, as httprange.Reader.Validator reports.
func (w *remoteWatch) response(u *url.URL, resp *http.Response) {
	if resp.StatusCode != http.StatusPartialContent {
		return // a download, or a failure: not a file read in ranges
	}
	name := httprange.Redact(u.String())
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen[name] {
		return
	}
	w.seen[name] = true
	if resp.Header.Get("ETag") == "" && resp.Header.Get("Last-Modified") == "" {
		w.noValidator = append(w.noValidator, name)
	}
}

// progress is checkpoint.WithDownloadProgress's function. The first call
// for a file says why stload downloads it, after checking that the
// download directory has room for it.
func (w *remoteWatch) progress(name string, done, total int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.downloads[name]
	if d == nil {
		d = new([2]int64)
		w.downloads[name] = d
		w.announce(name, total)
	}
	d[0], d[1] = done, total
	if now := time.Now(); now.Sub(w.drawn) >= progressInterval || done == total {
		w.drawn = now
		w.draw()
	}
}

// announce says that a file is downloaded whole, and stops the opening
// when the download directory has not the room for it.
func (w *remoteWatch) announce(name string, total int64) {
	server, file := name, name
	if u, err := url.Parse(name); err == nil && u.Host != "" {
		server, file = u.Scheme+"://"+u.Host, path.Base(u.Path)
	}
	size := "size unknown"
	if total >= 0 {
		size = sizeText(total)
	}
	msg := fmt.Sprintf("stload: %s has no range support: downloading the whole file %s (%s) to %s", server, file, size, shown(w.dir))
	if w.bar != nil {
		w.bar.println(msg) // in the bar's place
	} else {
		fmt.Fprintln(w.env.stderr, msg)
	}
	// The cause is printed as the opening's error (errorMessage), which
	// redacts it: w.dir as given.
	if avail, err := w.env.freeSpace(w.dir); err == nil && total > avail {
		w.stop(fmt.Errorf("%s: not enough space to download %s: it needs %s (%s bytes), the file system of %s has %s free (--download-dir chooses another directory)",
			name, file, sizeText(total), groupDigits(uint64(total)), w.dir, sizeText(avail)))
	}
}

// draw shows the downloads' progress: their bytes against their total,
// or only the bytes while a size is unknown.
func (w *remoteWatch) draw() {
	var done, total int64
	for _, d := range w.downloads {
		done += d[0]
		if d[1] < 0 || total < 0 {
			total = -1
			continue
		}
		total += d[1]
	}
	if total < 0 {
		w.bar.message("downloading: " + sizeText(done))
		return
	}
	w.bar.update(done, total)
}

// warn prints, after the input is open, that a server sent no validator:
// the first file named, and how many more.
func (w *remoteWatch) warn() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.noValidator) == 0 {
		return
	}
	sort.Strings(w.noValidator)
	more := ""
	switch n := len(w.noValidator) - 1; {
	case n == 1:
		more = " (nor for 1 more file)"
	case n > 1:
		more = fmt.Sprintf(" (nor for %d more files)", n)
	}
	fmt.Fprintf(w.env.stderr, "stload: warning: %s: no ETag or Last-Modified%s: stload cannot detect the file changing while it reads; --require-validators makes this an error\n",
		w.noValidator[0], more)
}

// watchTransport shows remoteWatch the responses of a transport.
type watchTransport struct {
	rt http.RoundTripper
	w  *remoteWatch
}

func (t watchTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err == nil {
		t.w.response(req.URL, resp)
	}
	return resp, err
}

// newRemoteClient returns the client that reads a remote input, watched by
// w: a transport that keeps enough idle connections for the parallel
// requests of several shards, as the checkpoint package's own does.
func newRemoteClient(w *remoteWatch) *http.Client {
	rt := http.DefaultTransport
	if t, ok := rt.(*http.Transport); ok {
		t = t.Clone()
		t.MaxIdleConnsPerHost = 64
		rt = t
	}
	return &http.Client{Transport: watchTransport{rt: rt, w: w}}
}
