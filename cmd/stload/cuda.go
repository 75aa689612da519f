//go:build cuda

package main

// The cuda build registers the NVIDIA GPU backend, so that load's
// --device, --map and --shard can name cuda:N. Such a binary links
// libcuda.so.1 and starts only where the NVIDIA driver is installed.
import _ "github.com/stload/stload/cuda"

// cudaBuild reports, for stload version, that the CUDA backend is
// compiled in.
const cudaBuild = true
