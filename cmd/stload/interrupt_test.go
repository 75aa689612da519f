package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// TestMain runs stload's main instead of the tests when STLOAD_TEST_MAIN
// is set, so that tests can run the command in a process of its own (to
// send it signals) without building it.
func TestMain(m *testing.M) {
	if os.Getenv("STLOAD_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// stloadProcess returns the test binary set up to run stload with args.
func stloadProcess(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "STLOAD_TEST_MAIN=1")
	return cmd
}

// waitFor returns a channel that receives cmd's Wait error when it ends.
func waitFor(cmd *exec.Cmd) chan error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	return done
}

// exitCode waits for cmd, started and waited for on done, and returns its
// exit status, failing the test if it takes more than timeout.
func exitCode(t *testing.T, cmd *exec.Cmd, done chan error, timeout time.Duration) int {
	t.Helper()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("still running %v after the interrupt", timeout)
	}
	return -1
}

// TestInterrupt converts a remote file whose server stalls in the middle
// of the tensor data, and interrupts stload there: with one SIGINT, and
// with two back to back (as GNU timeout -s INT and some shells deliver
// one), which are the same interrupt. Either way it exits 130 after
// removing its staging folder, and OUT is not created.
func TestInterrupt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		signals int
	}{{"once", 1}, {"twice back to back", 2}} {
		t.Run(tc.name, func(t *testing.T) { interruptConvert(t, tc.signals) })
	}
}

// interruptConvert converts a remote file whose server stalls in the
// tensor data, sends stload n SIGINTs a millisecond apart there, and
// checks that stload cleaned up and exited 130.
func interruptConvert(t *testing.T, n int) {
	data := mustRead(t, tinyLlamaPath)
	reading := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var start int64
		fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-", &start)
		if start >= 64<<10 { // past what Open fetched: the tensor data
			select {
			case reading <- struct{}{}:
			default:
			}
			<-r.Context().Done() // stall until stload gives up
			return
		}
		http.ServeContent(w, r, "model.safetensors", time.Time{}, bytes.NewReader(data))
	}))
	defer srv.Close()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.safetensors")
	cmd := stloadProcess("convert", srv.URL+"/model.safetensors", out)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reading:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("convert never read the tensor data; stderr: %s", stderr.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 || !strings.HasPrefix(entries[0].Name(), ".stload-shards-") {
		t.Errorf("no staging folder while writing: %v", entries)
	}
	for i := range n {
		if i > 0 {
			// Far less than a person takes, and enough for the kernel to
			// deliver each signal rather than merge them.
			time.Sleep(time.Millisecond)
		}
		cmd.Process.Signal(os.Interrupt)
	}
	if code := exitCode(t, cmd, waitFor(cmd), 10*time.Second); code != 130 {
		t.Errorf("exit %d, want 130; stderr: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted; "+out+" was not written") || strings.Contains(stderr.String(), "again") {
		t.Errorf("stderr: %s", stderr.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

// TestInterruptTwice dumps a large tensor to a pipe that nobody reads, so
// that stload is stuck in a write no cancellation can end: the first
// interrupt (two SIGINTs back to back, one interrupt) cannot finish it;
// a second one, deliberate (more than sameInterrupt later), exits at once
// with 130.
func TestInterruptTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.safetensors")
	big := map[string]loader.Data{"big": {DType: dtype.U8, Shape: []uint64{8 << 20}, Bytes: make([]byte, 8<<20)}}
	if err := loader.SaveFile(path, big, nil); err != nil {
		t.Fatal(err)
	}
	cmd := stloadProcess("dump", "--raw", path, "big")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// One byte read: stload is writing, and blocks once the pipe is full.
	if _, err := io.ReadFull(stdout, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	done := waitFor(cmd)
	cmd.Process.Signal(os.Interrupt)
	time.Sleep(time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	select {
	case <-done:
		t.Fatalf("exited after the first interrupt while stuck in a write; stderr: %s", stderr.String())
	case <-time.After(sameInterrupt + 200*time.Millisecond):
	}
	cmd.Process.Signal(os.Interrupt)
	if code := exitCode(t, cmd, done, 10*time.Second); code != 130 {
		t.Errorf("exit %d, want 130; stderr: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupt again: exiting without cleaning up") {
		t.Errorf("stderr: %q", stderr.String())
	}
}
