//go:build !cuda

package main

// cudaBuild reports, for stload version, that this build has no CUDA
// backend: tensors go to the CPU only.
const cudaBuild = false
