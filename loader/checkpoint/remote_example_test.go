package checkpoint_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
	"github.com/stload/stload/loader/httprange"
)

// ExampleOpen_url opens a model by its URL, as from a Hugging Face
// repository: the header comes with the first request, and a tensor's
// bytes with one more. A server without range support is downloaded
// into a temporary file instead, with progress reported.
func ExampleOpen_url() {
	dir, err := os.MkdirTemp("", "served")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	err = loader.SaveFile(filepath.Join(dir, "model.safetensors"), map[string]loader.Data{
		"lm_head.weight": {DType: dtype.U8, Shape: []uint64{4}, Bytes: []byte("abcd")},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir))) // supports ranges
	defer srv.Close()

	ctx := context.Background()
	c, err := checkpoint.Open(ctx, srv.URL+"/model.safetensors?token=secret", // or the URL of an index
		checkpoint.WithHTTPOptions(httprange.WithTimeout(time.Minute)),
		checkpoint.WithDownloadFallback(os.TempDir()),
		checkpoint.WithDownloadProgress(func(name string, done, total int64) {
			if done == 0 {
				fmt.Println("no range support: downloading", name)
			}
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	t, err := c.Tensor("lm_head.weight")
	if err != nil {
		log.Fatal(err)
	}
	b, err := t.Bytes()
	fmt.Printf("%q %v\n", b, err)
	fmt.Println(c.Path() == srv.URL+"/model.safetensors?…") // the query may hold a credential
	// Output:
	// "abcd" <nil>
	// true
}
