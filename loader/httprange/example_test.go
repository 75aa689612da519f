package httprange_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/httprange"
)

// ExampleOpen reads a tensor of a safetensors file served over HTTP: the
// Reader is an io.ReaderAt with a size, which loader.NewReader validates
// and reads as any other.
func ExampleOpen() {
	var file bytes.Buffer
	w, _ := loader.NewWriter(&file, []loader.Spec{{Name: "bias", DType: dtype.U8, Shape: []uint64{3}}}, nil)
	w.Write([]byte{7, 8, 9})
	w.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "model.safetensors", time.Time{}, bytes.NewReader(file.Bytes()))
	}))
	defer srv.Close()

	r, err := httprange.Open(context.Background(), srv.URL+"/model.safetensors?token=secret",
		httprange.WithRetries(2), httprange.WithConcurrency(4))
	if err != nil {
		log.Fatal(err)
	}
	defer r.Close()
	if r.Validator() == "" { // ServeContent sends none without a modification time
		fmt.Println("warning: no ETag or Last-Modified: a change of the file could go unnoticed")
	}
	f, err := loader.NewReader(r, r.Size())
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	t, _ := f.Tensor("bias")
	b, err := t.Bytes()
	fmt.Println(b, err)
	fmt.Println(f.Name() == srv.URL+"/model.safetensors?…", httprange.Redact("https://user:pw@host/x?sig=1"))
	// Output:
	// warning: no ETag or Last-Modified: a change of the file could go unnoticed
	// [7 8 9] <nil>
	// true https://host/x?…
}
