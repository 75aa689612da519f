//go:build !cuda

package bench

import (
	"bytes"
	"strings"
	"testing"
)

// TestGPUCommandsWithoutCUDA: without -tags cuda the GPU commands show
// their help, which says how to build one that runs them, and fail
// (status 1) when asked to run.
func TestGPUCommandsWithoutCUDA(t *testing.T) {
	for _, sub := range []string{"gpu-trial", "gpu-ceiling"} {
		var stdout, stderr bytes.Buffer
		if code := Main([]string{sub, "-h"}, &stdout, &stderr); code != 0 || stderr.Len() > 0 ||
			!strings.Contains(stdout.String(), "built without -tags cuda") ||
			!strings.Contains(stdout.String(), "go build -tags cuda ./bench/cmd/stbench") {
			t.Errorf("%s -h: status %d\nstdout:\n%s\nstderr:\n%s", sub, code, &stdout, &stderr)
		}
		stdout.Reset()
		if code := Main([]string{sub, "model.safetensors"}, &stdout, &stderr); code != 1 || stdout.Len() > 0 ||
			stderr.String() != "stbench "+sub+": "+errNoCUDA.Error()+"\n" {
			t.Errorf("%s: status %d\nstdout:\n%s\nstderr:\n%s", sub, code, &stdout, &stderr)
		}
	}
}
