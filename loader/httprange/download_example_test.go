package httprange_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/httprange"
)

// ExampleDownload copies a file from a server that ignores Range, the
// way `python3 -m http.server` does, after Open refused it.
func ExampleDownload() {
	file := bytes.Repeat([]byte("stload"), 20_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", fmt.Sprint(len(file)))
		w.Write(file) // status 200 and everything, whatever the Range
	}))
	defer srv.Close()

	ctx := context.Background()
	_, err := httprange.Open(ctx, srv.URL+"/model.safetensors")
	fmt.Println(loader.Kind(err))

	var dst bytes.Buffer // a temporary file, usually
	n, err := httprange.Download(ctx, srv.URL+"/model.safetensors", &dst, func(done, total int64) {
		if done == total {
			fmt.Printf("%d of %d bytes\n", done, total)
		}
	})
	fmt.Println(n, err, bytes.Equal(dst.Bytes(), file))
	// Output:
	// RangeUnsupported
	// 120000 of 120000 bytes
	// 120000 <nil> true
}
